"""Completions for what users type into command options: arXiv category codes and time zone names.

Platform-neutral: a platform with autocomplete (Discord) shows these as choices.
"""

from __future__ import annotations

import functools

from bot.categories import KNOWN_CATEGORIES
from bot.schedule import zone_names

MAX_SUGGESTIONS = 25  # Discord shows at most 25 choices


@functools.lru_cache(maxsize=1)
def _zone_names() -> tuple[str, ...]:
    """Every IANA time zone name, sorted (from the schedule's one table of them)."""
    return tuple(zone_names().values())


def _ranked(candidates: tuple[str, ...], typed: str, limit: int, *, inside: bool = True) -> list[str]:
    """Candidates starting with `typed` first, then (`inside`) those containing it; any case."""
    needle = typed.strip().lower()
    if not needle:
        return list(candidates[:limit])
    starts = [name for name in candidates if name.lower().startswith(needle)]
    if not inside:
        return starts[:limit]
    contains = [name for name in candidates if needle in name.lower() and name not in starts]
    return (starts + contains)[:limit]


def suggest_categories(typed: str, limit: int = MAX_SUGGESTIONS) -> list[str]:
    """Completions of the last code in a space- or comma-separated list (`cs.CV cs.C` → `cs.CV cs.CL`, …)."""
    text = typed.replace(",", " ")
    head, _, last = text.rpartition(" ")
    done = head.split()
    prefix = " ".join(done)
    codes = tuple(sorted(code for code in KNOWN_CATEGORIES if code not in done))
    completions = _ranked(codes, last, limit, inside=False)
    joined = [f"{prefix} {code}".strip() for code in completions]
    return [value for value in joined if len(value) <= 100][:limit]  # Discord caps a choice at 100


def suggest_timezones(typed: str, limit: int = MAX_SUGGESTIONS) -> list[str]:
    """IANA time zone names matching what was typed (`berl` → `Europe/Berlin`)."""
    return _ranked(_zone_names(), typed.replace(" ", "_"), limit)
