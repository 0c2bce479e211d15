"""The storage errors every caller can catch: one base class, so the CLI maps them all to one exit status."""

from __future__ import annotations


class StoreError(Exception):
    """The database cannot be opened or used; the message says why in one line."""


__all__ = ["StoreError"]
