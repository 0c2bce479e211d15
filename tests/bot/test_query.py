"""The keyword syntax: what each piece parses to, the one-line errors, the limits, anchor conversion."""

from __future__ import annotations

import random

import pytest

from bot.matching import validate_topic
from bot.models import Topic
from bot.query import (
    MAX_DEPTH,
    MAX_EXCLUDES,
    MAX_KEYWORD_CHARS,
    MAX_KEYWORDS,
    MAX_TERMS,
    And,
    Expr,
    Field,
    Not,
    Or,
    QuerySyntaxError,
    Term,
    anchor_keyword_to_expression,
    fold,
    parse_keyword,
)

A, B, C = Term("a"), Term("b"), Term("c")


def error_of(text: str) -> QuerySyntaxError:
    """The QuerySyntaxError parse_keyword raises for this text (fails the test if it parses)."""
    with pytest.raises(QuerySyntaxError) as caught:
        parse_keyword(text)
    return caught.value


# -- bare text -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("VLM", Term("vlm")),
        ("Vision Language Model", Term("vision language model")),
        ("  padded phrase\t", Term("padded phrase")),
        ("two  spaces", Term("two  spaces")),
        ("vision and language or not", Term("vision and language or not")),
        ("Multi-Modal", Term("multi-modal")),
        ("foo:bar baz", Term("foo:bar baz")),
        ("x=y", Term("x=y")),
        ("E = mc2", Term("e = mc2")),
        ("=", Term("=")),
        ("= = =", Term("= = =")),
        ("ends with =", Term("ends with =")),
        ("C++ back\\slash", Term("c++ back\\slash")),
        ("ANDROID ORACLE NOTE", Term("android oracle note")),
    ],
)
def test_bare_text_is_one_lowercased_phrase(text: str, expected: Term) -> None:
    """Bare words form one phrase: ends stripped, inner spacing kept, lower-case and/or/not are text."""
    assert parse_keyword(text) == expected


# -- quotes --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"GPT-4(V), AND more: OR NOT"', Term("gpt-4(v), and more: or not")),
        ('" LLM "', Term(" llm ")),
        ('"say \\"hi\\""', Term('say "hi"')),
        ('"back\\\\slash"', Term("back\\slash")),
        ('"ends with backslash\\\\"', Term("ends with backslash\\")),
        ('"other \\n escapes stay"', Term("other \\n escapes stay")),
        ('"ti:x =y"', Term("ti:x =y")),
    ],
)
def test_quoted_text_is_a_literal_phrase(text: str, expected: Term) -> None:
    """Inside quotes everything is text; only \\" and \\\\ are escapes, any other backslash stays."""
    assert parse_keyword(text) == expected


# -- whole words and fields ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=VLM", Term("vlm", whole=True)),
        ('="World Model"', Term("world model", whole=True)),
        ("=vision language", Term("vision language", whole=True)),
        ("ti:agent", Term("agent", Field.TITLE)),
        ("abs:benchmark", Term("benchmark", Field.ABSTRACT)),
        ("au:Hinton", Term("hinton", Field.AUTHOR)),
        ("au:=Li", Term("li", Field.AUTHOR, whole=True)),
        ("ti:=VLM", Term("vlm", Field.TITLE, whole=True)),
        ('ti:"world model"', Term("world model", Field.TITLE)),
        ('abs:="a, b"', Term("a, b", Field.ABSTRACT, whole=True)),
        ("ti:world model", Term("world model", Field.TITLE)),
        ("ti:ti:x", Term("ti:x", Field.TITLE)),
        ("TI:Agent", Term("agent", Field.TITLE)),
        ("Abs:x", Term("x", Field.ABSTRACT)),
        ("cat:cs.CV", Term("cs.cv", Field.CATEGORY)),
        ("cat:CS.cv", Term("cs.cv", Field.CATEGORY)),
        ("cat:cs", Term("cs", Field.CATEGORY)),
        ("cat:cs.*", Term("cs", Field.CATEGORY)),
        ("cat:hep-th", Term("hep-th", Field.CATEGORY)),
        ("cat:=math.AG", Term("math.ag", Field.CATEGORY)),
        ("ti:(agent OR robot)", Or((Term("agent", Field.TITLE), Term("robot", Field.TITLE)))),
        ("cat:(cs.RO OR cs.*)", Or((Term("cs.ro", Field.CATEGORY), Term("cs", Field.CATEGORY)))),
        ("ti:(a NOT ti:b)", And((Term("a", Field.TITLE), Not(Term("b", Field.TITLE))))),
    ],
)
def test_whole_words_and_fields(text: str, expected: Expr) -> None:
    """`=` asks for a whole word; ti:, abs:, au:, cat: (any case) pick a field, with `=`, quotes, groups."""
    assert parse_keyword(text) == expected


def test_a_word_starting_with_a_field_or_equals_begins_a_new_term() -> None:
    """Inside a run of words, `ti:x` or `=x` starts a new term joined by AND; `foo:` does not."""
    assert parse_keyword("vision ti:robot arm") == And((Term("vision"), Term("robot arm", Field.TITLE)))
    assert parse_keyword("E =mc2") == And((Term("e"), Term("mc2", whole=True)))
    assert parse_keyword("deep foo:bar") == Term("deep foo:bar")


# -- operators -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a OR b", Or((A, B))),
        ("a AND b", And((A, B))),
        ("a OR b AND c", Or((A, And((B, C))))),
        ("a AND b OR c", Or((And((A, B)), C))),
        ("NOT a AND b", And((Not(A), B))),
        ("a AND NOT b OR c", Or((And((A, Not(B))), C))),
        ("(a OR b) AND c", And((Or((A, B)), C))),
        ("a AND (b OR c)", And((A, Or((B, C))))),
        ("NOT (a OR b) c", And((Not(Or((A, B))), C))),
        ("a NOT NOT b", And((A, Not(Not(B))))),
        ("((a))", A),
        ("a OR b OR c", Or((A, B, C))),
    ],
)
def test_precedence_not_over_and_over_or(text: str, expected: Expr) -> None:
    """NOT binds tighter than AND, AND tighter than OR; parentheses group."""
    assert parse_keyword(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"a" "b"', And((A, B))),
        ("a (b OR c)", And((A, Or((B, C))))),
        ("a NOT b", And((A, Not(B)))),
        ('a "b" c', And((A, B, C))),
        ("(a) (b)", And((A, B))),
        ('x"y"', And((Term("x"), Term("y")))),
        ("a (b) OR c", Or((And((A, B)), C))),
    ],
)
def test_adjacent_terms_mean_and(text: str, expected: Expr) -> None:
    """Two terms side by side that are not one bare phrase are joined by AND (binding like AND)."""
    assert parse_keyword(text) == expected


def test_unicode_is_lowercased_and_accent_folded() -> None:
    """Keywords in any script are lower-cased and lose accents; emoji and right-to-left text survive."""
    assert parse_keyword("ÜBER Straße") == Term("uber straße")
    assert parse_keyword("au:Rodríguez") == Term("rodriguez", Field.AUTHOR)
    assert parse_keyword("\u0301") == Term("\u0301")  # a lone accent does not fold to an empty keyword
    assert parse_keyword("ΟΔΟΣ") == Term("ΟΔΟΣ".lower())
    assert parse_keyword("😀 emoji") == Term("😀 emoji")
    assert parse_keyword("مرحبا بالعالم") == Term("مرحبا بالعالم")
    assert parse_keyword('ti:"שלום"') == Term("שלום", Field.TITLE)
    assert parse_keyword("模型 OR 视觉") == Or((Term("模型"), Term("视觉")))


# -- errors --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ('"vision', 'unbalanced quote: the " at position 1 is never closed', 1),
        ('a OR "b', "unbalanced quote", 6),
        ('"a\\"', "unbalanced quote", 1),
        ("(a OR b", "unbalanced parenthesis: '(' at position 1 is never closed", 1),
        ("a)", "unbalanced parenthesis: ')' at position 2 has no matching '('", 2),
        (")a", "has no matching '('", 1),
        ("(a))", "has no matching '('", 4),
        ("()", "empty parentheses at position 1", 1),
        ('""', "empty quoted phrase at position 1", 1),
        ('"   "', "empty quoted phrase", 1),
        ("a AND", "dangling operator: AND at position 3 has nothing after it", 3),
        ("a OR", "dangling operator: OR at position 3 has nothing after it", 3),
        ("a NOT", "dangling operator: NOT at position 3 has nothing after it", 3),
        ("OR a", "dangling operator: OR at position 1 has nothing before it", 1),
        ("AND a", "has nothing before it", 1),
        ("a OR OR b", "OR at position 3 has nothing after it", 3),
        ("a AND OR b", "AND at position 3 has nothing after it", 3),
        ("(a AND) b", "AND at position 4 has nothing after it", 4),
        ("(OR a)", "OR at position 2 has nothing before it", 2),
        ("AND", "dangling operator", 1),
        ("AND OR NOT", "dangling operator", 1),
        ("ti:", "'ti:' at position 1 must be followed directly", 1),
        ("ti: world", "'ti:' at position 1 must be followed directly", 1),
        ("a ti:", "'ti:' at position 3", 3),
        ("=(x)", "'=' at position 1 must be followed directly", 1),
        ("ti:= x", "'=' at position 4 must be followed directly", 4),
        ("cat:cs.XY", "unknown arXiv category 'cs.XY' at position 1", 1),
        ("cat:nonsense", "unknown arXiv category", 1),
        ("x cat:*", "unknown arXiv category", 3),
        ("ti:(a OR au:b)", "term at position 10 names a field inside a ti:(…) group", 10),
        ("ti:(a OR abs:(b))", "field group at position 10 is inside another field group", 10),
        ("a\x00b", "control character U+0000 at position 2", 2),
        ("a\x07b", "control character U+0007", 2),
        ("a\x7f", "control character U+007F", 2),
    ],
)
def test_syntax_errors_name_the_problem_and_position(text: str, message: str, position: int) -> None:
    """Each mistake is a QuerySyntaxError with a one-line message naming it and its 1-based position."""
    error = error_of(text)
    assert message in str(error)
    assert error.position == position
    assert "\n" not in str(error)
    assert isinstance(error, ValueError)


@pytest.mark.parametrize("text", ["", "   ", "\t\n", "\u3000"])
def test_empty_keywords_are_refused(text: str) -> None:
    """An empty or whitespace-only keyword (it would match everything) is an error."""
    assert "empty" in str(error_of(text))


@pytest.mark.parametrize(
    "text",
    ["NOT survey", "NOT (a OR b)", "a OR NOT b", "NOT a NOT b", "(NOT a) OR (b AND c)", "NOT NOT NOT a"],
)
def test_only_negative_expressions_are_refused(text: str) -> None:
    """An expression that holds for a paper containing none of its terms would match almost everything."""
    assert "none of its terms" in str(error_of(text))


@pytest.mark.parametrize("text", ["NOT NOT a", "a NOT b", "a OR (b NOT c)", "NOT (NOT a OR NOT b)"])
def test_expressions_needing_a_term_are_accepted(text: str) -> None:
    """An expression that needs some term to occur is fine, however many NOTs it has."""
    parse_keyword(text)


# -- limits and hostile input --------------------------------------------------------------------------------
def test_length_limit_is_exact() -> None:
    """A keyword of MAX_KEYWORD_CHARS characters parses; one more is refused, saying the limit."""
    assert parse_keyword("k" * MAX_KEYWORD_CHARS) == Term("k" * MAX_KEYWORD_CHARS)
    assert f"at most {MAX_KEYWORD_CHARS}" in str(error_of("k" * (MAX_KEYWORD_CHARS + 1)))


def test_term_limit_is_exact() -> None:
    """MAX_TERMS terms parse; one more is refused."""
    parse_keyword(" OR ".join(["t"] * MAX_TERMS))
    assert f"at most {MAX_TERMS}" in str(error_of(" OR ".join(["t"] * (MAX_TERMS + 1))))


def test_depth_limit_is_exact() -> None:
    """MAX_DEPTH levels of parentheses (or NOT) parse; one more is refused."""
    assert parse_keyword("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH) == A
    assert "too deeply nested" in str(error_of("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1)))
    assert "too deeply nested" in str(error_of("a " + "NOT " * (MAX_DEPTH + 1) + "b"))
    assert "too deeply nested" in str(error_of("b " + "NOT (" * 9 + "a" + ")" * 9))


@pytest.mark.parametrize(
    "text",
    [
        "x" * 10_000,
        "(" * 10_000 + "a" + ")" * 10_000,
        "(" * 10_000,
        '"' * 10_000,
        "\\" * 10_000,
        "NOT " * 2_500,
        "a AND " * 2_000,
        "😀" * 5_000,
        "\x00" * 10_000,
    ],
)
def test_huge_input_is_refused_quickly(text: str) -> None:
    """Anything over the length limit is refused before parsing: no recursion error, no hang."""
    assert "too long" in str(error_of(text))


@pytest.mark.parametrize(
    "text",
    [
        "(" * 150,
        ")" * 150,
        "(" * 100 + ")" * 100,
        '"' * 299,
        "NOT " * 70,
        "AND " * 70,
        "OR OR",
        "ti:",
        "a ti:=",
        ")(",
        '"\\',
        "\u202eevil\u202c (",
        "\x00",
    ],
)
def test_hostile_input_within_the_length_limit_is_a_clean_error(text: str) -> None:
    """Deep nesting, lone operators, stray quotes and controls give a QuerySyntaxError, never a crash."""
    error_of(text)


def test_limits_are_generous_enough_for_real_keywords() -> None:
    """A realistic complex keyword well within the limits parses."""
    expr = parse_keyword(
        '(=VLM OR MLLM OR "vision-language model") AND ti:(robot OR embodied) NOT abs:survey'
    )
    assert isinstance(expr, And)


# -- validate_topic ------------------------------------------------------------------------------------------
def test_validate_topic_names_the_bad_keyword_or_exclusion() -> None:
    """The message says which keyword or exclusion is wrong, then why."""
    with pytest.raises(QuerySyntaxError, match=r"^keyword 'diffusion AND': dangling operator"):
        validate_topic(Topic("T", keywords=("VLM", "diffusion AND")))
    with pytest.raises(QuerySyntaxError, match=r"^exclusion '\(survey': unbalanced parenthesis"):
        validate_topic(Topic("T", keywords=("VLM",), excludes=("(survey",)))
    with pytest.raises(QuerySyntaxError, match="none of its terms"):
        validate_topic(Topic("T", keywords=("VLM",), excludes=("NOT survey",)))


def test_validate_topic_shortens_a_long_bad_keyword_in_the_message() -> None:
    """A long bad keyword is shown shortened, so the message stays one short line."""
    with pytest.raises(QuerySyntaxError) as caught:
        validate_topic(Topic("T", keywords=("x" * 10_000,)))
    assert len(str(caught.value)) < 160


def test_validate_topic_accepts_good_topics_and_an_empty_one() -> None:
    """Valid keywords pass; a topic without keywords is valid (it just matches nothing)."""
    validate_topic(Topic("T", keywords=("VLM", "=RAG", 'ti:"world model"'), excludes=("survey",)))
    validate_topic(Topic("T", keywords=()))


def test_validate_topic_counts_keywords_and_exclusions() -> None:
    """Up to MAX_KEYWORDS keywords and MAX_EXCLUDES exclusions pass; more (e.g. 5000) are refused."""
    validate_topic(Topic("T", keywords=tuple(f"k{i}" for i in range(MAX_KEYWORDS))))
    validate_topic(Topic("T", keywords=("a",), excludes=tuple(f"x{i}" for i in range(MAX_EXCLUDES))))
    with pytest.raises(QuerySyntaxError, match="too many keywords"):
        validate_topic(Topic("T", keywords=tuple(f"k{i}" for i in range(5_000))))
    with pytest.raises(QuerySyntaxError, match="too many exclusions"):
        validate_topic(Topic("T", keywords=("a",), excludes=("x",) * (MAX_EXCLUDES + 1)))


# -- the anchor's config entries -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("VLM", "VLM"),
        ("Multi-Modal Language Model", "Multi-Modal Language Model"),
        ("C++", "C++"),
        ("a:b", "a:b"),
        ("a, b", '"a, b"'),
        ("and or not", "and or not"),
        (["LLM", "Reasoning"], "LLM AND Reasoning"),
        (["only"], "only"),
        ("GPT-4(V)", '"GPT-4(V)"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", "back\\slash"),
        ('back\\slash "q"', '"back\\\\slash \\"q\\""'),
        ("LLM AND agents", '"LLM AND agents"'),
        ("NOT", '"NOT"'),
        ("ti:agents", '"ti:agents"'),
        ("Cat:cs", '"Cat:cs"'),
        ("=VLM", '"=VLM"'),
        ("a =b", '"a =b"'),
        (" VLM", '" VLM"'),
        ("VLM ", '"VLM "'),
        (["a, b", "(c)"], '"a, b" AND "(c)"'),
    ],
)
def test_anchor_entries_are_quoted_only_when_needed(value: str | list[str], expected: str) -> None:
    """Plain anchor keywords stay as typed; ones our syntax would read differently are quoted and escaped."""
    assert anchor_keyword_to_expression(value) == expected


@pytest.mark.parametrize("value", ["", "   ", [], ["a", " "]])
def test_empty_anchor_entries_are_refused(value: str | list[str]) -> None:
    """An empty keyword or list (the anchor would match everything) is a QuerySyntaxError."""
    with pytest.raises(QuerySyntaxError, match="empty"):
        anchor_keyword_to_expression(value)


def test_anchor_conversion_keeps_the_literal_substring_meaning() -> None:
    """For 3000 random nasty strings, the converted entry parses back to exactly the anchor's substrings."""
    rng = random.Random(20251111)
    pieces = [
        "a", "B", " ", "  ", "\t", '"', "\\", "(", ")", ":", "=", ",", "AND", "OR", "NOT", "and", "ti:",
        "abs:", "au:", "Cat:", "foo:", "*", "ü", "😀", "ש", "-", "\n",
    ]  # fmt: skip
    checked = 0
    for _ in range(3000):
        parts = [
            "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(rng.randint(1, 3))
        ]
        parts = [part for part in parts if part.strip()]
        if not parts:
            continue
        value: str | list[str] = parts[0] if len(parts) == 1 else parts
        expression = anchor_keyword_to_expression(value)
        expected = [Term(fold(part)) for part in parts]
        assert parse_keyword(expression) == (expected[0] if len(expected) == 1 else And(tuple(expected)))
        checked += 1
    assert checked > 2500
