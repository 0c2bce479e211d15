"""A small fake arXiv on 127.0.0.1: rss.arxiv.org's feeds and export.arxiv.org's query API.

- `/rss/{categories}` answers from a scripted queue of `Reply` objects (recorded feed bytes, an error
  status with headers such as `Retry-After`, a delay longer than the client's timeout, truncated bytes,
  an HTML page). With the queue empty it answers `default_rss` if set, else HTTP 500.
- `/api/query` answers from its own scripted queue first; with that empty it serves a *result set*
  built from the entries of recorded API pages (`use_api_entries`): an `id_list` query gets the entries
  with those ids, a `search_query` gets them all, paged by `start`/`max_results` with a correct
  `opensearch:totalResults` (the `arxiv` package stops paging when its offset reaches it).

Every request is recorded (path, query, headers, arrival and completion times on `time.monotonic()`).
Several processes aimed at `client_urls("a")`, `…("b")` (the same fake under a URL prefix) are told
apart by the request's `client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from lxml import etree

from tests.fakes.common import serve_on_free_port

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ATOM = "http://www.w3.org/2005/Atom"
OPENSEARCH = "http://a9.com/-/spec/opensearch/1.1/"

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>503 Service Unavailable</title></head>"
    b"<body><h1>Service Unavailable</h1><p>arXiv is down for maintenance.&nbsp;Try later.<br></body></html>"
)


def fixture_bytes(relative: str) -> bytes:
    """The bytes of a file under tests/fixtures."""
    return (FIXTURES / relative).read_bytes()


def recorded_api_body(name: str) -> tuple[int, bytes]:
    """(status, Atom body) of a recorded API response in tests/fixtures/api."""
    record = json.loads((FIXTURES / "api" / name).read_text(encoding="utf-8"))
    return int(record["status_code"]), str(record["body"]).encode("utf-8")


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (longer than the client timeout: a timeout)
    content_type: str = "application/rss+xml"

    @classmethod
    def feed(cls, relative: str) -> Reply:
        """A recorded feed from tests/fixtures."""
        return cls(body=fixture_bytes(relative))

    @classmethod
    def truncated(cls, relative: str, keep: float = 0.5) -> Reply:
        """The first part of a recorded feed, as if cut off (with an honest Content-Length)."""
        data = fixture_bytes(relative)
        return cls(body=data[: int(len(data) * keep)])

    @classmethod
    def html(cls, status: int = 200) -> Reply:
        """A maintenance page in HTML."""
        return cls(status=status, body=HTML_PAGE, content_type="text/html")

    @classmethod
    def error(cls, status: int, retry_after: str | None = None) -> Reply:
        """An error status, maybe with Retry-After."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return cls(status=status, body=b"busy", headers=headers, content_type="text/plain")

    @classmethod
    def slow(cls, delay: float, relative: str = "rss/empty-feed.xml") -> Reply:
        """A feed sent only after `delay` seconds."""
        return cls(body=fixture_bytes(relative), delay=delay)

    @classmethod
    def api(cls, name: str) -> Reply:
        """A recorded API response, with its recorded status."""
        status, body = recorded_api_body(name)
        return cls(status=status, body=body, content_type="application/atom+xml")


@dataclass
class RecordedRequest:
    """What the fake received."""

    kind: str  # "rss" or "api"
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    started: float  # time.monotonic() on arrival
    finished: float = 0.0  # time.monotonic() when the answer was handed over (0 if never)
    client: str = ""  # the URL prefix the caller used (`/a/rss/…`: "a"), telling processes apart


class FakeArxiv:
    """The fake server; start with `await fake.start()` (or use the `arxiv_server` fixture)."""

    def __init__(self) -> None:
        """An idle fake; nothing scripted."""
        self.rss_replies: deque[Reply] = deque()
        self.api_replies: deque[Reply] = deque()
        self.default_rss: Reply | None = None
        self.requests: list[RecordedRequest] = []
        self._entries: list[etree._Element] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- scripting ---------------------------------------------------------------------------------
    def queue_rss(self, *replies: Reply) -> None:
        """Answer the next RSS requests with these, in order."""
        self.rss_replies.extend(replies)

    def queue_api(self, *replies: Reply) -> None:
        """Answer the next API requests with these, in order (before the result set)."""
        self.api_replies.extend(replies)

    def use_api_entries(self, *names: str) -> None:
        """Serve the entries of these recorded API pages as the API's result set (replacing any)."""
        self._entries = []
        seen: set[str] = set()
        for name in names:
            _, body = recorded_api_body(name)
            root = etree.fromstring(body)
            for entry in root.iterfind(f"{{{ATOM}}}entry"):
                entry_id = entry.findtext(f"{{{ATOM}}}id") or ""
                if "/abs/" in entry_id and entry_id not in seen:
                    seen.add(entry_id)
                    self._entries.append(entry)

    @property
    def rss_url(self) -> str:
        """What ARXIV_RSS_URL would be."""
        return f"{self.base_url}/rss"

    @property
    def api_url(self) -> str:
        """What ARXIV_API_URL would be."""
        return f"{self.base_url}/api/query"

    def client_urls(self, client: str) -> tuple[str, str]:
        """ARXIV_RSS_URL and ARXIV_API_URL for one of several processes: its requests record `client`."""
        return f"{self.base_url}/{client}/rss", f"{self.base_url}/{client}/api/query"

    def of_kind(self, kind: str) -> list[RecordedRequest]:
        """The recorded requests of one kind ("rss" or "api")."""
        return [request for request in self.requests if request.kind == kind]

    # -- serving -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on 127.0.0.1, on a free port."""
        app = web.Application()
        app.router.add_get("/rss/{categories}", self._rss)
        app.router.add_get("/api/query", self._api)
        app.router.add_get("/{client}/rss/{categories}", self._rss)
        app.router.add_get("/{client}/api/query", self._api)
        self._runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=0.5, handler_cancellation=True
        )
        self.base_url = await serve_on_free_port(self._runner)

    async def close(self) -> None:
        """Stop serving; requests still being delayed are cut short."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _record(self, kind: str, request: web.Request) -> RecordedRequest:
        """Remember one request."""
        recorded = RecordedRequest(
            kind=kind,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            started=time.monotonic(),
            client=request.match_info.get("client", ""),
        )
        self.requests.append(recorded)
        return recorded

    async def _answer(self, reply: Reply, recorded: RecordedRequest) -> web.Response:
        """Wait the reply's delay (cut short when closing), then answer it."""
        if reply.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.delay)
        recorded.finished = time.monotonic()
        return web.Response(
            status=reply.status, body=reply.body, headers=reply.headers, content_type=reply.content_type
        )

    async def _rss(self, request: web.Request) -> web.Response:
        """GET /rss/{categories}."""
        recorded = self._record("rss", request)
        reply = self.rss_replies.popleft() if self.rss_replies else self.default_rss
        if reply is None:
            reply = Reply(status=500, body=b"the fake has no scripted RSS reply", content_type="text/plain")
        return await self._answer(reply, recorded)

    async def _api(self, request: web.Request) -> web.Response:
        """GET /api/query."""
        recorded = self._record("api", request)
        if self.api_replies:
            return await self._answer(self.api_replies.popleft(), recorded)
        return await self._answer(self._result_page(request.query), recorded)

    def _result_page(self, query: Any) -> Reply:
        """A page of the result set, as the real API would send it."""
        start = int(query.get("start", "0") or 0)
        size = int(query.get("max_results", "10") or 10)
        id_list = [item for item in (query.get("id_list") or "").split(",") if item]
        entries = self._entries
        if id_list:
            wanted = {_unversioned(item) for item in id_list}
            entries = [
                entry
                for entry in entries
                if _unversioned(_short_id(entry.findtext(f"{{{ATOM}}}id"))) in wanted
            ]
        page = entries[start : start + size]
        nsmap = {None: ATOM, "opensearch": OPENSEARCH, "arxiv": "http://arxiv.org/schemas/atom"}
        # lxml takes None for the default namespace; its stubs type the keys as str only.
        feed = etree.Element(f"{{{ATOM}}}feed", nsmap=nsmap)  # type: ignore[arg-type]
        etree.SubElement(feed, f"{{{ATOM}}}id").text = "https://arxiv.org/api/fake"
        etree.SubElement(feed, f"{{{ATOM}}}title").text = "arXiv Query (fake)"
        etree.SubElement(feed, f"{{{OPENSEARCH}}}itemsPerPage").text = str(size)
        etree.SubElement(feed, f"{{{OPENSEARCH}}}totalResults").text = str(len(entries))
        etree.SubElement(feed, f"{{{OPENSEARCH}}}startIndex").text = str(start)
        for entry in page:
            feed.append(_copy(entry))
        body = etree.tostring(feed, xml_declaration=True, encoding="UTF-8")
        return Reply(body=body, content_type="application/atom+xml")


def _copy(element: etree._Element) -> etree._Element:
    """A deep copy (appending moves an lxml element otherwise)."""
    return etree.fromstring(etree.tostring(element))


def _short_id(entry_id: str | None) -> str:
    """`2202.12139v1` from `http://arxiv.org/abs/2202.12139v1`."""
    return (entry_id or "").split("/abs/")[-1]


def _unversioned(arxiv_id: str) -> str:
    """`2202.12139` from `2202.12139v1` (old-style ids too)."""
    head, _, tail = arxiv_id.rpartition("v")
    return head if head and tail.isdigit() else arxiv_id
