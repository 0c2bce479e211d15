"""Telegram's log hygiene: the bot token never reaches a log line, and the library's noisy errors are short.

A Bot API URL carries the token (`/bot<id>:<secret>/method`); httpx logs every request URL and
python-telegram-bot logs its API URLs, so the loggers that may carry one get a redacting filter.
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)

# Bot API URLs carry the token: /bot<id>:<secret>/method and /file/bot<id>:<secret>/path.
TOKEN_IN_URL = re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+")
_URL_LOGGERS = ("httpx", "telegram.Bot", "telegram.ext.ExtBot")


class TokenRedactingFilter(logging.Filter):
    """Replaces the bot token in log records of the HTTP libraries (httpx logs every request URL), and
    other secrets given (the webhook's secret_token, which python-telegram-bot's DEBUG lines show)."""

    def __init__(self, token: str, *secrets: str) -> None:
        super().__init__()
        self._token = token
        self._secrets: set[str] = {secret for secret in secrets if secret}

    def also(self, *secrets: str) -> None:
        """Redact these secrets too."""
        self._secrets.update(secret for secret in secrets if secret)

    def _scrub(self, text: str) -> str:
        """The text with the token (and any /bot<token> URL part) and the secrets replaced."""
        for secret in self._secrets:
            text = text.replace(secret, "<secret>")
        return TOKEN_IN_URL.sub(r"\1<token>", text.replace(self._token, "<token>"))

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; never drops a record."""
        message = record.getMessage()
        scrubbed = self._scrub(message)
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        return True


class QuietJsonErrorFilter(logging.Filter):
    """python-telegram-bot logs a non-JSON answer at ERROR with a traceback and the whole page.

    The adapter says what happened in one line itself ("answered with an HTML page …"), so the
    library's record is kept only for DEBUG logs, as one short line without the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Shorten (and, unless debugging, drop) the library's "Can not load invalid JSON data"."""
        if not str(record.msg).startswith("Can not load invalid JSON data"):
            return True
        record.msg = " ".join(record.getMessage().split())[:200]
        record.args = None
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def guard_logs(token: str, *secrets: str) -> None:
    """Keep the token (and `secrets`, such as the webhook's) out of the log lines that would carry it.

    httpx logs each request URL at INFO, and python-telegram-bot's Bot logs its API URLs at DEBUG
    when it is built. The CLI also sets httpx to WARNING; these filters hold whatever the logging
    configuration is. (httpcore logs no URLs.)
    """
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        found = [existing for existing in logger.filters if isinstance(existing, TokenRedactingFilter)]
        if found:
            found[0].also(*secrets)
        else:
            logger.addFilter(TokenRedactingFilter(token, *secrets))
    requests = logging.getLogger("telegram.request.BaseRequest")
    if not any(isinstance(existing, QuietJsonErrorFilter) for existing in requests.filters):
        requests.addFilter(QuietJsonErrorFilter())
