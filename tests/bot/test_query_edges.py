"""Keyword syntax edges the mutation check (tests/mutation/run.py) found unpinned."""

from __future__ import annotations

import pytest

from bot.query import MAX_TERMS, And, Field, Or, QuerySyntaxError, Term, parse_keyword


def test_a_plain_group_inside_a_field_group_keeps_the_field() -> None:
    """`ti:(a OR (b AND c))` is allowed: only a second field group inside a field group is refused."""
    assert parse_keyword("ti:(diffusion OR (robot AND arm))") == Or(
        (
            Term("diffusion", Field.TITLE),
            And((Term("robot", Field.TITLE), Term("arm", Field.TITLE))),
        )
    )


@pytest.mark.parametrize(("text", "position"), [("(", 1), ("diffusion AND (", 15)])
def test_a_parenthesis_opened_last_is_never_closed(text: str, position: int) -> None:
    """A `(` with nothing after it is reported as unclosed, at its own position (1-based)."""
    with pytest.raises(
        QuerySyntaxError, match=r"unbalanced parenthesis: '\(' at position \d+ is never closed"
    ) as e:
        parse_keyword(text)
    assert e.value.position == position


def test_too_many_terms_points_at_the_first_term_too_many() -> None:
    """The term limit's error names the position (1-based) where the first surplus term starts."""
    words = [f"w{n:02d}" for n in range(MAX_TERMS + 1)]
    text = " OR ".join(words)
    with pytest.raises(QuerySyntaxError, match="too many terms") as e:
        parse_keyword(text)
    assert e.value.position == text.index(words[MAX_TERMS]) + 1
