"""Reading topics from awesome-daily-AI-arxiv's YAML config, so its users move over in one command.

The format::

    category:
      cs.AI: Artificial Intelligence
      cs.CV: Computer Vision and Pattern Recognition
    topic:
      MLLM:
        keywords: [VLM, MLLM, [LLM, Reasoning]]   # a list entry: every part must occur
        filters:                                   # same rules; empty means none

Every topic watches the file's categories. Keywords keep the anchor's meaning exactly (substring,
case-insensitive); they are converted into this project's keyword syntax. A whole archive (`cs`,
`math`), which the anchor scrapes as one listing, becomes every category of that archive
(`bot.categories.expand_categories`, as for every other entry point).

The file is untrusted (a chat member sends it): its size, nesting, number of entries and length of
each keyword are bounded before any work is done per entry, and YAML aliases cannot multiply it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.categories import UnknownCategoryError, expand_categories
from bot.matching import validate_topic
from bot.models import Topic
from bot.query import (
    MAX_EXCLUDES,
    MAX_KEYWORD_CHARS,
    MAX_KEYWORDS,
    MAX_TERMS,
    QuerySyntaxError,
    anchor_keyword_to_expression,
)

MAX_CONFIG_BYTES = 256 * 1024
MAX_TOPICS = 50
MAX_TOPIC_NAME = 64
# Keyword parts over the whole file: aliases let a small file name one long list many times.
MAX_TOTAL_PARTS = 10_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# libyaml's parser is fast and limits nesting to 1000 levels; the pure-Python one is the fallback.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALARS = (str, int, float)


class TopicConfigError(ValueError):
    """The config cannot be used; the message says why in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(_storable(message).split()))


def _storable(text: str) -> str:
    """Text without lone surrogates (a YAML or JSON escape can make them; SQLite refuses them)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def clean_name(raw: str) -> str:
    """A topic name as stored: no lone surrogates, control characters dropped, whitespace runs one space."""
    return " ".join(_CONTROL.sub(" ", _storable(raw)).split())


def _shown(text: str, limit: int = 40) -> str:
    """Text quoted in a message, shortened."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


class _Budget:
    """Counts keyword parts over the whole file."""

    def __init__(self) -> None:
        self.parts = 0

    def spend(self, count: int) -> None:
        """Take `count` parts, or raise once the file has too many."""
        self.parts += count
        if self.parts > MAX_TOTAL_PARTS:
            raise TopicConfigError(f"the config has more than {MAX_TOTAL_PARTS} keywords in all")


def _part(value: Any, where: str) -> str:
    """One keyword (or one part of a keyword list) as text, checked before any conversion."""
    if isinstance(value, bool):
        raise TopicConfigError(f'{where} has a yes/no value: put quotes around words like "ON" or "NO"')
    if not isinstance(value, _SCALARS):
        raise TopicConfigError(f"{where} has an entry that is neither text nor a list of text")
    text = _storable(str(value))
    if not text.strip():
        raise TopicConfigError(f"{where} has an empty keyword")
    if len(text) > MAX_KEYWORD_CHARS:
        raise TopicConfigError(f"{where} has a keyword longer than {MAX_KEYWORD_CHARS} characters")
    return text


def _entries(value: Any, where: str, limit: int, budget: _Budget) -> list[str]:
    """A topic's keywords or filters, each converted to our syntax."""
    if value is None:
        return []
    if isinstance(value, _SCALARS) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        raise TopicConfigError(f"{where} must be a list")
    if len(value) > limit:
        raise TopicConfigError(f"{where} has more than {limit} entries")
    converted = []
    for entry in value:
        if isinstance(entry, list):
            if not entry:
                raise TopicConfigError(f"{where} has an empty keyword list")
            if len(entry) > MAX_TERMS:
                raise TopicConfigError(f"{where} has a keyword list of more than {MAX_TERMS} parts")
            budget.spend(len(entry))
            parts: str | list[str] = [_part(part, where) for part in entry]
        else:
            budget.spend(1)
            parts = _part(entry, where)
        try:
            converted.append(anchor_keyword_to_expression(parts))
        except QuerySyntaxError as error:
            raise TopicConfigError(f"{where}: {error}") from None
    return converted


def _categories(section: Any) -> tuple[str, ...]:
    """The file's categories (a mapping of codes to names, or a list of codes), canonical and expanded."""
    if section is None:
        return ()
    if isinstance(section, dict | list):
        if any(isinstance(code, bool) or not isinstance(code, _SCALARS) for code in section):
            raise TopicConfigError("'category' must list category codes such as cs.CV")
        codes = [str(code) for code in section]
    else:
        raise TopicConfigError("'category' must map category codes to names")
    try:
        return expand_categories(codes)
    except UnknownCategoryError as error:
        raise TopicConfigError(str(error)) from None


def parse_topic_config(text: str | bytes) -> list[Topic]:
    """Topics from an anchor-format YAML document; raises TopicConfigError with a one-line reason."""
    size = len(text.encode("utf-8", "replace")) if isinstance(text, str) else len(text)
    if size > MAX_CONFIG_BYTES:
        raise TopicConfigError(f"the config is larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        document = yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a safe loader, libyaml's when available
    except yaml.YAMLError as error:
        problem = str(getattr(error, "problem", None) or "")
        if "nesting depth" in problem:
            raise TopicConfigError("the config is nested too deeply") from None
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        detail = f" ({problem})" if problem and len(problem) <= 80 else ""
        raise TopicConfigError(f"the config is not valid YAML{where}{detail}") from None
    except RecursionError:  # the pure-Python parser, without libyaml's depth limit
        raise TopicConfigError("the config is nested too deeply") from None
    except UnicodeError:  # text with an unpaired surrogate, which libyaml cannot encode
        raise TopicConfigError("the config is not valid UTF-8 text") from None
    if not isinstance(document, dict):
        raise TopicConfigError("the config must be a mapping with 'category' and 'topic' sections")
    categories = _categories(document.get("category"))

    topics_section = document.get("topic")
    if not isinstance(topics_section, dict) or not topics_section:
        raise TopicConfigError("the config has no 'topic' section with at least one topic")
    if len(topics_section) > MAX_TOPICS:
        raise TopicConfigError(f"the config has more than {MAX_TOPICS} topics")

    budget = _Budget()
    topics: list[Topic] = []
    seen: set[str] = set()
    for raw_name, body in topics_section.items():
        name = clean_name(str(raw_name))
        if not name or len(name) > MAX_TOPIC_NAME:
            raise TopicConfigError(f"topic names must be 1 to {MAX_TOPIC_NAME} characters")
        if name.casefold() in seen:
            raise TopicConfigError(f"the config has two topics named {_shown(name)}")
        seen.add(name.casefold())
        if not isinstance(body, dict):
            raise TopicConfigError(f"topic {_shown(name)} must have 'keywords' (and optionally 'filters')")
        keywords = _entries(body.get("keywords"), f"topic {_shown(name)} keywords", MAX_KEYWORDS, budget)
        if not keywords:
            raise TopicConfigError(f"topic {_shown(name)} has no keywords")
        excludes = _entries(body.get("filters"), f"topic {_shown(name)} filters", MAX_EXCLUDES, budget)
        topic = Topic(
            name=name,
            keywords=tuple(dict.fromkeys(keywords)),
            excludes=tuple(dict.fromkeys(excludes)),
            categories=categories,
        )
        try:
            validate_topic(topic)
        except QuerySyntaxError as error:
            raise TopicConfigError(f"topic {_shown(name)}: {error}") from None
        topics.append(topic)
    return topics


def load_topic_config(path: Path) -> list[Topic]:
    """Topics from an anchor-format YAML file; every TopicConfigError message names the file once."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise TopicConfigError(f"{path} is larger than {MAX_CONFIG_BYTES // 1024} KiB")
        data = path.read_bytes()
    except IsADirectoryError:
        raise TopicConfigError(f"cannot read {path}: it is a directory, not a config file") from None
    except OSError as error:
        raise TopicConfigError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return parse_topic_config(data)
    except TopicConfigError as error:
        raise TopicConfigError(f"{path}: {error}") from None
