"""The operator's RANKING switch: off, the bot imports nothing of the learned order (no numpy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]

# Everything `arxiv-digest run` imports, both adapters built, then the wiring's ranker.
PROBE = """
import asyncio, sys
from bot.main import cli, app, platforms
import adapters.telegram.adapter, adapters.discord.adapter
from bot.settings import load_settings
from storage.sqlite_store import open_store

async def main():
    settings = load_settings()
    store = await open_store(sys.argv[1])
    ranker = app._ranker(settings, store, lambda: None)
    print("ranker", type(ranker).__name__)
    print("numpy", "numpy" in sys.modules, "bot.ranking" in sys.modules)
    if ranker is not None:
        ranker.close()
    await store.close()

asyncio.run(main())
"""


def _probe(tmp_path: Path, ranking: str) -> str:
    env = {key: value for key, value in os.environ.items() if key != "RANKING"}
    env["RANKING"] = ranking
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "bot.db")],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow  # a fresh interpreter importing the whole bot: seconds each
@pytest.mark.parametrize("word", ["off", "0"])
def test_with_ranking_off_the_bot_imports_neither_the_ranker_nor_numpy(tmp_path: Path, word: str) -> None:
    out = _probe(tmp_path, word)
    assert "ranker NoneType" in out
    assert "numpy False False" in out


@pytest.mark.slow
def test_with_ranking_on_the_ranker_is_built(tmp_path: Path) -> None:
    out = _probe(tmp_path, "on")
    assert "ranker RankingService" in out
    assert "numpy True True" in out


def test_a_bad_ranking_value_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="RANKING"):
        load_settings(ranking="sometimes")
