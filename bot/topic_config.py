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
case-insensitive); they are converted into this project's keyword syntax.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.categories import UnknownCategoryError, normalise_categories
from bot.matching import QuerySyntaxError, anchor_keyword_to_expression, validate_topic
from bot.models import Topic

MAX_CONFIG_BYTES = 256 * 1024
MAX_TOPICS = 50
MAX_TOPIC_NAME = 64


class TopicConfigError(ValueError):
    """The config cannot be used; the message says why in one line."""


def _entries(value: Any, where: str) -> list[str]:
    """A topic's keywords or filters, each converted to our syntax."""
    if value is None:
        return []
    if isinstance(value, str | int | float):
        value = [value]
    if not isinstance(value, list):
        raise TopicConfigError(f"{where} must be a list")
    converted = []
    for entry in value:
        if isinstance(entry, list):
            parts = [str(part) for part in entry if part is not None and str(part).strip()]
            if not parts:
                raise TopicConfigError(f"{where} has an empty keyword list")
            converted.append(anchor_keyword_to_expression(parts))
        elif entry is None or not str(entry).strip():
            raise TopicConfigError(f"{where} has an empty keyword")
        elif isinstance(entry, dict):
            raise TopicConfigError(f"{where} has an entry that is neither text nor a list of text")
        else:
            converted.append(anchor_keyword_to_expression(str(entry)))
    return converted


def parse_topic_config(text: str | bytes) -> list[Topic]:
    """Topics from an anchor-format YAML document; raises TopicConfigError with a one-line reason."""
    if len(text) > MAX_CONFIG_BYTES:
        raise TopicConfigError(f"the config is larger than {MAX_CONFIG_BYTES // 1024} KiB")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise TopicConfigError(f"the config is not valid YAML{where}") from None
    if not isinstance(document, dict):
        raise TopicConfigError("the config must be a mapping with 'category' and 'topic' sections")
    categories_section = document.get("category") or {}
    if isinstance(categories_section, dict):
        codes = [str(code) for code in categories_section]
    elif isinstance(categories_section, list):
        codes = [str(code) for code in categories_section]
    else:
        raise TopicConfigError("'category' must map category codes to names")
    try:
        categories = normalise_categories(codes)
    except UnknownCategoryError as error:
        raise TopicConfigError(str(error)) from None

    topics_section = document.get("topic")
    if not isinstance(topics_section, dict) or not topics_section:
        raise TopicConfigError("the config has no 'topic' section with at least one topic")
    if len(topics_section) > MAX_TOPICS:
        raise TopicConfigError(f"the config has more than {MAX_TOPICS} topics")

    topics = []
    for raw_name, body in topics_section.items():
        name = " ".join(str(raw_name).split())
        if not name or len(name) > MAX_TOPIC_NAME:
            raise TopicConfigError(f"topic names must be 1 to {MAX_TOPIC_NAME} characters")
        if not isinstance(body, dict):
            raise TopicConfigError(f"topic {name!r} must have 'keywords' (and optionally 'filters')")
        keywords = _entries(body.get("keywords"), f"topic {name!r} keywords")
        if not keywords:
            raise TopicConfigError(f"topic {name!r} has no keywords")
        excludes = _entries(body.get("filters"), f"topic {name!r} filters")
        topic = Topic(name=name, keywords=tuple(keywords), excludes=tuple(excludes), categories=categories)
        try:
            validate_topic(topic)
        except QuerySyntaxError as error:
            raise TopicConfigError(f"topic {name!r}: {error}") from None
        topics.append(topic)
    return topics


def load_topic_config(path: Path) -> list[Topic]:
    """Topics from an anchor-format YAML file."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise TopicConfigError(f"{path} is larger than {MAX_CONFIG_BYTES // 1024} KiB")
        data = path.read_bytes()
    except OSError as error:
        raise TopicConfigError(f"cannot read {path}: {error.strerror or error}") from None
    return parse_topic_config(data)
