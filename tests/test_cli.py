"""The `arxiv-digest` command as a user runs it: a real process, real files, the fake arXiv on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import signal
import sqlite3
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.main.cli import _first_store_error
from bot.models import Channel, DeliveryResult, FeedCheck, Topic
from bot.ports import StoreError
from storage.sqlite_store import open_store
from tests.citations import parsed_bibtex, parsed_ris, undo_our_escapes
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


@pytest.mark.slow
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


# -- the same answers from every command (issue 7, item 6) -----------------------------------------------


def one_line_error(run: Run) -> str:
    """The single `arxiv-digest: ...` line a failed command leaves on stderr (and nothing on stdout)."""
    assert run.out == ""
    assert "Traceback" not in run.err
    [line] = run.err.strip().splitlines()
    assert line.startswith("arxiv-digest: ")
    return line


@pytest.mark.parametrize("command", ["preview", "fetch"])
@pytest.mark.parametrize(
    ("feed", "status", "fragment"),
    [
        ("rss/empty-feed.xml", 3, "no announcement"),
        ("rss/error-feed.xml", 4, "Bad archive 'astroph'"),
        ("BROKEN", 5, "broken.xml is broken"),
    ],
)
async def test_preview_and_fetch_answer_alike(
    tmp_path: Path, command: str, feed: str, status: int, fragment: str
) -> None:
    """`preview` and `fetch` give the same one stderr line and exit status for the same feed."""
    broken = tmp_path / "broken.xml"
    broken.write_bytes(SAMPLE.read_bytes()[:5000])
    path = broken if feed == "BROKEN" else FIXTURES / feed
    extra = ["-k", "x"] if command == "preview" else []
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}"}
    run = await arxiv_digest(command, "--feed", str(path), *extra, cwd=tmp_path, env=env)
    assert run.status == status
    line = one_line_error(run)
    assert fragment in line
    assert line.count("no announcement") <= 1  # not "no announcement on …: no announcement for …"
    assert "<string>" not in line  # lxml's "(<string>, line 1)" is not the user's business


@pytest.mark.parametrize("command", ["preview", "fetch"])
@pytest.mark.parametrize(("name", "problem"), [("missing.xml", "No such file"), ("a-directory", "directory")])
async def test_a_feed_file_that_cannot_be_read_is_bad_usage(
    tmp_path: Path, command: str, name: str, problem: str
) -> None:
    """A missing --feed file or a directory is named, with status 2, and `fetch` creates no database."""
    (tmp_path / "a-directory").mkdir()
    extra = ["-k", "x"] if command == "preview" else []
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}"}
    run = await arxiv_digest(command, "--feed", name, *extra, cwd=tmp_path, env=env)
    assert run.status == 2
    line = one_line_error(run)
    assert name in line
    assert problem in line
    assert "unavailable" not in line
    assert not (tmp_path / "digest.db").exists()


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"ARXIV_RSS_URL": "ftp://x"}, "bad setting ARXIV_RSS_URL: ftp: URLs are not supported"),
        ({"ARXIV_RSS_URL": "gopher://x/rss"}, "bad setting ARXIV_RSS_URL"),
        ({"ARXIV_API_URL": "file:///tmp/api"}, "bad setting ARXIV_API_URL"),
        ({"ARXIV_API_URL": "ftp://x"}, "bad setting ARXIV_API_URL"),
    ],
)
@pytest.mark.parametrize("command", ["preview", "fetch"])
async def test_unsupported_url_schemes_are_setting_errors(
    tmp_path: Path, command: str, env: dict[str, str], fragment: str
) -> None:
    """ARXIV_RSS_URL takes http(s), file:// or a path, ARXIV_API_URL only http(s): else status 2 naming it."""
    extra = ["-k", "x"] if command == "preview" else []
    run = await arxiv_digest(command, *extra, cwd=tmp_path, env=env)
    assert run.status == 2
    assert fragment in one_line_error(run)


async def test_feed_option_with_an_unsupported_scheme_is_bad_usage(tmp_path: Path) -> None:
    """`--feed ftp://x` is refused before any fetch, naming the option."""
    run = await arxiv_digest("preview", "--feed", "ftp://x", "-k", "x", cwd=tmp_path)
    assert run.status == 2
    assert one_line_error(run).startswith("arxiv-digest: --feed ftp://x: ftp: URLs are not supported")


# -- the database: one line and status 6 (item 2) ---------------------------------------------------------


async def test_a_database_path_that_cannot_be_opened_is_status_6(tmp_path: Path) -> None:
    """DATABASE_URL=sqlite:////proc/x.db: one line naming /proc/x.db, exit status 6, no traceback."""
    env = {"DATABASE_URL": "sqlite:////proc/x.db"}
    run = await arxiv_digest("fetch", "--feed", str(LISTING), cwd=tmp_path, env=env)
    assert run.status == 6
    assert "/proc/x.db" in one_line_error(run)


@pytest.mark.parametrize("command", ["fetch", "status", "channels", "run"])
async def test_a_file_that_is_not_a_database_is_status_6_and_left_alone(tmp_path: Path, command: str) -> None:
    """A junk .db file: each command says it is not an SQLite database (status 6); the file is unchanged."""
    junk = tmp_path / "junk.db"
    content = bytes(range(256)) * 64
    junk.write_bytes(content)
    env = {
        "DATABASE_URL": f"sqlite:///{junk}",
        "TELEGRAM_BOT_TOKEN": "123456:fake-token-never-used-0123456789ab",
        "TELEGRAM_API_URL": "http://127.0.0.1:9",
    }
    args = ["--feed", str(LISTING)] if command == "fetch" else []
    run = await arxiv_digest(command, *args, cwd=tmp_path, env=env)
    assert run.status == 6, run.err
    line = one_line_error(run)
    assert "junk.db" in line
    assert re.search(r"not an? (SQLite )?database", line, re.IGNORECASE)
    assert junk.read_bytes() == content
    assert sorted(path.name for path in tmp_path.iterdir()) == ["junk.db"]


def test_a_database_error_inside_the_bots_tasks_is_found() -> None:
    """`run` finds a StoreError nested in the task group's exceptions (then answers with status 6)."""
    failure = StoreError("cannot use the database x.db: disk I/O error")
    nested = ExceptionGroup("bot", [ValueError("other"), ExceptionGroup("core", [failure])])
    assert _first_store_error(nested) is failure
    assert _first_store_error(ExceptionGroup("bot", [ValueError("other")])) is None


# -- smaller things (item 7) ---------------------------------------------------------------------------


async def test_json_output_dir_writes_one_json_file_per_topic(tmp_path: Path) -> None:
    """`--format json --output DIR` writes DIR/TOPIC.json (one object per topic), not Markdown."""
    run = await arxiv_digest(
        "preview",
        "--feed",
        str(LISTING),
        "--config",
        str(CONFIG),
        "-k",
        "diffusion",
        "--format",
        "json",
        "--output",
        "out",
        cwd=tmp_path,
    )
    assert run.status == 0, run.err
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["MLLM.json", "diffusion.json"]
    document = json.loads((tmp_path / "out" / "MLLM.json").read_text(encoding="utf-8"))
    assert document["date"] == "2025-11-12"
    [topic] = document["topics"]
    assert topic["name"] == "MLLM"
    assert len(topic["papers"]) == 34
    assert "out/MLLM.json: 34 papers" in run.out


async def test_keywords_next_to_a_config_watch_the_configs_categories(tmp_path: Path) -> None:
    """A -k topic beside --config (and no -c) watches the config's categories, not DEFAULT_CATEGORIES."""
    run = await arxiv_digest(
        "preview",
        "--feed",
        str(LISTING),
        "--config",
        str(CONFIG),
        "-k",
        "diffusion",
        "--format",
        "json",
        cwd=tmp_path,
        env={"DEFAULT_CATEGORIES": "math.PR"},
    )
    assert run.status == 0, run.err
    _, extra = json.loads(run.out)["topics"]
    assert extra["name"] == "diffusion"
    assert extra["papers"]
    watched = {"cs.AI", "cs.CL", "cs.CV", "cs.LG", "cs.MA", "cs.RO"}
    for paper in extra["papers"]:
        assert watched.intersection(paper["categories"])


async def test_version(tmp_path: Path) -> None:
    """`arxiv-digest --version` prints `arxiv-digest <the project's version>` and exits 0."""
    with (Path(__file__).parents[1] / "pyproject.toml").open("rb") as file:
        version = tomllib.load(file)["project"]["version"]
    run = await arxiv_digest("--version", cwd=tmp_path)
    assert run.status == 0, run.err
    assert run.out.strip() == f"arxiv-digest {version}"


async def test_one_paper_is_one_paper(tmp_path: Path) -> None:
    """Counts of one say "1 paper" in the terminal listing and in --output's summary, never "1 papers"."""
    text = await arxiv_digest(
        "preview", "--feed", str(SAMPLE), "-c", "cs", "-k", "Tianjin", "--format", "text", cwd=tmp_path
    )
    assert text.status == 0, text.err
    assert "== Tianjin (1 paper) ==" in text.out
    written = await arxiv_digest(
        "preview", "--feed", str(SAMPLE), "-c", "cs", "-k", "Tianjin", "--output", "out", cwd=tmp_path
    )
    assert written.status == 0, written.err
    assert written.out.strip() == "out/Tianjin.md: 1 paper"
    assert "1 papers" not in text.out + written.out


async def test_a_config_error_names_the_file_once(tmp_path: Path) -> None:
    """A missing or bad config is one line naming the file once (not `x.yml: cannot read x.yml`)."""
    missing = await arxiv_digest("preview", "--feed", str(LISTING), "--config", "nope.yml", cwd=tmp_path)
    assert missing.status == 2
    assert one_line_error(missing).count("nope.yml") == 1
    (tmp_path / "bad.yml").write_text("topic: [1, 2\n", encoding="utf-8")
    bad = await arxiv_digest("preview", "--feed", str(LISTING), "--config", "bad.yml", cwd=tmp_path)
    assert bad.status == 2
    line = one_line_error(bad)
    assert line.count("bad.yml") == 1
    assert "not valid YAML" in line


# -- status and channels: what an operator looks at ---------------------------------------------------------


async def make_operator_database(path: Path) -> dict[str, int]:
    """A database with an announcement, a feed check, four channels and their last delivery results."""
    when = dt.datetime(2025, 11, 12, 8, 0, tzinfo=dt.UTC)
    store = await open_store(path)
    try:
        ids = {}
        for key, platform, chat, active in [
            ("ok", "telegram", "100", True),
            ("failed", "telegram", "200", True),
            ("gone", "telegram", "300", False),
            ("discord", "discord", "400", True),
        ]:
            channel = Channel(
                platform,
                chat,
                active=active,
                timezone="Europe/Berlin",
                delivery_time=dt.time(8, 0),
                server_id="999" if platform == "discord" else None,
                topics=(Topic("T", ("diffusion",)),),
            )
            stored = await store.save_channel(channel)
            assert stored.id is not None
            ids[key] = stored.id
        outcomes = {"ok": "ok", "failed": "failed", "gone": "gone", "discord": "empty"}
        for key, outcome in outcomes.items():
            at = when + dt.timedelta(minutes=ids[key])
            await store.record_delivery_result(
                DeliveryResult(ids[key], at, dt.date(2025, 11, 12), outcome, 3)
            )
        await store.record_feed_check(
            FeedCheck(
                when, "new", dt.date(2025, 11, 12), "stored the announcement of 2025-11-12: 2 papers", 2
            )
        )
    finally:
        await store.close()
    return ids


async def test_status_reports_from_the_database_alone(tmp_path: Path) -> None:
    """`status` (no token, no network) gives the last check, announcement, channels and delivery failures."""
    path = tmp_path / "digest.db"
    fetched = await arxiv_digest(
        "fetch", "--feed", str(LISTING), cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{path}"}
    )
    assert fetched.status == 0, fetched.err
    ids = await make_operator_database(path)
    env = {"DATABASE_URL": f"sqlite:///{path}", "ARXIV_RSS_URL": "http://127.0.0.1:9/rss"}
    run = await arxiv_digest("status", cwd=tmp_path, env=env)
    assert run.status == 0, run.err
    assert run.err == ""
    lines = run.out.splitlines()
    assert lines[0] == f"database: {path}"
    assert lines[1].startswith("last feed check: 2025-11-12 08:00 UTC (")
    assert lines[1].endswith("new: stored the announcement of 2025-11-12: 2 papers")
    assert lines[2] == "last announcement: 2025-11-12, 496 papers"
    assert lines[3] == "channels: discord 1 active, 0 inactive; telegram 2 active, 1 inactive"
    newest = max(ids.values())
    assert lines[4].startswith(f"last delivery: 2025-11-12 08:{newest:02d} UTC (")
    assert f"1 channel failed: #{ids['failed']} telegram 200 (2025-11-12)" in lines[4]
    assert f"1 channel gone: #{ids['gone']} telegram 300, now off" in lines[4]


async def test_status_of_an_empty_database(tmp_path: Path) -> None:
    """A database with nothing in it yet is still readable: status 0, and each part says "none yet"."""
    path = tmp_path / "digest.db"
    await (await open_store(path)).close()
    run = await arxiv_digest("status", cwd=tmp_path, env={"DATABASE_URL": f"sqlite:///{path}"})
    assert run.status == 0, run.err
    assert run.out.splitlines()[1:] == [
        "last feed check: none yet",
        "last announcement: none stored yet",
        "channels: none yet",
        "last delivery: none yet",
    ]


@pytest.mark.parametrize("command", ["status", "channels"])
async def test_status_and_channels_never_create_a_database(tmp_path: Path, command: str) -> None:
    """With no database file yet, `status`/`channels` say so (status 6) and create neither file nor folder."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'digest.db'}"}
    run = await arxiv_digest(command, cwd=tmp_path, env=env)
    assert run.status == 6
    assert "no database at" in one_line_error(run)
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
async def test_channels_lists_and_switches_chats(tmp_path: Path) -> None:
    """`channels` lists chats; --deactivate/--activate ID switch one, in one line; unknown ids: status 2."""
    path = tmp_path / "digest.db"
    ids = await make_operator_database(path)
    env = {"DATABASE_URL": f"sqlite:///{path}"}
    listing = await arxiv_digest("channels", cwd=tmp_path, env=env)
    assert listing.status == 0, listing.err
    header, *rows = listing.out.splitlines()
    assert header.split() == [
        "ID",
        "PLATFORM",
        "CHAT",
        "SERVER",
        "ACTIVE",
        "TIME",
        "ZONE",
        "TOPICS",
        "DONE",
        "UP",
        "TO",
    ]
    assert [row.split()[:5] for row in rows] == [
        [str(ids["ok"]), "telegram", "100", "-", "yes"],
        [str(ids["failed"]), "telegram", "200", "-", "yes"],
        [str(ids["gone"]), "telegram", "300", "-", "no"],
        [str(ids["discord"]), "discord", "400", "999", "yes"],
    ]
    assert rows[0].split()[5:] == ["08:00", "Europe/Berlin", "1", "-"]

    off = await arxiv_digest("channels", "--deactivate", str(ids["ok"]), cwd=tmp_path, env=env)
    assert off.status == 0, off.err
    assert off.out.strip() == f"channel #{ids['ok']} telegram 100: daily digest turned off"
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT active FROM channels WHERE id = ?", (ids["ok"],)).fetchone() == (0,)
    again = await arxiv_digest("channels", "--deactivate", str(ids["ok"]), cwd=tmp_path, env=env)
    assert again.out.strip() == f"channel #{ids['ok']} telegram 100: its daily digest was already off"
    on = await arxiv_digest("channels", "--activate", str(ids["gone"]), cwd=tmp_path, env=env)
    assert on.out.strip() == f"channel #{ids['gone']} telegram 300: daily digest turned on"
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT active FROM channels WHERE id = ?", (ids["gone"],)).fetchone() == (1,)

    unknown = await arxiv_digest("channels", "--deactivate", "9999", cwd=tmp_path, env=env)
    assert unknown.status == 2
    assert "no channel with id 9999" in one_line_error(unknown)


def test_readme_lists_every_exit_status_the_cli_uses() -> None:
    """The README's exit-status paragraph names every status `bot.main.exits` defines, and no other."""
    import bot.main.exits

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    paragraph = readme[readme.index("Exit statuses (") :].split("\n\n", 1)[0]
    documented = {int(number) for number in re.findall(r"`(\d)`", paragraph)}
    defined = {value for name, value in vars(bot.main.exits).items() if name.startswith("EXIT_")}
    assert documented == defined


async def test_a_reader_that_goes_away_is_no_error(tmp_path: Path) -> None:
    """`preview … --format json | head -c 100`: the closed pipe ends it quietly, exit 0, no traceback."""
    process = await start_arxiv_digest(
        "preview", "--feed", "sample", "-k", "cat:cs", "--format", "json", cwd=tmp_path
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first = await process.stdout.read(100)
    process.stdout.feed_eof()
    transport = process._transport  # type: ignore[attr-defined]
    transport.get_pipe_transport(1).close()  # what `head` does once it has read enough
    err = await asyncio.wait_for(process.stderr.read(), timeout=60)
    status = await asyncio.wait_for(process.wait(), timeout=60)
    assert first.startswith(b"{")
    assert status == 0
    assert b"Traceback" not in err
    assert b"Broken pipe" not in err


def _unique_json_papers(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSON output's papers, each once, first appearance first (a paper may be in several topics)."""
    seen: dict[str, dict[str, Any]] = {}
    for topic in document["topics"]:
        for paper in topic["papers"]:
            seen.setdefault(paper["id"], paper)
    return list(seen.values())


async def test_preview_exports_bibtex_and_ris_with_the_json_outputs_fields(tmp_path: Path) -> None:
    """`preview --feed sample -k MLLM --format bibtex|ris` parse with real readers (bibtexparser, rispy):
    one entry per paper of `--format json`, with its id, title, authors and primary category."""
    args = ("preview", "--feed", "sample", "-k", "MLLM")
    as_json, as_bibtex, as_ris = await asyncio.gather(
        *(arxiv_digest(*args, "--format", name, cwd=tmp_path) for name in ("json", "bibtex", "ris"))
    )
    assert (as_json.status, as_bibtex.status, as_ris.status) == (0, 0, 0), as_bibtex.err + as_ris.err
    papers = _unique_json_papers(json.loads(as_json.out))
    assert papers, "the sample has MLLM papers"
    entries = parsed_bibtex(as_bibtex.out)
    assert [entry["eprint"] for entry in entries] == [paper["id"] for paper in papers]
    assert len({entry["ID"] for entry in entries}) == len(entries)
    for entry, paper in zip(entries, papers, strict=True):
        assert entry["ENTRYTYPE"] == "misc"
        assert undo_our_escapes(entry["title"]) == " ".join(paper["title"].split())
        assert entry["author"].split(" and ") == paper["authors"]
        assert entry["primaryClass"] == paper["categories"][0]
        assert entry["url"] == f"https://arxiv.org/abs/{paper['id']}"
        assert entry["archivePrefix"] == "arXiv"
    records = parsed_ris(as_ris.out)
    assert [record["id"] for record in records] == [paper["id"] for paper in papers]
    for record, paper in zip(records, papers, strict=True):
        assert record["title"] == " ".join(paper["title"].split())
        assert record["abstract"] == " ".join(paper["abstract"].split())
        assert [author.split(", ")[::-1] for author in record["authors"]] == [
            [" ".join(name.split()[:-1]), name.split()[-1]] for name in paper["authors"]
        ]
        assert record["keywords"] == paper["categories"]


async def test_preview_output_dir_writes_bib_and_ris_files_per_topic(tmp_path: Path) -> None:
    """`--format bibtex --output DIR` writes DIR/TOPIC.bib, and ris DIR/TOPIC.ris, each parsing."""
    for name, suffix in (("bibtex", ".bib"), ("ris", ".ris")):
        run = await arxiv_digest(
            "preview", "--feed", "sample", "-k", "MLLM", "--format", name, "--output", "out", cwd=tmp_path
        )
        assert run.status == 0, run.err
        [written] = (tmp_path / "out").glob(f"*{suffix}")
        text = written.read_text(encoding="utf-8")
        assert parsed_bibtex(text) if name == "bibtex" else parsed_ris(text)


def test_logging_quiets_the_libraries_that_log_urls_and_sql(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even at LOG_LEVEL=DEBUG: no request URL (the Bot API's holds the token), no arxiv query, no SQL."""
    from bot.main.cli import configure_logging

    root = logging.getLogger()
    for logger in (root, *(logging.getLogger(name) for name in ("httpx", "arxiv", "aiosqlite"))):
        monkeypatch.setattr(logger, "level", logger.level)  # put back afterwards
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    configure_logging("DEBUG")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert not logging.getLogger("arxiv").isEnabledFor(logging.INFO)
    assert logging.getLogger("arxiv").isEnabledFor(logging.WARNING)
    assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("bot.ingest").isEnabledFor(logging.DEBUG)
