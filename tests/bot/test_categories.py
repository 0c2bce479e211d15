"""Category codes: one function expands and validates them for every entry point; archive feeds stay short."""

from __future__ import annotations

import pytest

from bot.categories import (
    ARCHIVE_CATEGORIES,
    KNOWN_CATEGORIES,
    UnknownCategoryError,
    expand_categories,
    feed_path,
)

CS = tuple(sorted(code for code in KNOWN_CATEGORIES if code.startswith("cs.")))


def test_archive_and_wildcard_expand_to_every_member() -> None:
    """`cs` and `cs.*` (any case) both stand for every cs. category."""
    assert len(CS) == 40
    assert expand_categories("cs") == CS
    assert expand_categories("CS.*") == CS
    assert ARCHIVE_CATEGORIES["cs"] == CS


def test_commas_spaces_and_repeats() -> None:
    """Codes split on commas and spaces, in any case, each kept once in the order first given."""
    assert expand_categories(["cs.cv, CS.cl", "cs.CV  stat.ML,,"]) == ("cs.CV", "cs.CL", "stat.ML")
    assert expand_categories(["cs.CV", "cs"])[0] == "cs.CV"
    assert len(expand_categories(["cs", "cs.CV", "cs.*"])) == 40


def test_archives_without_members_stay_themselves() -> None:
    """An archive that has no categories of its own (hep-th) is one category, with or without `.*`."""
    assert expand_categories("hep-th quant-ph") == ("hep-th", "quant-ph")
    assert "hep-th" not in ARCHIVE_CATEGORIES


def test_nothing_given_is_empty() -> None:
    """Empty input (or only separators) gives no categories; callers decide whether that is allowed."""
    assert expand_categories([]) == ()
    assert expand_categories(" , ") == ()


@pytest.mark.parametrize(
    ("typed", "named"),
    [
        ("cs.NOPE", ["cs.NOPE"]),
        ("cs.CV.*, foo cs.AI", ["cs.CV.*", "foo"]),
        ("physics.* *", ["*"]),
        ("bogus bogus", ["bogus"]),
    ],
)
def test_unknown_codes_are_refused_by_name(typed: str, named: list[str]) -> None:
    """Every code arXiv does not know is named once in the error, and nothing is returned."""
    with pytest.raises(UnknownCategoryError) as caught:
        expand_categories(typed)
    assert caught.value.unknown == named
    for name in named:
        assert name in str(caught.value)


def test_feed_path_asks_for_a_whole_archive_by_its_name() -> None:
    """A complete archive is requested as `cs` (rss.arxiv.org's archive feed), other codes as they are."""
    assert feed_path(expand_categories("cs math.PR")) == "cs+math.PR"
    assert feed_path(expand_categories("cs math")) == "cs+math"
    assert feed_path(["cs.CV", "cs.AI", "cs.CV"]) == "cs.AI+cs.CV"
    assert feed_path([code for code in CS if code != "cs.AI"]) == "+".join(c for c in CS if c != "cs.AI")
