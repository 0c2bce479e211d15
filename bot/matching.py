"""Keyword matching: which papers of an announcement each topic wants.

The default rule is awesome-daily-AI-arxiv's, exactly: the text searched is title + " " + abstract, and
a keyword matches when it occurs in it as a case-insensitive substring, with no word boundaries (`VLM`
matches `LVLMs`, `LLM` matches `MLLM`). A topic matches a paper when at least one keyword matches, no
exclusion matches, one of the paper's categories is among the topic's (none given: the default
categories) and the paper's announce type is one the topic wants.

Keyword syntax (each keyword or exclusion is one expression; matching ignores case):

| you write | it matches |
|---|---|
| `Vision Language Model` | the phrase as a substring: a run of words is one phrase, inner spaces as typed |
| `"GPT-4(V), AND"` | a quoted phrase: commas, `( )`, `:`, AND/OR/NOT are text; `\\"` and `\\\\` escape |
| `=VLM`, `="world model"` | whole word: no letter, digit or `_` right before or after (`VLM,` not `VLMs`) |
| `ti:agent`, `abs:=RAG` | in the title only, in the abstract only |
| `au:Hinton`, `au:=Li` | in any author's name |
| `cat:cs.RO`, `cat:cs.*` or `cat:cs` | a category of the paper, any category of an archive |
| `ti:"world model"`, `ti:(agent OR robot)` | fields combine with `=`, quotes and a group |
| `LLM AND reasoning`, `"LLM" reasoning` | both: adjacent terms that are not one bare phrase mean AND |
| `VLM OR MLLM` | either |
| `VLM NOT survey`, `VLM AND NOT survey` | the first without the second |
| `(VLM OR MLLM) AND (robot OR embodied)` | grouping; NOT binds tighter than AND, AND tighter than OR |

Operators are the upper-case words AND, OR, NOT; lower-case "and", "or", "not" are ordinary words.
Only `ti:`, `abs:`, `au:` and `cat:` are fields (`foo:` is text). A word starting with a field or with
`=` begins a new term: `ti:world model` is the title phrase "world model", `vision ti:robot` is
"vision" anywhere AND "robot" in the title. A keyword or exclusion that would match a paper containing
none of its terms (`NOT survey`) is refused. Limits: 300 characters, 32 terms and 16 levels of nesting
per keyword; 1000 keywords and 1000 exclusions per topic.

Performance: `Matcher.compile` parses every distinct keyword once and gathers every distinct atom of
all topics into one Aho-Corasick automaton for the text and one for author names; `Matcher.match`
scans each paper once per automaton, turns the hits into one int bitmask per atom (bit i: paper i)
and evaluates each topic with bitwise operations on those ints.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import logging
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import ahocorasick_rs

from bot.models import AnnounceType, Paper, Topic
from bot.query import (
    And,
    Expr,
    Field,
    Not,
    QuerySyntaxError,
    Term,
    check_counts,
    fold,
    keyword_error,
    parse_keyword,
)

__all__ = ["Matcher", "matches", "validate_topic"]

log = logging.getLogger(__name__)

# Joins a paper's author names for one scan; keywords cannot contain it, so no match spans two names.
AUTHOR_SEPARATOR = "\x00"
# Reading out set bits: peel them off one by one up to _FEW_BITS, split bin() at the ones up to
# _MANY_BITS, else let itertools.compress pick the positions (fastest each in its range).
_FEW_BITS = 24
_MANY_BITS = 400
_BITS_TO_BYTES = bytes.maketrans(b"01", b"\x00\x01")

# A whole-word atom to check at a hit of its key: (atom id, where: _IN_TITLE, _IN_ABSTRACT or 0 for anywhere).
_Check = tuple[int, int]
_IN_TITLE = 1
_IN_ABSTRACT = 2
_WHERE = {Field.TITLE: _IN_TITLE, Field.ABSTRACT: _IN_ABSTRACT}


@dataclass(frozen=True, slots=True)
class _Plan:
    """A compiled topic: expression ids of its keywords and exclusions, and its scope id."""

    keywords: tuple[int, ...]
    excludes: tuple[int, ...]
    scope: int


@functools.lru_cache(maxsize=1 << 18)
def _parsed(text: str) -> Expr | QuerySyntaxError:
    """A keyword's expression, or why it does not parse; cached across compiles.

    Every announcement compiles every chat's topics again, and the keywords barely change from one day
    to the next: parsing them (about 11 µs each) was most of the compile time.
    """
    try:
        return parse_keyword(text)
    except QuerySyntaxError as error:
        return error.with_traceback(None)  # kept for a long time: hold no frames


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: compiling allocates many small objects and no cycles, and
    its collections took ~40 % of the time of a 100,000-topic compile."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Builder:
    """Parses keywords once each and numbers expressions and scopes while topics are compiled."""

    def __init__(self, default_categories: Sequence[str]) -> None:
        """An empty builder; topics without categories get `default_categories`."""
        self.default_categories = tuple(default_categories)
        self.expr_ids: dict[str, int] = {}
        self.exprs: list[Expr] = []
        self.scope_ids: dict[tuple[tuple[str, ...], frozenset[AnnounceType]], int] = {}

    def expression(self, text: str, role: str) -> int:
        """The id of a keyword's expression; raises QuerySyntaxError naming the keyword."""
        known = self.expr_ids.get(text)
        if known is not None:
            return known
        parsed = _parsed(text)
        if isinstance(parsed, QuerySyntaxError):
            raise keyword_error(role, text, parsed)
        self.expr_ids[text] = len(self.exprs)
        self.exprs.append(parsed)
        return self.expr_ids[text]

    def plan(self, topic: Topic) -> _Plan:
        """The compiled form of one topic; raises QuerySyntaxError naming the first bad keyword."""
        check_counts(topic.keywords, topic.excludes)
        keywords = tuple(dict.fromkeys(self.expression(text, "keyword") for text in topic.keywords))
        excludes = tuple(dict.fromkeys(self.expression(text, "exclusion") for text in topic.excludes))
        scope_key = (tuple(topic.categories or self.default_categories), frozenset(topic.announce_types))
        scope = self.scope_ids.setdefault(scope_key, len(self.scope_ids))
        return _Plan(keywords, excludes, scope)


def validate_topic(topic: Topic) -> None:
    """Raise QuerySyntaxError, naming the bad keyword or exclusion, unless every one of them parses."""
    _Builder(()).plan(topic)


def _terms(expr: Expr) -> Iterable[Term]:
    """Every atom of an expression."""
    if isinstance(expr, Term):
        yield expr
    elif isinstance(expr, Not):
        yield from _terms(expr.operand)
    else:
        for operand in expr.operands:
            yield from _terms(operand)


class _Scanner:
    """One Aho-Corasick automaton over the texts of some atoms, and per key what its hits mean.

    A key (a lower-cased text) may stand for several atoms: the plain substring, its `ti:` and `abs:`
    versions, and whole-word versions. Key number k is pattern k of the automaton, and `first_id + k`
    is the id of its plain atom (an id no expression uses when the key has no plain atom), so plain hits
    need no translation. Title, abstract and whole-word atoms are settled from each hit's start and end
    (hits are few: tens per paper, however many keywords there are).
    """

    def __init__(self, terms: Iterable[Term], first_id: int) -> None:
        """Number the atoms from `first_id`: the keys' plain atoms first, then the others (see `ids`)."""
        by_text: dict[str, list[Term]] = {}
        for term in terms:
            by_text.setdefault(term.text, []).append(term)
        self.first_id = first_id
        self.ids: dict[Term, int] = {}
        self.next_id = first_id + len(by_text)
        self.title: dict[int, int] = {}  # key → atom id
        self.abstract: dict[int, int] = {}
        self.whole: dict[int, tuple[_Check, ...]] = {}
        for key, terms_of_key in enumerate(by_text.values()):
            checks: list[_Check] = []
            for term in terms_of_key:
                if not term.whole and term.field in (Field.ANY, Field.AUTHOR):
                    self.ids[term] = first_id + key
                    continue
                atom = self.ids[term] = self.next_id
                self.next_id += 1
                if term.whole:
                    checks.append((atom, _WHERE.get(term.field, 0)))
                elif term.field is Field.TITLE:
                    self.title[key] = atom
                else:
                    self.abstract[key] = atom
            if checks:
                self.whole[key] = tuple(checks)
        # ahocorasick-rs scans this workload about 1.5x faster than pyahocorasick, and reports
        # overlapping matches as (key, start, end) in character offsets. Its default picks the
        # implementation by size: a forced DFA would take 0.5 GiB for 300,000 keywords.
        self.automaton = ahocorasick_rs.AhoCorasick(list(by_text)) if by_text else None

    def scan(self, text: str, split: int, found: set[int]) -> None:
        """Add to `found` the atoms that occur in `text`; the title is text[:split] (split < 0: no title)."""
        if self.automaton is None:
            return
        hits: list[tuple[int, int, int]] = self.automaton.find_matches_as_indexes(text, overlapping=True)
        if not hits:
            return
        keys = {hit[0] for hit in hits}
        found.update(keys if self.first_id == 0 else map(self.first_id.__add__, keys))
        if self.title or self.abstract:
            for key, start, end in hits:
                if end <= split:
                    if key in self.title:
                        found.add(self.title[key])
                elif start > split and key in self.abstract:
                    found.add(self.abstract[key])
        if self.whole and not self.whole.keys().isdisjoint(keys):
            self._check_whole(hits, text, split, found)

    def _check_whole(self, hits: list[tuple[int, int, int]], text: str, split: int, found: set[int]) -> None:
        """Add the whole-word atoms whose hit has no word character right before or after it."""
        size = len(text)
        for key, start, end in hits:
            checks = self.whole.get(key)
            if checks is None:
                continue
            if (start > 0 and ((char := text[start - 1]).isalnum() or char == "_")) or (
                end < size and ((char := text[end]).isalnum() or char == "_")
            ):
                continue
            for atom, where in checks:
                if (where == _IN_TITLE and end > split) or (where == _IN_ABSTRACT and start <= split):
                    continue
                found.add(atom)


def _mask(indices: Iterable[int]) -> int:
    """The bitmask with these bits set."""
    mask = 0
    for index in indices:
        mask |= 1 << index
    return mask


def _indices(mask: int, positions: list[int]) -> list[int]:
    """The set bits of a mask, ascending; `positions` is list(range(number of papers))."""
    count = mask.bit_count()
    if count <= _FEW_BITS:
        result: list[int] = []
        while mask:
            low = mask & -mask
            result.append(low.bit_length() - 1)
            mask ^= low
        return result
    digits = bin(mask)[:1:-1]  # bit 0 first
    if count <= _MANY_BITS:
        # The runs of zeros between the ones give the positions without a Python loop.
        gaps = digits.split("1")
        gaps.pop()
        return list(map(operator.add, itertools.accumulate(map(len, gaps)), itertools.count()))
    return list(itertools.compress(positions, digits.encode("ascii").translate(_BITS_TO_BYTES)))


def _evaluate(expr: Expr, masks: dict[Term, int], full: int) -> int:
    """The mask of the papers an expression holds for, from the masks of its atoms."""
    if isinstance(expr, Term):
        return masks.get(expr, 0)
    if isinstance(expr, Not):
        return full ^ _evaluate(expr.operand, masks, full)
    if isinstance(expr, And):
        result = full
        for operand in expr.operands:
            result &= _evaluate(operand, masks, full)
            if not result:
                break
        return result
    result = 0
    for operand in expr.operands:
        result |= _evaluate(operand, masks, full)
    return result


class Matcher:
    """Many topics compiled once, matched against an announcement's papers in one pass per paper."""

    def __init__(
        self,
        plans: list[_Plan | None],
        builder: _Builder,
        errors: dict[int, str],
    ) -> None:
        """Use `Matcher.compile`."""
        self._plans = plans
        self._exprs = builder.exprs
        self._scopes = [key for key, _ in sorted(builder.scope_ids.items(), key=lambda item: item[1])]
        self.errors = errors  # topic position → why that topic matches nothing
        atoms = list(dict.fromkeys(term for expr in builder.exprs for term in _terms(expr)))
        self._text = _Scanner((t for t in atoms if t.field in (Field.ANY, Field.TITLE, Field.ABSTRACT)), 0)
        self._authors = _Scanner((t for t in atoms if t.field is Field.AUTHOR), self._text.next_id)
        self._id_count = self._authors.next_id
        # Atom id → term, for the atoms the scanners find (ids of keys without a plain atom stay unused).
        scanned = [*self._text.ids.items(), *self._authors.ids.items()]
        self._scanned: list[tuple[int, Term]] = [(atom, term) for term, atom in scanned]
        self._category_atoms = [term for term in atoms if term.field is Field.CATEGORY]
        self._atom_count = len(atoms)

    @classmethod
    def compile(
        cls, topics: Sequence[Topic], default_categories: Sequence[str], *, strict: bool = False
    ) -> Matcher:
        """Compile topics for matching; a topic with no categories watches `default_categories`.

        A topic whose keywords do not parse matches nothing (the reason is in `errors` and the log), so
        one bad stored topic cannot stop everyone's digest; `strict=True` raises QuerySyntaxError instead.
        """
        builder = _Builder(default_categories)
        plans: list[_Plan | None] = []
        errors: dict[int, str] = {}
        with _collector_paused():
            for position, topic in enumerate(topics):
                try:
                    plans.append(builder.plan(topic))
                except QuerySyntaxError as error:
                    if strict:
                        raise
                    log.warning("topic %r matches nothing: %s", topic.name, error)
                    errors[position] = str(error)
                    plans.append(None)
            return cls(plans, builder, errors)

    @property
    def atom_count(self) -> int:
        """How many distinct atoms (field, text, whole word) the topics use."""
        return self._atom_count

    def match(self, papers: Sequence[Paper]) -> list[list[int]]:
        """For each topic (in compile order) the indices of matching papers, ascending."""
        by_category: dict[str, list[int]] = {}
        by_type: dict[AnnounceType, list[int]] = {}
        for index, paper in enumerate(papers):
            for category in paper.categories:
                by_category.setdefault(category, []).append(index)
            by_type.setdefault(paper.announce_type, []).append(index)
        category_masks = {category: _mask(indices) for category, indices in by_category.items()}
        type_masks = {kind: _mask(indices) for kind, indices in by_type.items()}
        scope_masks = self._scope_masks(category_masks, type_masks)
        # Papers no topic could select (outside every scope) need no scan.
        wanted = 0
        for plan in self._plans:
            if plan is not None:
                wanted |= scope_masks[plan.scope]
        positions = list(range(len(papers)))
        hits = self._scan_papers(papers, _indices(wanted, positions))

        masks = {term: _mask(hits[atom]) for atom, term in self._scanned if hits[atom]}
        masks.update(self._category_atom_masks(category_masks))
        full = (1 << len(papers)) - 1
        expr_masks = [_evaluate(expr, masks, full) for expr in self._exprs]
        return self._select(expr_masks, scope_masks, positions)

    def _scan_papers(self, papers: Sequence[Paper], indices: Iterable[int]) -> list[list[int]]:
        """One automaton pass over the text of each of these papers (and one over its authors): per atom
        id, the indices of the papers that have it."""
        hits: list[list[int]] = [[] for _ in range(self._id_count)]
        found: set[int] = set()
        text_scan = self._text.automaton is not None
        author_scan = self._authors.automaton is not None
        if not (text_scan or author_scan):
            return hits
        for index in indices:
            paper = papers[index]
            found.clear()
            if text_scan:
                title = fold(paper.title)
                self._text.scan(f"{title} {fold(paper.abstract)}", len(title), found)
            if author_scan and paper.authors:
                self._authors.scan(fold(AUTHOR_SEPARATOR.join(paper.authors)), -1, found)
            for atom in found:
                hits[atom].append(index)
        return hits

    def _category_atom_masks(self, category_masks: dict[str, int]) -> dict[Term, int]:
        """The masks of the `cat:` atoms: exact codes, or whole archives, case-insensitive."""
        result: dict[Term, int] = {}
        if not self._category_atoms:
            return result
        lowered: dict[str, int] = {}
        archives: dict[str, int] = {}
        for category, mask in category_masks.items():
            key = category.lower()
            lowered[key] = lowered.get(key, 0) | mask
            archive = key.split(".", 1)[0]
            archives[archive] = archives.get(archive, 0) | mask
        for term in self._category_atoms:
            result[term] = (lowered if "." in term.text else archives).get(term.text, 0)
        return result

    def _scope_masks(self, category_masks: dict[str, int], type_masks: dict[AnnounceType, int]) -> list[int]:
        """Per scope (categories and announce types), the papers in it."""
        result = []
        for categories, kinds in self._scopes:
            in_categories = 0
            for category in set(categories):
                in_categories |= category_masks.get(category, 0)
            of_kind = 0
            for kind in kinds:
                of_kind |= type_masks.get(kind, 0)
            result.append(in_categories & of_kind)
        return result

    def _select(self, expr_masks: list[int], scope_masks: list[int], positions: list[int]) -> list[list[int]]:
        """Each topic's papers: any keyword, within its scope, no exclusion."""
        results: list[list[int]] = []
        for plan in self._plans:
            if plan is None:
                results.append([])
                continue
            selected = 0
            for expr in plan.keywords:
                selected |= expr_masks[expr]
            if selected:
                selected &= scope_masks[plan.scope]
            for expr in plan.excludes:
                if not selected:
                    break
                selected &= ~expr_masks[expr]
            results.append(_indices(selected, positions) if selected else [])
        return results


def matches(topic: Topic, paper: Paper, default_categories: Sequence[str]) -> bool:
    """Whether one topic matches one paper (raises QuerySyntaxError for a bad keyword)."""
    return Matcher.compile([topic], default_categories, strict=True).match([paper]) == [[0]]
