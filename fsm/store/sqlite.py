"""The embedded engine: one SQLite file in WAL mode.

SQLite has one write lock for the whole file, so writes are optimistic (see
``Store._change``): each is planned on a snapshot by one SELECT, without any
lock, and a write that changes nothing (a repeated observation) ends there.
Otherwise the writer takes the lock with ``BEGIN IMMEDIATE``, checks that the
cluster's row and the end of its log are what it planned from (else it plans
again, under the lock), appends and commits: no write works from a stale
view, and the lock is held only to append. ``BEGIN IMMEDIATE`` is retried with
short jittered pauses up to the busy timeout (15 s), then the store is
reported busy; SQLite's own busy handler sleeps up to 100 ms between tries
and starves writers when there are many.

Every read is one statement: in WAL mode it sees one snapshot, never waits
for a writer and takes no lock that could hold one back. Readers
(``create=False``) and rehearsals never change what is stored, never migrate
and never switch the journal mode (``query_only``); where they may write the
directory they open the file read-write so that, as the last connection, they
remove the -wal and -shm they used, elsewhere read-only
(see :func:`fsm.store.sqlite_file.reader_mode`).

The file is created by the first write, not by opening the store, so a dry
run (Ansible's check mode) or a listing of a store that does not exist yet
creates nothing. Times are ISO 8601 UTC text with microseconds and a ``Z``:
fixed width, so they sort as they compare, and exact.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shlex
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import quote

from ..errors import StoreError
from ..policy import Policy
from .base import Store
from .rows import json_text
from .schema import (
    APPEND_ONLY_MESSAGE,
    SCHEMA_TABLE,
    SCHEMA_VERSION,
    VERSION_SQL,
    Dialect,
    Migrations,
    check_readable,
    checked_version,
    migrate,
    migrations,
    no_store,
)
from .sqlite_file import BUSY_TIMEOUT, reader_mode, writers_besides_owner
from .transaction import Tx
from .url import STORE_ENV, StoreURL

T = TypeVar("T")

APPLICATION_ID: Final = 0x4F444653  # "ODFS" in the file header: an overdue-fsm store

DIALECT: Final = Dialect(
    text="TEXT",
    integer="INTEGER",
    time="TEXT",
    json="TEXT",
    sequence="INTEGER PRIMARY KEY AUTOINCREMENT",
    append_only=(
        "CREATE TRIGGER events_no_update BEFORE UPDATE ON events"
        f" BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END",
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
        f" BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END",
    ),
    prelude=(f"PRAGMA application_id = {APPLICATION_ID}",),
)


def _migrations() -> Migrations:
    """The schema's statements in this dialect, built by the first write that needs them
    (a reader of a current store never does); also importable as ``MIGRATIONS``."""
    found: Migrations | None = globals().get("MIGRATIONS")
    if found is None:
        found = migrations(DIALECT)
        globals()["MIGRATIONS"] = found
    return found


def __getattr__(name: str) -> Migrations:
    if name == "MIGRATIONS":
        return _migrations()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Tx:
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def row(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        found: tuple[Any, ...] | None = self._conn.execute(sql, params).fetchone()
        return found

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        self._conn.execute(sql, params)


class SqliteStore(Store):
    """A store in one SQLite file (see the module docstring for the locking)."""

    engine = "sqlite"
    optimistic = True

    def __init__(
        self,
        url: str,
        path: Path,
        policy: Policy,
        writable: bool,
        *,
        busy_timeout: float = BUSY_TIMEOUT,
        rehearsal: bool = False,
    ) -> None:
        super().__init__(url, policy, writable, rehearsal)
        self.path = path
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._empty: sqlite3.Connection | None = None
        self._closed = False
        self._journal: str | None = None
        self.schema_version = None
        with self._errors():
            if path.is_dir():
                raise StoreError(f"the store at {url} is a directory, not a database file")
            if path.exists():
                self._open()
            elif path.is_symlink() and writable:
                raise self._through_link()
            elif not writable and not rehearsal:
                raise no_store(
                    url,
                    "nothing has been recorded there yet "
                    f"(record a cluster first, or set {STORE_ENV})",
                )

    @classmethod
    def from_url(
        cls, url: StoreURL, policy: Policy, writable: bool, rehearsal: bool = False
    ) -> SqliteStore:
        assert url.path is not None
        return cls(url.display, url.path, policy, writable, rehearsal=rehearsal)

    # -- connections ------------------------------------------------------------------

    def _connect(self, mode: str, *, writer: bool) -> sqlite3.Connection:
        uri = f"file:{quote(str(self.path))}?mode={mode}"
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=self.busy_timeout,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # guarded by self._lock
        )
        try:
            if writer:
                # WAL + NORMAL: a killed process loses nothing committed; only a
                # power cut may lose the last commits, and never corrupts.
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA busy_timeout = 0")  # _begin retries instead
            else:
                conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> None:
        """Open the existing file; a writer migrates an older schema."""
        self._check_mode()
        if not self.writable:
            conn = self._connect(reader_mode(self.path), writer=False)
            try:
                version = _version(conn, self.url)
                if not self.rehearsal:
                    check_readable(
                        version,
                        self.url,
                        "the file is empty (record a cluster first to create the store)",
                    )
                self._journal = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
            except BaseException:
                conn.close()
                raise
            self.schema_version = version
            if version is None:
                conn.close()  # an empty file: reads see the empty store
                return
            self._conn = conn
            return
        if not os.access(self.path, os.W_OK):
            raise StoreError(
                f"the store at {self.url} is read-only for this user; "
                "make the file writable to record (reading needs no write access)"
            )
        conn = self._connect("rw", writer=True)
        try:
            # Refuses a file that is not ours, untouched. Busy while another
            # writer creates the store (before WAL, readers wait for writers).
            version = self._retry(lambda: _version(conn, self.url))
            if version is None:
                self._adopt_empty()
            if self._retry(lambda: conn.execute("PRAGMA journal_mode").fetchone()[0]) != "wal":
                self._begin(conn, "PRAGMA journal_mode = WAL")
            if version != SCHEMA_VERSION:
                self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self.schema_version = SCHEMA_VERSION

    def _check_mode(self) -> None:
        """Refuse a store others may write: whoever can write it decides what guards answer."""
        mode = os.stat(self.path).st_mode
        who = writers_besides_owner(mode)
        if who is not None:
            raise StoreError(
                f"the store at {self.url} may be written by {who} "
                f"(mode {stat.S_IMODE(mode):04o}), who could rewrite what guards decide; "
                f"make it owner-only: chmod 600 {shlex.quote(str(self.path))}"
            )

    def _adopt_empty(self) -> None:
        """An empty file becomes the store: never through a link, always owner-only."""
        if self.path.is_symlink():
            raise self._through_link()
        os.chmod(self.path, 0o600)

    def _through_link(self) -> StoreError:
        target = os.readlink(self.path)
        return StoreError(
            f"the store at {self.url} is a symbolic link (to {target}) with no store behind it; "
            "overdue-fsm never creates a store through a link: "
            "give the real path, or create the store there first"
        )

    def _create(self) -> None:
        """Create the directory (0700) and the file (0600), then the schema."""
        _make_dirs(self.path.parent)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            if self.path.is_symlink() and not self.path.exists():
                raise self._through_link() from None
            # another writer was first: use its file
        else:
            os.close(fd)
            os.chmod(self.path, 0o600)  # whatever the umask
        self._open()

    def _nothing_stored(self) -> bool:
        return False  # reads see an empty in-memory store until the file exists

    def _engine_pending(self) -> tuple[str, ...]:
        if self._journal is not None and self._journal.lower() != "wal":
            return (f"switch its journal from {self._journal} to WAL",)
        return ()

    def _migrate(self, conn: sqlite3.Connection) -> None:
        self._begin(conn)
        try:
            version = _version(conn, self.url) or 0
            migrate(conn.execute, _migrations(), version, _time_text(datetime.now(UTC)))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def _begin(self, conn: sqlite3.Connection, statement: str = "BEGIN IMMEDIATE") -> None:
        """Run ``statement`` (start a write) as soon as the store is not busy."""
        self._retry(lambda: conn.execute(statement))

    def _retry(self, action: Callable[[], T]) -> T:
        """Run ``action``, retrying while the store is busy, up to the busy timeout.

        The writer connection has no busy handler of its own: SQLite's sleeps
        (growing to 100 ms) leave the lock idle while waiters sleep, so under
        many writers it starves them. Short jittered retries hand it on fast.
        """
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.0001
        while True:
            try:
                return action()
            except sqlite3.OperationalError as error:
                if _code(error) != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
            time.sleep(random.uniform(pause / 2, pause))
            pause = min(pause * 1.5, 0.002)

    # -- the engine hooks -------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error()

    def _run_write(self, cluster_id: str, work: Callable[[Tx], T]) -> T:
        with self._lock:
            self._check_open()
            if self._conn is None:
                self._create()
            conn = self._conn
            assert conn is not None
            self._begin(conn)  # SQLite has one write lock: it covers every cluster
            try:
                result = work(_Tx(conn))
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
            return result

    def _run_read(self, work: Callable[[Tx], T]) -> T:
        # Every read is one statement (the base class sees to it): in WAL mode
        # it sees one snapshot and takes no lock that could hold a writer back.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            with self._lock:
                self._check_open()
                if self._conn is None and self.path.exists():
                    self._open()  # another process created it since we looked
                conn = self._conn or self._empty_store()
                try:
                    return work(_Tx(conn))
                except sqlite3.OperationalError as error:
                    # Only while another connection recovers the WAL after a crash.
                    if _code(error) != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                        raise
            time.sleep(random.uniform(0.0005, 0.002))

    def _empty_store(self) -> sqlite3.Connection:
        """An in-memory store with the schema: what reads see before the first write."""
        if self._empty is None:
            empty = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            migrate(empty.execute, _migrations(), 0, _time_text(datetime.now(UTC)))
            self._empty = empty
        return self._empty

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._release(self._conn)
            self._release(self._empty)
            self._conn = self._empty = None

    def _time_in(self, value: datetime) -> object:
        return _time_text(value)

    def _time_out(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def _json_in(self, value: dict[str, Any]) -> object:
        return json_text(value)

    def _json_out(self, value: Any) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(value)
        return loaded

    def _store_error(self, error: Exception) -> StoreError | None:
        where = self.url
        if isinstance(error, sqlite3.Error):
            code = _code(error)
            message = str(error)
            if code == sqlite3.SQLITE_NOTADB:
                return StoreError(
                    f"{where} is not an overdue-fsm store: the file is not an SQLite database "
                    f"(move it aside, or set {STORE_ENV} to another path)"
                )
            if code == sqlite3.SQLITE_CORRUPT:
                return StoreError(
                    f"the store at {where} is damaged ({message}); "
                    "restore it from a backup or move it aside"
                )
            if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
                return StoreError(f"cannot write the store at {where}: it is read-only ({message})")
            if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return self._busy_error("it", f"{self.busy_timeout:g} s")
            if code == sqlite3.SQLITE_CANTOPEN:
                return StoreError(f"cannot open the store at {where} ({message})")
            if code == sqlite3.SQLITE_FULL:
                return StoreError(f"cannot write the store at {where}: the disk is full")
            return StoreError(f"the store at {where} failed: {message}")
        if isinstance(error, OSError):
            reason = error.strerror or str(error)
            target = error.filename or str(self.path)
            return StoreError(f"cannot create the store at {where}: {target}: {reason}")
        return None


# -- helpers ---------------------------------------------------------------------------------


def _code(error: sqlite3.Error) -> int:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return -1
    return int(code) & 0xFF  # the primary code of an extended one


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        # A broken connection cannot roll back; its transaction dies with it.
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _time_text(value: datetime) -> str:
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _version(conn: sqlite3.Connection, where: str) -> int | None:
    """The schema version of an overdue-fsm store; None for an empty file."""
    tables = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if not tables:
        return None
    if SCHEMA_TABLE not in tables:
        raise StoreError(
            f"{where} is an SQLite database but not an overdue-fsm store "
            f"(it has no {SCHEMA_TABLE} table); set {STORE_ENV} to another path"
        )
    return checked_version(conn.execute(VERSION_SQL).fetchone()[0], where)


def _make_dirs(directory: Path) -> None:
    """Create ``directory`` and any missing parents, each with mode 0700."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    for item in reversed(missing):
        try:
            os.mkdir(item, 0o700)
        except FileExistsError:
            continue
        os.chmod(item, 0o700)
