"""docker-compose.postgres.yml: PostgreSQL 15 and two bot replicas, read as YAML (no Docker needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bot.database_url import POSTGRESQL, parse_database_url

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.postgres.yml"
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Z_]+)(?::-(?P<default>[^}]*))?\}")


def compose() -> dict[str, Any]:
    """The parsed file (anchors and merge keys resolved, as Compose does)."""
    parsed: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return parsed


def bots() -> dict[str, dict[str, Any]]:
    """The services that run the bot."""
    return {name: service for name, service in compose()["services"].items() if name != "db"}


def interpolate(value: str, environment: dict[str, str]) -> str:
    """`${NAME:-default}` as Compose fills it in from the environment (or .env)."""
    return _VARIABLE.sub(lambda m: environment.get(m["name"], m["default"] or ""), value)


def test_the_database_is_postgresql_15_on_a_volume_with_a_healthcheck() -> None:
    """db: the postgres:15 image, its data directory on a named volume, pg_isready as the healthcheck."""
    file = compose()
    db = file["services"]["db"]
    assert db["image"] == "postgres:15"
    volume, _, mounted = db["volumes"][0].partition(":")
    assert mounted == "/var/lib/postgresql/data"
    assert volume in file["volumes"]
    assert db["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert f"--username={db['environment']['POSTGRES_USER']}" in db["healthcheck"]["test"]
    assert db["restart"] == "unless-stopped"
    assert "ports" not in db  # the database is reached by the bots only


def test_two_replicas_of_the_image_run_the_bot_once_the_database_is_healthy() -> None:
    """Two services alike but for their shard: the image of docker-compose.yml, `run`, after db is healthy."""
    plain = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]["bot"]
    replicas = bots()
    assert len(replicas) == 2
    for service in replicas.values():
        assert (service["build"], service["image"]) == (plain["build"], plain["image"])
        assert service["command"] == ["run"]
        assert service["depends_on"] == {"db": {"condition": "service_healthy"}}
        assert service["env_file"] == ".env"
        assert service["healthcheck"]["test"] == ["CMD", "arxiv-digest", "status"]
        assert service["restart"] == "unless-stopped"
        assert "container_name" not in service
    first, second = (dict(service) for service in replicas.values())
    first.pop("environment")
    second.pop("environment")
    assert first == second


def test_each_replica_runs_its_own_discord_shard_and_together_all_of_them() -> None:
    """Discord: one DISCORD_SHARD_COUNT everywhere, each shard (0 too) in exactly one replica."""
    environments = [service["environment"] for service in bots().values()]
    counts = {environment["DISCORD_SHARD_COUNT"] for environment in environments}
    assert counts == {str(len(environments))}
    shards = sorted(int(environment["DISCORD_SHARD_IDS"]) for environment in environments)
    assert shards == list(range(len(environments)))


def test_the_bots_database_url_names_the_db_service_and_takes_the_password_from_the_environment() -> None:
    """DATABASE_URL: postgresql://USER:${POSTGRES_PASSWORD}@db:5432/DB, with db's user and database."""
    db = compose()["services"]["db"]["environment"]
    for service in bots().values():
        url = service["environment"]["DATABASE_URL"]
        assert db["POSTGRES_PASSWORD"] in url  # the same ${POSTGRES_PASSWORD:-…} as the server's
        filled = interpolate(url, {"POSTGRES_PASSWORD": "s3cretFromDotEnv"})
        parsed = parse_database_url(filled)
        assert parsed.engine == POSTGRESQL
        parts = urlsplit(filled)
        assert (parts.hostname, parts.port, parts.path) == ("db", 5432, f"/{db['POSTGRES_DB']}")
        assert (parts.username, parts.password) == (db["POSTGRES_USER"], "s3cretFromDotEnv")
        assert "s3cretFromDotEnv" not in parsed.shown


def test_no_password_is_written_into_the_file_but_an_example_default() -> None:
    """Every password is ${POSTGRES_PASSWORD}, its default an example; the comments say how to set it."""
    text = COMPOSE.read_text(encoding="utf-8")
    uses = _VARIABLE.findall(text)
    assert uses
    assert {name for name, _ in uses} == {"POSTGRES_PASSWORD"}
    assert {default for _, default in uses} == {"example-only-change-me"}
    db = compose()["services"]["db"]["environment"]
    assert _VARIABLE.fullmatch(db["POSTGRES_PASSWORD"])
    for service in bots().values():
        credentials = urlsplit(service["environment"]["DATABASE_URL"]).netloc.rpartition("@")[0]
        password = credentials.partition(":")[2]
        assert _VARIABLE.fullmatch(password), password
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    assert "POSTGRES_PASSWORD=" in comments
    assert "only for trying" in comments
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "POSTGRES_PASSWORD" in readme
    assert "docker compose -f docker-compose.postgres.yml up" in readme
