"""Spec validation for the fake Discord: bodies against Discord's OpenAPI schemas and documented limits."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.fakes.discord_model import (
    ACTION_ROW,
    BUTTON,
    IS_COMPONENTS_V2_FLAG,
    LINK_BUTTON_STYLE,
    MAX_ACTION_ROWS,
    MAX_CONTENT_LENGTH,
    MAX_CUSTOM_ID,
    MAX_EMBED_TOTAL,
    PREMIUM_BUTTON_STYLE,
    SELECT_TYPES,
)

log = logging.getLogger(__name__)

SPEC_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "discord" / "openapi-trimmed.json"
_SPEC_URI = "urn:discord-openapi"


class OpenAPISpec:
    """Discord's OpenAPI document with a validator compiled once per schema."""

    def __init__(self, path: Path) -> None:
        """Load the spec and register it so `#/components/...` references resolve."""
        self.document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    def resolve(self, pointer: str) -> Any:
        """The JSON value at a JSON pointer, following a `$ref` found there."""
        node: Any = self.document
        for part in pointer.lstrip("/").split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, dict) and "$ref" in node:
            return self.resolve(node["$ref"].removeprefix("#"))
        return node

    def validator(self, pointer: str) -> Draft202012Validator:
        """The (cached) validator of the schema at `pointer`."""
        validator = self._validators.get(pointer)
        if validator is None:
            schema = {"$ref": f"{_SPEC_URI}#{quote(pointer)}"}
            validator = Draft202012Validator(schema, registry=self.registry)
            self._validators[pointer] = validator
        return validator

    def request_pointer(self, template: str, method: str, body: Any) -> str | None:
        """The pointer to the route's JSON request schema (a union narrowed by the body's `type`)."""
        escaped = template.replace("~", "~0").replace("/", "~1")
        pointer = f"/paths/{escaped}/{method.lower()}/requestBody/content/application~1json/schema"
        try:
            schema = self.resolve(pointer)
        except (KeyError, IndexError):
            return None
        union = schema.get("anyOf") or schema.get("oneOf")
        if union and isinstance(body, dict) and "type" in body:
            keyword = "anyOf" if "anyOf" in schema else "oneOf"
            matching = [
                index
                for index, branch in enumerate(union)
                if body["type"]
                in self.resolve(f"{pointer}/{keyword}/{index}")
                .get("properties", {})
                .get("type", {})
                .get("enum", ())
            ]
            if len(matching) == 1:
                return f"{pointer}/{keyword}/{matching[0]}"
        return pointer

    def response_pointer(self, template: str, method: str, status: int) -> str | None:
        """The pointer to the route's JSON response schema for a status, if the spec has one."""
        escaped = template.replace("~", "~0").replace("/", "~1")
        pointer = f"/paths/{escaped}/{method.lower()}/responses/{status}/content/application~1json/schema"
        try:
            self.resolve(pointer)
        except (KeyError, IndexError):
            return None
        return pointer


def _problems(error: ValidationError) -> list[tuple[tuple[str, ...], str, str]]:
    """A schema violation as (field path, code, message) items; a failed union reports its closest branch."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for inner in error.context:
            branches.setdefault(inner.relative_schema_path[0], []).append(inner)
        closest = min(branches.values(), key=len)
        return [problem for inner in closest for problem in _problems(inner)]
    return [_problem(error)]


def _problem(error: ValidationError) -> tuple[tuple[str, ...], str, str]:
    """One schema violation as (field path, Discord-style code, message)."""
    leaf = best_match([error]) or error
    path = tuple(str(part) for part in leaf.absolute_path)
    kind = leaf.validator
    if kind in ("maxLength", "maxItems"):
        return path, "BASE_TYPE_MAX_LENGTH", f"Must be {leaf.validator_value} or fewer in length."
    if kind in ("minLength", "minItems"):
        return path, "BASE_TYPE_MIN_LENGTH", f"Must be {leaf.validator_value} or more in length."
    if kind == "required" and isinstance(leaf.instance, dict) and isinstance(leaf.validator_value, list):
        missing = [name for name in leaf.validator_value if name not in leaf.instance]
        return (*path, *missing[:1]), "BASE_TYPE_REQUIRED", "This field is required"
    message = leaf.message if len(leaf.message) <= 200 else leaf.message[:197] + "..."
    return path, f"SCHEMA_{str(kind).upper()}", message


def _message_limit_problems(
    body: Any, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], str, str]]:
    """Discord's documented limits the spec does not carry: content 2000, 6000 across embeds."""
    if not isinstance(body, dict):
        return []
    problems: list[tuple[tuple[str, ...], str, str]] = []
    content = body.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT_LENGTH:
        problems.append(
            (
                (*prefix, "content"),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_CONTENT_LENGTH} or fewer in length.",
            )
        )
    embeds = body.get("embeds")
    if isinstance(embeds, list) and embeds_total_length(embeds) > MAX_EMBED_TOTAL:
        problems.append(
            (
                (*prefix, "embeds"),
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
            )
        )
    return problems


def _component_problems(body: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str, str]]:
    """What Discord refuses in a message's components beyond the spec's schema.

    Without components v2 (flag 1<<15) a message has at most 5 top-level components, each an action
    row; a button other than a link or premium one needs a `custom_id` (the spec marks it optional,
    since link buttons have none) of at most 100 characters, and custom ids are unique per message.
    A select menu fills its action row alone (the spec allows 5 of anything in a row), and its
    options' values are unique within it.
    """
    if not isinstance(body, dict) or not isinstance(body.get("components"), list):
        return []
    problems: list[tuple[tuple[str, ...], str, str]] = []
    components = body["components"]
    v2 = bool(int(body.get("flags") or 0) & IS_COMPONENTS_V2_FLAG)
    if not v2 and len(components) > MAX_ACTION_ROWS:
        problems.append(((*prefix, "components"), "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length."))
    seen: set[str] = set()
    for row_index, row in enumerate(components):
        where = (*prefix, "components", str(row_index))
        if not isinstance(row, dict):
            continue
        if not v2 and row.get("type") != ACTION_ROW:
            problems.append(((*where, "type"), "UNION_TYPE_CHOICES", 'Value of field "type" must be 1.'))
        problems += _select_problems(row, where)
        for item_index, item in enumerate(row.get("components") or ()):
            if not isinstance(item, dict):
                continue
            at = (*where, "components", str(item_index))
            custom_id = item.get("custom_id")
            needs_id = item.get("type") != BUTTON or item.get("style") not in (
                LINK_BUTTON_STYLE,
                PREMIUM_BUTTON_STYLE,
            )
            if needs_id and not custom_id:
                problems.append(((*at, "custom_id"), "BASE_TYPE_REQUIRED", "This field is required"))
            if isinstance(custom_id, str):
                if len(custom_id) > MAX_CUSTOM_ID:
                    problems.append(
                        (
                            (*at, "custom_id"),
                            "BASE_TYPE_MAX_LENGTH",
                            f"Must be {MAX_CUSTOM_ID} or fewer in length.",
                        )
                    )
                if custom_id in seen:
                    problems.append(
                        (
                            (*at, "custom_id"),
                            "COMPONENT_CUSTOM_ID_DUPLICATED",
                            "Component custom id cannot be duplicated",
                        )
                    )
                seen.add(custom_id)
    return problems


def _select_problems(row: dict[str, Any], where: tuple[str, ...]) -> list[tuple[tuple[str, ...], str, str]]:
    """A row's select menus: each alone in its row, its option values unique."""
    items = [item for item in row.get("components") or () if isinstance(item, dict)]
    problems: list[tuple[tuple[str, ...], str, str]] = []
    for index, item in enumerate(items):
        if item.get("type") not in SELECT_TYPES:
            continue
        at = (*where, "components", str(index))
        if len(items) > 1:
            problems.append(
                (at, "COMPONENT_LAYOUT_WIDTH_EXCEEDED", "The specified component exceeds the maximum width")
            )
        values = [option.get("value") for option in item.get("options") or () if isinstance(option, dict)]
        if len(values) != len(set(values)):
            problems.append(
                (
                    (*at, "options"),
                    "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
                    "Component option values must be unique",
                )
            )
    return problems


def embeds_total_length(embeds: Iterable[Any]) -> int:
    """The characters Discord counts against the 6000 limit across a message's embeds."""
    total = 0
    for embed in embeds:
        if not isinstance(embed, dict):
            continue
        for key in ("title", "description"):
            total += len(embed.get(key) or "")
        total += len((embed.get("footer") or {}).get("text") or "")
        total += len((embed.get("author") or {}).get("name") or "")
        for item in embed.get("fields") or ():
            if isinstance(item, dict):
                total += len(item.get("name") or "") + len(item.get("value") or "")
    return total


def _errors_object(problems: Sequence[tuple[tuple[str, ...], str, str]]) -> dict[str, Any]:
    """Discord's nested `errors` object: one `_errors` list at each failing field."""
    errors: dict[str, Any] = {}
    for path, code, message in problems:
        node = errors
        for part in path:
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return errors


def _normalised_for_spec(body: Any) -> Any:
    """A copy of a body with discord.py's integer attachment ids as strings (Discord takes both)."""
    if not isinstance(body, dict):
        return body
    attachments = body.get("attachments")
    data = body.get("data")
    if not isinstance(attachments, list) and not (isinstance(data, dict) and "attachments" in data):
        return body
    body = copy.deepcopy(body)
    for holder in (body, body.get("data")):
        if isinstance(holder, dict) and isinstance(holder.get("attachments"), list):
            for attachment in holder["attachments"]:
                if isinstance(attachment, dict) and isinstance(attachment.get("id"), int):
                    attachment["id"] = str(attachment["id"])
    return body
