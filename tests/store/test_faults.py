"""Bad stores give one clear error, and reads never write.

Each failure is a :class:`StoreError` (an FsmError the faces print as one
line), never a traceback, and never damages what is there.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import time
import traceback
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from fsm import Observation, Phase, StoreError
from fsm.store import open_store

from .conftest import Raw, at, pg_base, pg_schema


def fill(url: str, clusters: int = 3) -> None:
    with open_store(url) as store:
        for k in range(clusters):
            store.observe(
                f"c-{k}",
                Observation.create(at=at(hours=k), balance="-1" if k % 2 else "4"),
                billing="pay_as_you_go",
                now=at(hours=k),
            )


def fingerprint(path: Path) -> tuple[Any, ...]:
    """Size, modification time and content of a database file, and its WAL's size.

    A reader may leave an empty ``-wal`` / ``-shm`` pair behind (SQLite opens
    them to read a WAL database); no data is written to either.
    """
    info = path.stat()
    wal = Path(f"{path}-wal")
    return (
        info.st_size,
        info.st_mtime_ns,
        hashlib.sha256(path.read_bytes()).hexdigest(),
        wal.stat().st_size if wal.exists() else 0,
    )


# -- a store that does not exist yet -----------------------------------------------------------


def test_the_first_write_creates_the_directory_0700_and_the_file_0600(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "clusters.db"
    with open_store(f"sqlite://{db}") as store:
        assert not (tmp_path / "a").exists()  # opening creates nothing
        store.upsert_cluster("c-1", "pay_as_you_go")
        for directory in (tmp_path / "a", tmp_path / "a" / "b"):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        for file in (db, Path(f"{db}-wal")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def test_reading_or_dry_running_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/state/clusters.db"
    with pytest.raises(StoreError, match="no store at"):
        open_store(url, create=False)
    with open_store(url) as store:
        assert store.clusters(now=at()) == []
        assert store.get("c-1") is None
        result = store.observe(
            "c-1",
            Observation.create(at=at(), balance="-1"),
            billing="pay_as_you_go",
            now=at(),
            dry_run=True,
        )
        assert result.created is True
        assert result.after.phase is Phase.OVERDUE_GRACE
    assert list(tmp_path.iterdir()) == []


def test_an_empty_file_is_no_store_for_a_reader_and_becomes_one_for_a_writer(
    tmp_path: Path,
) -> None:
    db = tmp_path / "clusters.db"
    db.touch()
    with pytest.raises(StoreError, match="empty"):
        open_store(f"sqlite://{db}", create=False)
    assert db.stat().st_size == 0
    fill(f"sqlite://{db}")
    assert len(open_store(f"sqlite://{db}", create=False).clusters(now=at())) == 3


# -- files that are not a usable store -----------------------------------------------------------


def expect_store_error(url: str, match: str, *, create: bool) -> None:
    """Opening and reading fails with one StoreError, raised from nothing else."""

    def use() -> None:
        with open_store(url, create=create) as store:
            store.clusters(now=at())
            store.observe(
                "c-new",
                Observation.create(at=at(), balance="-1"),
                billing="pay_as_you_go",
                now=at(),
            )

    with pytest.raises(StoreError, match=match) as error:
        use()
    assert error.value.__cause__ is None  # no engine exception chained under it
    assert error.value.__context__ is None or error.value.__suppress_context__
    assert "Traceback" not in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("create", [True, False])
def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path, create: bool) -> None:
    db = tmp_path / "notes.db"
    db.write_text("shopping list\n" * 500)
    before = fingerprint(db)
    expect_store_error(f"sqlite://{db}", "not an SQLite database", create=create)
    assert fingerprint(db) == before


@pytest.mark.parametrize("create", [True, False])
def test_another_programs_database_is_refused_untouched(tmp_path: Path, create: bool) -> None:
    db = tmp_path / "other.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE clusters (id INTEGER)")
        conn.commit()
    before = fingerprint(db)
    expect_store_error(f"sqlite://{db}", "not an overdue-fsm store", create=create)
    assert fingerprint(db) == before


def big_store(tmp_path: Path) -> Path:
    db = tmp_path / "clusters.db"
    fill(f"sqlite://{db}", clusters=300)
    assert not Path(f"{db}-wal").exists()  # the last close checkpointed everything
    assert db.stat().st_size > 16 * 4096
    return db


@pytest.mark.parametrize("create", [True, False])
def test_a_truncated_store_is_reported_damaged(tmp_path: Path, create: bool) -> None:
    db = big_store(tmp_path)
    with db.open("r+b") as file:
        file.truncate(db.stat().st_size // 2)
    expect_store_error(f"sqlite://{db}", "damaged", create=create)


@pytest.mark.parametrize("create", [True, False])
def test_a_corrupt_store_is_reported_damaged(tmp_path: Path, create: bool) -> None:
    db = big_store(tmp_path)
    size = db.stat().st_size
    with db.open("r+b") as file:
        for offset in range(4096, size, 4096):  # every page but the first
            file.seek(offset)
            file.write(b"\xa5" * 64)
    expect_store_error(f"sqlite://{db}", "damaged", create=create)


@pytest.mark.parametrize("create", [True, False])
def test_a_corrupt_header_is_not_a_database(tmp_path: Path, create: bool) -> None:
    db = big_store(tmp_path)
    with db.open("r+b") as file:
        file.write(b"\x00" * 100)
    expect_store_error(f"sqlite://{db}", "not an SQLite database", create=create)


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    expect_store_error(f"sqlite://{tmp_path}", "directory", create=True)


def as_another_user(check: Callable[[], None]) -> None:
    """Run ``check`` as the unprivileged user nobody (root ignores file modes)."""
    if os.geteuid() != 0:
        check()
        return
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 0
        try:
            os.setgid(65534)
            os.setuid(65534)
            check()
        except BaseException:
            os.write(write_end, traceback.format_exc().encode())
            code = 1
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        report = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report


def test_a_read_only_store_refuses_writers_clearly_and_serves_readers(shared_dir: Path) -> None:
    db = shared_dir / "clusters.db"
    fill(f"sqlite://{db}")
    db.chmod(0o444)
    before = fingerprint(db)

    def check() -> None:
        with pytest.raises(StoreError, match="read-only"):
            open_store(f"sqlite://{db}")
        with open_store(f"sqlite://{db}", create=False) as reader:
            assert len(reader.clusters(now=at())) == 3

    as_another_user(check)
    assert fingerprint(db) == before


def test_a_directory_that_cannot_be_created_is_a_clear_error(shared_dir: Path) -> None:
    locked = shared_dir / "locked"
    locked.mkdir(mode=0o555)

    def check() -> None:
        store = open_store(f"sqlite://{locked}/sub/clusters.db")
        with pytest.raises(StoreError, match="Permission denied"):
            store.upsert_cluster("c-1", "pay_as_you_go")

    try:
        as_another_user(check)
    finally:
        locked.rmdir()


# -- PostgreSQL that cannot be reached ------------------------------------------------------


def test_an_unreachable_postgres_fails_fast_with_one_clear_error() -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match="cannot connect") as error:
        open_store("postgresql://postgres:hunter2@127.0.0.1:1/test")
    assert time.monotonic() - started < 10
    assert "hunter2" not in str(error.value)
    assert "postgres:***@127.0.0.1:1" in str(error.value)
    assert error.value.__context__ is None or error.value.__suppress_context__


@pytest.mark.postgres
def test_a_missing_postgres_database_or_schema_is_a_clear_error() -> None:
    base = pg_base()
    host = base.rsplit("/", 1)[0]
    with pytest.raises(StoreError, match="cannot connect"):
        open_store(f"{host}/no_such_database_ofsm")
    with pg_schema(base) as url, pytest.raises(StoreError, match="does not exist"):
        open_store(url, create=False)


# -- reads never write --------------------------------------------------------------------------


def test_sqlite_reads_leave_the_file_untouched(sqlite_url: str) -> None:
    fill(sqlite_url)
    db = Path(sqlite_url.removeprefix("sqlite://"))
    before = fingerprint(db)
    with open_store(sqlite_url, create=False) as reader:
        reader.clusters(now=at(days=3))
        reader.clusters(account="default", phase="suspended", now=at(days=3))
        reader.load("c-1").state(at(days=3))
        reader.history("c-1")
        assert reader.get("c-9") is None
    with open_store(sqlite_url) as writer:  # a writer that only reads or repeats
        writer.clusters(now=at(days=3))
        again = writer.observe("c-1", Observation.create(at=at(hours=1), balance="-1"), now=at(1))
        assert again.changed is False
        writer.observe(
            "c-7",
            Observation.create(at=at(days=1), balance="-1"),
            billing="pay_as_you_go",
            now=at(days=1),
            dry_run=True,
        )
    time.sleep(0.01)
    assert fingerprint(db) == before


def hold_write_lock(raw: Raw) -> Any:
    """A connection in the middle of an uncommitted write, holding what writers take."""
    conn = raw.connect()
    if raw.sqlite:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO clusters (cluster_id, account, billing, created_at, updated_at)"
            " VALUES ('c-uncommitted', 'default', 'pay_as_you_go', 'x', 'x')"
        )
    else:
        conn.execute("BEGIN")
        conn.execute("LOCK TABLE clusters, events IN EXCLUSIVE MODE")
        conn.execute("SELECT * FROM clusters FOR UPDATE")
    return conn


def test_a_read_works_while_another_connection_holds_the_write_lock(
    store_url: str, raw: Raw
) -> None:
    fill(store_url)
    locker = hold_write_lock(raw)
    try:
        with open_store(store_url, create=False) as reader:
            states = reader.clusters(now=at(days=2))
            assert [s.cluster_id for s in states] == ["c-0", "c-1", "c-2"]
            assert reader.load("c-1").overdue_since == at(hours=1)
            assert len(reader.history("c-1")) == 1
        with open_store(store_url) as writer:
            assert writer.get("c-uncommitted") is None
            dry = writer.observe(
                "c-1", Observation.create(at=at(days=2), balance="5"), now=at(2), dry_run=True
            )
            assert dry.entered == [Phase.SUSPENDED, Phase.ACTIVE]
    finally:
        locker.rollback() if not raw.sqlite else locker.execute("ROLLBACK")
        locker.close()


@pytest.mark.postgres
def test_a_writer_waits_a_bounded_time_for_a_cluster_held_by_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fsm.store import postgres

    with pg_schema(pg_base()) as url:
        fill(url)
        holder = open_store(url)
        monkeypatch.setattr(postgres, "LOCK_TIMEOUT", "200ms")
        waiter = open_store(url)
        key = holder._lock_key("c-1")  # type: ignore[attr-defined]
        conn = holder._conn  # type: ignore[attr-defined]
        conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({postgres.LOCK_NAMESPACE}, {key})")
        try:
            with pytest.raises(StoreError, match="busy"):
                waiter.upsert_cluster("c-1", "pay_as_you_go", account="other")
            assert waiter.upsert_cluster("c-2", "pay_as_you_go", account="other")  # not held
        finally:
            conn.execute("ROLLBACK")
        assert waiter.upsert_cluster("c-1", "pay_as_you_go", account="other")
        holder.close()
        waiter.close()


def test_a_sqlite_writer_waits_a_bounded_time_for_the_write_lock(sqlite_url: str) -> None:
    from fsm.store.sqlite import SqliteStore

    fill(sqlite_url)
    db = Path(sqlite_url.removeprefix("sqlite://"))
    with closing(sqlite3.connect(db, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        store = open_store(sqlite_url)
        assert isinstance(store, SqliteStore)
        store.busy_timeout = 0.2
        with pytest.raises(StoreError, match="busy"):
            store.upsert_cluster("c-1", "pay_as_you_go", account="other")
        assert store.get("c-1") is not None  # reads still work
        other.execute("ROLLBACK")
    assert store.upsert_cluster("c-1", "pay_as_you_go", account="other")
    store.close()
