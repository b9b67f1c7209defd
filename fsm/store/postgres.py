"""The server engine: PostgreSQL through psycopg 3.

Writers serialise per cluster: each write transaction takes a
transaction-scoped advisory lock keyed by (schema, cluster id) before it reads
or writes anything of the cluster (READ COMMITTED: every statement after the
lock sees what the previous holder committed). Writers on different clusters
never wait for each other.

Writes are optimistic (see ``Store._change``): planned on one SELECT without
the lock, or on what this store's own last write to the cluster left, then
sent as one pipeline in one round trip (``planned_statements``): lock, check
that the cluster is still as planned, write, read what the write left; the
server runs it as one transaction and stores nothing of it if the check
failed. The write is then planned again under the lock, the classic way
(BEGIN, lock, read, write, COMMIT). Deadlocks and serialisation failures,
which the lock order should prevent, are retried a bounded number of times.

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
from .rows import TOKEN_COLUMNS
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
from .transaction import Planned, Tx, Write
from .url import StoreURL, mask_password

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

CONNECT_TIMEOUT: Final = 3  # seconds, unless the URL says otherwise
LOCK_TIMEOUT: Final = "15s"  # the longest a writer waits for a cluster's lock
WRITE_RETRIES: Final = 3
LOCK_NAMESPACE: Final = 0x4F444653  # "ODFS": the first key of every advisory lock we take
STALE_SQLSTATE: Final = "OF001"  # overdue_fsm_finish: the cluster changed since the plan read it
STALE_MESSAGE: Final = "overdue-fsm: the cluster changed since the write was planned"
_STILL: Final = "overdue_fsm.still"  # set by a planned write: the cluster is as planned
_CLAIM_SQL: Final = (
    f"SELECT overdue_fsm_claim(?, ?, ?, ?, {', '.join('?' for _ in TOKEN_COLUMNS)}, ?)"
)
_FINISH_SQL: Final = "SELECT * FROM overdue_fsm_finish(?)"


def _planned_write_functions() -> tuple[str, ...]:
    """The two functions a planned write calls around its writes (see ``planned_statements``).

    ``overdue_fsm_claim`` takes the cluster's lock, then notes whether the cluster is
    still at the token the plan read (its row's :data:`~.rows.TOKEN_COLUMNS` and the
    end of its log; ``tracked`` false: no row); ``overdue_fsm_finish`` stops the
    transaction if it was not, and else returns the token the writes left.
    """
    # Every time column of the schema is named *_at; the others of the token are text.
    typed = [(c, "timestamptz" if c.endswith("_at") else "text") for c in TOKEN_COLUMNS]
    args = ", ".join(f"p_{column} {kind}" for column, kind in typed)
    same = " AND ".join(f"c.{column} IS NOT DISTINCT FROM p_{column}" for column in TOKEN_COLUMNS)
    out = ", ".join(f"o_{column} {kind}" for column, kind in typed)
    return (
        "CREATE FUNCTION overdue_fsm_claim(lock_space integer, lock_key integer,"
        f" cid text, tracked boolean, {args}, p_seq bigint)"
        " RETURNS void LANGUAGE plpgsql AS $$ BEGIN"
        " PERFORM pg_advisory_xact_lock(lock_space, lock_key);"
        f" PERFORM set_config('{_STILL}', CASE WHEN tracked"
        f" THEN EXISTS (SELECT 1 FROM clusters c WHERE c.cluster_id = cid AND {same}"
        " AND (SELECT max(e.seq) FROM events e WHERE e.cluster_id = cid)"
        " IS NOT DISTINCT FROM p_seq)"
        " ELSE NOT EXISTS (SELECT 1 FROM clusters c WHERE c.cluster_id = cid)"
        " END::text, true); END $$",
        f"CREATE FUNCTION overdue_fsm_finish(cid text) RETURNS TABLE ({out}, o_seq bigint)"
        " LANGUAGE plpgsql AS $$ BEGIN"
        f" IF current_setting('{_STILL}', true) IS DISTINCT FROM 'true' THEN"
        f" RAISE EXCEPTION '{STALE_MESSAGE}' USING ERRCODE = '{STALE_SQLSTATE}'; END IF;"
        f" RETURN QUERY SELECT {', '.join(f'c.{column}' for column in TOKEN_COLUMNS)},"
        " (SELECT max(e.seq) FROM events e WHERE e.cluster_id = cid)"
        " FROM clusters c WHERE c.cluster_id = cid; END $$",
    )


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
    functions=_planned_write_functions(),
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
        sql, params = _combined(self._writes)
        self._writes.clear()
        self._cur.execute(sql, params)


def _combined(writes: Sequence[Write]) -> tuple[str, list[object]]:
    """Several writes as one statement: the first ones as data-modifying WITH clauses."""
    *first, (sql, params) = writes
    if not first:
        return sql, list(params)
    clauses = ", ".join(f"w{index} AS ({text})" for index, (text, _) in enumerate(first))
    values = [value for _, each in first for value in each]
    return f"WITH {clauses} {sql}", [*values, *params]


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
    optimistic = True

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
            self._last = conn.cursor()  # a pipeline's last statement: its own result

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
        self._last = conn.cursor()

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

    def _write_planned(
        self, cluster_id: str, token: object, writes: Sequence[Write], work: Callable[[Tx], T]
    ) -> Planned[T]:
        """The planned write in one round trip (see :meth:`planned_statements`).

        If the cluster was no longer at ``token``, nothing is stored and ``work`` runs
        again under the lock; so it does if a write failed on a cluster another writer
        created or keyed meanwhile.
        """
        statements = self.planned_statements(cluster_id, token, writes)
        again = False
        self._check_process()
        with self._errors(), self._lock:
            self._connection()
            try:
                left = self._one_round_trip(statements, token, cluster_id)
            except self._psycopg.Error as error:
                if error.sqlstate != STALE_SQLSTATE and not isinstance(
                    error, self._psycopg.IntegrityError
                ):
                    raise
                again = True
        if again:
            return self._write(cluster_id, lambda tx: Planned(False, None, work(tx)))
        return Planned(True, left)

    def planned_statements(
        self, cluster_id: str, token: object, writes: Sequence[Write]
    ) -> tuple[Write, ...]:
        """The statements of a planned write, sent as one pipeline with one sync: the
        server runs them as one transaction, which commits at the sync.

        The first takes the cluster's lock and notes whether the cluster is still at
        ``token``; then the writes; the last stops the transaction, so that nothing of
        it is stored, if it was not, and else reads the token the writes left. The
        check comes last so that no statement is ever skipped: psycopg would take one
        it meant to prepare in a skipped part for prepared.
        """
        if token is None:
            claim: tuple[object, ...] = (False,) + (None,) * (len(TOKEN_COLUMNS) + 1)
        else:
            assert isinstance(token, tuple) and len(token) == len(TOKEN_COLUMNS) + 1
            claim = (True, *token)
        return (
            (_CLAIM_SQL, (LOCK_NAMESPACE, self._lock_key(cluster_id), cluster_id, *claim)),
            _combined(writes),
            (_FINISH_SQL, (cluster_id,)),
        )

    def _one_round_trip(self, statements: Sequence[Write], token: object, cid: str) -> object:
        """Send ``statements`` in one pipeline; the row the last returns.

        A connection the server dropped is replaced once, and the write sent again if
        the cluster is still at ``token`` (it never reached the server); if it is not,
        whether it was stored is unknown, and the caller is told so. After any other
        failure the session is replaced too: a failed statement may have made psycopg
        take a later one for prepared.
        """
        *first, (last_sql, last_params) = statements
        for again in (False, True):
            conn, cursor, last = self._connection(), self._cursor, self._last
            try:
                early = self._pipeline(conn, first, (last_sql, last_params), cursor, last)
                if early is not None:
                    raise early
                return last.fetchone()
            except BaseException as error:
                lost = self._lost(error)
                if not lost and isinstance(error, self._psycopg.Error):
                    if error.sqlstate != STALE_SQLSTATE:
                        self._reconnect(error)
                    raise
                if again or not lost:
                    raise
                self._reconnect(error)
                if self._token(_Tx(self._cursor), cid) != token:
                    raise StoreError(
                        f"the PostgreSQL store at {self.url} lost its connection to the "
                        f"server at {self._server()} while writing; the write may or "
                        "may not be stored: read it back before retrying"
                    ) from None
        raise AssertionError("unreachable")

    def _pipeline(
        self,
        conn: psycopg.Connection[Any],
        first: Sequence[Write],
        final: Write,
        cursor: psycopg.Cursor[Any],
        last: psycopg.Cursor[Any],
    ) -> Exception | None:
        """Run the statements in one pipeline; the error a statement met before its end.

        That error is kept, not raised in the block: psycopg would log the one ending
        the pipeline then meets ("pipeline aborted") as a warning on stderr.
        """
        q = _Tx._q
        early: Exception | None = None
        try:
            with conn.pipeline():
                try:
                    for sql, params in first:
                        cursor.execute(q(sql), params)
                    last.execute(q(final[0]), final[1])
                except self._psycopg.Error as error:
                    early = error
        except self._psycopg.Error:
            if early is None:
                raise
        return early

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

    def _json_text_in(self, text: str) -> object:
        return self._jsonb(text, dumps=_as_is)

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


def _as_is(text: str) -> str:
    """The ``dumps`` of JSON that is text already."""
    return text


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return mask_password(text[0]) if text else type(error).__name__
