"""Why a PostgreSQL database cannot be used, said in one line that names it without its password."""

from __future__ import annotations

import asyncpg

from bot.ports import StoreError


class DatabaseUnreachableError(StoreError):
    """The PostgreSQL server cannot be reached, or the connection to it was lost."""


class DatabaseAccessError(StoreError):
    """The server refused the user, the password or the database, or a privilege is missing."""


def postgres_problem(shown: str, error: BaseException) -> StoreError | None:
    """The one-line StoreError for trouble with the server or the database; None for an error of the SQL.

    `shown` is the DATABASE_URL with its password hidden; the driver's own text is included only
    where it says more (it never carries the password).
    """
    if isinstance(error, asyncpg.InvalidPasswordError):
        return DatabaseAccessError(
            f"PostgreSQL refused the password for {shown}: set the right one in DATABASE_URL"
        )
    if isinstance(error, asyncpg.InvalidCatalogNameError):
        return DatabaseAccessError(
            f"the database of {shown} does not exist: create it (createdb, or CREATE DATABASE) "
            "or fix DATABASE_URL"
        )
    if isinstance(error, asyncpg.InvalidAuthorizationSpecificationError):
        return DatabaseAccessError(f"PostgreSQL refused the connection to {shown}: {_first_line(error)}")
    if isinstance(error, asyncpg.InsufficientPrivilegeError):
        return DatabaseAccessError(
            f"the user of {shown} lacks a privilege: {_first_line(error)}; grant it (e.g. GRANT ALL ON "
            "SCHEMA public TO the user, or make the user the database's owner)"
        )
    if isinstance(error, asyncpg.DiskFullError):
        return StoreError(f"the PostgreSQL server of {shown} is out of disk space: free some, then restart")
    if isinstance(error, asyncpg.ReadOnlySQLTransactionError):
        return StoreError(f"{shown} is read-only (a standby?): point DATABASE_URL at the primary server")
    if isinstance(error, asyncpg.CannotConnectNowError | asyncpg.TooManyConnectionsError):
        return DatabaseUnreachableError(
            f"the PostgreSQL server of {shown} refuses connections now: {_first_line(error)}"
        )
    # (A connection the server ended can leave the driver in a state it reports as an internal error.)
    if isinstance(
        error, asyncpg.ConnectionDoesNotExistError | asyncpg.InterfaceError | asyncpg.InternalClientError
    ):
        return DatabaseUnreachableError(
            f"the connection to the PostgreSQL server of {shown} was lost: {_first_line(error)}"
        )
    if isinstance(error, asyncpg.PostgresConnectionError | OSError | TimeoutError):
        if isinstance(error, ConnectionRefusedError):
            reason = "the connection was refused (nothing listens there)"
        elif isinstance(error, TimeoutError):
            reason = "no answer within the timeout"
        else:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else _first_line(error)
        return DatabaseUnreachableError(
            f"cannot reach the PostgreSQL server of {shown}: {reason or type(error).__name__}; "
            "is it running, and are the host, port or socket directory right?"
        )
    return None


def _first_line(error: BaseException) -> str:
    """The first line of an error's text."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
