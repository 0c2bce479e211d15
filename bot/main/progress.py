"""What a person at a terminal is told while a one-shot command waits for arXiv."""

from __future__ import annotations

import os
import sys

from bot.arxiv_client.common import Progress

PROGRESS_ENV = "ARXIV_DIGEST_PROGRESS"  # 1: progress lines even without a terminal; 0: never


def terminal_progress() -> Progress | None:
    """A progress reporter writing to stderr when it is a terminal (or `ARXIV_DIGEST_PROGRESS=1`)."""
    wanted = os.environ.get(PROGRESS_ENV, "").strip()
    if wanted == "0" or (wanted != "1" and not sys.stderr.isatty()):
        return None

    def report(message: str) -> None:
        """One line on stderr, at once."""
        print(f"arxiv-digest: {message}", file=sys.stderr, flush=True)

    return report


def tell_terminal(message: str) -> None:
    """Tell a person at a terminal what is slow; stay quiet in pipes."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)
