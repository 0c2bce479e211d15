"""The parser of the keyword syntax documented in `bot.matching`: text in, a small validated AST out.

Nothing here touches papers; `bot.matching` compiles the AST into one automaton pass per paper.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.categories import KNOWN_CATEGORIES

# Limits that keep parsing and matching cheap whatever a user types.
MAX_KEYWORD_CHARS = 300
MAX_TERMS = 32
MAX_DEPTH = 16
MAX_KEYWORDS = 1000
MAX_EXCLUDES = 1000

OPERATORS = frozenset({"AND", "OR", "NOT"})
_FIELD_PREFIX = re.compile(r"(ti|abs|au|cat):", re.IGNORECASE)
# C0 controls (but tab, newline, carriage return) and DEL: never part of a sensible keyword.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DELIMITERS = frozenset('()"')
_WORD = re.compile(r'[^\s()"]*')
_SPACE = re.compile(r"\s*")
_CATEGORY_CODES = frozenset(code.lower() for code in KNOWN_CATEGORIES)
_ARCHIVES = frozenset(code.split(".", 1)[0] for code in _CATEGORY_CODES)


class QuerySyntaxError(ValueError):
    """A keyword expression that cannot be used; the message is one line meant for the user.

    `position` is the 1-based character position the problem was found at, when there is one.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        """The error with its one-line message and, if known, its 1-based position."""
        super().__init__(message)
        self.position = position


class Field(StrEnum):
    """Where a term is looked for."""

    ANY = "any"  # title + " " + abstract (the anchor's text)
    TITLE = "ti"
    ABSTRACT = "abs"
    AUTHOR = "au"  # any author's name
    CATEGORY = "cat"  # any of the paper's category codes


@dataclass(frozen=True, slots=True)
class Term:
    """One atom: lower-cased `text` looked for in `field`; `whole` demands non-word characters around it.

    For `Field.CATEGORY`, `text` is a lower-cased code: with a dot it must equal a category, without
    one it names an archive (`cs` matches `cs.CV`, `hep-th` matches `hep-th`).
    """

    text: str
    field: Field = Field.ANY
    whole: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    """True where its operand is false."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    """True where every operand is true."""

    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """True where any operand is true."""

    operands: tuple[Expr, ...]


Expr = Term | Not | And | Or


# -- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    """A lexical unit: an operator, a parenthesis, a term or a field group opener (`ti:(`)."""

    kind: str  # "(", ")", "AND", "OR", "NOT", "TERM", "FIELD("
    pos: int  # 0-based offset in the source
    text: str = ""
    field: Field = Field.ANY
    whole: bool = False


def _at(pos: int) -> str:
    """A position for messages (1-based)."""
    return f"at position {pos + 1}"


def _word_end(source: str, start: int) -> int:
    """The end of the word starting at `start`: the next whitespace, parenthesis or quote."""
    match = _WORD.match(source, start)
    assert match is not None  # the pattern matches the empty string too
    return match.end()


def _skip_space(source: str, start: int) -> int:
    """The offset of the first non-whitespace character at or after `start`."""
    match = _SPACE.match(source, start)
    assert match is not None  # the pattern matches the empty string too
    return match.end()


def _read_quoted(source: str, start: int) -> tuple[str, int]:
    """The unescaped text of the quoted phrase opening at `start`, and the offset after its closing quote."""
    chars: list[str] = []
    index = start + 1
    while index < len(source):
        char = source[index]
        if char == "\\" and index + 1 < len(source) and source[index + 1] in '"\\':
            chars.append(source[index + 1])
            index += 2
        elif char == '"':
            text = "".join(chars)
            if not text.strip():
                raise QuerySyntaxError(f"empty quoted phrase {_at(start)}", start + 1)
            return text, index + 1
        else:
            chars.append(char)
            index += 1
    raise QuerySyntaxError(f'unbalanced quote: the " {_at(start)} is never closed', start + 1)


def _starts_new_term(source: str, start: int) -> bool:
    """Whether the word at `start` begins a term of its own (an operator, a field prefix or `=word`)."""
    word = source[start : _word_end(source, start)]
    if word in OPERATORS or _FIELD_PREFIX.match(word):
        return True
    return source[start] == "=" and start + 1 < len(source) and not source[start + 1].isspace()


def _read_term(source: str, index: int) -> tuple[_Token, int]:
    """The term (field prefix, `=`, quoted or bare phrase) starting at `index`, and where it ends."""
    start = index
    length = len(source)
    field = Field.ANY
    prefix = _FIELD_PREFIX.match(source, index)
    if prefix:
        field = Field(prefix.group(1).lower())
        index = prefix.end()
    whole = False
    if index < length and source[index] == "=":
        following = source[index + 1] if index + 1 < length else ""
        if following and not following.isspace() and following not in "()":
            whole = True
            index += 1
        elif field is not Field.ANY or following in ("(", ")"):
            raise QuerySyntaxError(
                f"'=' {_at(index)} must be followed directly by a word or a quoted phrase", index + 1
            )
        # else: a lone '=' is ordinary text ("E = mc2")
    if prefix or whole:
        following = source[index] if index < length else ""
        if following == '"':
            text, index = _read_quoted(source, index)
            return _Token("TERM", start, text, field, whole), index
        if following == "(" and not whole:
            return _Token("FIELD(", start, field=field), index + 1
        if not following or following.isspace() or following in "()":
            marker = source[start:index]
            group = " or a (group)" if not whole else ""
            raise QuerySyntaxError(
                f"'{marker}' {_at(start)} must be followed directly by a word, a quoted phrase{group}",
                start + 1,
            )
    # A bare phrase: this word and the following ones, up to an operator, a parenthesis, a quote,
    # or a word that starts a term of its own; inner whitespace is kept as typed.
    text_start = index
    end = _word_end(source, index)
    while True:
        nxt = _skip_space(source, end)
        if nxt == end or nxt >= length or source[nxt] in _DELIMITERS or _starts_new_term(source, nxt):
            break
        end = _word_end(source, nxt)
    return _Token("TERM", start, source[text_start:end], field, whole), end


def _tokenize(source: str) -> list[_Token]:
    """The tokens of a keyword expression."""
    tokens: list[_Token] = []
    index = 0
    length = len(source)
    while index < length:
        char = source[index]
        if char.isspace():
            index = _skip_space(source, index)
            continue
        if char in "()":
            tokens.append(_Token(char, index))
            index += 1
            continue
        if char == '"':
            text, end = _read_quoted(source, index)
            tokens.append(_Token("TERM", index, text))
            index = end
            continue
        end = _word_end(source, index)
        word = source[index:end]
        if word in OPERATORS:
            tokens.append(_Token(word, index))
            index = end
            continue

        token, index = _read_term(source, index)
        tokens.append(token)
    return tokens


def fold(text: str) -> str:
    """Text as matching compares it: lower-cased, accents dropped (`Rodríguez` → `rodriguez`).

    Both keywords and paper text go through this, so `au:Rodriguez` finds `Rodríguez` and
    `au:Rodríguez` finds `Rodriguez`. Compatibility forms fold too (the ligature `ﬁ` → `fi`).
    ASCII text, nearly all of arXiv's, skips the Unicode work.
    """
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(char for char in decomposed if not unicodedata.combining(char)).lower()
    # Text of nothing but combining marks would fold to nothing (an empty pattern the automaton
    # refuses): keep it as it is; it can only match itself.
    return folded or text.lower()


# -- parser -------------------------------------------------------------------------------------


def _make_term(token: _Token, field: Field) -> Term:
    """The validated atom of a term token, read in `field` unless the token names its own."""
    if token.field is not Field.ANY:
        field = token.field
    text = fold(token.text)
    if field is Field.CATEGORY:
        code = text.strip()
        if code.endswith(".*"):
            code = code[:-2]
        known = code in _CATEGORY_CODES if "." in code else code in _ARCHIVES
        if not known:
            raise QuerySyntaxError(
                f"unknown arXiv category {token.text.strip()!r} {_at(token.pos)} (try cat:cs.CV or cat:cs.*)",
                token.pos + 1,
            )
        return Term(code, Field.CATEGORY)
    return Term(text, field, token.whole)


class _Parser:
    """Recursive descent over the tokens: OR of ANDs of (NOT)* primaries; depth and term count bounded."""

    def __init__(self, tokens: list[_Token]) -> None:
        """A parser at the first token."""
        self.tokens = tokens
        self.index = 0
        self.terms = 0

    def peek(self) -> _Token | None:
        """The next token, if any."""
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        """Consume the next token."""
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Expr:
        """The whole expression; every token must be used."""
        expr = self.parse_or(0, Field.ANY)
        token = self.peek()
        if token is not None:  # only a stray ')' can stop the top level early
            raise QuerySyntaxError(
                f"unbalanced parenthesis: ')' {_at(token.pos)} has no matching '('", token.pos + 1
            )
        return expr

    def _operand_after(self, operator: _Token) -> None:
        """Raise if nothing usable follows a binary operator or NOT."""
        token = self.peek()
        if token is None or token.kind in (")", "AND", "OR"):
            raise QuerySyntaxError(
                f"dangling operator: {operator.kind} {_at(operator.pos)} has nothing after it",
                operator.pos + 1,
            )

    def parse_or(self, depth: int, field: Field) -> Expr:
        """and_expr (OR and_expr)*."""
        operands = [self.parse_and(depth, field)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            self._operand_after(token)
            operands.append(self.parse_and(depth, field))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def parse_and(self, depth: int, field: Field) -> Expr:
        """unary ([AND] unary)*: adjacent terms are joined by AND."""
        operands = [self.parse_unary(depth, field)]
        while (token := self.peek()) is not None:
            if token.kind == "AND":
                self.take()
                self._operand_after(token)
            elif token.kind not in ("TERM", "(", "NOT", "FIELD("):
                break
            operands.append(self.parse_unary(depth, field))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _deeper(self, depth: int, token: _Token) -> int:
        """One more nesting level, within the limit."""
        if depth + 1 > MAX_DEPTH:
            raise QuerySyntaxError(
                f"too deeply nested {_at(token.pos)} (at most {MAX_DEPTH} levels of parentheses and NOT)",
                token.pos + 1,
            )
        return depth + 1

    def parse_unary(self, depth: int, field: Field) -> Expr:
        """NOT unary | ( or_expr ) | field( or_expr ) | term."""
        token = self.peek()
        if token is None:  # only reachable for an empty token list
            raise QuerySyntaxError("the keyword is empty")
        if token.kind in ("AND", "OR"):
            raise QuerySyntaxError(
                f"dangling operator: {token.kind} {_at(token.pos)} has nothing before it", token.pos + 1
            )
        if token.kind == ")":
            raise QuerySyntaxError(
                f"unbalanced parenthesis: ')' {_at(token.pos)} has no matching '('", token.pos + 1
            )
        self.take()
        if token.kind == "NOT":
            self._operand_after(token)
            return Not(self.parse_unary(self._deeper(depth, token), field))
        if token.kind in ("(", "FIELD("):
            inner_field = field
            if token.kind == "FIELD(":
                if field is not Field.ANY:
                    raise QuerySyntaxError(
                        f"a field group {_at(token.pos)} is inside another field group", token.pos + 1
                    )
                inner_field = token.field
            inner_depth = self._deeper(depth, token)
            closing = self.peek()
            if closing is not None and closing.kind == ")":
                raise QuerySyntaxError(f"empty parentheses {_at(token.pos)}", token.pos + 1)
            if closing is None:
                raise QuerySyntaxError(
                    f"unbalanced parenthesis: '(' {_at(token.pos)} is never closed", token.pos + 1
                )
            expr = self.parse_or(inner_depth, inner_field)
            closing = self.peek()
            if closing is None or closing.kind != ")":
                raise QuerySyntaxError(
                    f"unbalanced parenthesis: '(' {_at(token.pos)} is never closed", token.pos + 1
                )
            self.take()
            return expr
        # a term
        if field is not Field.ANY and token.field not in (Field.ANY, field):
            raise QuerySyntaxError(
                f"the term {_at(token.pos)} names a field inside a {field.value}:(…) group", token.pos + 1
            )
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QuerySyntaxError(f"too many terms (at most {MAX_TERMS} in one keyword)", token.pos + 1)
        return _make_term(token, field)


def _parse(text: str) -> Expr:
    """The AST of a keyword expression, without the check that it needs a positive term."""
    if len(text) > MAX_KEYWORD_CHARS:
        raise QuerySyntaxError(
            f"the keyword is too long ({len(text)} characters, at most {MAX_KEYWORD_CHARS})"
        )
    if not text.strip():
        raise QuerySyntaxError("the keyword is empty")
    control = _CONTROL.search(text)
    if control:
        raise QuerySyntaxError(
            f"control character U+{ord(control.group()):04X} {_at(control.start())}", control.start() + 1
        )
    return _Parser(_tokenize(text)).parse()


def matches_without_terms(expr: Expr) -> bool:
    """Whether the expression holds for a paper in which none of its terms occurs (it is only negative)."""
    if isinstance(expr, Term):
        return False
    if isinstance(expr, Not):
        return not matches_without_terms(expr.operand)
    if isinstance(expr, And):
        return all(matches_without_terms(operand) for operand in expr.operands)
    return any(matches_without_terms(operand) for operand in expr.operands)


def parse_keyword(text: str) -> Expr:
    """The validated AST of one keyword (or exclusion) expression; raises QuerySyntaxError."""
    expr = _parse(text)
    if matches_without_terms(expr):
        raise QuerySyntaxError(
            "it matches papers that contain none of its terms (only NOT); add a term that must occur, "
            "e.g. 'VLM NOT survey'"
        )
    return expr


def _shown(text: str) -> str:
    """A keyword as quoted in an error message, shortened."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= 60 else flat[:57] + "...")


def keyword_error(role: str, text: str, error: QuerySyntaxError) -> QuerySyntaxError:
    """The error re-worded to name the offending keyword (`role` is "keyword" or "exclusion")."""
    return QuerySyntaxError(f"{role} {_shown(text)}: {error}", error.position)


def check_counts(keywords: Sequence[str], excludes: Sequence[str]) -> None:
    """Raise if a topic has more keywords or exclusions than the limits allow."""
    if len(keywords) > MAX_KEYWORDS:
        raise QuerySyntaxError(f"too many keywords ({len(keywords)}, at most {MAX_KEYWORDS} per topic)")
    if len(excludes) > MAX_EXCLUDES:
        raise QuerySyntaxError(f"too many exclusions ({len(excludes)}, at most {MAX_EXCLUDES} per topic)")


def _quote(text: str) -> str:
    """A quoted phrase with `\\` and `"` escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _anchor_part(part: str) -> str:
    """One anchor keyword part in our syntax: bare when that reads the same, quoted otherwise."""
    if not part.strip():
        raise QuerySyntaxError("the keyword is empty")
    # Commas and line breaks separate keywords where users type several at once: keep them quoted.
    if part == part.strip() and "," not in part and "\n" not in part:
        try:
            bare = _parse(part)
        except QuerySyntaxError:
            pass
        else:
            if bare == Term(part.lower()):
                return part
    return _quote(part)


def anchor_keyword_to_expression(value: str | list[str]) -> str:
    """One keyword entry of an awesome-daily-AI-arxiv config (text, or a list whose parts must all occur)
    as an expression of our syntax that matches exactly like the anchor: substrings, case-insensitive.

    A part stays bare when our syntax reads it as that same phrase; otherwise (operators, quotes,
    parentheses, a field or `=` word, spaces at the ends, commas or line breaks, which separate keywords
    where users type several) it is quoted with escapes. Parts are joined by AND. The result is not
    validated (a part may still be too long); `validate_topic` says so.
    """
    if isinstance(value, str):
        return _anchor_part(value)
    parts = [str(part) for part in value]
    if not parts:
        raise QuerySyntaxError("the keyword list is empty")
    return " AND ".join(_anchor_part(part) for part in parts)
