"""Mutation check of the permission rules, the delivery ledger and matching: on demand, never in CI.

    python -m tests.mutation.run                 # every target below
    python -m tests.mutation.run --only ledger   # an area, a file or a function (substring match)
    python -m tests.mutation.run --list          # the mutants, without running anything
    python -m tests.mutation.run --jobs 2 --diff # two copies at once; show each survivor's change
    python -m tests.mutation.run --only _is_admin --match "condition -> False" --tests "tests/adapters"

The worktree is copied to a temporary folder and every mutant is written there, one at a time, so
a crash or Ctrl-C never leaves the real tree mutated (the copy's file is restored after each mutant
anyway, and the copy is deleted at the end). For each mutant the target's own small test subset runs
(`pytest -x`, with a timeout); a mutant is *killed* when the tests fail, *survived* when they pass.

Targets name functions by qualified name inside a file or a folder, never by line, so code that moves
between modules (or a module split into several) is still found; a target not found is reported as
missing. Mutations are AST-based: flip a comparison, shift its boundary, swap `and`/`or`, drop `not`
or `~`, flip `True`/`False`, force a condition to True/False, delete a guard's `return`/`raise`,
negate a `bool` function's return, remove a call statement, skip a call (`f(x, ...)` -> `x`), swap
an arithmetic or bit operator, and swap the ledger's `'sent'`/`'pending'` in SQL text. Logging calls
are not removed. Mutants judged equivalent are listed in KNOWN_EQUIVALENT with the reason.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import difflib
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# -- what to mutate, and the tests that must notice ---------------------------------------------------------

TELEGRAM_TESTS = (
    "tests/adapters/test_telegram_permissions.py",
    "tests/adapters/test_telegram_adapter.py::test_admin_status_is_asked_once_a_minute_per_user",
    "tests/adapters/test_telegram_adapter.py::test_commands_in_a_channel_and_unknown_ones_in_groups",
    "tests/test_telegram_e2e.py::test_group_admin_rules_anonymous_admins_channels_and_other_bots",
    # The timeout case waits out PTB's 5 s read timeout; the other look-up faults cover the same path.
    "--deselect",
    "tests/adapters/test_telegram_permissions.py::test_an_admin_look_up_that_times_out_refuses_the_change",
)
DISCORD_TESTS = (
    "tests/adapters/test_discord_permissions.py",
    *(
        f"tests/adapters/test_discord_adapter.py::{name}"
        for name in (
            "test_a_member_without_manage_channels_is_refused_privately",
            "test_an_admin_subscribes_the_channel",
            "test_admin_user_ids_may_change_any_channel",
            "test_a_dm_is_a_personal_subscription",
            "test_config_import_is_refused_before_download_for_members",
            "test_digest_for_anyone_is_deferred_then_followed_up",
        )
    ),
)
CORE_TESTS = ("tests/bot/test_commands.py", "-k", "admin or anyone or import")
LEDGER_TESTS = (
    "tests/bot/test_ledger_guard.py",
    "tests/bot/test_delivery.py",
    *(
        f"tests/storage/test_sqlite_store.py::{name}"
        for name in (
            "test_the_ledger_refuses_a_second_delivery",
            "test_record_delivery_refuses_a_pending_paper_too",
            "test_two_channels_have_independent_ledgers",
            "test_reserve_returns_new_ids_in_order_without_duplicates",
            "test_pending_rows_come_back_after_a_crash",
            "test_release_drops_only_pending_rows",
            "test_thousands_of_ids_work",
            "test_move_channel_keeps_id_topics_and_ledger",
        )
    ),
)
MATCHING_TESTS = ("tests/bot/test_query_edges.py", "tests/bot/test_matching.py", "tests/bot/test_query.py")


@dataclass(frozen=True)
class Target:
    """Functions to mutate (qualified names, found in a file or in every file of a folder) and their tests."""

    area: str
    where: str
    functions: tuple[str, ...]
    tests: tuple[str, ...]


TARGETS = (
    Target(
        "permissions",
        "adapters/telegram",
        ("TelegramAdapter._is_admin", "TelegramAdapter._on_command", "TelegramAdapter._on_config_file"),
        TELEGRAM_TESTS,
    ),
    Target(
        "permissions",
        "adapters/discord",
        (
            "DiscordAdapter._may_change",
            "DiscordAdapter._refuse",
            "DiscordAdapter._context",
            "DiscordAdapter.run_command",
            "DiscordAdapter.digest",
            "DiscordAdapter.import_config",
        ),
        DISCORD_TESTS,
    ),
    Target(
        "permissions",
        "bot/commands",
        (
            "CommandService.run",
            "CommandService.handle",
            "CommandService.import_config",
            "CommandService._refusal",
            "CommandService._guarded",
        ),
        CORE_TESTS,
    ),
    Target(
        "ledger",
        "bot/delivery.py",
        (
            "_leaving_out",
            "DeliveryService._deliver_announcement",
            "DeliveryService.deliver_digest",
            "DeliveryService._send_with_ledger",
        ),
        LEDGER_TESTS,
    ),
    Target(
        "ledger",
        "storage",
        (
            "LedgerSection.reserve_deliveries",
            "LedgerSection.confirm_deliveries",
            "LedgerSection.release_deliveries",
            "LedgerSection.record_delivery",
            "LedgerSection.delivered_ids",
            "_select_ids",
            "_unique",
        ),
        LEDGER_TESTS,
    ),
    Target(
        "matching",
        "bot/matching.py",
        (
            "_Scanner.scan",
            "_Scanner._check_whole",
            "_mask",
            "_indices",
            "_evaluate",
            "Matcher.match",
            "Matcher._scan_papers",
            "Matcher._category_atom_masks",
            "Matcher._scope_masks",
            "Matcher._select",
            "matches",
        ),
        MATCHING_TESTS,
    ),
    Target(
        "matching",
        "bot/query.py",
        (
            "_word_end",
            "_starts_new_term",
            "fold",
            "_make_term",
            "_Parser.parse_or",
            "_Parser.parse_and",
            "_Parser.parse_unary",
            "matches_without_terms",
        ),
        MATCHING_TESTS,
    ),
)

# Mutants judged equivalent, by reading the code: (function, start of the mutation's text) -> why no
# test can tell them from the original. A survivor matching an entry is reported as `equivalent`; an
# entry that matches no mutant any more is reported as stale.
_CACHE_CAP = "the admin cache's size cap only bounds memory (10,000 entries)"
_UNREACHABLE = "the handler's filter only passes updates with a message (and a document)"
_USER_ID = "the core never reads CommandRequest.user_id"
_OK_IGNORED = "Telegram's answer ignores CommandReply.ok"
_FAST_PATH = "a shortcut: without it the same result is computed"
_IDEMPOTENT = "no ids: the SQL does nothing; repeated ids: the SQL is idempotent"
_DEBUG_ONLY = "the count is only logged at debug level"
_NO_AUTOMATON = "a scanner without keys is never asked to scan (and would find nothing)"
_ISO_DATE = "Python 3.11's sqlite3 stores a date as the same ISO text (its adapter is deprecated in 3.12)"
KNOWN_EQUIVALENT: dict[tuple[str, str], str] = {
    ("TelegramAdapter._is_admin", "condition -> True: len(self._admin_cache) >="): _CACHE_CAP,
    ("TelegramAdapter._is_admin", "condition -> False: len(self._admin_cache) >="): _CACHE_CAP,
    ("TelegramAdapter._is_admin", "flip comparison: len(self._admin_cache) >="): _CACHE_CAP,
    ("TelegramAdapter._is_admin", "shift boundary: len(self._admin_cache) >="): _CACHE_CAP,
    ("TelegramAdapter._is_admin", "condition -> True: now - v[0] <"): _CACHE_CAP,
    ("TelegramAdapter._is_admin", "flip comparison: now - v[0] <"): _CACHE_CAP,
    ("TelegramAdapter._is_admin", "shift boundary: now - v[0] <"): _CACHE_CAP,
    ("TelegramAdapter._is_admin", "swap operator: now - v[0]"): _CACHE_CAP,
    ("TelegramAdapter._is_admin", "shift boundary: now - cached[0] <"): (
        "a cached answer's age is never exactly 60.000 s on a real clock"
    ),
    ("TelegramAdapter._on_command", "condition -> False: message is None"): _UNREACHABLE,
    ("TelegramAdapter._on_command", "delete guard's exit (if message is None)"): _UNREACHABLE,
    ("TelegramAdapter._on_command", "condition -> False: message.from_user"): _USER_ID,
    ("TelegramAdapter._on_command", "flip constant: False -> True"): _OK_IGNORED,
    ("TelegramAdapter._on_config_file", "condition -> False: message is None or"): _UNREACHABLE,
    ("TelegramAdapter._on_config_file", "swap and/or: message is None or"): _UNREACHABLE,
    ("TelegramAdapter._on_config_file", "delete guard's exit (if message is None or"): _UNREACHABLE,
    ("TelegramAdapter._on_config_file", "condition -> True: message.from_user"): _USER_ID,
    ("TelegramAdapter._on_config_file", "condition -> False: message.from_user"): _USER_ID,
    ("TelegramAdapter._on_config_file", "flip constant: False -> True"): _OK_IGNORED,
    ("DiscordAdapter._context", "swap and/or: info.admin_only and self._may_change"): (
        "the core reads is_admin only for admin-only commands"
    ),
    ("DeliveryService._deliver_announcement", "condition -> True: ids -> (True)"): _FAST_PATH,
    ("DeliveryService._deliver_announcement", "swap operator: full.matched_count - digest"): (
        "delivered_before is only read when digest.matched_count is 0"
    ),
    ("DeliveryService._deliver_announcement", "condition -> True: outcome is not None"): (
        "every position is filled: a worker's error ends the gather"
    ),
    ("DeliveryService.deliver_digest", "skip call: replace(channel, done_up_to="): (
        "later dates are after the stale in-memory cursor too; the stored cursor is what counts"
    ),
    ("_leaving_out", "condition -> False: not delivered"): _FAST_PATH,
    ("_leaving_out", "delete guard's exit (if not delivered)"): _FAST_PATH,
    ("LedgerSection.reserve_deliveries", "condition -> False: not ids"): _IDEMPOTENT,
    ("LedgerSection.reserve_deliveries", "delete guard's exit (if not ids)"): _IDEMPOTENT,
    ("LedgerSection.reserve_deliveries", "skip call: date_text("): _ISO_DATE,
    ("LedgerSection.confirm_deliveries", "skip call: _unique("): _IDEMPOTENT,
    ("LedgerSection.confirm_deliveries", "condition -> False: not ids"): _IDEMPOTENT,
    ("LedgerSection.confirm_deliveries", "delete guard's exit (if not ids)"): _IDEMPOTENT,
    ("LedgerSection.confirm_deliveries", "condition -> True: cursor.rowcount"): _DEBUG_ONLY,
    ("LedgerSection.confirm_deliveries", "condition -> False: cursor.rowcount"): _DEBUG_ONLY,
    ("LedgerSection.confirm_deliveries", "flip comparison: cursor.rowcount"): _DEBUG_ONLY,
    ("LedgerSection.release_deliveries", "skip call: _unique("): _IDEMPOTENT,
    ("LedgerSection.release_deliveries", "condition -> False: not ids"): _IDEMPOTENT,
    ("LedgerSection.release_deliveries", "delete guard's exit (if not ids)"): _IDEMPOTENT,
    ("LedgerSection.delivered_ids", "skip call: _unique("): _IDEMPOTENT,
    ("LedgerSection.record_delivery", "skip call: date_text("): _ISO_DATE,
    # Matching: shortcuts and strategies that compute the same masks.
    ("Matcher._category_atom_masks", "condition -> False: not self._category_atoms"): _FAST_PATH,
    ("Matcher._category_atom_masks", "delete guard's exit (if not self._category_atoms)"): _FAST_PATH,
    ("Matcher._scan_papers", "condition -> False: not (text_scan or author_scan)"): _FAST_PATH,
    ("Matcher._scan_papers", "delete guard's exit (if not (text_scan or author_scan))"): _FAST_PATH,
    ("Matcher._scan_papers", "condition -> True: text_scan"): _NO_AUTOMATON,
    ("Matcher._scan_papers", "condition -> True: author_scan and paper.authors"): _NO_AUTOMATON,
    ("Matcher._scan_papers", "swap and/or: author_scan and paper.authors"): _NO_AUTOMATON,
    ("Matcher._select", "condition -> True: selected"): "0 & anything is 0, and no bits give no indices",
    ("Matcher._select", "condition -> False: not selected"): _FAST_PATH,
    ("Matcher._select", "delete guard's exit (if not selected)"): _FAST_PATH,
    ("Matcher.match", "condition -> True: hits[atom]"): "a term without hits has mask 0 either way",
    ("Matcher.match", "swap operator: 1 << len(papers)"): (
        "full becomes -1 (every bit), and every use of full is masked by a paper scope"
    ),
    ("_Scanner.scan", "condition -> False: self.automaton is None"): _NO_AUTOMATON,
    ("_Scanner.scan", "delete guard's exit (if self.automaton is None)"): _NO_AUTOMATON,
    ("_Scanner.scan", "condition -> False: not hits"): _FAST_PATH,
    ("_Scanner.scan", "delete guard's exit (if not hits)"): _FAST_PATH,
    ("_Scanner.scan", "condition -> False: self.first_id == 0"): "adding a first_id of 0 changes nothing",
    ("_Scanner.scan", "condition -> True: self.title or self.abstract"): _FAST_PATH,
    ("_Scanner.scan", "condition -> True: self.whole and"): _FAST_PATH,
    ("_Scanner.scan", "swap and/or: self.whole and"): _FAST_PATH,
    ("_evaluate", "condition -> False: not result"): _FAST_PATH,
    ("_evaluate", "delete guard's exit (if not result)"): _FAST_PATH,
    **{
        ("_indices", start): "three ways to list a mask's bits, chosen by size, with the same result"
        for start in (
            "condition -> True: count <=",
            "condition -> False: count <=",
            "flip comparison: count <=",
            "shift boundary: count <=",
            "delete guard's exit (if count <= _MANY_BITS)",
        )
    },
    ("_Parser.parse_unary", "condition -> False: token is None"): "_parse refuses an empty token list first",
    (
        "_Parser.parse_unary",
        "delete guard's exit (if token is None)",
    ): "_parse refuses an empty token list first",
    ("_make_term", 'condition -> True: "." in code'): "every archive name is also in the category table",
    ("fold", "condition -> False: text.isascii()"): _FAST_PATH,
    ("fold", "delete guard's exit (if text.isascii())"): _FAST_PATH,
}


def equivalence(function: str, mutation: str) -> str | None:
    """Why this mutant is equivalent, if KNOWN_EQUIVALENT says it is."""
    for (listed, start), reason in KNOWN_EQUIVALENT.items():
        if listed == function and mutation.startswith(start):
            return reason
    return None


# -- mutants -----------------------------------------------------------------------------------------------

COMPARISON_FLIPS: dict[type[ast.cmpop], tuple[tuple[str, type[ast.cmpop]], ...]] = {
    ast.Eq: (("flip comparison", ast.NotEq),),
    ast.NotEq: (("flip comparison", ast.Eq),),
    ast.Lt: (("flip comparison", ast.GtE), ("shift boundary", ast.LtE)),
    ast.LtE: (("flip comparison", ast.Gt), ("shift boundary", ast.Lt)),
    ast.Gt: (("flip comparison", ast.LtE), ("shift boundary", ast.GtE)),
    ast.GtE: (("flip comparison", ast.Lt), ("shift boundary", ast.Gt)),
    ast.In: (("flip comparison", ast.NotIn),),
    ast.NotIn: (("flip comparison", ast.In),),
    ast.Is: (("flip comparison", ast.IsNot),),
    ast.IsNot: (("flip comparison", ast.Is),),
}
OPERATOR_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.BitXor: ast.BitOr,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}
# Calls never skipped: conversions and built-ins whose first argument is not a stand-in for the result.
NOT_SKIPPED = frozenset(
    {
        "len", "isinstance", "int", "str", "bool", "float", "range", "enumerate", "zip", "iter", "next",
        "getattr", "hasattr", "type", "super", "sum", "min", "max", "any", "all", "set", "list", "tuple",
        "frozenset", "dict", "print", "repr", "id",
    }
)  # fmt: skip
LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})
LEDGER_WORDS = (("'sent'", "'pending'"), ("'pending'", "'sent'"))


@dataclass(frozen=True)
class Mutant:
    """One change to one file: the bytes from `start` to `end` become `replacement`."""

    target: Target
    path: str  # relative to the tree
    function: str
    line: int
    kind: str
    before: str
    after: str
    start: int
    end: int
    replacement: str

    @property
    def mutation(self) -> str:
        """What was changed, stable across moves (no line number): used for KNOWN_EQUIVALENT too."""
        return f"{self.kind}: {_short(self.before)} -> {_short(self.after)}"

    def apply(self, source: bytes) -> bytes:
        """The mutated file."""
        return source[: self.start] + self.replacement.encode() + source[self.end :]


@dataclass
class Outcome:
    """What running the tests against one mutant came to."""

    mutant: Mutant
    result: str  # killed, survived, timeout, equivalent (survived, and listed as such)
    seconds: float
    note: str = ""


def _short(text: str, limit: int = 48) -> str:
    """One line of code, clipped."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method with its qualified name (Class.method, outer.inner)."""

    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield prefix + child.name, child
                yield from visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, prefix + child.name + ".")

    yield from visit(tree, "")


def _body_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of a function's body: no docstring, annotations, decorators or f-string innards."""

    def walk(node: ast.AST) -> Iterator[ast.AST]:
        for name, value in ast.iter_fields(node):
            if name in {"annotation", "returns", "decorator_list", "args", "type_comment"} and not isinstance(
                node, ast.Call
            ):
                continue
            children = value if isinstance(value, list) else [value]
            for child in children:
                if isinstance(child, ast.AST) and not isinstance(child, ast.JoinedStr):
                    yield child
                    yield from walk(child)

    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    for statement in body:
        yield statement
        yield from walk(statement)


class _Offsets:
    """Byte offsets of (line, column) positions (AST columns are UTF-8 byte offsets)."""

    def __init__(self, source: bytes) -> None:
        self.starts = [0]
        for index, byte in enumerate(source):
            if byte == 0x0A:
                self.starts.append(index + 1)

    def span(self, node: ast.expr | ast.stmt) -> tuple[int, int]:
        """Where a node's text begins and ends."""
        assert node.end_lineno is not None
        assert node.end_col_offset is not None
        return (
            self.starts[node.lineno - 1] + node.col_offset,
            self.starts[node.end_lineno - 1] + node.end_col_offset,
        )


def _is_log_call(node: ast.AST) -> bool:
    """A `log.x(...)` / `logger.x(...)` statement."""
    value = node.value if isinstance(node, ast.Expr) else None
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr in LOG_METHODS
        and isinstance(value.func.value, ast.Name)
        and value.func.value.id in {"log", "logger", "logging"}
    )


def _changes(
    node: ast.AST, function: ast.FunctionDef | ast.AsyncFunctionDef, own_returns: set[ast.Return]
) -> Iterator[tuple[str, ast.expr | ast.stmt, str]]:
    """(kind, node replaced, replacement text) for every mutation of this node."""
    yield from _operator_changes(node)
    yield from _flow_changes(node, function, own_returns)


def _operator_changes(node: ast.AST) -> Iterator[tuple[str, ast.expr | ast.stmt, str]]:
    """Mutations of what a node computes: comparisons, and/or, not, constants, operators, calls."""
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            for kind, new_op in COMPARISON_FLIPS.get(type(op), ()):
                compared = copy.deepcopy(node)
                compared.ops[index] = new_op()
                yield kind, node, f"({ast.unparse(compared)})"
    elif isinstance(node, ast.BoolOp):
        swapped = copy.deepcopy(node)
        swapped.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield "swap and/or", node, f"({ast.unparse(swapped)})"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not | ast.Invert):
        kind = "drop not" if isinstance(node.op, ast.Not) else "drop ~"
        yield kind, node, f"({ast.unparse(node.operand)})"
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield "flip constant", node, str(not node.value)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        for old, new in LEDGER_WORDS:
            if old in node.value:
                yield "swap ledger status", node, repr(node.value.replace(old, new))
    elif isinstance(node, ast.BinOp) and type(node.op) in OPERATOR_SWAPS:
        computed = copy.deepcopy(node)
        computed.op = OPERATOR_SWAPS[type(node.op)]()
        yield "swap operator", node, f"({ast.unparse(computed)})"
    elif isinstance(node, ast.AugAssign) and type(node.op) in OPERATOR_SWAPS:
        assigned = copy.deepcopy(node)
        assigned.op = OPERATOR_SWAPS[type(node.op)]()
        yield "swap operator", node, ast.unparse(assigned)
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)  # a function, not a method: its argument may stand in
        and node.args
        and isinstance(node.args[0], ast.Name)
        and node.func.id not in NOT_SKIPPED
    ):
        yield "skip call", node, f"({node.args[0].id})"


def _flow_changes(
    node: ast.AST, function: ast.FunctionDef | ast.AsyncFunctionDef, own_returns: set[ast.Return]
) -> Iterator[tuple[str, ast.expr | ast.stmt, str]]:
    """Mutations of control: conditions forced, guards' exits deleted, calls gone, returns negated."""
    if isinstance(node, ast.If | ast.While | ast.IfExp) and not isinstance(node.test, ast.Constant):
        yield "condition -> True", node.test, "(True)"
        yield "condition -> False", node.test, "(False)"
    if isinstance(node, ast.comprehension):
        for condition in node.ifs:
            yield "condition -> True", condition, "(True)"
    if isinstance(node, ast.If) and isinstance(
        node.body[-1], ast.Return | ast.Raise | ast.Continue | ast.Break
    ):
        # Named after its guard (`if x is None: return`): a bare `return` says nothing on its own.
        yield f"delete guard's exit (if {_short(ast.unparse(node.test), 40)})", node.body[-1], "pass"
    if isinstance(node, ast.Expr) and not _is_log_call(node):
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        if isinstance(value, ast.Call):
            yield "remove call", node, "pass"
    if (
        isinstance(node, ast.Return)
        and node.value is not None
        and not isinstance(node.value, ast.Constant | ast.Compare)  # a comparison is flipped already
        and isinstance(function.returns, ast.Name)
        and function.returns.id == "bool"
        and node in own_returns
    ):
        yield "negate return", node.value, f"(not ({ast.unparse(node.value)}))"


def _own_returns(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[ast.Return]:
    """The function's own return statements (not those of functions nested in it)."""
    found: set[ast.Return] = set()

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
                continue
            if isinstance(child, ast.Return):
                found.add(child)
            walk(child)

    walk(function)
    return found


def _files(tree: Path, where: str) -> list[Path]:
    """The Python files a target names: one file, or every file under a folder."""
    path = tree / where
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)


def mutants_of(tree: Path, target: Target) -> tuple[list[Mutant], list[str]]:
    """Every mutant of a target's functions, and the functions that were not found."""
    found: dict[str, list[tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef]]] = {}
    sources: dict[Path, bytes] = {}
    for path in _files(tree, target.where):
        source = path.read_bytes()
        sources[path] = source
        for name, function in _functions(ast.parse(source)):
            if name in target.functions:
                found.setdefault(name, []).append((path, function))
    missing = [name for name in target.functions if name not in found]
    mutants: list[Mutant] = []
    for name in target.functions:
        for path, function in found.get(name, []):
            source = sources[path]
            offsets = _Offsets(source)
            own_returns = _own_returns(function)
            seen: set[bytes] = set()
            for node in _body_nodes(function):
                for kind, replaced, replacement in _changes(node, function, own_returns):
                    start, end = offsets.span(replaced)
                    before = source[start:end].decode()
                    mutant = Mutant(
                        target=target,
                        path=str(path.relative_to(tree)),
                        function=name,
                        line=replaced.lineno,
                        kind=kind,
                        before=before,
                        after=replacement,
                        start=start,
                        end=end,
                        replacement=replacement,
                    )
                    mutated = mutant.apply(source)
                    if mutated == source or mutated in seen or not _compiles(mutated):
                        continue
                    seen.add(mutated)
                    mutants.append(mutant)
    return mutants, missing


def _compiles(source: bytes) -> bool:
    """Whether a mutated file is still valid Python."""
    try:
        compile(source, "<mutant>", "exec")
    except SyntaxError:
        return False
    return True


# -- running -----------------------------------------------------------------------------------------------

IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
    "htmlcov", ".coverage*", "*.sqlite", "*.egg-info", "build", "dist",
)  # fmt: skip


class Runner:
    """Runs test subsets in private copies of the tree; kills what it started when told to stop."""

    def __init__(self, copies: Sequence[Path]) -> None:
        self.free: queue.Queue[Path] = queue.Queue()
        for tree in copies:
            self.free.put(tree)
        self.stopping = threading.Event()
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def environment(tree: Path) -> dict[str, str]:
        """The copy's code first on the path, and no bytecode written (a mutant must never be cached)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = str(tree)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTEST_ADDOPTS", None)
        return env

    def pytest(self, tree: Path, tests: Sequence[str], timeout: float) -> tuple[str, float, str]:
        """Run the tests in a copy: ("passed" | "failed" | "timeout" | "stopped", seconds, output tail)."""
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-header",
            *tests,
        ]
        began = time.monotonic()
        process = subprocess.Popen(
            command,
            cwd=tree,
            env=self.environment(tree),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout ends the tests' children too
        )
        with self._lock:
            self._running[process.pid] = process
        try:
            output, _ = process.communicate(timeout=timeout)
            status = "passed" if process.returncode == 0 else f"failed (exit {process.returncode})"
        except subprocess.TimeoutExpired:
            self._end(process)
            output, _ = process.communicate()
            status = "timeout"
        finally:
            with self._lock:
                self._running.pop(process.pid, None)
        if self.stopping.is_set() and status != "passed":
            status = "stopped"
        tail = "\n".join(output.decode(errors="replace").splitlines()[-15:])
        return status, time.monotonic() - began, tail

    @staticmethod
    def _end(process: subprocess.Popen[bytes]) -> None:
        """End one test run we started, and its children (its process group), by id."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=3)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop(self) -> None:
        """Stop: end the runs in progress; the workers restore their files."""
        self.stopping.set()
        with self._lock:
            running = list(self._running.values())
        for process in running:
            self._end(process)

    def run_mutant(self, mutant: Mutant, timeout: float) -> Outcome | None:
        """Write the mutant into a free copy, run its tests, and always put the original back."""
        if self.stopping.is_set():
            return None
        tree = self.free.get()
        path = tree / mutant.path
        original = path.read_bytes()
        try:
            path.write_bytes(mutant.apply(original))
            status, seconds, _ = self.pytest(tree, mutant.target.tests, timeout)
        finally:
            path.write_bytes(original)
            self.free.put(tree)
        if status == "stopped":
            return None
        if status == "passed":
            reason = equivalence(mutant.function, mutant.mutation)
            return Outcome(mutant, "equivalent" if reason else "survived", seconds, reason or "")
        if status == "timeout":
            return Outcome(mutant, "timeout", seconds)
        note = "" if status == "failed (exit 1)" else status.removeprefix("failed ")
        return Outcome(mutant, "killed", seconds, note)


def _copy_tree(destination: Path) -> Path:
    """A copy of the worktree without caches, venv or git."""
    shutil.copytree(ROOT, destination, ignore=IGNORED)
    return destination


def _check_copy(runner: Runner, tree: Path) -> None:
    """The copy's packages are the ones imported (not the editable install's originals)."""
    probe = "import adapters, bot, storage; print(bot.__file__, adapters.__file__, storage.__file__)"
    shown = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tree,
        env=runner.environment(tree),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if any(not Path(file).resolve().is_relative_to(tree.resolve()) for file in shown.split()):
        raise SystemExit(f"the copy is not what gets imported: {shown.strip()}")


def _table(outcomes: Sequence[Outcome]) -> str:
    """module, function, line, mutation, result: one row per mutant."""
    header = ("area", "module", "function", "line", "mutation", "result")
    rows = [
        (
            o.mutant.target.area,
            o.mutant.path,
            o.mutant.function,
            str(o.mutant.line),
            o.mutant.mutation,
            o.result + (f" ({o.note})" if o.note else ""),
        )
        for o in outcomes
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    widths[-1] = 0  # the last column is not padded
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def _summary(
    outcomes: Sequence[Outcome], missing: Sequence[str], stale: Sequence[tuple[str, str]], seconds: float
) -> str:
    """Counts per area and overall, the score, and the run's duration."""
    lines = []
    for area in sorted({o.mutant.target.area for o in outcomes}):
        counts = Counter(o.result for o in outcomes if o.mutant.target.area == area)
        lines.append(f"{area:12} " + ", ".join(f"{counts[k]} {k}" for k in sorted(counts)))
    counts = Counter(o.result for o in outcomes)
    judged = len(outcomes) - counts["equivalent"]
    score = 100.0 * (counts["killed"] + counts["timeout"]) / judged if judged else 100.0
    lines.append(
        f"{'total':12} {len(outcomes)} mutants: {counts['killed']} killed, {counts['survived']} survived, "
        f"{counts['timeout']} timeout, {counts['equivalent']} equivalent; score {score:.1f}%"
    )
    for name in missing:
        lines.append(f"missing target: {name} (not found; update TARGETS)")
    for function, start in stale:
        lines.append(f"stale KNOWN_EQUIVALENT entry: {function}: {start}")
    lines.append(f"took {seconds:.0f} s")
    return "\n".join(lines)


def _stale(mutants: Sequence[Mutant]) -> list[tuple[str, str]]:
    """KNOWN_EQUIVALENT entries that match none of the mutants (the code changed: re-judge them)."""
    return [
        (function, start)
        for function, start in KNOWN_EQUIVALENT
        if not any(m.function == function and m.mutation.startswith(start) for m in mutants)
    ]


def _diff(mutant: Mutant) -> str:
    """The survivor's change as a small unified diff."""
    original = (ROOT / mutant.path).read_bytes()
    before = original.decode().splitlines()
    after = mutant.apply(original).decode().splitlines()
    return "\n".join(difflib.unified_diff(before, after, mutant.path, mutant.path, n=2, lineterm=""))


def _parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", action="append", default=[], help="area, file or function substring")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--jobs", type=int, default=1, help="copies run at once (default 1)")
    parser.add_argument(
        "--timeout-factor", type=float, default=3.0, help="timeout = factor x baseline + 10 s"
    )
    parser.add_argument("--diff", action="store_true", help="show each survivor's change")
    parser.add_argument("--match", default="", help="only mutations whose text contains this")
    parser.add_argument("--tests", help="pytest arguments to run instead of the targets' own subsets")
    return parser


def _print_survivors(survivors: Sequence[Outcome], *, diff: bool) -> None:
    """Each surviving mutant, with its change when asked."""
    if survivors:
        print("survivors:")
        for outcome in survivors:
            mutant = outcome.mutant
            print(f"  {mutant.path}:{mutant.line} {mutant.function}: {mutant.mutation}")
            if diff:
                print("    " + _diff(mutant).replace("\n", "\n    "))


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the mutants, run them, print the table; exit 1 if any survived (not counting equivalents)."""
    options = _parser().parse_args(argv)

    def wanted(mutant: Mutant) -> bool:
        """Whether --only and --match select this mutant."""
        names = (mutant.target.area, mutant.path, mutant.function)
        chosen = not options.only or any(part in name for part in options.only for name in names)
        return chosen and options.match in mutant.mutation

    began = time.monotonic()
    mutants: list[Mutant] = []
    missing: list[str] = []
    override = tuple(shlex.split(options.tests)) if options.tests else None
    everything: list[Mutant] = []
    for listed in TARGETS:
        target = replace(listed, tests=override) if override else listed
        found, lost = mutants_of(ROOT, target)
        everything.extend(found)
        mutants.extend(mutant for mutant in found if wanted(mutant))
        missing.extend(f"{target.where}: {name}" for name in lost)
    if options.list:
        for mutant in mutants:
            print(f"{mutant.path}:{mutant.line}  {mutant.function}  {mutant.mutation}")
        print(f"{len(mutants)} mutants" + "".join(f"\nmissing target: {name}" for name in missing))
        return 0

    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM: as Ctrl-C
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        jobs = max(1, options.jobs)
        copies = [_copy_tree(Path(scratch) / f"tree{n}") for n in range(jobs)]
        runner = Runner(copies)
        _check_copy(runner, copies[0])
        baselines: dict[tuple[str, ...], float] = {}
        try:
            for tests in dict.fromkeys(mutant.target.tests for mutant in mutants):
                status, seconds, tail = runner.pytest(copies[0], tests, timeout=600)
                if status != "passed":
                    print(f"the unmutated tests do not pass ({status}): {' '.join(tests)}\n{tail}")
                    return 2
                baselines[tests] = seconds
                print(f"baseline {seconds:5.1f} s  {' '.join(tests)[:100]}", flush=True)
            print(f"{len(mutants)} mutants, {jobs} at a time", flush=True)
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = [
                    pool.submit(
                        runner.run_mutant,
                        mutant,
                        options.timeout_factor * baselines[mutant.target.tests] + 10,
                    )
                    for mutant in mutants
                ]
                try:
                    for number, future in enumerate(futures, start=1):
                        outcome = future.result()
                        if outcome is not None:
                            outcomes.append(outcome)
                            print(
                                f"[{number}/{len(mutants)}] {outcome.result:9} {outcome.seconds:5.1f} s  "
                                f"{outcome.mutant.path}:{outcome.mutant.line} {outcome.mutant.mutation}",
                                flush=True,
                            )
                except KeyboardInterrupt:
                    for pending in futures:
                        pending.cancel()
                    raise
        except KeyboardInterrupt:
            # The runs are in their own process groups (no Ctrl-C reaches them): end them here.
            print(
                "\ninterrupted: ending the runs in progress; the copies are restored and deleted", flush=True
            )
            runner.stop()
        finally:
            signal.signal(signal.SIGTERM, previous)
    outcomes.sort(key=lambda o: (o.mutant.target.area, o.mutant.path, o.mutant.function, o.mutant.line))
    print()
    print(_table(outcomes))
    print()
    survivors = [o for o in outcomes if o.result == "survived"]
    _print_survivors(survivors, diff=options.diff)
    print(_summary(outcomes, missing, _stale(everything), time.monotonic() - began))
    if runner.stopping.is_set():
        return 130
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
