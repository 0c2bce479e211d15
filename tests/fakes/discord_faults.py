"""Injected faults and rate limits of the fake Discord: `Fault` has Discord's real error answers."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

_ROOMY_LIMIT = 1000  # the bucket advertised when rate limits are not enforced
_ROOMY_WINDOW = 1.0
_BUCKET_HASH = "f6b5c1e2a7d3c4b8e9a0d1c2b3a4f5e6"
#: Discord's global limit: 50 requests a second per bot, over every route but interaction callbacks and
#: webhooks (https://discord.com/developers/docs/topics/rate-limits#global-rate-limit).
GLOBAL_LIMIT_PER_SECOND = 50


@dataclass(frozen=True)
class Fault:
    """An error answer to inject; the constructors give Discord's real ones."""

    status: int
    body: Any = None  # a JSON value, or bytes sent as text/html
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def rate_limited(cls, retry_after: float = 0.2, *, is_global: bool = False, via: bool = True) -> Fault:
        """429 with Retry-After, X-RateLimit-* and (unless `via=False`) the `Via` that discord.py needs."""
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": _BUCKET_HASH,
            "X-RateLimit-Scope": "global" if is_global else "user",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        if via:
            headers["Via"] = "1.1 google"
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        return cls(429, body, headers)

    @classmethod
    def global_rate_limited(cls, retry_after: float) -> Fault:
        """The 429 of the global limit as Discord answers it: `"global": true` with `retry_after` in the
        body, Retry-After, X-RateLimit-Global and X-RateLimit-Scope: global (no per-route bucket headers),
        and the `Via` discord.py needs to sleep it off (it then holds every request until then)."""
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Global": "true",
            "X-RateLimit-Scope": "global",
            "Via": "1.1 google",
        }
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": True,
            "code": 0,
        }
        return cls(429, body, headers)

    @classmethod
    def cloudflare_ban(cls) -> Fault:
        """429 from Cloudflare (no Via, an HTML body): discord.py raises HTTPException at once."""
        return cls(429, b"<html><body>error code: 1015</body></html>", {"Retry-After": "600"})

    @classmethod
    def unauthorized(cls) -> Fault:
        """401 for a bad or revoked token."""
        return cls(401, {"message": "401: Unauthorized", "code": 0})

    @classmethod
    def missing_access(cls) -> Fault:
        """403 50001: the bot cannot see the channel (or left the guild)."""
        return cls(403, {"message": "Missing Access", "code": 50001})

    @classmethod
    def missing_permissions(cls) -> Fault:
        """403 50013: the bot lacks a permission (e.g. Send Messages) in the channel."""
        return cls(403, {"message": "Missing Permissions", "code": 50013})

    @classmethod
    def unknown_channel(cls) -> Fault:
        """404 10003: the channel was deleted."""
        return cls(404, {"message": "Unknown Channel", "code": 10003})

    @classmethod
    def unknown_interaction(cls) -> Fault:
        """404 10062: the interaction expired (no callback within 3 s) or never existed."""
        return cls(404, {"message": "Unknown interaction", "code": 10062})

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """A 5xx with Discord's JSON error body (see the module docstring for which are retried)."""
        reasons = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return cls(status, {"message": f"{status}: {reasons.get(status, 'Server Error')}", "code": 0})


@dataclass
class _Bucket:
    """A fixed rate-limit window of one channel."""

    reset_at: float  # wall-clock epoch seconds
    used: int = 0
