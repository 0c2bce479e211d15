"""The store's delivery ledger: which papers each channel was sent, or is being sent."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Sequence

from storage.base import Connection, StoreBase, date_text, timestamp

log = logging.getLogger(__name__)

# Ids per IN-list: far below SQLite's variable limit (999 before 3.32, 32766 after).
_CHUNK = 500


class LedgerSection(StoreBase):
    """The delivery ledger: papers pending or sent, per channel."""

    async def reserve_deliveries(
        self, channel_id: int, announcement_date: dt.date, arxiv_ids: Sequence[str]
    ) -> list[str]:
        """Mark these papers pending for the channel; return, in the given order, those now pending.

        Papers already sent are left out; papers left pending by an interrupted run are returned again.
        """
        ids = _unique(arxiv_ids)
        if not ids:
            return []
        day, now = date_text(announcement_date), self._now()
        async with self._write() as db:
            await db.executemany(
                "INSERT INTO deliveries (channel_id, arxiv_id, announcement_date, status, reserved_at)"
                " VALUES (?, ?, ?, 'pending', ?) ON CONFLICT (channel_id, arxiv_id) DO NOTHING",
                [(channel_id, arxiv_id, day, now) for arxiv_id in ids],
            )
            pending = await _select_ids(
                db,
                "SELECT arxiv_id FROM deliveries WHERE channel_id = ? AND status = 'pending'",
                channel_id,
                ids,
            )
        return [arxiv_id for arxiv_id in ids if arxiv_id in pending]

    async def confirm_deliveries(self, channel_id: int, arxiv_ids: Sequence[str]) -> None:
        """Mark pending papers as sent."""
        ids = _unique(arxiv_ids)
        if not ids:
            return
        now = self._now()
        async with self._write() as db:
            await db.executemany(
                "UPDATE deliveries SET status = 'sent', sent_at = ?"
                " WHERE channel_id = ? AND arxiv_id = ? AND status = 'pending'",
                [(now, channel_id, arxiv_id) for arxiv_id in ids],
            )

    async def release_deliveries(self, channel_id: int, arxiv_ids: Sequence[str]) -> None:
        """Drop pending rows whose message surely never reached the platform."""
        ids = _unique(arxiv_ids)
        if not ids:
            return
        async with self._write() as db:
            await db.executemany(
                "DELETE FROM deliveries WHERE channel_id = ? AND arxiv_id = ? AND status = 'pending'",
                [(channel_id, arxiv_id) for arxiv_id in ids],
            )

    async def record_delivery(self, channel_id: int, announcement_date: dt.date, arxiv_id: str) -> bool:
        """Record one paper as sent; False (and nothing changed) if the ledger already holds it."""
        now = self._now()
        async with self._write() as db:
            inserted = await db.execute(
                "INSERT INTO deliveries"
                " (channel_id, arxiv_id, announcement_date, status, reserved_at, sent_at)"
                " VALUES (?, ?, ?, 'sent', ?, ?) ON CONFLICT (channel_id, arxiv_id) DO NOTHING",
                (channel_id, arxiv_id, date_text(announcement_date), now, now),
            )
        return inserted == 1

    async def claim_channel(self, channel_id: int, holder: str, now: dt.datetime, until: dt.datetime) -> bool:
        """Claim the channel's delivery for `holder` until `until`; False while another holds it.

        A claim whose time ran out (its process died mid-delivery) is anyone's; the holder may renew.
        """
        async with self._write() as db:
            claimed = await db.execute(
                "INSERT INTO channel_claims (channel_id, holder, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (channel_id) DO UPDATE"
                " SET holder = excluded.holder, expires_at = excluded.expires_at"
                " WHERE channel_claims.holder = excluded.holder OR channel_claims.expires_at <= ?",
                (channel_id, holder, timestamp(until), timestamp(now)),
            )
        return claimed == 1

    async def release_channel(self, channel_id: int, holder: str) -> None:
        """Give up `holder`'s claim on the channel (another's claim is left alone)."""
        async with self._write() as db:
            await db.execute(
                "DELETE FROM channel_claims WHERE channel_id = ? AND holder = ?", (channel_id, holder)
            )

    async def delivered_ids(self, channel_id: int, arxiv_ids: Sequence[str] | None = None) -> set[str]:
        """Papers already sent to the channel (among `arxiv_ids`, or all)."""
        query = "SELECT arxiv_id FROM deliveries WHERE channel_id = ? AND status = 'sent'"
        async with self._read() as db:
            if arxiv_ids is None:
                return {str(row[0]) for row in await db.fetchall(query, (channel_id,))}
            return await _select_ids(db, query, channel_id, _unique(arxiv_ids))


async def _select_ids(db: Connection, query: str, channel_id: int, ids: Sequence[str]) -> set[str]:
    """Run `query … AND arxiv_id IN (…)` over `ids` in chunks below SQLite's variable limit."""
    found: set[str] = set()
    for chunk in _chunks(ids):
        placeholders = ", ".join("?" * len(chunk))  # only placeholders are formatted in, never values
        rows = await db.fetchall(f"{query} AND arxiv_id IN ({placeholders})", (channel_id, *chunk))
        found.update(str(row[0]) for row in rows)
    return found


def _unique(values: Iterable[str]) -> list[str]:
    """The values in order, each once."""
    return list(dict.fromkeys(values))


def _chunks(values: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    """Consecutive slices of at most `size` values."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
