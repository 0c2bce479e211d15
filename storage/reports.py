"""The store's reports: the last feed check, each channel's last delivery result, small state."""

from __future__ import annotations

import datetime as dt

from bot.models import DeliveryResult, FeedCheck
from storage.base import StoreBase, date_text, timestamp


class ReportsSection(StoreBase):
    """What ingest and delivery report to /status, and small state."""

    # -- what ingest and delivery report to /status ---------------------------------------------------
    async def record_feed_check(self, check: FeedCheck) -> None:
        """Remember the last feed check (replacing the one before)."""
        async with self._write() as db:
            await db.execute(
                "INSERT INTO feed_checks (id, checked_at, outcome, date, message, papers)"
                " VALUES (1, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at,"
                " outcome = excluded.outcome, date = excluded.date, message = excluded.message,"
                " papers = excluded.papers",
                (
                    timestamp(check.checked_at),
                    check.outcome,
                    None if check.date is None else date_text(check.date),
                    check.message,
                    check.papers,
                ),
            )

    async def last_feed_check(self) -> FeedCheck | None:
        """The last feed check recorded, or None before the first."""
        async with self._read() as db:
            rows = list(await db.fetchall("SELECT * FROM feed_checks WHERE id = 1"))
        if not rows:
            return None
        row = rows[0]
        return FeedCheck(
            checked_at=_load_timestamp(row["checked_at"]),
            outcome=row["outcome"],
            date=None if row["date"] is None else dt.date.fromisoformat(row["date"]),
            message=row["message"],
            papers=int(row["papers"]),
        )

    async def record_delivery_result(self, result: DeliveryResult) -> None:
        """Remember a channel's last delivery result (replacing its previous one)."""
        async with self._write() as db:
            await db.execute(
                "INSERT INTO delivery_results (channel_id, delivered_at, announcement_date, result, papers)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (channel_id) DO UPDATE SET delivered_at = excluded.delivered_at,"
                " announcement_date = excluded.announcement_date, result = excluded.result,"
                " papers = excluded.papers",
                (
                    result.channel_id,
                    timestamp(result.delivered_at),
                    date_text(result.announcement_date),
                    result.result,
                    result.papers,
                ),
            )

    async def last_delivery_result(self, channel_id: int) -> DeliveryResult | None:
        """A channel's last delivery result, or None before its first delivery."""
        async with self._read() as db:
            rows = list(
                await db.fetchall("SELECT * FROM delivery_results WHERE channel_id = ?", (channel_id,))
            )
        if not rows:
            return None
        row = rows[0]
        return DeliveryResult(
            channel_id=int(row["channel_id"]),
            delivered_at=_load_timestamp(row["delivered_at"]),
            announcement_date=dt.date.fromisoformat(row["announcement_date"]),
            result=row["result"],
            papers=int(row["papers"]),
        )

    # -- small state ---------------------------------------------------------------------------------------
    async def get_state(self, key: str) -> str | None:
        """A value saved with `set_state`."""
        async with self._read() as db:
            rows = list(await db.fetchall("SELECT value FROM state WHERE key = ?", (key,)))
        return str(rows[0][0]) if rows else None

    async def set_state(self, key: str, value: str) -> None:
        """Save a small value under a key."""
        now = self._now()
        async with self._write() as db:
            await db.execute(
                "INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, value, now),
            )


def _load_timestamp(text: str) -> dt.datetime:
    """A stored moment, UTC-aware (a value without an offset is taken as UTC)."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
