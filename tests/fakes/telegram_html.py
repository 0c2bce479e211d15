"""A validator for Telegram's HTML parse mode, so tests (and the fake server) catch formatting bugs.

Telegram allows only `b strong i em u ins s strike del a code pre blockquote tg-spoiler` and
`<span class="tg-spoiler">`, properly nested and closed; `a` carries `href`, `blockquote` may carry
`expandable`, `code` may carry `class="language-…"`; the named entities are `&lt; &gt; &amp; &quot;`
(numeric ones too). A message may hold 4096 characters after entity parsing, counted in UTF-16
code units.

`strict` (the default) is a little stricter than Telegram, on purpose: Telegram shows a bare `&`,
an unknown entity such as `&nbsp;` or a bare `>` literally, but in this project's output each of those
means a missed escape, so strict mode rejects them. It also rejects tags inside `code`/`pre` (Telegram
silently drops them) and a blockquote inside a blockquote.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_MESSAGE_LENGTH = 4096

ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote", "span"}
    | {"tg-spoiler"}
)
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# Every `&` must begin one of these (checked on the raw text, attribute values included).
_GOOD_AMPERSAND = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#[xX][0-9a-fA-F]+);")


class TelegramHTMLError(ValueError):
    """The text is not HTML Telegram would accept (the message imitates Telegram's wording)."""


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


class _TelegramHTMLParser(HTMLParser):
    """Collects the visible text and the first errors of a Telegram HTML text."""

    def __init__(self, source: str, *, strict: bool) -> None:
        """Parse `source` completely; see `errors` and `text` afterwards."""
        super().__init__(convert_charrefs=False)
        self.strict = strict
        self.errors: list[str] = []
        self.parts: list[str] = []
        self.stack: list[str] = []
        self._line_starts = [0]
        for line in source.splitlines(keepends=True):
            self._line_starts.append(self._line_starts[-1] + len(line))
        self._source = source
        self.feed(source)
        self.close()
        for tag in reversed(self.stack):
            self.errors.append(f'Can\'t find end tag corresponding to start tag "{tag}"')

    @property
    def text(self) -> str:
        """The visible text after entity parsing."""
        return "".join(self.parts)

    def _offset(self, extra: int = 0) -> int:
        """The current position (plus `extra` characters) as a UTF-8 byte offset, as Telegram reports."""
        line, column = self.getpos()
        index = self._line_starts[line - 1] + column + extra
        return len(self._source[:index].encode("utf-8"))

    def _error(self, message: str, extra: int = 0) -> None:
        """Record an error at the current position (plus `extra` characters)."""
        self.errors.append(f"{message} at byte offset {self._offset(extra)}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Check the tag, its attributes and where it may nest."""
        if tag not in ALLOWED_TAGS:
            self._error(f'Unsupported start tag "{tag}"')
            return
        names = [name for name, _ in attrs]
        values = dict(attrs)
        if len(set(names)) != len(names):
            self._error(f'Repeated attribute in tag "{tag}"')
        if tag == "a":
            if names != ["href"] or not values["href"]:
                self._error('Tag "a" must have exactly one non-empty attribute "href"')
        elif tag == "span":
            if names != ["class"] or values["class"] != "tg-spoiler":
                self._error('Tag "span" must have class "tg-spoiler"')
        elif tag == "blockquote":
            if any(name != "expandable" for name in names) or any(values[name] for name in names):
                self._error('Tag "blockquote" may only have the attribute "expandable"')
        elif tag == "code":
            if names and (names != ["class"] or not (values["class"] or "").startswith("language-")):
                self._error('Tag "code" may only have class "language-…"')
        elif attrs:
            self._error(f'Tag "{tag}" must have no attributes')
        if self.strict:  # Telegram drops these entities silently; here they count as bugs
            inner = self.stack[-1] if self.stack else None
            if inner == "code" or (inner == "pre" and tag != "code"):
                self._error(f'Tag "{tag}" inside "{inner}"')
            if tag in ("a", "blockquote") and tag in self.stack:
                self._error(f'Tag "{tag}" inside "{tag}"')
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Self-closing tags do not exist in Telegram HTML."""
        self._error(f'Unsupported self-closing tag "{tag}"')

    def handle_endtag(self, tag: str) -> None:
        """An end tag must close the innermost open tag."""
        if not self.stack:
            self._error(f'Unexpected end tag "{tag}"')
        elif self.stack[-1] != tag:
            self._error(f'Unmatched end tag, expected "</{self.stack[-1]}>", found "</{tag}>"')
            if tag in self.stack:
                del self.stack[self.stack.index(tag) :]
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        """Visible text; a `<` that starts no tag is an error (and a bare `>` in strict mode)."""
        if "<" in data:
            self._error('Unsupported start tag ""', data.index("<"))
        elif self.strict and ">" in data:
            self._error('Unescaped ">"', data.index(">"))
        self.parts.append(data)

    def handle_entityref(self, name: str) -> None:
        """Only `&lt; &gt; &amp; &quot;` are known; Telegram shows any other literally."""
        if name in _NAMED_ENTITIES:
            self.parts.append(_NAMED_ENTITIES[name])
        else:
            self.parts.append(f"&{name}")  # the ampersand check reports it in strict mode

    def handle_charref(self, name: str) -> None:
        """A numeric character reference."""
        try:
            code = int(name[1:], 16) if name[:1] in "xX" else int(name)
            self.parts.append(chr(code))
        except (ValueError, OverflowError):
            self._error(f'Invalid character reference "&#{name};"')

    def handle_comment(self, data: str) -> None:
        """Comments are not Telegram HTML."""
        self._error("Unsupported comment")

    def handle_decl(self, decl: str) -> None:
        """Declarations are not Telegram HTML."""
        self._error("Unsupported declaration")

    def unknown_decl(self, data: str) -> None:
        """CDATA and friends are not Telegram HTML."""
        self._error("Unsupported declaration")

    def handle_pi(self, data: str) -> None:
        """Processing instructions are not Telegram HTML."""
        self._error("Unsupported processing instruction")


def _parse(html: str, *, strict: bool) -> _TelegramHTMLParser:
    """Parse, adding the raw-text ampersand check in strict mode."""
    parser = _TelegramHTMLParser(html, strict=strict)
    if strict:
        for match in re.finditer("&", html):
            if not _GOOD_AMPERSAND.match(html, match.start()):
                offset = len(html[: match.start()].encode("utf-8"))
                parser.errors.append(f'Unescaped "&" or unknown entity at byte offset {offset}')
                break
    return parser


def parse_telegram_html(html: str, *, strict: bool = True) -> str:
    """The visible text of a Telegram HTML message; raises `TelegramHTMLError` if Telegram would reject it."""
    parser = _parse(html, strict=strict)
    if parser.errors:
        raise TelegramHTMLError(parser.errors[0])
    return parser.text


def visible_length(html: str) -> int:
    """Length after entity parsing in UTF-16 code units (best effort for invalid HTML)."""
    return utf16_length(_TelegramHTMLParser(html, strict=False).text)


def assert_valid_telegram_html(
    html: str, *, strict: bool = True, max_length: int = MAX_MESSAGE_LENGTH
) -> None:
    """Fail (AssertionError) unless Telegram would accept `html` as one message of at most `max_length`."""
    try:
        text = parse_telegram_html(html, strict=strict)
    except TelegramHTMLError as exc:
        raise AssertionError(f"invalid Telegram HTML: {exc}\n{html[:500]}") from None
    length = utf16_length(text)
    assert length <= max_length, f"{length} visible UTF-16 units, more than {max_length}"
    assert text.strip(), "the message is empty after entity parsing"
