"""The server engine: PostgreSQL through psycopg 3.

Writers serialise per cluster: each write transaction first takes a
transaction-scoped advisory lock keyed by (schema, cluster id), then reads the
facts and the log (READ COMMITTED: every statement after the lock sees what
the previous holder committed), then writes. Writers on different clusters
never wait for each other. Deadlocks and serialisation failures, which the
lock order should prevent, are retried a bounded number of times.

Every read is one SELECT, hence one snapshot, with no locks beyond what any
SELECT takes; a reader (``create=False``) sets ``default_transaction_read_only``
so the server itself refuses a write on its connection.

Times are ``timestamptz`` (the session runs in UTC); payloads are ``jsonb``.
``?schema=NAME`` in the URL keeps the tables in their own schema.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ..errors import StoreError
from ..policy import Policy
from .base import Store
from .schema import (
    APPEND_ONLY_MESSAGE,
    SCHEMA_TABLE,
    SCHEMA_VERSION,
    TABLES,
    VERSION_SQL,
    Dialect,
    Migrations,
    check_readable,
    checked_version,
    migrate,
    migrations,
    no_store,
)
from .transaction import Tx
from .url import StoreURL, mask_password

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

CONNECT_TIMEOUT: Final = 3  # seconds, unless the URL says otherwise
LOCK_TIMEOUT: Final = "15s"  # the longest a writer waits for a cluster's lock
WRITE_RETRIES: Final = 3
LOCK_NAMESPACE: Final = 0x4F444653  # "ODFS": the first key of every advisory lock we take

DIALECT: Final = Dialect(
    text="text",
    integer="integer",
    time="timestamptz",
    json="jsonb",
    sequence="bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    append_only=(
        "CREATE FUNCTION overdue_fsm_append_only() RETURNS trigger LANGUAGE plpgsql AS"
        f" $$ BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$",
        "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events"
        " FOR EACH STATEMENT EXECUTE FUNCTION overdue_fsm_append_only()",
    ),
    applied_at_default=" DEFAULT now()",
    adds_columns_at_once=True,
)
MIGRATIONS: Final[Migrations] = migrations(DIALECT)


class _Tx:
    """A write transaction. Its writes are held and sent as one statement at the end.

    Several writes become one statement with data-modifying WITH clauses, so
    a write costs one round trip whatever it touches. They all see the same
    snapshot, so the base class never writes one row twice in a transaction
    nor reads after writing.
    """

    __slots__ = ("_cur", "_writes")
    _sql: Final[dict[str, str]] = {}

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cur = cursor
        self._writes: list[tuple[str, Sequence[object]]] = []

    @classmethod
    def _q(cls, sql: str) -> str:
        converted = cls._sql.get(sql)
        if converted is None:
            converted = cls._sql[sql] = _placeholders(sql)
        return converted

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        assert not self._writes, "a write transaction reads before it writes"
        return self._cur.execute(self._q(sql), params).fetchall()

    def row(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        assert not self._writes, "a write transaction reads before it writes"
        return self._cur.execute(self._q(sql), params).fetchone()

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        self._writes.append((self._q(sql), params))

    def flush(self) -> None:
        """Send the held writes, in order, as one statement."""
        if not self._writes:
            return
        *first, (sql, params) = self._writes
        if first:
            clauses = ", ".join(f"w{index} AS ({text})" for index, (text, _) in enumerate(first))
            sql = f"WITH {clauses} {sql}"
            params = [value for _, values in first for value in values] + list(params)
        self._writes.clear()
        self._cur.execute(sql, params)


def _placeholders(sql: str) -> str:
    """``sql`` with psycopg's placeholders for ours (``?``)."""
    return sql.replace("?", "%s")


def _rollback(conn: psycopg.Connection[Any]) -> None:
    """Roll back whatever transaction is open; a broken connection has none left."""
    import psycopg

    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            conn.execute("ROLLBACK")


class PostgresStore(Store):
    """A store in a PostgreSQL database (see the module docstring for the locking)."""

    engine = "postgresql"

    def __init__(
        self,
        url: str,
        conninfo: str,
        schema: str | None,
        policy: Policy,
        writable: bool,
        rehearsal: bool = False,
    ) -> None:
        super().__init__(url, policy, writable, rehearsal)
        try:
            import psycopg
        except ImportError:
            raise StoreError(
                f"the store at {url} needs psycopg for PostgreSQL: "
                "pip install 'overdue-fsm[postgres]'"
            ) from None
        from psycopg.types.json import Jsonb

        self._psycopg = psycopg
        self._jsonb = Jsonb
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        with self._errors():
            given = psycopg.conninfo.conninfo_to_dict(conninfo)
            defaults: dict[str, str | int] = {
                "connect_timeout": CONNECT_TIMEOUT,
                "application_name": "overdue-fsm",
            }
            extra = {name: value for name, value in defaults.items() if name not in given}
            self._conninfo = psycopg.conninfo.make_conninfo(conninfo, **extra)
            conn = self._session()
            try:
                self._schema = self._prepare(conn, schema)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            self._cursor = conn.cursor()  # one for every statement: cheaper than one each

    def _session(self) -> psycopg.Connection[Any]:
        """A new connection, set up as every statement of the store expects."""
        driver = self._psycopg
        try:
            conn: psycopg.Connection[Any] = driver.connect(self._conninfo, autocommit=True)
        except driver.OperationalError as error:
            raise StoreError(
                f"cannot connect to the PostgreSQL store at {self.url}: {_first_line(error)}"
            ) from None
        try:
            conn.execute("SET TIME ZONE 'UTC'")
            conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            if not self.writable:
                conn.execute("SET default_transaction_read_only = on")
        except BaseException:
            conn.close()
            raise
        return conn

    def _reconnect(self, lost: BaseException) -> None:
        """Replace a connection the server dropped (a restart, say) by a new one, once."""
        old = self._conn
        try:
            conn = self._session()
        except StoreError:
            raise StoreError(
                f"the PostgreSQL store at {self.url} lost its connection to the server "
                f"({_first_line(lost)}) and cannot reconnect; is the server at "
                f"{self._server()} running?"
            ) from None
        try:
            sql = self._psycopg.sql
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))
        except BaseException:
            conn.close()
            raise
        self._release(old)
        self._conn = conn
        self._cursor = conn.cursor()

    def _server(self) -> str:
        info = self._psycopg.conninfo.conninfo_to_dict(self._conninfo)
        return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}"

    def _lost(self, error: BaseException) -> bool:
        """The connection is gone (not merely a failed statement): worth one new one."""
        conn = self._conn
        return isinstance(error, self._psycopg.OperationalError) and (
            conn is None or conn.broken or conn.closed
        )

    @classmethod
    def from_url(
        cls, url: StoreURL, policy: Policy, writable: bool, rehearsal: bool = False
    ) -> PostgresStore:
        assert url.conninfo is not None
        return cls(url.display, url.conninfo, url.schema, policy, writable, rehearsal)

    def _prepare(self, conn: psycopg.Connection[Any], schema: str | None) -> str:
        """Point the session at the store's schema; a writer creates or migrates it."""
        sql = self._psycopg.sql
        if schema is not None:
            exists = conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
            ).fetchone()
            if exists is None and self.rehearsal:
                self.schema_version = None  # a rehearsal creates nothing: no store yet
                return schema
            if exists is None and not self.writable:
                raise no_store(self.url, f"schema {schema!r} does not exist")
            if exists is None:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_NAMESPACE,))
                    conn.execute(
                        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                    )
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        row = conn.execute("SELECT current_schema()").fetchone()
        current = None if row is None else row[0]
        if current is None:
            raise no_store(
                self.url, "the search_path names no existing schema (add ?schema=NAME to the URL)"
            )
        version = self._version(conn)
        self.schema_version = version
        if self.rehearsal:
            return str(current)
        if not self.writable:
            check_readable(
                version,
                self.url,
                f"schema {current!r} holds no overdue-fsm tables "
                "(record a cluster first to create them)",
            )
            return str(current)
        if version != SCHEMA_VERSION:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_NAMESPACE,))
                version = self._version(conn) or 0

                def execute(statement: str, params: Sequence[object]) -> object:
                    return conn.execute(_placeholders(statement), params or None)

                migrate(execute, MIGRATIONS, version, datetime.now(UTC))
        self.schema_version = SCHEMA_VERSION
        return str(current)

    def _version(self, conn: psycopg.Connection[Any]) -> int | None:
        """The schema version in the current schema; None if it has none of our tables."""
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND c.relname = ANY(%s)",
                (list(TABLES),),
            ).fetchall()
        }
        if not tables:
            return None
        if SCHEMA_TABLE not in tables:
            raise StoreError(
                f"the store at {self.url}: its schema already has a table named "
                f"{' and '.join(sorted(tables))} that is not overdue-fsm's; "
                "add ?schema=NAME to the URL to keep the store apart"
            )
        row = conn.execute(VERSION_SQL).fetchone()
        return checked_version(None if row is None else row[0], self.url)

    # -- the engine hooks -----------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise self._closed_error()
        return self._conn

    def _lock_key(self, cluster_id: str) -> int:
        digest = hashlib.blake2b(f"{self._schema}\0{cluster_id}".encode(), digest_size=4)
        return int.from_bytes(digest.digest(), "big", signed=True)

    def _lock_clusters(self, tx: Tx, cluster_ids: Sequence[str]) -> None:
        # In one order, so that two writers of several clusters never wait for each other.
        keys = sorted({self._lock_key(cid) for cid in cluster_ids})
        tx.rows(
            f"SELECT pg_advisory_xact_lock({LOCK_NAMESPACE:d}, k)"
            " FROM (SELECT unnest(?::int4[]) AS k ORDER BY k) AS keys",
            (keys,),
        )

    def _run_write(self, cluster_id: str, work: Callable[[Tx], T]) -> T:
        errors = self._psycopg.errors
        retryable = (errors.SerializationFailure, errors.DeadlockDetected)
        # BEGIN and the lock travel as one simple query: two integers computed
        # here (the cluster id itself never enters the SQL text).
        key = self._lock_key(cluster_id)
        begin = f"BEGIN; SELECT pg_advisory_xact_lock({LOCK_NAMESPACE:d}, {key:d})"
        attempt = 0
        reconnected = False
        while True:
            with self._lock:
                conn = self._connection()
                cursor = self._cursor
                committing = False
                try:
                    cursor.execute(begin)
                    tx = _Tx(cursor)
                    result = work(tx)
                    tx.flush()
                    committing = True
                    cursor.execute("COMMIT")
                    return result
                except retryable:
                    _rollback(conn)
                    if attempt >= WRITE_RETRIES:
                        raise
                except BaseException as error:
                    if not self._lost(error):
                        _rollback(conn)
                        raise
                    if committing:
                        # COMMIT was sent: whether it took is unknown, so it is not redone.
                        raise StoreError(
                            f"the PostgreSQL store at {self.url} lost its connection to the "
                            f"server at {self._server()} while committing; the write may or "
                            "may not be stored: read it back before retrying"
                        ) from None
                    if reconnected:
                        raise self._unreachable(error) from None
                    # Not committed: the whole transaction is redone once, on a new connection.
                    self._reconnect(error)
                    reconnected = True
                    continue
            attempt += 1
            time.sleep(random.uniform(0.001, 0.02) * attempt)

    def _run_read(self, work: Callable[[Tx], T]) -> T:
        # Every read is one statement (the base class sees to it), hence one
        # snapshot: no transaction, and none of its round trips, around it.
        with self._lock:
            self._connection()
            try:
                return work(_Tx(self._cursor))
            except Exception as error:
                if not self._lost(error):
                    raise
                self._reconnect(error)  # a restarted server: one new connection, one retry
            try:
                return work(_Tx(self._cursor))
            except Exception as error:
                if not self._lost(error):
                    raise
                raise self._unreachable(error) from None

    def _unreachable(self, error: BaseException) -> StoreError:
        return StoreError(
            f"the PostgreSQL store at {self.url} lost its connection to the server at "
            f"{self._server()} again after reconnecting: {_first_line(error)}"
        )

    def close(self) -> None:
        with self._lock:
            self._release(self._conn)
            self._conn = None

    def _time_out(self, value: Any) -> datetime:
        stamp: datetime = value
        return stamp if stamp.tzinfo is UTC else stamp.astimezone(UTC)

    def _json_in(self, value: dict[str, Any]) -> object:
        return self._jsonb(value)

    def _store_error(self, error: Exception) -> StoreError | None:
        psycopg = self._psycopg
        if isinstance(error, psycopg.errors.LockNotAvailable):
            return self._busy_error("the cluster", LOCK_TIMEOUT)
        if isinstance(error, psycopg.OperationalError):
            return StoreError(
                f"the PostgreSQL store at {self.url} is unreachable or failed: {_first_line(error)}"
            )
        if isinstance(error, psycopg.Error):
            return StoreError(f"the PostgreSQL store at {self.url} failed: {_first_line(error)}")
        return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return mask_password(text[0]) if text else type(error).__name__
