"""Spec validation for the fake Bot API: every call against Telegram's machine-readable Bot API spec.

`tests/fixtures/telegram/api.json` (PaulSonOfLars/telegram-bot-api-spec, Bot API 10.0) lists each
method's parameters with their `types` (`Integer`, `String`, `Boolean`, `Float`, `InputFile`,
`Array of X`, or an object type of `types`, whose fields are checked the same way, recursively; a
union type lists its `subtypes`) and whether they are `required`. Conditional parameters say
"Required if X is not specified" in their description, and length limits are stated only in words
("1-4096 characters after entities parsing", "1-64 bytes"): both are read from the descriptions
with a pattern, for every method and type alike.

`SpecValidator.check(method, params, files)` returns the violations found; the fake answers the
first one with a 400 and records them all, so a test that sent a bad call fails even when the bot
swallowed the error. `decode_form_value` turns a form value back into what the client meant, by the
parameter's spec types (a `String` parameter stays a string even when it looks like a number).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.fakes.common import UploadedFile
from tests.fakes.telegram_html import TelegramHTMLError, parse_telegram_html, utf16_length

log = logging.getLogger(__name__)

# Limits of an inline keyboard Telegram states only in its FAQ, not in the spec's words: at most 100
# buttons, at most 8 a row. Telegram refuses more with REPLY_MARKUP_TOO_LONG.
MAX_KEYBOARD_BUTTONS = 100
MAX_ROW_BUTTONS = 8

SPEC_PATH = Path(__file__).resolve().parent.parent / "fixtures" / "telegram" / "api.json"

_LENGTH = re.compile(r"(\d+)-(\d+) (characters|bytes)( after entities parsing)?")
_REQUIRED_IF = re.compile(r"^Required if (.+?) (?:is|are) not specified")
_MUST_BE = re.compile(r"(?:must be|always) [“\"]?([a-z0-9_]+)[”\"]?\s*$")
_ARRAY = "Array of "
# What Telegram itself answers for the limits the bot can break; anything else gets the spec's words.
_TELEGRAM_WORDING = {
    ("text", "long"): "message is too long",
    ("text", "short"): "message text is empty",
    ("caption", "long"): "message caption is too long",
    ("callback_data", "long"): "BUTTON_DATA_INVALID",
    ("callback_data", "short"): "BUTTON_DATA_INVALID",
}


_TOO_LONG = "Bad Request: REPLY_MARKUP_TOO_LONG"


@dataclass(frozen=True, slots=True)
class Violation:
    """One way a call breaks the spec: where (`method.param[0].field`), and Telegram's 400 description."""

    method: str
    path: str
    problem: str  # what is wrong, in the spec's terms
    description: str  # what the fake answers: "Bad Request: ..."

    def __str__(self) -> str:
        """`sendMessage.text: ...` for failure messages."""
        return f"{self.method}.{self.path}: {self.problem}"


@dataclass(frozen=True, slots=True)
class _Field:
    """One parameter or object field of the spec."""

    name: str
    types: tuple[str, ...]
    required: bool
    description: str

    @property
    def required_unless(self) -> tuple[str, ...]:
        """The other fields whose presence makes this one optional ("Required if X is not specified")."""
        found = _REQUIRED_IF.search(self.description)
        if found is None:
            return ()
        return tuple(re.findall(r"[a-z_]+", found.group(1).replace(" and ", " ")))

    @property
    def length(self) -> tuple[int, int, str, bool] | None:
        """(low, high, "characters" or "bytes", counted after entities parsing), if the spec states it."""
        found = _LENGTH.search(self.description)
        if found is None or "String" not in self.types:
            return None
        return int(found.group(1)), int(found.group(2)), found.group(3), found.group(4) is not None

    @property
    def constant(self) -> str | None:
        """The only value a union member's `type` field may have ("Scope type, must be default")."""
        if self.name != "type":
            return None
        found = _MUST_BE.search(self.description)
        return found.group(1) if found else None


class BotAPISpec:
    """The spec's methods and types, looked up case-insensitively for methods as Telegram does."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        """Index the methods by lower-case name and every field list."""
        self.version: str = document.get("version", "")
        self.methods: dict[str, str] = {name.lower(): name for name in document["methods"]}
        self._method_fields = {
            name: self._fields(method.get("fields", ())) for name, method in document["methods"].items()
        }
        self._types: dict[str, dict[str, Any]] = dict(document["types"])
        self._type_fields = {
            name: self._fields(kind.get("fields", ())) for name, kind in document["types"].items()
        }

    @staticmethod
    def _fields(fields: Any) -> dict[str, _Field]:
        """Fields by name."""
        return {
            field["name"]: _Field(
                field["name"], tuple(field["types"]), bool(field["required"]), field["description"]
            )
            for field in fields
        }

    def method_name(self, called: str) -> str | None:
        """The spec's spelling of a called method; None when the Bot API has no such method."""
        return self.methods.get(called.lower())

    def parameter(self, method: str, name: str) -> _Field | None:
        """A method's parameter, or None."""
        return self._method_fields.get(method, {}).get(name)

    def parameters(self, method: str) -> dict[str, _Field]:
        """A method's parameters by name."""
        return self._method_fields.get(method, {})

    def subtypes(self, type_name: str) -> tuple[str, ...]:
        """A union type's members (empty for a plain type)."""
        return tuple(self._types.get(type_name, {}).get("subtypes", ()))

    def type_fields(self, type_name: str) -> dict[str, _Field] | None:
        """An object type's fields by name; None for a name the spec does not define."""
        if type_name not in self._types:
            return None
        return self._type_fields[type_name]


@cache
def load_spec(path: Path = SPEC_PATH) -> BotAPISpec:
    """The Bot API spec, parsed once per process."""
    return BotAPISpec(json.loads(path.read_text(encoding="utf-8")))


def decode_form_value(field: _Field | None, raw: str, fallback_string: bool) -> Any:
    """A form-encoded value as the client meant it: JSON for non-strings, as is for `String` parameters.

    python-telegram-bot sends strings as they are and everything else as JSON. Without a spec entry
    (`field` None), `fallback_string` says whether to keep the raw string.
    """
    if field is None:
        if fallback_string:
            return raw
    elif set(field.types) <= {"String", "InputFile"}:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class SpecValidator:
    """Checks calls against the spec; see the module docstring."""

    def __init__(self, spec: BotAPISpec | None = None) -> None:
        """Validate against `spec` (the fixture's by default)."""
        self.spec = spec or load_spec()

    def check(
        self, method: str, params: Mapping[str, Any], files: Mapping[str, UploadedFile]
    ) -> list[Violation]:
        """Every violation of one call to `method` (the spec's spelling) with these decoded params."""
        found: list[Violation] = []
        fields = self.spec.parameters(method)
        given = {**params, **{name: upload for name, upload in files.items() if name not in params}}
        attached = {f"attach://{name}" for name in files}
        for name in given:
            if name not in fields and name not in files:  # an uploaded part is named by an attach:// value
                found.append(self._violation(method, name, "is not a parameter of this method", "unknown"))
        for field in fields.values():
            value = given.get(field.name)
            if value is None:
                if self._required(field, given):
                    found.append(self._violation(method, field.name, "is required", "required"))
                continue
            found.extend(self._value(method, field.name, field, value, given, attached))
        found.extend(self._keyboard_limits(method, given.get("reply_markup")))
        return found

    def _keyboard_limits(self, method: str, markup: Any) -> list[Violation]:
        """An inline keyboard's size: ≤ 100 buttons in all, ≤ 8 in a row."""
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        if not isinstance(rows, list):
            return []
        found = []
        for number, row in enumerate(rows):
            if isinstance(row, list) and len(row) > MAX_ROW_BUTTONS:
                problem = f"has {len(row)} buttons, more than {MAX_ROW_BUTTONS} a row"
                found.append(Violation(method, f"reply_markup.inline_keyboard[{number}]", problem, _TOO_LONG))
        total = sum(len(row) for row in rows if isinstance(row, list))
        if total > MAX_KEYBOARD_BUTTONS:
            problem = f"has {total} buttons, more than {MAX_KEYBOARD_BUTTONS}"
            found.append(Violation(method, "reply_markup.inline_keyboard", problem, _TOO_LONG))
        return found

    @staticmethod
    def _required(field: _Field, given: Mapping[str, Any]) -> bool:
        """Required outright, or because none of the fields that would replace it was given."""
        if field.required:
            return True
        others = field.required_unless
        return bool(others) and not any(given.get(other) is not None for other in others)

    def _value(
        self,
        method: str,
        path: str,
        field: _Field,
        value: Any,
        siblings: Mapping[str, Any],
        attached: set[str],
    ) -> list[Violation]:
        """The violations of one field's value: its type (any of the field's types), then its length."""
        best: list[Violation] | None = None
        for type_name in field.types:
            problems = self._typed(method, path, type_name, value, attached)
            if not problems:
                return self._length(method, path, field, value, siblings)
            if best is None or len(problems) < len(best):
                best = problems
        if len(field.types) > 1 and best and all(v.path == path for v in best):
            wanted = " or ".join(field.types)
            return [self._violation(method, path, f"must be {wanted}, got {_kind(value)}", "type")]
        return best or []

    def _typed(
        self, method: str, path: str, type_name: str, value: Any, attached: set[str]
    ) -> list[Violation]:
        """The violations of a value against one spec type."""
        if type_name.startswith(_ARRAY):
            if not isinstance(value, list):
                return [self._violation(method, path, f"must be {type_name}, got {_kind(value)}", "type")]
            inner = type_name.removeprefix(_ARRAY)
            found: list[Violation] = []
            for index, item in enumerate(value):
                found.extend(self._typed(method, f"{path}[{index}]", inner, item, attached))
            return found
        simple = _SIMPLE.get(type_name)
        if simple is not None:
            if simple(value):
                return []
            return [self._violation(method, path, f"must be {type_name}, got {_kind(value)}", "type")]
        if type_name == "InputFile":
            if isinstance(value, UploadedFile) or (isinstance(value, str) and value in attached):
                return []
            return [self._violation(method, path, f"must be an uploaded file, got {_kind(value)}", "type")]
        members = self.spec.subtypes(type_name)
        if members:
            best: list[Violation] | None = None
            for member in members:
                problems = self._typed(method, path, member, value, attached)
                if not problems:
                    return []
                if best is None or len(problems) < len(best):
                    best = problems
            return best or []
        return self._object(method, path, type_name, value, attached)

    def _object(
        self, method: str, path: str, type_name: str, value: Any, attached: set[str]
    ) -> list[Violation]:
        """The violations of a value against an object type: a JSON object with the type's fields."""
        fields = self.spec.type_fields(type_name)
        if fields is None:
            return [self._violation(method, path, f"has type {type_name}, which the spec lacks", "type")]
        if not isinstance(value, dict):
            return [
                self._violation(method, path, f"must be a {type_name} object, got {_kind(value)}", "type")
            ]
        found: list[Violation] = []
        for name in value:
            if name not in fields:
                found.append(
                    self._violation(method, f"{path}.{name}", f"is not a field of {type_name}", "unknown")
                )
        for field in fields.values():
            item = value.get(field.name)
            if item is None:
                if self._required(field, value):
                    found.append(
                        self._violation(
                            method, f"{path}.{field.name}", f"is required in {type_name}", "required"
                        )
                    )
                continue
            constant = field.constant
            if constant is not None and item != constant:
                found.append(
                    self._violation(
                        method, f"{path}.{field.name}", f"must be {constant!r} in {type_name}", "type"
                    )
                )
                continue
            found.extend(self._value(method, f"{path}.{field.name}", field, item, value, attached))
        return found

    def _length(
        self, method: str, path: str, field: _Field, value: Any, siblings: Mapping[str, Any]
    ) -> list[Violation]:
        """A string outside the length the spec states for it ("0-1024 characters after entities parsing")."""
        limit = field.length
        if limit is None or not isinstance(value, str):
            return []
        low, high, unit, parsed = limit
        text = value
        if parsed:
            parse_mode = siblings.get("parse_mode") or siblings.get("quote_parse_mode")
            if isinstance(parse_mode, str) and parse_mode.lower() == "html":
                try:
                    text = parse_telegram_html(value, strict=False)
                except TelegramHTMLError:
                    return []  # the method's own check answers "can't parse entities"
        size = len(text.encode("utf-8")) if unit == "bytes" else utf16_length(text)
        if low <= size <= high:
            return []
        after = " after entities parsing" if parsed else ""
        problem = f"is {size} {unit}{after}; the spec allows {low}-{high}"
        return [self._violation(method, path, problem, "short" if size < low else "long", field.name)]

    @staticmethod
    def _violation(method: str, path: str, problem: str, kind: str, name: str | None = None) -> Violation:
        """A violation whose 400 uses Telegram's own words where the fake knows them."""
        words = _TELEGRAM_WORDING.get((name or "", kind))
        detail = f"{path} {problem}"
        description = f"Bad Request: {words} ({detail})" if words else f"Bad Request: {detail}"
        return Violation(method, path, problem, description)


def _kind(value: Any) -> str:
    """A value's JSON kind, for messages."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return f"String {value[:20]!r}"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, UploadedFile):
        return "an uploaded file"
    return "an object" if isinstance(value, dict) else type(value).__name__


_SIMPLE = {
    "Integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "Float": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "Boolean": lambda value: isinstance(value, bool),
    "String": lambda value: isinstance(value, str),
}
