"""The store's channels: each chat's settings and topics, and a chat id that moved."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from bot.models import ANNOUNCE_TYPE_ORDER, AnnounceType, Channel, InactiveReason, Style, Topic
from storage.base import Connection, Row, StoreBase, date_text, json_text, load_strings
from storage.feedback import move_votes

log = logging.getLogger(__name__)

_UPSERT_CHANNEL = """
INSERT INTO channels (platform, chat_id, timezone, delivery_time, active, notify_empty, done_up_to,
                      created_at, updated_at, server_id, style, send_file, thread_id, own_thread, ranking)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (platform, chat_id) DO UPDATE SET
    -- A copy that does not know its server (an older caller) leaves the stored one alone.
    server_id = coalesce(excluded.server_id, channels.server_id),
    timezone = excluded.timezone,
    delivery_time = excluded.delivery_time,
    active = excluded.active,
    notify_empty = excluded.notify_empty,
    style = excluded.style,
    send_file = excluded.send_file,
    thread_id = excluded.thread_id,
    own_thread = excluded.own_thread,
    ranking = excluded.ranking,
    -- Turning the digest on clears why it was off; a save that leaves it off keeps the reason. The
    -- title, the server's name and the operator's block are never written from a copy of the channel.
    inactive_reason = CASE WHEN excluded.active = 1 THEN NULL ELSE channels.inactive_reason END,
    -- The delivery cursor only moves forward: a stale copy of a channel cannot un-deliver a day.
    done_up_to = CASE
        WHEN channels.done_up_to IS NULL OR excluded.done_up_to > channels.done_up_to
        THEN excluded.done_up_to
        ELSE channels.done_up_to
    END,
    updated_at = excluded.updated_at
"""

_INSERT_TOPIC = """
INSERT INTO topics (channel_id, position, name, keywords, excludes, categories, announce_types)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""

# Moving a channel onto a chat id that already has a channel: the kept channel's pending rows
# become sent where the other one already sent that paper, then the other's rows it lacks move over.
_MERGE_SENT = """
UPDATE deliveries
   SET status = 'sent',
       sent_at = (SELECT other.sent_at FROM deliveries AS other
                   WHERE other.channel_id = ? AND other.arxiv_id = deliveries.arxiv_id)
 WHERE channel_id = ? AND status = 'pending'
   AND EXISTS (SELECT 1 FROM deliveries AS other
                WHERE other.channel_id = ? AND other.arxiv_id = deliveries.arxiv_id AND other.status = 'sent')
"""
_MERGE_MISSING = """
UPDATE deliveries SET channel_id = ?
 WHERE channel_id = ?
   AND NOT EXISTS (SELECT 1 FROM deliveries AS kept
                    WHERE kept.channel_id = ? AND kept.arxiv_id = deliveries.arxiv_id)
"""


class ChannelsSection(StoreBase):
    """Channels and their topics."""

    async def save_channel(self, channel: Channel) -> Channel:
        """Insert or update a channel by (platform, chat_id), topics included; return it with its id.

        `channel.id` is ignored (the key is platform and chat id); the channel's topics are replaced
        by `channel.topics`, in that order. `delivery_time` is kept to the minute.
        """
        _check_topic_names(channel.topics)
        now = self._now()
        async with self._write() as db:
            await db.execute(
                _UPSERT_CHANNEL,
                (
                    channel.platform,
                    channel.chat_id,
                    channel.timezone,
                    _time_text(channel.delivery_time),
                    int(channel.active),
                    int(channel.notify_empty),
                    None if channel.done_up_to is None else date_text(channel.done_up_to),
                    now,
                    now,
                    channel.server_id,
                    channel.style.value,
                    int(channel.send_file),
                    channel.thread_id,
                    int(channel.own_thread),
                    int(channel.ranking),
                ),
            )
            rows = list(
                await db.fetchall(
                    "SELECT id FROM channels WHERE platform = ? AND chat_id = ?",
                    (channel.platform, channel.chat_id),
                )
            )
            channel_id = int(rows[0][0])
            await _replace_topics(db, channel_id, channel.topics)
            stored = await _load_channel(db, channel.platform, channel.chat_id)
        assert stored is not None
        return stored

    async def set_channel_active(
        self, channel_id: int, active: bool, *, reason: InactiveReason | None = None
    ) -> None:
        """Turn a channel's daily digest on or off, leaving its other settings and topics alone.

        `reason` says why it goes off (kept until it is turned on again); turning it on clears it.
        """
        why = None if active or reason is None else InactiveReason(reason).value
        async with self._write() as db:
            await db.execute(
                "UPDATE channels SET active = ?, inactive_reason = ?, updated_at = ? WHERE id = ?",
                (int(active), why, self._now(), channel_id),
            )

    async def set_channel_blocked(self, channel_id: int, blocked: bool) -> None:
        """Block (or unblock) a channel: a blocked one gets no digest, whatever its `active` flag says.

        Its settings, topics and `active` flag are kept, so unblocking gives back what its admins had.
        """
        async with self._write() as db:
            await db.execute(
                "UPDATE channels SET blocked = ?, updated_at = ? WHERE id = ?",
                (int(blocked), self._now(), channel_id),
            )

    async def set_channel_names(
        self, platform: str, chat_id: str, title: str | None, server_name: str | None
    ) -> bool:
        """Record what the platform calls a stored chat and its server; False when no such chat is stored.

        A None leaves the stored name alone (the platform did not say).
        """
        async with self._write() as db:
            changed = await db.execute(
                "UPDATE channels SET title = coalesce(?, title), server_name = coalesce(?, server_name)"
                " WHERE platform = ? AND chat_id = ?",
                (title, server_name, platform, chat_id),
            )
        return changed > 0

    async def set_done_up_to(self, channel_id: int, announcement_date: dt.date) -> None:
        """Record that a channel's digest of this announcement is done (never moves backwards)."""
        day = date_text(announcement_date)
        async with self._write() as db:
            await db.execute(
                "UPDATE channels SET done_up_to = ?, updated_at = ?"
                " WHERE id = ? AND (done_up_to IS NULL OR done_up_to < ?)",
                (day, self._now(), channel_id, day),
            )

    async def get_channel(self, platform: str, chat_id: str) -> Channel | None:
        """The channel, with its topics."""
        async with self._read() as db:
            return await _load_channel(db, platform, chat_id)

    async def list_channels(self, *, active_only: bool = True, platform: str | None = None) -> list[Channel]:
        """Channels (with topics), optionally only those with the daily digest on, or of one platform.

        `active_only` leaves out blocked channels too: those are the chats a digest goes to.
        """
        params = (int(active_only), platform, platform)
        async with self._read() as db:
            channel_rows = await db.fetchall(
                "SELECT c.* FROM channels AS c"
                " WHERE (? = 0 OR (c.active = 1 AND c.blocked = 0))"
                " AND (CAST(? AS TEXT) IS NULL OR c.platform = ?)"
                " ORDER BY c.id",
                params,
            )
            topic_rows = await db.fetchall(
                "SELECT t.* FROM topics AS t JOIN channels AS c ON c.id = t.channel_id"
                " WHERE (? = 0 OR (c.active = 1 AND c.blocked = 0))"
                " AND (CAST(? AS TEXT) IS NULL OR c.platform = ?)"
                " ORDER BY t.channel_id, t.position",
                params,
            )
        topics: dict[int, list[Topic]] = {}
        for row in topic_rows:
            topics.setdefault(int(row["channel_id"]), []).append(_topic_from_row(row))
        return [_channel_from_row(row, topics.get(int(row["id"]), [])) for row in channel_rows]

    async def channels_of_server(self, platform: str, server_id: str) -> list[Channel]:
        """Every stored channel of one server (a Discord guild), active or not."""
        async with self._read() as db:
            rows = await db.fetchall(
                "SELECT chat_id FROM channels WHERE platform = ? AND server_id = ? ORDER BY id",
                (platform, server_id),
            )
            channels = [await _load_channel(db, platform, str(row[0])) for row in rows]
        return [channel for channel in channels if channel is not None]

    async def move_channel(self, platform: str, old_chat_id: str, new_chat_id: str) -> Channel | None:
        """Re-key a channel whose chat id changed (a Telegram group upgraded to a supergroup).

        The channel keeps its id, settings, topics and ledger. If the old chat id is unknown but the
        new one is stored (the move already happened), that channel is returned; if neither, None.
        If both are stored, they merge into the moved channel: its id and settings win, except that
        the digest stays on if either had it on; the other's topics with names it lacks are appended;
        the ledgers are united (a paper sent by either counts as sent), so nothing is posted twice.
        The chat's votes and vote version move too (`storage.feedback.move_votes`), even
        when no channel is stored for it; bookmarks are per user and stay.
        """
        if old_chat_id == new_chat_id:
            return await self.get_channel(platform, old_chat_id)
        now = self._now()
        async with self._write() as db:
            # Votes belong to the chat, subscribed or not: they follow it even when no channel does.
            await move_votes(db, platform, old_chat_id, new_chat_id)
            moved = await _load_channel(db, platform, old_chat_id)
            existing = await _load_channel(db, platform, new_chat_id)
            if moved is None:
                return existing
            assert moved.id is not None
            if existing is None:
                await db.execute(
                    "UPDATE channels SET chat_id = ?, updated_at = ? WHERE id = ?",
                    (new_chat_id, now, moved.id),
                )
                log.info(
                    "%s channel %d moved from chat %s to %s", platform, moved.id, old_chat_id, new_chat_id
                )
            else:
                assert existing.id is not None
                await db.execute(_MERGE_SENT, (existing.id, moved.id, existing.id))
                await db.execute(_MERGE_MISSING, (moved.id, existing.id, moved.id))
                await db.execute("DELETE FROM channels WHERE id = ?", (existing.id,))
                names = {topic.name for topic in moved.topics}
                topics = moved.topics + tuple(t for t in existing.topics if t.name not in names)
                # The operator's block holds if it was on either; so does a title the moved one lacks.
                await db.execute(
                    "UPDATE channels SET chat_id = ?, active = ?, blocked = ?,"
                    " title = coalesce(title, ?), server_name = coalesce(server_name, ?),"
                    " inactive_reason = CASE WHEN ? = 1 THEN NULL ELSE inactive_reason END,"
                    " updated_at = ? WHERE id = ?",
                    (
                        new_chat_id,
                        int(moved.active or existing.active),
                        int(moved.blocked or existing.blocked),
                        existing.title,
                        existing.server_name,
                        int(moved.active or existing.active),
                        now,
                        moved.id,
                    ),
                )
                await _replace_topics(db, moved.id, topics)
                log.warning(
                    "%s channel %d moved from chat %s onto %s, which was channel %d: merged into %d",
                    platform,
                    moved.id,
                    old_chat_id,
                    new_chat_id,
                    existing.id,
                    moved.id,
                )
            # Its digest views follow it, so the buttons of its messages keep turning pages there.
            # (A daily view the new chat already has for a date stays; the old chat's one of that date
            # is left under the old id, where nothing shows it.)
            await db.execute(
                "UPDATE digest_views SET chat_id = ? WHERE platform = ? AND chat_id = ?"
                " AND NOT (kind = 'daily' AND EXISTS (SELECT 1 FROM digest_views AS other"
                "  WHERE other.platform = digest_views.platform AND other.chat_id = ?"
                "  AND other.announcement_date = digest_views.announcement_date AND other.kind = 'daily'))",
                (new_chat_id, platform, old_chat_id, new_chat_id),
            )
            return await _load_channel(db, platform, new_chat_id)

    async def subscribed_categories(self) -> set[str]:
        """Categories named explicitly by the topics of active channels (blocked ones left out)."""
        async with self._read() as db:
            rows = await db.fetchall(
                "SELECT t.categories FROM topics AS t JOIN channels AS c ON c.id = t.channel_id"
                " WHERE c.active = 1 AND c.blocked = 0"
            )
        return {category for row in rows for category in load_strings(row[0])}


async def _load_channel(db: Connection, platform: str, chat_id: str) -> Channel | None:
    """One channel with its topics, or None."""
    rows = list(
        await db.fetchall("SELECT * FROM channels WHERE platform = ? AND chat_id = ?", (platform, chat_id))
    )
    if not rows:
        return None
    topic_rows = await db.fetchall(
        "SELECT * FROM topics WHERE channel_id = ? ORDER BY position", (rows[0]["id"],)
    )
    return _channel_from_row(rows[0], [_topic_from_row(row) for row in topic_rows])


async def _replace_topics(db: Connection, channel_id: int, topics: Sequence[Topic]) -> None:
    """Replace a channel's topics with these, in this order."""
    await db.execute("DELETE FROM topics WHERE channel_id = ?", (channel_id,))
    await db.executemany(
        _INSERT_TOPIC,
        [
            (
                channel_id,
                position,
                topic.name,
                json_text(topic.keywords),
                json_text(topic.excludes),
                json_text(topic.categories),
                json_text(str(t) for t in sorted(topic.announce_types, key=ANNOUNCE_TYPE_ORDER.__getitem__)),
            )
            for position, topic in enumerate(topics)
        ],
    )


def _channel_from_row(row: Row, topics: Sequence[Topic]) -> Channel:
    """A `Channel` from a `channels` row and its topics."""
    return Channel(
        platform=row["platform"],
        chat_id=row["chat_id"],
        id=int(row["id"]),
        server_id=row["server_id"],
        timezone=row["timezone"],
        delivery_time=None if row["delivery_time"] is None else dt.time.fromisoformat(row["delivery_time"]),
        active=bool(row["active"]),
        notify_empty=bool(row["notify_empty"]),
        style=Style(row["style"]),
        send_file=bool(row["send_file"]),
        thread_id=row["thread_id"],
        own_thread=bool(row["own_thread"]),
        ranking=bool(row["ranking"]),
        title=row["title"],
        server_name=row["server_name"],
        inactive_reason=None if row["inactive_reason"] is None else InactiveReason(row["inactive_reason"]),
        blocked=bool(row["blocked"]),
        topics=tuple(topics),
        done_up_to=None if row["done_up_to"] is None else dt.date.fromisoformat(row["done_up_to"]),
    )


def _topic_from_row(row: Row) -> Topic:
    """A `Topic` from a `topics` row."""
    return Topic(
        name=row["name"],
        keywords=load_strings(row["keywords"]),
        excludes=load_strings(row["excludes"]),
        categories=load_strings(row["categories"]),
        announce_types=frozenset(AnnounceType(value) for value in load_strings(row["announce_types"])),
    )


def _check_topic_names(topics: Sequence[Topic]) -> None:
    """Topic names must be unique within a channel."""
    seen: set[str] = set()
    for topic in topics:
        if topic.name in seen:
            raise ValueError(f"a channel cannot have two topics named {topic.name!r}")
        seen.add(topic.name)


def _time_text(value: dt.time | None) -> str | None:
    """A local delivery time as stored: HH:MM."""
    return None if value is None else f"{value.hour:02d}:{value.minute:02d}"
