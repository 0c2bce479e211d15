"""Importing awesome-daily-AI-arxiv's YAML config: the anchor's own file, its keyword rules, and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.matching import matches
from bot.models import AnnounceType, Paper, Topic
from bot.query import MAX_KEYWORD_CHARS, MAX_KEYWORDS, MAX_TERMS
from bot.topic_config import (
    MAX_CONFIG_BYTES,
    MAX_TOPIC_NAME,
    MAX_TOPICS,
    MAX_TOTAL_PARTS,
    TopicConfigError,
    load_topic_config,
    parse_topic_config,
)

DEFAULTS = ("cs.CL",)
ANCHOR_CONFIG = Path(__file__).parents[1] / "fixtures" / "anchor" / "config-mllm.yml"
# The same file's text, for when the fixture is not there (it is a byte-for-byte copy of the anchor's).
ANCHOR_TEXT = """\
category:
  cs.AI: Artificial Intelligence 🧠
  cs.CL: Computation and Language 💬
  cs.CV: Computer Vision and Pattern Recognition 📸
  cs.LG: Machine Learning 📊
  cs.MA: Multiagent Systems 🌐
  cs.RO: Robotics 🤖

topic:
  MLLM:
    keywords:
      - VLM
      - MLM
      - MLLM
      - Multi-Modal Language Model
      - Multimodal Language Model
      - Vision Language Model
    filters:
"""


def anchor_bytes() -> bytes:
    """The anchor's config-mllm.yml."""
    return ANCHOR_CONFIG.read_bytes() if ANCHOR_CONFIG.exists() else ANCHOR_TEXT.encode()


def paper(title: str, abstract: str = "An abstract.", categories: tuple[str, ...] = ("cs.CL",)) -> Paper:
    """A new paper with this title and abstract."""
    return Paper(
        arxiv_id="2511.00001",
        version=1,
        title=title,
        abstract=abstract,
        authors=("A. Author",),
        categories=categories,
        announce_type=AnnounceType.NEW,
    )


def only(text: str) -> Topic:
    """The single topic of a config."""
    (topic,) = parse_topic_config(text)
    return topic


def refused(text: str | bytes) -> str:
    """The one-line reason a config is refused."""
    with pytest.raises(TopicConfigError) as caught:
        parse_topic_config(text)
    message = str(caught.value)
    assert message
    assert "\n" not in message
    assert len(message) < 300
    return message


# -- the anchor's file ---------------------------------------------------------------------------------------
def test_the_anchor_config_is_the_fixture_text() -> None:
    """The fixture copy (when present) is the anchor's text this module also inlines."""
    if not ANCHOR_CONFIG.exists():
        pytest.skip("tests/fixtures/anchor/config-mllm.yml not copied yet")
    assert parse_topic_config(ANCHOR_CONFIG.read_bytes()) == parse_topic_config(ANCHOR_TEXT)


def test_anchor_config_gives_one_mllm_topic() -> None:
    """config-mllm.yml: one topic MLLM, its six keywords as written, no exclusions, the six categories."""
    topic = only(anchor_bytes())  # type: ignore[arg-type]
    assert topic.name == "MLLM"
    assert topic.keywords == (
        "VLM",
        "MLM",
        "MLLM",
        "Multi-Modal Language Model",
        "Multimodal Language Model",
        "Vision Language Model",
    )
    assert topic.excludes == ()
    assert topic.categories == ("cs.AI", "cs.CL", "cs.CV", "cs.LG", "cs.MA", "cs.RO")


def test_anchor_keywords_are_case_insensitive_substrings() -> None:
    """As in the anchor, VLM matches `LVLMs` and `vision language models`; nothing else matches."""
    topic = only(anchor_bytes())  # type: ignore[arg-type]
    assert matches(topic, paper("Hallucination in LVLMs"), DEFAULTS)
    assert matches(topic, paper("A study", "We train vision language models."), DEFAULTS)
    assert not matches(topic, paper("Large language models for code"), DEFAULTS)


def test_load_topic_config_reads_a_file(tmp_path: Path) -> None:
    """load_topic_config reads the file; a missing or oversized file is a TopicConfigError."""
    path = tmp_path / "config.yml"
    path.write_bytes(anchor_bytes())
    assert [topic.name for topic in load_topic_config(path)] == ["MLLM"]
    with pytest.raises(TopicConfigError, match="cannot read"):
        load_topic_config(tmp_path / "missing.yml")
    path.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(TopicConfigError, match="larger than"):
        load_topic_config(path)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "No such file"),
        ("DIR", "is a directory"),
        ("topic: [1, 2\n", "not valid YAML"),
        ("[]", "mapping"),
    ],
)
def test_load_topic_config_names_the_file_once(tmp_path: Path, content: str | None, fragment: str) -> None:
    """Every error of load_topic_config names the file exactly once (not `x.yml: cannot read x.yml`)."""
    path = tmp_path / "x.yml"
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(TopicConfigError) as caught:
        load_topic_config(path)
    assert str(caught.value).count("x.yml") == 1
    assert fragment in str(caught.value)


# -- keyword rules -------------------------------------------------------------------------------------------
def test_list_keywords_are_conjunctions() -> None:
    """A list entry matches only when every part occurs (anywhere, any case)."""
    topic = only("topic:\n  R:\n    keywords: [[LLM, Reasoning]]\n")
    assert topic.keywords == ("LLM AND Reasoning",)
    assert matches(topic, paper("reasoning with an llm"), DEFAULTS)
    assert matches(topic, paper("LLMs", "We study their reasoning."), DEFAULTS)
    assert not matches(topic, paper("An LLM for translation"), DEFAULTS)
    assert not matches(topic, paper("Reasoning about programs"), DEFAULTS)


def test_special_characters_keep_the_anchors_literal_meaning() -> None:
    """Parts with commas, parentheses, quotes or operator words are quoted, so they match literally."""
    topic = only(
        """
topic:
  T:
    keywords:
      - "GPT-4(V)"
      - 'say "hi", OR not'
      - [C++, "a:b"]
"""
    )
    assert matches(topic, paper("Evaluating GPT-4(V) on charts"), DEFAULTS)
    assert not matches(topic, paper("Evaluating GPT-4 on charts"), DEFAULTS)
    assert matches(topic, paper('They say "hi", or not'), DEFAULTS)
    assert not matches(topic, paper("say hi"), DEFAULTS)
    assert matches(topic, paper("C++ tools", "ratio a:b"), DEFAULTS)
    assert not matches(topic, paper("C++ tools"), DEFAULTS)


def test_filters_become_exclusions() -> None:
    """Filters (text or list entries) exclude the papers they match."""
    topic = only("topic:\n  T:\n    keywords: [agent]\n    filters: [survey, [benchmark, dataset]]\n")
    assert topic.excludes == ("survey", "benchmark AND dataset")
    assert matches(topic, paper("An agent benchmark"), DEFAULTS)
    assert not matches(topic, paper("An agent survey"), DEFAULTS)
    assert not matches(topic, paper("An agent benchmark", "A new dataset."), DEFAULTS)


def test_single_keyword_numbers_and_duplicates() -> None:
    """A lone keyword may be a scalar; numbers become text; repeated keywords are kept once."""
    topic = only("topic:\n  T:\n    keywords: [3D, 3D, 2024]\n")
    assert topic.keywords == ("3D", "2024")
    assert only("topic:\n  T:\n    keywords: agent\n").keywords == ("agent",)


def test_several_topics_share_the_files_categories() -> None:
    """Every topic watches the file's categories; without any, the defaults (empty)."""
    topics = parse_topic_config(
        "category: [cs.cv, cs.RO]\ntopic:\n  A: {keywords: [a]}\n  B: {keywords: [b]}\n"
    )
    assert [(topic.name, topic.categories) for topic in topics] == [
        ("A", ("cs.CV", "cs.RO")),
        ("B", ("cs.CV", "cs.RO")),
    ]
    assert only("topic: {A: {keywords: [a]}}").categories == ()


def test_a_whole_archive_becomes_all_its_categories() -> None:
    """`cs` (which the anchor scrapes as one listing) becomes every cs.* category; `hep-th` stays itself."""
    categories = only("category: [cs, hep-th]\ntopic: {A: {keywords: [a]}}").categories
    assert "cs.CV" in categories
    assert "cs.RO" in categories
    assert "hep-th" in categories
    assert "cs" not in categories
    assert len(categories) == 41


def test_archive_wildcards_and_unknown_codes_follow_the_shared_rules() -> None:
    """The importer reads categories like every entry point: `cs.*` is the archive, unknown codes named."""
    assert len(only("category: ['cs.*']\ntopic: {A: {keywords: [a]}}").categories) == 40
    with pytest.raises(TopicConfigError, match=r"cs\.NOPE"):
        parse_topic_config("category: [cs.CV, cs.NOPE]\ntopic: {A: {keywords: [a]}}")


def test_topic_names_are_tidied() -> None:
    """Whitespace and control characters in a topic name collapse to single spaces."""
    assert only('topic:\n  "  Vision \\t\\x07 Language ": {keywords: [a]}\n').name == "Vision Language"


@pytest.fixture(params=["libyaml", "python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with libyaml's loader (when installed) and with PyYAML's pure-Python one."""
    if request.param == "python":
        monkeypatch.setattr("bot.topic_config._SafeLoader", yaml.SafeLoader)
    elif not yaml.__with_libyaml__:
        pytest.skip("PyYAML without libyaml")
    return str(request.param)


def test_a_surrogate_escape_is_refused_or_replaced(loader: str) -> None:
    """A YAML escape for an unpaired surrogate is refused (libyaml) or replaced (pure Python)."""
    text = 'topic: {"T\\ud800": {keywords: ["a\\ud800b"]}}'
    if loader == "libyaml":
        assert "not valid YAML" in refused(text)
    else:
        topic = only(text)
        assert (topic.name, topic.keywords) == ("T?", ("a?b",))


def test_text_with_a_lone_surrogate_is_refused(loader: str) -> None:
    """A str holding an unpaired surrogate is refused with a one-line reason."""
    assert "not valid" in refused("topic: {T: {keywords: ['a\ud800']}}")


def test_deep_nesting_is_refused(loader: str) -> None:
    """A document nested deeper than the YAML parser follows is refused, not a RecursionError."""
    assert "nested too deeply" in refused("topic: " + "[" * 20_000 + "]" * 20_000)


# -- refusals ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("topic: [unclosed", "not valid YAML at line"),
        ("a: 1\n b: 2\n", "not valid YAML at line 2"),
        ("", "must be a mapping"),
        ("- a\n- b", "must be a mapping"),
        ("category: {cs.CV: x}", "no 'topic' section"),
        ("topic: {}", "no 'topic' section"),
        ("topic: [a, b]", "no 'topic' section"),
        ("category: cs.CV\ntopic: {A: {keywords: [a]}}", "'category' must"),
        ("category: [[cs.CV]]\ntopic: {A: {keywords: [a]}}", "'category' must"),
        ("category: {cs.XX: x, math.ZZ: y}\ntopic: {A: {keywords: [a]}}", "cs.XX, math.ZZ"),
        ("topic: {A: [a, b]}", "must have 'keywords'"),
        ("topic: {A: {filters: [a]}}", "has no keywords"),
        ("topic: {A: {keywords: []}}", "has no keywords"),
        ("topic: {A: {keywords: {a: 1}}}", "must be a list"),
        ("topic: {A: {keywords: [a, '  ']}}", "empty keyword"),
        ("topic: {A: {keywords: [a, null]}}", "neither text nor a list"),
        ("topic: {A: {keywords: [[]]}}", "empty keyword list"),
        ("topic: {A: {keywords: [[a, [b, c]]]}}", "neither text nor a list"),
        ("topic: {A: {keywords: [{a: b}]}}", "neither text nor a list"),
        ("topic: {A: {keywords: [2025-11-11]}}", "neither text nor a list"),
        ("topic: {A: {keywords: [ON]}}", "yes/no"),
        ("topic: {A: {keywords: [a], filters: [[x, '']]}}", "filters has an empty keyword"),
        ("topic: {A: {keywords: [a]}, ' a ': {keywords: [b]}}", "two topics named 'a'"),
        ("topic: {'': {keywords: [a]}}", "1 to 64 characters"),
        ("topic: {" + "N" * (MAX_TOPIC_NAME + 1) + ": {keywords: [a]}}", "1 to 64 characters"),
        ("topic: {A: {keywords: [" + "k" * (MAX_KEYWORD_CHARS + 1) + "]}}", "longer than 300"),
        ("topic: {A: {keywords: [[" + ", ".join(["p"] * (MAX_TERMS + 1)) + "]]}}", "more than 32 parts"),
        ("topic: {A: {keywords: [" + ", ".join(["k"] * (MAX_KEYWORDS + 1)) + "]}}", "more than 1000 entries"),
        ('topic: {A: {keywords: ["a\\x07b"]}}', "control character"),
    ],
)
def test_bad_configs_are_refused_in_one_line(loader: str, text: str, expected: str) -> None:
    """Every kind of unusable config raises TopicConfigError with a one-line reason naming the problem."""
    assert expected in refused(text)


def test_too_many_topics() -> None:
    """More than MAX_TOPICS topics is refused."""
    body = "\n".join(f"  T{index}: {{keywords: [k]}}" for index in range(MAX_TOPICS + 1))
    assert f"more than {MAX_TOPICS} topics" in refused(f"topic:\n{body}\n")


@pytest.mark.parametrize("kind", [bytes, str])
def test_too_big(kind: type) -> None:
    """A document over MAX_CONFIG_BYTES (bytes, or text once encoded) is refused before parsing."""
    text = "topic: {A: {keywords: [a]}}\n# " + "é" * (MAX_CONFIG_BYTES // 2)
    assert "larger than 256 KiB" in refused(text.encode() if kind is bytes else text)


def test_aliases_cannot_multiply_the_work() -> None:
    """A small file naming one long keyword list many times through aliases is refused quickly."""
    parts = ", ".join(f"w{index}" for index in range(30))
    entries = ", ".join(["*a"] * 999)
    text = f"x: &a [{parts}]\ntopic:\n" + "\n".join(
        f"  T{index}: {{keywords: [{entries}]}}" for index in range(MAX_TOPICS)
    )
    assert f"more than {MAX_TOTAL_PARTS} keywords" in refused(text)


def test_unsafe_yaml_tags_are_refused() -> None:
    """Python object tags are not constructed (safe_load)."""
    assert "not valid YAML" in refused("topic: !!python/object/apply:os.system ['true']")


def test_non_utf8_bytes_are_refused() -> None:
    """Bytes that are not text are a YAML error, not a crash."""
    assert "not valid YAML" in refused(b"topic: \xff\xfe\x00")
