"""Completions for category codes and time zones (Discord's autocomplete shows at most 25)."""

from __future__ import annotations

from bot.suggestions import suggest_categories, suggest_timezones


def test_category_completion_completes_the_last_code() -> None:
    """`cs.CV cs.C` suggests `cs.CV cs.CL` and others, never repeating cs.CV, at most 25."""
    choices = suggest_categories("cs.CV cs.C")
    assert "cs.CV cs.CL" in choices
    assert "cs.CV cs.CV" not in choices
    assert all(choice.startswith("cs.CV cs.C") for choice in choices)
    assert 0 < len(choices) <= 25


def test_category_completion_of_nothing_is_capped() -> None:
    """An empty option still gives at most 25 choices, each a real code."""
    assert len(suggest_categories("")) == 25


def test_time_zone_completion_matches_any_case_and_inside_names() -> None:
    """`berl` finds Europe/Berlin; `new york` finds America/New_York; `utc` puts UTC-prefixed first."""
    assert "Europe/Berlin" in suggest_timezones("berl")
    assert "America/New_York" in suggest_timezones("new york")
    assert suggest_timezones("utc")[0].lower().startswith("utc")
    assert len(suggest_timezones("")) == 25
