"""The leadership of a deployment of one process: every role is this process's at once, for good."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class SoleProcess:
    """`bot.ports.Leadership` for a process alone on its database: it holds every role at once."""

    @asynccontextmanager
    async def hold(self, role: str) -> AsyncIterator[asyncio.Event]:
        """Hold `role` at once; it is never lost."""
        yield asyncio.Event()
