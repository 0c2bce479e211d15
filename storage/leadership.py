"""Roles one process of a deployment holds at a time (`bot.ports.Leadership`), kept where the data is.

- PostgreSQL: a session advisory lock per role, on a connection of its own. The server releases it
  the moment the holder's connection ends (the process died, its machine went away: TCP keepalives
  notice within about 25 s), and a waiting process takes it at its next try. The holder checks its
  connection every few seconds and gives the role up when it broke, before another can take it.
- SQLite: an exclusive `flock` on a file beside the database (`DB.ROLE.lock`), which the kernel
  releases when the holder dies. Several processes on one machine then share the file safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from bot.database_url import redact
from storage.postgres_base import LOCK_NAMESPACE, lock_key
from storage.postgres_errors import postgres_problem

log = logging.getLogger(__name__)

#: Seconds between a waiting process's tries to take a role.
RETRY_INTERVAL = 2.0
#: Seconds between the holder's checks that its lock's connection still works.
CHECK_INTERVAL = 5.0
# The server's side: notice a holder whose machine vanished (no FIN) in about 10 + 3 × 5 s.
_KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}


class PostgresLeadership:
    """Roles as PostgreSQL advisory locks, each on a dedicated connection."""

    def __init__(
        self, url: str, *, retry_interval: float = RETRY_INTERVAL, check_interval: float = CHECK_INTERVAL
    ) -> None:
        """Take roles in the database (and schema) of `url`."""
        self._url = url
        self._shown = redact(url)
        self._retry = retry_interval
        self._check = check_interval

    @asynccontextmanager
    async def hold(self, role: str) -> AsyncIterator[asyncio.Event]:
        """Wait until this process holds `role`; the event is set if the lock's connection breaks."""
        connection = await self._take(role)
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        watcher = asyncio.create_task(self._watch(connection, lost), name=f"watch the {role} role")
        try:
            yield lost
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            # Closing the connection releases the lock; a connection that broke released it already.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), timeout=5)
            connection.terminate()

    async def _take(self, role: str) -> asyncpg.Connection:
        """A connection holding the role's lock, once this process gets it (trying every few seconds)."""
        said = False
        while True:
            try:
                connection = await asyncpg.connect(self._url, timeout=10, server_settings=_KEEPALIVES)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                problem = postgres_problem(self._shown, error)
                log.warning("cannot take the %s role yet: %s", role, problem or error)
                await asyncio.sleep(self._retry)
                continue
            try:
                schema = str(await connection.fetchval("SELECT current_schema()"))
                key = lock_key(f"role:{role}:{schema}")
                while True:
                    if await connection.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_NAMESPACE, key):
                        log.info("this process now holds the %s role", role)
                        return connection
                    if not said:
                        log.info("another process holds the %s role: waiting to take it over", role)
                        said = True
                    await asyncio.sleep(self._retry)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("lost the connection while waiting for the %s role: %s", role, error)
                connection.terminate()
                await asyncio.sleep(self._retry)
            except BaseException:
                connection.terminate()
                raise

    async def _watch(self, connection: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Set `lost` when the lock's connection stops answering."""
        while not lost.is_set():
            await asyncio.sleep(self._check)
            try:
                await asyncio.wait_for(connection.fetchval("SELECT 1"), timeout=self._check)
            except Exception as error:
                log.warning("the connection holding a role broke (%s): giving the role up", error)
                lost.set()


class FileLeadership:
    """Roles as `flock`s on files beside an SQLite database."""

    def __init__(self, database: Path, *, retry_interval: float = RETRY_INTERVAL / 2) -> None:
        """Take roles for the database file `database`."""
        self._database = database
        self._retry = retry_interval

    @asynccontextmanager
    async def hold(self, role: str) -> AsyncIterator[asyncio.Event]:
        """Wait until this process holds `role` (a lock the kernel frees if it dies); never lost."""
        path = self._database.with_name(f"{self._database.name}.{role}.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            said = False
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not said:
                        log.info("another process holds the %s role: waiting to take it over", role)
                        said = True
                    await asyncio.sleep(self._retry)
            if said:
                log.info("this process now holds the %s role", role)
            yield asyncio.Event()
        finally:
            os.close(descriptor)  # closing releases the lock
