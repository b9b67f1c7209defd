"""Fixtures for the store suite: the same tests on SQLite and on PostgreSQL.

SQLite runs on a fresh file under tmp_path. PostgreSQL runs when
OVERDUE_FSM_TEST_PG names a server (``.ci/run`` sets it): each test gets its own
schema, dropped afterwards, so ``pytest -n 2`` workers never meet. When the
variable is set and the server cannot be reached the tests fail, not skip.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

PG_ENV = "OVERDUE_FSM_TEST_PG"
PG_HINT = (
    f"PostgreSQL store tests need {PG_ENV}; enable them with "
    f"{PG_ENV}=postgresql://postgres@127.0.0.1:5432/test make test"
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
    """An instant after T0 (2026-01-01T00:00:00Z)."""
    return T0 + timedelta(days=days, hours=hours, minutes=minutes)


def pg_base() -> str:
    base = os.environ.get(PG_ENV, "").strip()
    if not base:
        pytest.skip(PG_HINT)
    return base


@contextmanager
def pg_schema(base: str) -> Iterator[str]:
    """A store URL on a schema of its own, dropped when the block ends."""
    import psycopg

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    schema = f"t_{worker}_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    try:
        with closing(psycopg.connect(base, connect_timeout=5)):
            pass
    except psycopg.OperationalError as error:
        pytest.fail(f"{PG_ENV}={base} is set but the server cannot be reached: {error}")
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}schema={schema}"
    finally:
        with closing(psycopg.connect(base, autocommit=True, connect_timeout=5)) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a store that does not exist yet, on each engine."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/state/clusters.db"
        return
    with pg_schema(pg_base()) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path}/state/clusters.db"


@pytest.fixture
def store(store_url: str) -> Iterator[Any]:
    from fsm.store import open_store

    with open_store(store_url) as opened:
        yield opened


class Raw:
    """Direct SQL on a store, behind the store's back, for checks and sabotage."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite:")

    def connect(self) -> Any:
        if self.sqlite:
            conn = sqlite3.connect(self.url.removeprefix("sqlite://"), isolation_level=None)
            return conn
        import psycopg

        base, marker, schema = self.url.partition("schema=")
        conn = psycopg.connect(base.rstrip("?&"), autocommit=True)
        if marker:
            conn.execute(f'SET search_path TO "{schema}"')
        return conn

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with closing(self.connect()) as conn:
            if not self.sqlite:
                sql = sql.replace("?", "%s")
            return list(conn.execute(sql, params).fetchall())

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with closing(self.connect()) as conn:
            if not self.sqlite:
                sql = sql.replace("?", "%s")
            conn.execute(sql, params)

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT count(*) FROM {table}")[0][0])

    def snapshot(self) -> tuple[Any, ...]:
        """Everything stored, to compare before and after an operation."""
        return (
            self.query("SELECT * FROM clusters ORDER BY cluster_id"),
            self.query("SELECT * FROM events ORDER BY seq"),
            self.query("SELECT * FROM overdue_fsm_schema ORDER BY version"),
        )


@pytest.fixture
def raw(store_url: str) -> Raw:
    return Raw(store_url)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the user nobody may write in (tmp_path is private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="overdue-fsm-ro-"))
    directory.chmod(0o777)
    try:
        yield directory
    finally:
        for item in directory.iterdir():
            item.unlink()
        directory.rmdir()
