"""Matching papers to topics: the anchor's substring rule, the syntax on top, scopes, a naive reference."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

import pytest

from bot.matching import Matcher, matches
from bot.models import ALL_ANNOUNCE_TYPES, AnnounceType, Paper, Topic
from bot.query import (
    MAX_KEYWORDS,
    And,
    Expr,
    Field,
    Not,
    QuerySyntaxError,
    Term,
    anchor_keyword_to_expression,
    fold,
    parse_keyword,
)

DEFAULTS = ("cs.CV", "cs.CL")


def paper(
    title: str = "",
    abstract: str = "",
    *,
    authors: Sequence[str] = ("Ann Author",),
    categories: Sequence[str] = ("cs.CV",),
    kind: AnnounceType = AnnounceType.NEW,
    arxiv_id: str = "2511.00001",
) -> Paper:
    """A paper with just what matching looks at."""
    return Paper(
        arxiv_id=arxiv_id,
        version=1,
        title=title,
        abstract=abstract,
        authors=tuple(authors),
        categories=tuple(categories),
        announce_type=kind,
    )


def topic(
    *keywords: str,
    excludes: Sequence[str] = (),
    categories: Sequence[str] = (),
    kinds: frozenset[AnnounceType] = ALL_ANNOUNCE_TYPES,
) -> Topic:
    """A topic with these keywords."""
    return Topic("T", tuple(keywords), tuple(excludes), tuple(categories), kinds)


def hit(
    keyword: str,
    title: str = "",
    abstract: str = "",
    *,
    authors: Sequence[str] = ("Ann Author",),
    categories: Sequence[str] = ("cs.CV",),
) -> bool:
    """Whether a one-keyword topic matches a paper with this title, abstract, authors and categories."""
    return matches(topic(keyword), paper(title, abstract, authors=authors, categories=categories), DEFAULTS)


# -- the anchor's rule ---------------------------------------------------------------------------------------
def test_a_keyword_is_a_case_insensitive_substring() -> None:
    """As in the anchor: no word boundaries, any case (VLM in LVLMs, LLM in MLLM, vlm in VLM)."""
    assert hit("VLM", "Hallucination in LVLMs")
    assert hit("LLM", "MLLM agents")
    assert hit("vlm", "A VLM")
    assert hit("Vision Language Model", "", "we train vision language models.")
    assert not hit("VLM", "Vision-language models")
    assert not hit("vision language model", "vision-language model")


def test_the_text_is_title_space_abstract() -> None:
    """Title and abstract are joined by one space, so a phrase may span the join, but not glued together."""
    assert hit("world model", "Learning a world", "Model-based planning.")
    assert not hit("worldmodel", "Learning a world", "Model-based planning.")
    assert hit("agent", "", "An agent.")
    assert hit("agent", "An agent", "")


def test_any_keyword_is_enough() -> None:
    """A topic matches when at least one of its keywords matches."""
    vlm_or_rag = topic("VLM", "RAG")
    assert matches(vlm_or_rag, paper("RAG for QA"), DEFAULTS)
    assert matches(vlm_or_rag, paper("A VLM"), DEFAULTS)
    assert not matches(vlm_or_rag, paper("Diffusion"), DEFAULTS)
    assert not matches(topic(), paper("Anything"), DEFAULTS)


def test_anchor_list_entries_need_every_part() -> None:
    """An anchor list entry (converted to AND) matches only when every part occurs, anywhere, any case."""
    conjunction = topic(anchor_keyword_to_expression(["LLM", "Reasoning"]))
    assert matches(conjunction, paper("Reasoning", "with LLMs"), DEFAULTS)
    assert not matches(conjunction, paper("Reasoning about code"), DEFAULTS)
    assert not matches(conjunction, paper("An LLM"), DEFAULTS)


def test_anchor_special_entries_match_literally() -> None:
    """Anchor entries with syntax characters still match exactly their literal text."""
    for entry, text in [
        ("GPT-4(V)", "on gpt-4(v) charts"),
        ('"quoted"', 'a "quoted" word'),
        ("a AND b", "A and B"),
    ]:
        assert matches(topic(anchor_keyword_to_expression(entry)), paper(text), DEFAULTS)
    assert not matches(topic(anchor_keyword_to_expression("GPT-4(V)")), paper("GPT-4 V"), DEFAULTS)
    assert not matches(topic(anchor_keyword_to_expression("a AND b")), paper("a, b"), DEFAULTS)


def test_exclusions_drop_papers() -> None:
    """A paper is dropped when any exclusion matches, with the same substring rule (across the join too)."""
    vlm = topic("VLM", excludes=("survey", "benchmark AND dataset"))
    assert matches(vlm, paper("A VLM"), DEFAULTS)
    assert not matches(vlm, paper("A VLM Survey"), DEFAULTS)
    assert not matches(vlm, paper("VLMs: surveys"), DEFAULTS)
    assert not matches(vlm, paper("VLM benchmark", "A new dataset."), DEFAULTS)
    assert matches(vlm, paper("VLM benchmark"), DEFAULTS)
    assert not matches(topic("VLM", excludes=("a sur",)), paper("A VLM and a", "Survey"), DEFAULTS)


def test_the_anchor_day_with_constructed_papers() -> None:
    """The anchor's MLLM topic over a small constructed day selects exactly what the anchor's rule does."""
    anchor_keywords = [
        "VLM",
        "MLM",
        "MLLM",
        "Multi-Modal Language Model",
        "Multimodal Language Model",
        "Vision Language Model",
    ]
    mllm = Topic(
        "MLLM",
        tuple(anchor_keyword_to_expression(keyword) for keyword in anchor_keywords),
        categories=("cs.AI", "cs.CL", "cs.CV", "cs.LG", "cs.MA", "cs.RO"),
    )
    day = [
        paper(
            "Towards Embodied Agentic AI: LLM- and VLM-Driven Robot Autonomy", categories=("cs.RO", "cs.AI")
        ),
        paper("A Two-Stage Entropy RLVR Approach for Noise-Tolerant MLLM Training", categories=("cs.LG",)),
        paper(
            "AXIS: Explainable Time Series Anomaly Detection with Large Language Models",
            categories=("cs.LG",),
        ),
        paper("Pretraining", "Masked language modeling (MLM) objectives.", categories=("cs.CL",)),
        paper("Multi-modal language models for charts", categories=("cs.CV",)),
        paper("Multi-Modal Language Modelling", categories=("cs.CL",), kind=AnnounceType.REPLACE),
        paper("Vision language models see", categories=("eess.IV",)),
        paper(
            "Vision language models, cross-listed", categories=("eess.IV", "cs.CV"), kind=AnnounceType.CROSS
        ),
        paper("HTMLMarkup parsing", categories=("cs.CL",)),
        paper("Vision-Language Models", categories=("cs.CV",)),
    ]
    assert Matcher.compile([mllm], []).match(day) == [[0, 1, 3, 4, 5, 7, 8]]


# -- the syntax on top ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["VLM", "A VLM.", "(VLM)", "VLM-based", "VLM, MLLM", "the VLM", "«VLM»", "VLM\n"]
)
def test_whole_word_matches_between_non_word_characters(text: str) -> None:
    """`=VLM` matches VLM with no letter, digit or underscore right before or after (text edges count)."""
    assert hit("=VLM", text)


@pytest.mark.parametrize("text", ["VLMs", "LVLM", "VLM_x", "VLM2", "2VLM", "éVLM", "VLMé", "模VLM"])
def test_whole_word_refuses_letters_digits_underscores_around(text: str) -> None:
    """`=VLM` does not match inside a longer word, in any script."""
    assert not hit("=VLM", text)


def test_whole_word_checks_every_occurrence_and_phrases() -> None:
    """A later whole occurrence counts even if earlier ones are inside words; whole phrases work too."""
    assert hit("=VLM", "LVLMs and VLMs", "but one VLM.")
    assert hit('="world model"', "A world model.")
    assert not hit('="world model"', "A world models.")
    assert hit("=world model", "", "world model")


def test_title_and_abstract_fields() -> None:
    """ti: looks only in the title, abs: only in the abstract; neither matches across the join."""
    assert hit("ti:agent", "An agent", "none")
    assert not hit("ti:agent", "none", "An agent")
    assert hit("abs:agent", "none", "An agent")
    assert not hit("abs:agent", "An agent", "none")
    assert not hit("ti:world model", "A world", "Model")
    assert not hit("abs:world model", "A world", "Model")
    assert not hit('ti:"agent "', "An agent", "x")
    assert not hit('ti:="agent "', "An agent", "-x")
    assert not hit('abs:" x"', "An agent", "x")
    assert not hit('abs:=" x"', "An agent.", "x")
    assert hit('" x"', "An agent", "x")
    assert hit("ti:=VLM", "A VLM", "")
    assert not hit("ti:=VLM", "LVLMs", "A VLM")
    assert hit("abs:=VLM", "VLM", "LVLM and VLM")
    assert not hit("abs:=VLM", "VLM", "LVLMs")


def test_accents_are_folded_in_authors_and_text() -> None:
    """`au:Rodriguez` finds Rodríguez and back; `Dvorak` finds Dvořák in a title; whole words still hold."""
    assert hit("au:Rodriguez", "A title", "An abstract", authors=("María Rodríguez",))
    assert hit("au:Rodríguez", "A title", "An abstract", authors=("Maria Rodriguez",))
    assert hit("au:=Rodriguez", "A title", "An abstract", authors=("Rodríguez, M.",))
    assert not hit("au:=Rodrigue", "A title", "An abstract", authors=("Rodríguez",))
    assert hit("dvorak", "Dvořák kernels", "x")
    assert hit("ti:=naive", "A naïve baseline", "x")
    assert not hit("gomez", "A title", "x", authors=("Gómez",))  # a plain keyword searches title + abstract


def test_fields_stay_right_when_lowercasing_changes_the_length() -> None:
    """Titles whose lower-casing grows (İ → i̇) still split title and abstract at the right place."""
    title = "İİİİ Istanbul"
    assert len(title.lower()) > len(title)
    assert hit("ti:istanbul", title, "x")
    assert hit("ti:=istanbul", title, "x")
    assert not hit("abs:istanbul", title, "x")
    assert hit("abs:x", title, "x")
    assert not hit("ti:x", title, "x")


def test_author_field() -> None:
    """au: is a substring of any author's name; au:=Li a whole word; a term never spans two names."""
    authors = ("Wei Li", "Ann Smith", "John Doe")
    assert hit("au:smith", "x", authors=authors)
    assert hit("au:=Li", "x", authors=authors)
    assert hit("au:=li", "x", authors=("Li Wei",))
    assert not hit("au:=Li", "x", authors=("Lina Park", "Ali Khan"))
    assert hit("au:Li", "x", authors=("Lina Park",))
    assert not hit('au:"smith john"', "x", authors=authors)
    assert not hit('au:"smithjohn"', "x", authors=authors)
    assert not hit("au:smith", "Smith's method", authors=("Ann Lee",))
    assert not hit("au:smith", "x", authors=())
    assert not hit("smith", "x", authors=authors)


def test_category_field() -> None:
    """cat: is a category code, exact but any case; an archive name or archive.* is any of its categories."""
    robots = ("cs.RO", "cs.CV")
    assert hit("cat:cs.RO", "x", categories=robots)
    assert hit("cat:CS.ro", "x", categories=robots)
    assert not hit("cat:cs.LG", "x", categories=robots)
    assert hit("cat:cs", "x", categories=robots)
    assert hit("cat:cs.*", "x", categories=robots)
    assert not hit("cat:math", "x", categories=robots)
    assert hit("cat:math", "x", categories=("cs.CV", "math.AG"))
    assert not hit("cat:math", "x", categories=("cs.CV", "math-ph"))
    assert hit("cat:math-ph", "x", categories=("cs.CV", "math-ph"))
    assert hit("cat:hep-th", "x", categories=("cs.CV", "hep-th"))
    assert hit("VLM AND NOT cat:cs.RO", "VLM", categories=("cs.CV",))
    assert not hit("VLM AND NOT cat:cs.RO", "VLM", categories=robots)


def test_boolean_operators_and_precedence() -> None:
    """AND, OR, NOT and parentheses combine terms; NOT binds tighter than AND, AND tighter than OR."""
    assert hit("diffusion AND robot", "Diffusion policies", "for robots")
    assert not hit("diffusion AND robot", "Diffusion policies")
    assert hit("diffusion OR robot", "robot")
    assert hit("VLM NOT survey", "VLM")
    assert not hit("VLM NOT survey", "VLM survey")
    assert hit("a OR b AND c", "a")
    assert not hit("(a OR b) AND c", "a")
    assert hit("(a OR b) AND c", "b c")
    assert hit('"vision" "robot"', "robot vision")
    assert not hit("vision robot", "robot vision")
    assert hit('"a, b" OR "(c)"', "x (c)")


def test_quoted_phrases_with_escapes_match_literally() -> None:
    """A quoted phrase matches its unescaped text, commas, parentheses, quotes and backslashes included."""
    assert hit('"say \\"hi\\", (or) NOT"', 'they say "hi", (or) not')
    assert hit('"C:\\\\path"', "in c:\\path")
    assert not hit('"C:\\\\path"', "in c:path")


def test_unicode_keywords() -> None:
    """Case folding with str.lower on both sides; emoji, CJK, right-to-left and combining text match."""
    assert hit("Ü", "über")
    assert hit("über", "ÜBER ALLES")
    assert hit("ΟΔΟΣ", "η οδος")
    assert hit("😀", "Emoji 😀 paper")
    assert hit("=😀", "Emoji 😀 paper")
    assert hit("视觉模型", "", "一个视觉模型")
    assert hit("مرحبا", "كلمة مرحبا")
    assert hit("ti:שלום", "שלום עולם")
    assert not hit("😀", "Emoji 😃 paper")


def test_odd_paper_text_is_harmless() -> None:
    """NUL bytes, control characters and huge abstracts in a paper are just text."""
    assert hit("VLM", "a\x00VLM\x07", "\x00" * 10)
    assert hit("=VLM", "a\x00VLM\x00")
    assert hit("tail", "", "x" * 200_000 + "tail")
    assert not hit("VLM", "", "")


# -- scopes: categories and announce types -------------------------------------------------------------------
def test_categories_filter_papers() -> None:
    """A paper matches only when any of its categories is one the topic watches (primary or cross-list)."""
    watch = topic("VLM", categories=("cs.RO",))
    assert matches(watch, paper("VLM", categories=("cs.RO",)), DEFAULTS)
    assert matches(watch, paper("VLM", categories=("cs.CV", "cs.RO")), DEFAULTS)
    assert not matches(watch, paper("VLM", categories=("cs.CV",)), DEFAULTS)
    assert not matches(watch, paper("VLM", categories=()), DEFAULTS)


def test_a_topic_without_categories_watches_the_defaults() -> None:
    """Empty topic.categories means the matcher's default categories; with no defaults either, nothing."""
    vlm = topic("VLM")
    assert matches(vlm, paper("VLM", categories=("cs.CL",)), DEFAULTS)
    assert not matches(vlm, paper("VLM", categories=("cs.RO",)), DEFAULTS)
    assert matches(vlm, paper("VLM", categories=("cs.RO",)), ["cs.RO"])
    assert not matches(vlm, paper("VLM", categories=("cs.CV",)), [])


def test_announce_types_filter_papers() -> None:
    """A paper matches only when its announce type is one the topic wants."""
    new_only = topic("VLM", kinds=frozenset({AnnounceType.NEW}))
    assert matches(new_only, paper("VLM", kind=AnnounceType.NEW), DEFAULTS)
    assert not matches(new_only, paper("VLM", kind=AnnounceType.REPLACE), DEFAULTS)
    assert not matches(new_only, paper("VLM", kind=AnnounceType.CROSS), DEFAULTS)
    assert not matches(topic("VLM", kinds=frozenset()), paper("VLM"), DEFAULTS)


# -- the Matcher ---------------------------------------------------------------------------------------------
def test_match_returns_ascending_indices_per_topic_in_compile_order() -> None:
    """One list per topic, in compile order, with the matching papers' indices ascending."""
    papers = [
        paper("VLM"),
        paper("RAG"),
        paper("VLM RAG"),
        paper("none"),
        paper("rag", kind=AnnounceType.CROSS),
    ]
    topics = [
        topic("VLM"),
        topic("RAG"),
        topic("nothing here"),
        topic("RAG", kinds=frozenset({AnnounceType.NEW})),
    ]
    assert Matcher.compile(topics, DEFAULTS).match(papers) == [[0, 2], [1, 2, 4], [], [1, 2]]


def test_a_matcher_is_reusable_and_handles_empty_input() -> None:
    """One compiled matcher serves several days; no papers or no topics give empty results."""
    matcher = Matcher.compile([topic("VLM"), topic("ti:x")], DEFAULTS)
    assert matcher.match([]) == [[], []]
    assert matcher.match([paper("VLM")]) == [[0], []]
    assert matcher.match([paper("x"), paper("LVLM")]) == [[1], [0]]
    assert Matcher.compile([], DEFAULTS).match([paper("VLM")]) == []


def test_many_bits_are_read_out_correctly() -> None:
    """Topics matching few, some or most of 3000 papers get exactly their indices."""
    papers = [
        paper(
            ("even" if index % 2 == 0 else "odd") + (" thirty" if index % 30 == 0 else ""),
            arxiv_id=f"{index}",
        )
        for index in range(3000)
    ]
    papers[2999] = paper("odd last")
    names = ["even", "odd", "last", "thirty", "thirty NOT odd"]
    evens, odds, tail, thirties, none = Matcher.compile([topic(name) for name in names], DEFAULTS).match(
        papers
    )
    assert evens == list(range(0, 3000, 2))
    assert odds == list(range(1, 3000, 2))
    assert tail == [2999]
    assert thirties == list(range(0, 3000, 30))
    assert none == thirties


def test_a_bad_topic_matches_nothing_and_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    """A stored topic that no longer parses matches nothing (logged, in `errors`); the others still match."""
    topics = [topic("VLM"), topic("diffusion AND"), topic(*(f"k{i}" for i in range(5_000))), topic("VLM")]
    with caplog.at_level(logging.WARNING, logger="bot.matching"):
        matcher = Matcher.compile(topics, DEFAULTS)
    assert matcher.match([paper("VLM diffusion k1")]) == [[0], [], [], [0]]
    assert sorted(matcher.errors) == [1, 2]
    assert "dangling operator" in matcher.errors[1]
    assert "too many keywords" in matcher.errors[2]
    assert "matches nothing" in caplog.text


def test_strict_compile_and_matches_raise_for_a_bad_keyword() -> None:
    """With strict=True (and in matches()) a bad keyword raises QuerySyntaxError naming it."""
    with pytest.raises(QuerySyntaxError, match="keyword 'NOT survey'"):
        Matcher.compile([topic("NOT survey")], DEFAULTS, strict=True)
    with pytest.raises(QuerySyntaxError, match="unbalanced quote"):
        matches(topic('"open'), paper("x"), DEFAULTS)


def test_the_largest_valid_topic_and_a_hostile_keyword_mix_match_correctly() -> None:
    """MAX_KEYWORDS keywords of maximal size compile and match; shared keywords across topics are fine."""
    keywords = [f"(w{i} OR =x{i}) AND NOT ti:y{i}" for i in range(MAX_KEYWORDS)]
    big = topic(*keywords)
    papers = [paper("w999"), paper("y5", "x5"), paper("y7", "x5"), paper("LVLM x3y")]
    assert Matcher.compile([big, big, topic("=VLM")], DEFAULTS).match(papers) == [[0, 2], [0, 2], []]


# -- against a naive reference -------------------------------------------------------------------------------
def _is_word(char: str) -> bool:
    """What may not touch a whole-word match."""
    return char.isalnum() or char == "_"


def _occurs(needle: str, haystack: str, whole: bool) -> bool:
    """Substring search, optionally requiring non-word characters (or the ends) around one occurrence."""
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        if not whole or (
            (start == 0 or not _is_word(haystack[start - 1]))
            and (end == len(haystack) or not _is_word(haystack[end]))
        ):
            return True
        start = haystack.find(needle, start + 1)
    return False


def _reference_term(term: Term, item: Paper) -> bool:
    """A term evaluated the obvious way, one paper at a time."""
    if term.field is Field.CATEGORY:
        codes = [code.lower() for code in item.categories]
        if "." in term.text:
            return term.text in codes
        return any(code.split(".")[0] == term.text for code in codes)
    haystacks = {
        Field.ANY: [fold(item.title) + " " + fold(item.abstract)],
        Field.TITLE: [fold(item.title)],
        Field.ABSTRACT: [fold(item.abstract)],
        Field.AUTHOR: [fold(name) for name in item.authors],
    }[term.field]
    return any(_occurs(term.text, haystack, term.whole) for haystack in haystacks)


def _reference_expr(expr: Expr, item: Paper) -> bool:
    """An expression evaluated recursively on one paper."""
    if isinstance(expr, Term):
        return _reference_term(expr, item)
    if isinstance(expr, Not):
        return not _reference_expr(expr.operand, item)
    if isinstance(expr, And):
        return all(_reference_expr(operand, item) for operand in expr.operands)
    return any(_reference_expr(operand, item) for operand in expr.operands)


def _reference_match(chosen: Topic, item: Paper, default_categories: Sequence[str]) -> bool:
    """The whole topic rule, evaluated naively."""
    watched = set(chosen.categories or default_categories)
    if not watched.intersection(item.categories) or item.announce_type not in chosen.announce_types:
        return False
    if not any(_reference_expr(parse_keyword(keyword), item) for keyword in chosen.keywords):
        return False
    return not any(_reference_expr(parse_keyword(keyword), item) for keyword in chosen.excludes)


WORDS = [
    "vlm",
    "VLM",
    "lvlm",
    "VLMs",
    "llm",
    "MLLM",
    "model",
    "models",
    "mod",
    "el",
    "world",
    "a",
    "ab",
    "b_c",
]
WORDS += ["Über", "über", "naïve", "模型", "😀", "مرحبا", "x2", "İ", "-", "(", ")", ",", '"', "\\", "ΟΔΟΣ"]
SEPARATORS = [" ", " ", " ", "", "-", ", ", "(", ")", "_", "\n", ". "]
NAMES = ["Wei Li", "Li Wei", "Lina Park", "Ali Khan", "Ann Smith", "John Doe", "Ümit Öz", "Zoë Ng"]
CATEGORIES = ["cs.CV", "cs.CL", "cs.RO", "cs.LG", "math.AG", "math-ph", "hep-th", "stat.ML", "eess.IV"]


def _random_text(rng: random.Random, words: int) -> str:
    """Words from an overlapping vocabulary, glued by assorted separators."""
    return "".join(rng.choice(WORDS) + rng.choice(SEPARATORS) for _ in range(words)).strip()


def _quoted(text: str) -> str:
    """A text as a quoted phrase."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _random_term(rng: random.Random) -> str:
    """A term in any of the syntax's spellings."""
    if rng.random() < 0.12:
        return "cat:" + rng.choice(["cs.CV", "CS.ro", "cs", "cs.*", "math", "hep-th", "math-ph"])
    field = rng.choice(["", "", "", "ti:", "abs:", "au:", "TI:"])
    whole = "=" if rng.random() < 0.3 else ""
    if field == "au:":
        text = rng.choice(["li", "Li", "wei li", "an", "Ann Smith", "smith john", "ümit", "zoë ng", "ali"])
    else:
        text = rng.choice(WORDS) + (rng.choice(SEPARATORS) + rng.choice(WORDS) if rng.random() < 0.3 else "")
    if rng.random() < 0.1:
        text = rng.choice([f" {text}", f"{text} "])
    if not text.strip():
        text = "vlm"
    bare_ok = text.isalnum() and text.upper() not in ("AND", "OR", "NOT")
    return f"{field}{whole}{text if bare_ok and rng.random() < 0.5 else _quoted(text)}"


def _random_expression(rng: random.Random, depth: int = 0) -> str:
    """A random expression string: terms, AND/OR/NOT, implicit AND and parentheses."""
    roll = rng.random()
    if depth >= 3 or roll < 0.45:
        return _random_term(rng)
    left, right = _random_expression(rng, depth + 1), _random_expression(rng, depth + 1)
    if roll < 0.6:
        return f"{left} AND {right}"
    if roll < 0.75:
        return f"{left} OR {right}"
    if roll < 0.85:
        return f"{left} NOT {right}"
    if roll < 0.93:
        return f"({left} OR {right})"
    return f"({left}) ({right})"


def _random_keyword(rng: random.Random) -> str:
    """A random expression that parses (retrying the few that are only negative or too big)."""
    while True:
        text = _random_expression(rng)
        try:
            parse_keyword(text)
        except QuerySyntaxError:
            continue
        return text


@pytest.mark.parametrize("seed", range(4))
def test_matcher_agrees_with_a_naive_reference(seed: int) -> None:
    """On random topics and papers (overlapping words, unicode, fields, scopes) Matcher equals naive rules."""
    rng = random.Random(seed)
    papers = [
        paper(
            _random_text(rng, rng.randint(0, 6)),
            _random_text(rng, rng.randint(0, 25)),
            authors=rng.sample(NAMES, rng.randint(0, 3)),
            categories=rng.sample(CATEGORIES, rng.randint(0, 3)),
            kind=rng.choice(list(AnnounceType)),
            arxiv_id=f"2511.{index:05d}",
        )
        for index in range(120)
    ]
    topics = [
        topic(
            *(_random_keyword(rng) for _ in range(rng.randint(0, 4))),
            excludes=[_random_keyword(rng) for _ in range(rng.randint(0, 2))],
            categories=rng.sample(CATEGORIES, rng.randint(0, 3)),
            kinds=frozenset(rng.sample(list(AnnounceType), rng.randint(1, 4))),
        )
        for _ in range(150)
    ]
    defaults = rng.sample(CATEGORIES, 4)
    got = Matcher.compile(topics, defaults).match(papers)
    expected = [
        [index for index, item in enumerate(papers) if _reference_match(chosen, item, defaults)]
        for chosen in topics
    ]
    assert got == expected
    assert sum(map(len, got)) > 50  # the random topics do match things


def test_single_topic_matchers_agree_with_one_big_matcher() -> None:
    """Compiling topics together (shared atoms and automata) gives the same as compiling each alone."""
    rng = random.Random(99)
    papers = [paper(_random_text(rng, 5), _random_text(rng, 20), arxiv_id=f"2511.{i:05d}") for i in range(60)]
    topics = [topic(*(_random_keyword(rng) for _ in range(3))) for _ in range(40)]
    together = Matcher.compile(topics, DEFAULTS).match(papers)
    assert together == [Matcher.compile([chosen], DEFAULTS).match(papers)[0] for chosen in topics]
