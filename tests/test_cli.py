"""The `arxiv-digest` command as a user runs it: a real process, real files, the fake arXiv on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.arxiv_server import FakeArxiv, Reply
from tests.fakes.telegram_server import FakeTelegramServer

FIXTURES = Path(__file__).parent / "fixtures"
ANCHOR = FIXTURES / "anchor"
LISTING = ANCHOR / "listing-2025-11-12.rss.xml"
CONFIG = ANCHOR / "config-mllm.yml"
ANCHOR_MD = ANCHOR / "MLLM.md"
SAMPLE = FIXTURES / "rss" / "all-archives-2024-11-28-sample.xml"


@dataclass
class Run:
    """A finished command."""

    status: int
    out: str
    err: str


async def start_arxiv_digest(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """Start `python -m bot ARGS` in a clean environment (no settings but those given)."""
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "PYTHONPATH": str(Path.cwd())}
    environment.update(env or {})
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )


async def arxiv_digest(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run `python -m bot ARGS` in a clean environment (no settings but those given) and wait."""
    process = await start_arxiv_digest(*args, cwd=cwd, env=env)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def anchor_entries(markdown: str) -> dict[str, dict[str, str]]:
    """Per arXiv id: title, category tags, authors line and abstract of a digest in the anchor's format."""
    entries = {}
    for block in markdown.split("\n- **[")[1:]:
        lines = block.split("\n")
        match = re.match(r"(.*)\]\(https://arxiv\.org/abs/[^)]+\)\*\*  `arXiv:([^`]+)`  (.*?)  $", lines[0])
        assert match, lines[0]
        title, arxiv_id, tags = match.groups()
        entries[arxiv_id] = {
            "title": title,
            "tags": re.sub(r" _\([a-z-]+\)_$", "", tags),
            "authors": lines[1],
            "abstract": lines[3],
        }
    return entries


async def test_anchor_day_json_lists_exactly_the_34_papers(tmp_path: Path) -> None:
    """The anchor's listing and config give exactly the 34 papers of MLLM.md, as one JSON object."""
    run = await arxiv_digest(
        "preview", "--feed", str(LISTING), "--config", str(CONFIG), "--format", "json", cwd=tmp_path
    )
    assert run.status == 0, run.err
    document = json.loads(run.out)
    assert document["date"] == "2025-11-12"
    [topic] = document["topics"]
    assert topic["name"] == "MLLM"
    assert topic["excludes"] == []
    ids = [paper["id"] for paper in topic["papers"]]
    expected = re.findall(r"`arXiv:([^`]+)`", ANCHOR_MD.read_text(encoding="utf-8"))
    assert len(expected) == 34
    assert sorted(ids) == sorted(expected)
    first = next(paper for paper in topic["papers"] if paper["id"] == "2511.07738")
    assert set(first) == {"id", "version", "title", "authors", "categories", "abstract", "announce_type"}
    assert first["version"] == 1
    assert first["announce_type"] == "new"
    assert first["categories"] == ["cs.LG", "cs.CV"]


async def test_anchor_day_markdown_matches_mllm_md(tmp_path: Path) -> None:
    """Each of the 34 papers has MLLM.md's title, id, category tags, authors line and abstract.

    Eleven papers have more than six authors on arXiv, but the rebuilt listing carries only the six the
    anchor printed; for them the six names must match and only the anchor's "et al." can be missing.
    """
    run = await arxiv_digest(
        "preview", "--feed", str(LISTING), "--config", str(CONFIG), "--format", "markdown", cwd=tmp_path
    )
    assert run.status == 0, run.err
    ours = anchor_entries(run.out)
    theirs = anchor_entries(ANCHOR_MD.read_text(encoding="utf-8"))
    assert ours.keys() == theirs.keys()
    truncated_in_listing = 0
    for arxiv_id, expected in theirs.items():
        got = ours[arxiv_id]
        assert got["title"] == expected["title"], arxiv_id
        assert got["tags"] == expected["tags"], arxiv_id
        assert got["abstract"] == expected["abstract"], arxiv_id
        if got["authors"] != expected["authors"]:
            assert expected["authors"] == got["authors"].removesuffix("_") + ", et al._", arxiv_id
            assert got["authors"].count(",") == 5, arxiv_id
            truncated_in_listing += 1
    assert truncated_in_listing == 11


async def test_output_dir_writes_one_file_per_topic(tmp_path: Path) -> None:
    """--output DIR writes the anchor's per-topic file (hot_topic/MLLM.md)."""
    run = await arxiv_digest(
        "preview", "--feed", str(LISTING), "--config", str(CONFIG), "--output", "hot_topic", cwd=tmp_path
    )
    assert run.status == 0, run.err
    written = (tmp_path / "hot_topic" / "MLLM.md").read_text(encoding="utf-8")
    assert written.startswith("# 🔍 MLLM Papers · 2025-11-12")
    assert "Papers-34-2688EB" in written
    assert "hot_topic/MLLM.md: 34 papers" in run.out


async def test_keywords_and_categories_offline(tmp_path: Path) -> None:
    """-c and -k filter a saved feed offline; -x excludes."""
    run = await arxiv_digest(
        "preview", "--feed", str(SAMPLE), "-c", "cs.CV", "-k", "image", "--format", "json", cwd=tmp_path
    )
    assert run.status == 0, run.err
    papers = json.loads(run.out)["topics"][0]["papers"]
    assert papers
    for paper in papers:
        assert "cs.CV" in paper["categories"]
        assert "image" in (paper["title"] + " " + paper["abstract"]).lower()
    excluded = await arxiv_digest(
        "preview",
        "--feed",
        str(SAMPLE),
        "-c",
        "cs.CV",
        "-k",
        "image",
        "-x",
        papers[0]["title"][:20],
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert papers[0]["id"] not in [p["id"] for p in json.loads(excluded.out)["topics"][0]["papers"]]


@pytest.mark.parametrize("categories", [["cs"], ["cs.*"], ["cs.CV cs.CL", "cs.LG,cs.AI", "cs.CV"], ["CS"]])
async def test_archive_names_and_code_lists_are_read_like_everywhere(
    tmp_path: Path, categories: list[str]
) -> None:
    """-c takes a whole archive (`cs`, `cs.*`), spaces, commas and repeats; an archive matches its members."""
    options = [part for code in categories for part in ("-c", code)]
    run = await arxiv_digest(
        "preview", "--feed", str(SAMPLE), *options, "-k", "model", "--format", "json", cwd=tmp_path
    )
    assert run.status == 0, run.err
    papers = json.loads(run.out)["topics"][0]["papers"]
    assert papers
    for paper in papers:
        assert any(code.startswith("cs.") for code in paper["categories"])


async def test_a_whole_archive_is_requested_by_its_name(tmp_path: Path, arxiv_server: FakeArxiv) -> None:
    """`-c cs -c math.PR` asks rss.arxiv.org for `cs+math.PR`, not forty codes, and matches math papers."""
    arxiv_server.default_rss = Reply.feed("rss/all-archives-2024-11-28-sample.xml")
    env = {"ARXIV_RSS_URL": arxiv_server.rss_url}
    run = await arxiv_digest(
        "preview", "-c", "cs", "-c", "math", "-k", "the", "--format", "json", cwd=tmp_path, env=env
    )
    assert run.status == 0, run.err
    assert [request.path for request in arxiv_server.of_kind("rss")] == ["/rss/cs+math"]
    categories = {
        code for paper in json.loads(run.out)["topics"][0]["papers"] for code in paper["categories"]
    }
    assert any(code.startswith("math.") for code in categories)


async def test_default_categories_take_an_archive(tmp_path: Path) -> None:
    """DEFAULT_CATEGORIES=cs makes a preview without -c watch every cs. category."""
    env = {"DEFAULT_CATEGORIES": "cs"}
    run = await arxiv_digest(
        "preview", "--feed", str(SAMPLE), "-k", "model", "--format", "json", cwd=tmp_path, env=env
    )
    assert run.status == 0, run.err
    assert json.loads(run.out)["topics"][0]["papers"]


@pytest.mark.parametrize(
    ("feed", "status", "fragment"),
    [
        ("empty-feed.xml", 3, "no announcement"),
        ("error-feed.xml", 4, "Bad archive 'astroph'"),
    ],
)
async def test_empty_and_error_feeds_answer_in_one_line(
    tmp_path: Path, feed: str, status: int, fragment: str
) -> None:
    """A no-announcement feed and arXiv's error feed each give one clear line and their own exit status."""
    run = await arxiv_digest("preview", "--feed", str(FIXTURES / "rss" / feed), "-k", "x", cwd=tmp_path)
    assert run.status == status
    assert run.out == ""
    assert fragment in run.err
    assert len(run.err.strip().splitlines()) == 1
    assert "Traceback" not in run.err


async def test_broken_feed_file(tmp_path: Path) -> None:
    """A truncated feed file is reported as broken (status 5), not as a traceback."""
    broken = tmp_path / "broken.xml"
    broken.write_bytes(SAMPLE.read_bytes()[:5000])
    run = await arxiv_digest("preview", "--feed", str(broken), "-k", "x", cwd=tmp_path)
    assert run.status == 5
    assert "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["preview", "--feed", "missing.xml", "-k", "x"], "missing.xml"),
        (["preview", "--feed", "LISTING"], "--keywords"),
        (["preview", "--feed", "LISTING", "-k", '"unbalanced'], "quote"),
        (["preview", "--feed", "LISTING", "-k", "(((x"], "parenthes"),
        (["preview", "--feed", "LISTING", "-c", "cs.NOPE", "-k", "x"], "cs.NOPE"),
        (["preview", "--feed", "LISTING", "-c", "cs.CV, cs.CV.*", "-k", "x"], "cs.CV.*"),
        (["preview", "--feed", "LISTING", "--config", "nope.yml"], "nope.yml"),
        (["preview", "--feed", "LISTING", "-x", "survey"], "--keywords"),
    ],
)
async def test_bad_input_is_one_line(tmp_path: Path, args: list[str], fragment: str) -> None:
    """Mistakes a user can make get one line naming the problem and a non-zero status, never a traceback."""
    args = [str(LISTING) if arg == "LISTING" else arg for arg in args]
    run = await arxiv_digest(*args, cwd=tmp_path)
    assert run.status in (2, 5)
    assert fragment in run.err
    assert "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1


async def test_bad_setting_exits_2_naming_it(tmp_path: Path) -> None:
    """A bad environment setting stops the command with one line naming it, status 2."""
    run = await arxiv_digest("preview", "-k", "x", cwd=tmp_path, env={"ARXIV_POLL_INTERVAL": "1"})
    assert run.status == 2
    assert "ARXIV_POLL_INTERVAL" in run.err
    assert "Traceback" not in run.err


async def test_run_without_token_names_both_tokens(tmp_path: Path) -> None:
    """`run` with no token exits 2 with a line naming TELEGRAM_BOT_TOKEN and DISCORD_BOT_TOKEN."""
    run = await arxiv_digest("run", cwd=tmp_path)
    assert run.status == 2
    assert "TELEGRAM_BOT_TOKEN" in run.err
    assert "DISCORD_BOT_TOKEN" in run.err
    assert len(run.err.strip().splitlines()) == 1


async def test_fetch_stores_the_announcement_once(tmp_path: Path, arxiv_server: FakeArxiv) -> None:
    """`fetch` ingests the live feed (the fake) into the database, and a second fetch stores nothing new."""
    arxiv_server.default_rss = Reply.feed("anchor/listing-2025-11-12.rss.xml")
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}", "ARXIV_RSS_URL": arxiv_server.rss_url}
    first = await arxiv_digest("fetch", cwd=tmp_path, env=env)
    assert first.status == 0, first.err
    assert "2025-11-12" in first.out
    assert "496" in first.out
    second = await arxiv_digest("fetch", cwd=tmp_path, env=env)
    assert second.status == 0, second.err
    assert "already" in second.out.lower() or "unchanged" in second.out.lower()
    with sqlite3.connect(tmp_path / "digest.db") as db:
        assert db.execute("SELECT count(*) FROM announcements").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM announcement_papers").fetchone() == (496,)


async def test_unreachable_arxiv_is_one_line_status_5(tmp_path: Path) -> None:
    """With arXiv unreachable the command retries, then says so in one line (status 5), no log noise."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"ARXIV_RSS_URL": f"http://127.0.0.1:{port}/rss", "ARXIV_MAX_RETRIES": "1"}
    run = await arxiv_digest("preview", "-k", "x", cwd=tmp_path, env=env)
    assert run.status == 5
    assert "unavailable" in run.err
    assert len(run.err.strip().splitlines()) == 1


async def test_run_serves_telegram_and_stops_cleanly_on_sigterm(
    tmp_path: Path, arxiv_server: FakeArxiv
) -> None:
    """`arxiv-digest run` with a token: answers /start over the (fake) Bot API, exits 0 on SIGTERM."""
    arxiv_server.default_rss = Reply.feed("anchor/listing-2025-11-12.rss.xml")
    telegram = FakeTelegramServer()
    await telegram.start()
    env = {
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}",
        "ARXIV_RSS_URL": arxiv_server.rss_url,
        "ARXIV_API_URL": arxiv_server.api_url,
        "RECOVERY_DAYS": "0",
    }
    process = await start_arxiv_digest("run", cwd=tmp_path, env=env)
    try:
        await telegram.wait_for_call("getUpdates", timeout=30)
        telegram.push_message(4242, "/start")
        (answer,) = await telegram.wait_for_call("sendMessage", chat_id=4242, ok=True, timeout=15)
        async with asyncio.timeout(15):  # the start-up ingest runs beside the adapter
            while not stored_announcements(tmp_path / "digest.db"):
                await asyncio.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await telegram.close()
    assert process.returncode == 0, err.decode()
    assert "arXiv" in answer.params["text"]
    assert "Traceback" not in err.decode()
    assert telegram.token.split(":")[1] not in err.decode() + out.decode()  # never logged
    assert [request.path for request in arxiv_server.of_kind("rss")][:1] == ["/rss/cs.AI+cs.CL+cs.CV+cs.LG"]
    assert stored_announcements(tmp_path / "digest.db") == 1


def stored_announcements(path: Path) -> int:
    """How many announcements the database holds (0 before it exists or is migrated)."""
    try:
        with sqlite3.connect(path) as db:
            (count,) = db.execute("SELECT count(*) FROM announcements").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(count)
