"""The container files: docker-compose.yml, the Dockerfile and .dockerignore, read as text.

No test builds or runs the image (that needs a Docker daemon and the network for the base image); they
parse the files and check what the issue asks of them, and run the healthcheck's command for real
against a database under tmp_path.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CONSTRAINTS = ROOT / "constraints.txt"
PYPROJECT = ROOT / "pyproject.toml"
#: The uid the image runs as (README, compose comments and error messages name it).
IMAGE_UID = "10001"
#: The bot ends within this many seconds of SIGTERM (see bot.main.app); the grace period must exceed it.
BOT_STOP_SECONDS = 5


def compose_service() -> dict[str, Any]:
    """The one service of docker-compose.yml."""
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    assert len(services) == 1, services
    return dict(next(iter(services.values())))


def seconds(duration: str) -> float:
    """A Compose duration (`10s`, `1m30s`, `1h`) in seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts, duration
    assert "".join(number + unit for number, unit in parts) == duration, duration
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(number) * scale[unit] for number, unit in parts)


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found: list[tuple[str, str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, arguments = stripped.partition(" ")
            found.append((keyword.upper(), arguments.strip()))
    return found


def dockerfile_env() -> dict[str, str]:
    """The variables set by the Dockerfile's ENV lines (`ENV A=1 B=2` form)."""
    values: dict[str, str] = {}
    for keyword, arguments in instructions():
        if keyword == "ENV":
            values.update(pair.split("=", 1) for pair in arguments.split())  # type: ignore[misc]
    return values


def dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it: `*` and `?` stay within one path part, `**` spans parts."""
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            out, index = out + ".*", index + 2
        elif pattern[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif pattern[index] == "?":
            out, index = out + "[^/]", index + 1
        elif pattern[index] == "[":
            close = pattern.index("]", index)
            out, index = out + pattern[index : close + 1], close + 1
        else:
            out, index = out + re.escape(pattern[index]), index + 1
    return re.compile(out)


def ignored(relative: str) -> bool:
    """Whether .dockerignore keeps `relative` (a path in the build context) out of the build.

    A pattern that matches a directory leaves out everything below it; the last matching line wins.
    """
    parts = Path(relative).parts
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    verdict = False
    for raw_line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        pattern = raw_line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        regex = dockerignore_regex(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            verdict = not negate
    return verdict


async def create_database(path: Path, *, checked: bool = False) -> None:
    """Create and migrate the bot's database, as the bot does at start-up; `checked`: and record a feed
    check that read the feed just now, as its first check does."""
    import datetime as dt

    from bot.models import FeedCheck
    from storage.sqlite_store import open_store

    store = await open_store(path)
    if checked:
        await store.record_feed_check(FeedCheck(dt.datetime.now(dt.UTC), "unchanged", message="x"))
    await store.close()


# -- docker-compose.yml ----------------------------------------------------------------------------------
def test_compose_builds_this_directory_and_reads_dot_env() -> None:
    """The service is built from `.` and takes its settings from `env_file: .env` (read on the host)."""
    service = compose_service()
    build = service["build"]
    assert (build if isinstance(build, str) else build["context"]) == "."
    env_file = service["env_file"]
    assert env_file == ".env" or ".env" in env_file


def test_compose_keeps_the_database_on_a_named_volume_at_data() -> None:
    """/data is a named volume declared at the top level; DATABASE_URL points into it whatever .env says."""
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    service = compose_service()
    mounts = [mount for mount in service["volumes"] if str(mount).endswith(":/data")]
    assert len(mounts) == 1, service["volumes"]
    volume = str(mounts[0]).split(":", 1)[0]
    assert "/" not in volume, "a named volume, not a bind mount"
    assert not volume.startswith("."), "a named volume, not a bind mount"
    assert volume in document["volumes"]
    assert service["environment"]["DATABASE_URL"].startswith("sqlite:////data/")
    assert service["environment"]["DATABASE_URL"] == dockerfile_env()["DATABASE_URL"]


def test_compose_restarts_the_bot_and_gives_it_time_to_stop() -> None:
    """`restart: unless-stopped`, and a stop grace period longer than the bot's 5 s stop (but not minutes)."""
    service = compose_service()
    assert service["restart"] == "unless-stopped"
    grace = seconds(service["stop_grace_period"])
    assert BOT_STOP_SECONDS < grace <= 30


def test_compose_healthcheck_runs_arxiv_digest_status() -> None:
    """The healthcheck runs `arxiv-digest status` (no shell), with a timeout above the busy timeout."""
    healthcheck = compose_service()["healthcheck"]
    assert healthcheck["test"] == ["CMD", "arxiv-digest", "status"]
    from storage.sqlite_base import BUSY_TIMEOUT_MS

    assert seconds(healthcheck["timeout"]) > BUSY_TIMEOUT_MS / 1000
    assert seconds(healthcheck["interval"]) >= seconds(healthcheck["timeout"])


def test_the_healthcheck_command_fails_without_a_database_and_passes_with_one(tmp_path: Path) -> None:
    """`arxiv-digest status` exits 6 and creates nothing when the file is missing, 7 while no feed check
    has read the feed, 0 once the bot made the file and checked the feed."""
    command = compose_service()["healthcheck"]["test"][1:]
    argv = [sys.executable, "-m", "bot", *command[1:]]  # `python -m bot` is `arxiv-digest`
    database = tmp_path / "data" / "arxiv-digest.db"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"sqlite:///{database}",
    }
    missing = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert missing.returncode == 6, missing.stderr
    assert missing.stderr.startswith("arxiv-digest: ")
    assert not database.exists()
    asyncio.run(create_database(database))  # what `arxiv-digest run` does first
    unchecked = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert unchecked.returncode == 7, unchecked.stderr
    asyncio.run(create_database(database, checked=True))  # … and then it checks the feed
    healthy = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert healthy.returncode == 0, healthy.stderr


# -- Dockerfile ------------------------------------------------------------------------------------------
def test_the_image_runs_as_uid_10001_not_root() -> None:
    """The last USER is the numeric uid 10001 (never root or 0), created in the image and owning /data."""
    users = [arguments for keyword, arguments in instructions() if keyword == "USER"]
    assert users, "the Dockerfile sets no USER, so the bot would run as root"
    user = users[-1].split(":", 1)[0]
    assert user == IMAGE_UID
    assert user not in {"root", "0"}
    run_lines = " ".join(arguments for keyword, arguments in instructions() if keyword == "RUN")
    assert f"--uid {IMAGE_UID}" in run_lines
    assert re.search(rf"chown {IMAGE_UID}(:{IMAGE_UID})? /data", run_lines)


def test_the_image_keeps_the_database_on_the_data_volume() -> None:
    """VOLUME /data, DATABASE_URL inside it, and the bot (`arxiv-digest run`) as the default command."""
    steps = instructions()
    volumes = [arguments for keyword, arguments in steps if keyword == "VOLUME"]
    assert any("/data" in volume for volume in volumes)
    assert dockerfile_env()["DATABASE_URL"].startswith("sqlite:////data/")
    assert ("ENTRYPOINT", '["arxiv-digest"]') in steps
    assert ("CMD", '["run"]') in steps


def test_the_image_copies_no_env_file_and_not_the_whole_context() -> None:
    """No COPY/ADD of `.env` or of `.` (which would bake secrets, .git and .venv into a layer)."""
    for keyword, arguments in instructions():
        if keyword in {"COPY", "ADD"}:
            sources = [part for part in arguments.split()[:-1] if not part.startswith("--")]
            assert all(".env" not in source for source in sources), arguments
            assert all(source not in {".", "./", "*"} for source in sources), arguments


def test_the_image_has_no_secret_in_its_environment() -> None:
    """The Dockerfile sets no token: they come from env_file / --env-file at run time."""
    assert not {name for name in dockerfile_env() if "TOKEN" in name}


def runtime_requirements() -> list[Requirement]:
    """pyproject.toml's [project] dependencies (what the image installs; not the dev extra)."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["dependencies"]]


def constraint_pins() -> dict[str, str]:
    """constraints.txt as {canonical name: version}; every line must be an exact `name==version`."""
    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.+!-]*)", text)
        assert match, f"not an exact pin: {line!r}"
        name = canonicalize_name(match[1])
        assert name not in pins, f"{name} pinned twice"
        pins[name] = match[2]
    return pins


def test_every_runtime_requirement_is_pinned_and_its_pin_satisfies_pyproject() -> None:
    """Each dependency of pyproject.toml has an exact pin in constraints.txt within its range."""
    pins = constraint_pins()
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (requirement, pins[name])


def test_the_constraints_pin_every_transitive_runtime_dependency_and_no_dev_tool() -> None:
    """What the runtime dependencies need in turn (as installed here, for Linux and this Python) is
    pinned too, so the image resolves nothing on its own; the dev extra's tools are not."""
    pins = constraint_pins()
    needed: set[str] = set()
    followed: set[tuple[str, str]] = set()  # (package, extra) whose requirements were added
    todo = [(requirement, "") for requirement in runtime_requirements()]
    while todo:
        requirement, wanted_by = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": wanted_by}):
            continue
        name = canonicalize_name(requirement.name)
        needed.add(name)
        for extra in ("", *sorted(requirement.extras)):  # `pkg[extra]` brings the extra's requirements
            if (name, extra) not in followed:
                followed.add((name, extra))
                todo += [(Requirement(text), extra) for text in importlib.metadata.requires(name) or []]
    assert sorted(needed - set(pins)) == [], "runtime dependencies missing from constraints.txt"
    assert sorted(set(pins) - needed) == [], "constraints.txt pins what the runtime does not need"
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert "arxiv-digest-bot" not in pins
    dev = {canonicalize_name(Requirement(text).name) for text in project["optional-dependencies"]["dev"]}
    assert not (dev - needed) & set(pins), "a dev-only tool is pinned"


def test_the_image_installs_the_pinned_versions() -> None:
    """The Dockerfile copies constraints.txt and installs with `pip install -c constraints.txt .`."""
    steps = instructions()
    copied = [arguments.split()[:-1] for keyword, arguments in steps if keyword == "COPY"]
    assert any("constraints.txt" in sources for sources in copied), copied
    installs = [arguments for keyword, arguments in steps if keyword == "RUN" and "pip install" in arguments]
    assert installs, "no pip install in the Dockerfile"
    for command in installs:
        assert re.search(r"pip install (\S+ )*-c constraints\.txt( \S+)* \.(\s|$)", command), command
    assert not ignored("constraints.txt")


# -- .dockerignore ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.production",
        ".venv/bin/python",
        ".git/config",
        "bot/__pycache__/cli.cpython-311.pyc",
        ".pytest_cache/v",
        ".mypy_cache/x",
        ".ruff_cache/x",
        "arxiv-digest.db",
    ],
)
def test_dockerignore_keeps_secrets_and_caches_out_of_the_build(path: str) -> None:
    """`.env`, the venv, .git, caches and local databases never reach the build context."""
    assert DOCKERIGNORE.exists(), ".dockerignore is missing"
    assert ignored(path)


def test_dockerignore_keeps_everything_the_dockerfile_copies() -> None:
    """Every file the image installs (sources, migrations, the sample listing) is still in the context."""
    needed = ["pyproject.toml", "README.md"]
    for package in ("bot", "adapters", "storage"):
        needed += [
            str(path.relative_to(ROOT))
            for path in (ROOT / package).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        ]
    assert any(name.startswith("storage/migrations/") and name.endswith(".sql") for name in needed)
    assert [name for name in needed if ignored(name)] == []


# -- README ----------------------------------------------------------------------------------------------
def test_the_readme_says_how_the_container_gets_its_settings_and_its_uid() -> None:
    """The README's Docker paragraph names --env-file, env_file, the uid and the chown for a bind mount."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("Docker: ")
    paragraph = readme[start : readme.index("\n\n", start)]
    assert "--env-file .env" in paragraph
    assert "env_file: .env" in paragraph
    assert f"uid {IMAGE_UID}" in paragraph
    assert f"chown {IMAGE_UID}" in paragraph
    assert "docker compose up" in paragraph
