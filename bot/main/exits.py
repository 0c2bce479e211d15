"""The exit statuses of `arxiv-digest`, and the one-line error that carries one."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_NO_ANNOUNCEMENT = 3
EXIT_ARXIV_ERROR = 4
EXIT_UNAVAILABLE = 5
EXIT_DATABASE = 6  # the database cannot be used: a path, permission or "not an SQLite database" problem
EXIT_UNHEALTHY = 7  # `status`: the bot is not doing its job (the feed unread, every delivery failing)


class ExitError(Exception):
    """A one-line answer for the user, with the exit status to leave with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
