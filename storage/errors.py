"""The storage errors, and why a database file cannot be used, said in one line.

Every error is a `StoreError`: the command line maps them all to one exit status and prints the message.
The diagnosis runs after `mkdir` or SQLite refused (or, for the place, before anything is opened) and
looks at the file system: which uid the process runs as, who owns the file and its directory, whether the
path is on a kernel pseudo-file system or a read-only one, whether the disk is full. It only reads: it
never creates, changes or removes a file.
"""

from __future__ import annotations

import errno
import os
import pathlib
import sqlite3
import stat

from bot.ports import StoreError


class DatabasePlaceError(StoreError):
    """The path is no place for a database file: a kernel pseudo-file system, a directory, a device."""


class DatabasePermissionError(StoreError):
    """This process may not create, read or write the file or its directory (or they are read-only)."""


class NotADatabaseError(StoreError):
    """The file is not an SQLite database, or not this bot's; it is left untouched."""


class DamagedDatabaseError(StoreError):
    """SQLite reports the file as a damaged database; it is left untouched."""


class DatabaseLockedError(StoreError):
    """Another process held the database's lock for longer than the busy timeout."""


class DatabaseFullError(StoreError):
    """The file system holding the database is full."""


#: File systems the kernel makes up: no file can be stored on them.
PSEUDO_FILE_SYSTEMS = frozenset(
    {
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "efivarfs",
        "fusectl",
        "hugetlbfs",
        "mqueue",
        "proc",
        "pstore",
        "securityfs",
        "sysfs",
        "tracefs",
    }
)
#: Where those live when the mount table cannot be read.
_PSEUDO_PREFIXES = (pathlib.PurePath("/proc"), pathlib.PurePath("/sys"))
_MOUNTS = pathlib.Path("/proc/self/mounts")
#: Less free space than this, and a failed write is put down to a full disk.
_NEARLY_FULL_BYTES = 64 * 1024
#: SQLite's primary result codes that mean "this process cannot get at the file as it needs to".
_ABOUT_ACCESS = frozenset(
    {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_IOERR}
)
_ELSEWHERE = "set DATABASE_URL to a file elsewhere"
_ON_A_REAL_DISK = "set DATABASE_URL to a file on a real disk, e.g. sqlite:////data/arxiv-digest.db"


# -- before anything is opened ---------------------------------------------------------------------
def place_problem(path: pathlib.Path) -> DatabasePlaceError | None:
    """Why `path` is no place for a database file (a directory, a device, /proc), or None."""
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = None  # missing, or not ours to look at: the attempt to create it will tell
    if mode is not None and stat.S_ISDIR(mode):
        return DatabasePlaceError(
            f"{path} is a directory, not a database file: set DATABASE_URL to a file in it, "
            f"e.g. sqlite:///{path / 'arxiv-digest.db'}"
        )
    if mode is not None and not stat.S_ISREG(mode):
        return DatabasePlaceError(f"{path} is {_kind(mode)}, not a database file: {_ELSEWHERE}")
    pseudo = _pseudo_file_system(path)
    if pseudo is not None:
        mount_point, kind = pseudo
        return DatabasePlaceError(
            f"cannot keep the database {path} on {mount_point}: it is a kernel pseudo-file system ({kind}) "
            f"where no file can be stored; {_ON_A_REAL_DISK}"
        )
    return None


# -- after mkdir or SQLite refused -----------------------------------------------------------------
def mkdir_problem(path: pathlib.Path, error: OSError) -> StoreError:
    """Why the directory of the database `path` could not be created, with what to do."""
    directory = _absolute(path).parent
    where = f"cannot create the directory {directory} for the database {path}"
    ancestor = _existing_ancestor(directory)
    if error.errno in (errno.EACCES, errno.EPERM):
        # Never suggest handing over the parent (it may be /var or a home): create the one directory.
        uid = os.geteuid()
        return DatabasePermissionError(
            f"{where}: {ancestor} is not writable by {_uid()} ({_owner(ancestor)}); as its owner or root "
            f"run `mkdir -p {directory} && chown {uid} {directory}` (for a Docker bind mount: on the "
            f"host), or {_ELSEWHERE}"
        )
    if error.errno == errno.EROFS:
        return DatabasePermissionError(
            f"{where}: {ancestor} is on a read-only file system; mount it read-write, or {_ELSEWHERE}"
        )
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DatabaseFullError(f"{where}: the file system holding {ancestor} is full; free some space")
    if error.errno in (errno.EEXIST, errno.ENOTDIR):
        candidates = [*reversed(directory.parents), directory]
        blocker = next((p for p in candidates if _is_non_directory(p)), directory)
        return DatabasePlaceError(f"{where}: {blocker} is a file, not a directory; {_ELSEWHERE}")
    return StoreError(f"{where}: {error.strerror or error}")


def sqlite_problem(path: pathlib.Path, error: sqlite3.Error, *, waited_s: float) -> StoreError | None:
    """What a failure of SQLite on the file `path` means and what to do; None if not about the file.

    None is for errors of the SQL itself (a constraint, a syntax error in a migration): the caller keeps
    the original error.
    """
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    primary = code & 0xFF
    if primary == sqlite3.SQLITE_NOTADB:
        return not_a_database(path)
    if primary == sqlite3.SQLITE_CORRUPT:
        return DamagedDatabaseError(
            f"the database {path} is damaged ({error}): it was left untouched; restore a backup, "
            "or move the file aside and the bot starts a new one"
        )
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return DatabaseLockedError(
            f"the database {path} is locked by another process (waited {waited_s:g} s): is another "
            "arxiv-digest using the same file? Stop it, or give each its own DATABASE_URL"
        )
    if primary == sqlite3.SQLITE_FULL:
        return _full(path)
    if primary in _ABOUT_ACCESS:
        found = access_problem(path)
        if found is not None:
            return found
        if primary == sqlite3.SQLITE_IOERR:
            return StoreError(
                f"cannot read or write the database {path}: {error} ({error.sqlite_errorname}); "
                "check the disk it is on"
            )
        return DatabasePermissionError(
            f"cannot open the database {path} for writing ({error}): {_uid()} must be able to read and "
            f"write it and create files in its directory; or {_ELSEWHERE}"
        )
    return None


def not_a_database(path: pathlib.Path) -> NotADatabaseError:
    """The file is not an SQLite database at all."""
    return NotADatabaseError(
        f"{path} is not an SQLite database (wrong file?): it was left untouched; "
        "set DATABASE_URL to the bot's database, or to a new file"
    )


def access_problem(path: pathlib.Path) -> StoreError | None:
    """What in the file system keeps this process from reading and writing the database `path`, or None."""
    place = place_problem(path)
    if place is not None:
        return place
    directory = _absolute(path).parent
    try:
        exists = path.exists()
    except OSError:  # the directory may not even be searched
        exists = False
    uid = os.geteuid()
    directory_writable = os.access(directory, os.W_OK | os.X_OK)
    if exists:
        if not os.access(path, os.R_OK):
            return DatabasePermissionError(
                f"cannot read the database {path}: permission denied for uid {uid} ({_owner(path)}); "
                f"run `chown {uid} {path}`, or {_ELSEWHERE}"
            )
        if _read_only_file_system(path):
            return _read_only_mount(path)
        if not os.access(path, os.W_OK):
            if not directory_writable:
                return DatabasePermissionError(
                    f"the database {path} and its directory are not writable by uid {uid} "
                    f"(the file is {_owner(path)}, the directory {_owner(directory)}); "
                    f"run `chown {uid} {_own_files(directory, path)}` (for a Docker bind mount: on the "
                    f"host), or {_ELSEWHERE}"
                )
            return DatabasePermissionError(
                f"the database {path} is read-only for uid {uid} ({_owner(path)}); "
                f"run `chown {uid} {path} && chmod u+rw {path}`, or {_ELSEWHERE}"
            )
    if _read_only_file_system(directory):
        return _read_only_mount(path)
    if not directory_writable:
        if exists:
            return DatabasePermissionError(
                f"cannot use the database {path}: its directory {directory} is not writable by uid {uid} "
                f"({_owner(directory)}), and SQLite must create {path.name}-wal and {path.name}-shm there; "
                f"{_give_it(directory)}"
            )
        return DatabasePermissionError(
            f"cannot create the database {path}: the directory {directory} is not writable by uid {uid} "
            f"({_owner(directory)}); {_give_it(directory)}"
        )
    if _nearly_full(directory):
        return _full(path)
    return None


# -- helpers ---------------------------------------------------------------------------------------
def _uid() -> str:
    """`uid 10001`: whom the process runs as."""
    return f"uid {os.geteuid()}"


def _own_files(directory: pathlib.Path, path: pathlib.Path) -> str:
    """The directory and the database's own files, named one by one: never `-R`, which would take
    along whatever else the directory holds."""
    files = [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]
    return " ".join(str(item) for item in [directory, *(f for f in files if f.exists())])


def _give_it(directory: pathlib.Path) -> str:
    """How to hand a directory to this process, or go elsewhere."""
    uid = os.geteuid()
    return (
        f"run `chown {uid} {directory}` (for a Docker bind mount: `chown {uid}` the directory on the host), "
        f"or {_ELSEWHERE}"
    )


def _owner(path: pathlib.Path) -> str:
    """`owned by uid 0, mode 0755`."""
    try:
        info = path.stat()
    except OSError:
        return "its owner cannot be seen"
    return f"owned by uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):04o}"


def _full(path: pathlib.Path) -> DatabaseFullError:
    """The disk is full."""
    return DatabaseFullError(
        f"no space left for the database {path}: the file system holding {_absolute(path).parent} is full; "
        "free some space and start again (nothing stored was lost)"
    )


def _read_only_mount(path: pathlib.Path) -> DatabasePermissionError:
    """The file system is mounted read-only."""
    return DatabasePermissionError(
        f"the database {path} is on a read-only file system; mount it read-write (for Docker: not `:ro`), "
        f"or {_ELSEWHERE}"
    )


def _kind(mode: int) -> str:
    """`a character device`, `a FIFO`, … for a file that is not a regular one."""
    for test, kind in (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def _absolute(path: pathlib.Path) -> pathlib.Path:
    """The path made absolute (not resolved: the user's names are kept)."""
    return path if path.is_absolute() else pathlib.Path.cwd() / path


def _existing_ancestor(path: pathlib.Path) -> pathlib.Path:
    """The nearest of `path` and its parents that exists."""
    for candidate in (path, *path.parents):
        try:
            if candidate.exists():
                return candidate
        except OSError:
            continue
    return pathlib.Path("/")


def _is_non_directory(path: pathlib.Path) -> bool:
    """True if something other than a directory exists at `path`."""
    try:
        return not stat.S_ISDIR(path.stat().st_mode)
    except OSError:
        return False


def _read_only_file_system(path: pathlib.Path) -> bool:
    """True if `path` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _nearly_full(directory: pathlib.Path) -> bool:
    """True if the file system holding `directory` has (almost) no space left for this process."""
    try:
        info = os.statvfs(directory)
    except OSError:
        return False
    free_blocks = info.f_bfree if os.geteuid() == 0 else info.f_bavail
    return free_blocks * info.f_frsize < _NEARLY_FULL_BYTES


def _pseudo_file_system(path: pathlib.Path) -> tuple[pathlib.PurePath, str] | None:
    """(mount point, type) when `path` lies on a kernel pseudo-file system such as /proc."""
    try:
        target = _existing_ancestor(_absolute(path)).resolve()
    except OSError:
        return None
    try:
        mounts = _MOUNTS.read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux, or no /proc: fall back to the usual places
        for prefix in _PSEUDO_PREFIXES:
            if target == prefix or prefix in target.parents:
                return prefix, prefix.name
        return None
    best: tuple[pathlib.PurePath, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = pathlib.PurePath(_unescape(fields[1]))
        covers = target == mount_point or mount_point in target.parents
        # The longest mount point covering the path wins; a later mount on the same point hides earlier ones.
        if covers and (best is None or len(mount_point.parts) >= len(best[0].parts)):
            best = (mount_point, fields[2])
    if best is not None and best[1] in PSEUDO_FILE_SYSTEMS:
        return best
    return None


def _unescape(field: str) -> str:
    """A /proc/self/mounts field with its octal escapes (`\\040` for a space) decoded."""
    if "\\" not in field:
        return field
    out: list[str] = []
    index = 0
    while index < len(field):
        chunk = field[index : index + 4]
        if len(chunk) == 4 and chunk[0] == "\\" and all(c in "01234567" for c in chunk[1:]):
            out.append(chr(int(chunk[1:], 8)))
            index += 4
        else:
            out.append(field[index])
            index += 1
    return "".join(out)


__all__ = [
    "PSEUDO_FILE_SYSTEMS",
    "DamagedDatabaseError",
    "DatabaseFullError",
    "DatabaseLockedError",
    "DatabasePermissionError",
    "DatabasePlaceError",
    "NotADatabaseError",
    "StoreError",
    "access_problem",
    "mkdir_problem",
    "not_a_database",
    "place_problem",
    "sqlite_problem",
]
