"""The store's schema, once for every engine: its version, its tables, their checks.

An engine supplies only its :class:`Dialect` (column types, how the event log
is numbered and kept append-only, how columns are added); the tables, the
CHECK lists (generated from the enums, so a new phase or event kind reaches
every engine at once), the migration loop and the version rules with their
messages are written here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Final

from ..errors import NoStoreError, StoreError
from ..records import Record
from ..table import Billing, EventKind, Phase

SCHEMA_VERSION: Final = 6
"""The schema this code writes. 1: facts and events; 2: the phase cache and the region;
3: each account's last successful sync; 4: every observation kept (``events.applied``,
``events.effect``) and checkpoints; 5: the ledger of warnings issued; 6: the engine's
functions for a write in one round trip (PostgreSQL's ``overdue_fsm_claim`` and
``overdue_fsm_finish``; none on SQLite)."""
SYNCS_FROM: Final = 3
"""The first schema that keeps the accounts' last syncs (an older one reads as none)."""
CHECKPOINTS_FROM: Final = 4
"""The first schema that marks each event applied and keeps checkpoints (an older one is
read by replaying its whole log, every event of it applied)."""
WARNINGS_FROM: Final = 5
"""The first schema with the ledger of warnings issued (older ones have none to read)."""
EXPECT_FROM: Final = 6
"""The first schema with the engine's functions for a write in one round trip."""
READABLE_FROM: Final = 1
"""The oldest schema a reader can read without migrating (reads never write)."""

SCHEMA_TABLE: Final = "overdue_fsm_schema"
WARNINGS_TABLE: Final = "warnings"
TABLES: Final = (SCHEMA_TABLE, "clusters", "events", "account_syncs", "checkpoints", WARNINGS_TABLE)
"""Every table the store owns."""
VERSION_SQL: Final = f"SELECT max(version) FROM {SCHEMA_TABLE}"
RECORD_VERSION_SQL: Final = f"INSERT INTO {SCHEMA_TABLE} (version, applied_at) VALUES (?, ?)"
APPEND_ONLY_MESSAGE: Final = "overdue-fsm: the event log is append-only"

Migrations = Mapping[int, Sequence[str]]
"""Each version's statements, applied in order inside one transaction."""


def one_of(values: Iterable[StrEnum]) -> str:
    """The SQL list of ``values``' spellings, for ``CHECK (column IN (...))``."""
    return ", ".join(f"'{value}'" for value in values)


class Dialect(Record):
    """What differs between engines in the schema; the tables are the same."""

    text: str
    integer: str
    time: str
    json: str
    sequence: str
    """The type of ``events.seq``: an integer key the engine numbers, never reused."""
    append_only: tuple[str, ...]
    """Statements that make the engine refuse any UPDATE or DELETE on ``events``."""
    applied_at_default: str = ""
    prelude: tuple[str, ...] = ()
    """Statements run before the first table (a file header, say)."""
    adds_columns_at_once: bool = False
    """One ``ALTER TABLE`` may add several columns (else one statement per column)."""
    functions: tuple[str, ...] = ()
    """Statements that create the engine's server-side functions (schema 6)."""


def migrations(dialect: Dialect) -> dict[int, tuple[str, ...]]:
    """Every version's statements in ``dialect``."""
    d = dialect
    return {
        1: (
            *d.prelude,
            f"CREATE TABLE {SCHEMA_TABLE} ("
            f" version {d.integer} PRIMARY KEY,"
            f" applied_at {d.time} NOT NULL{d.applied_at_default})",
            "CREATE TABLE clusters ("
            f" cluster_id {d.text} PRIMARY KEY,"
            f" account {d.text} NOT NULL,"
            f" billing {d.text} NOT NULL CHECK (billing IN ({one_of(Billing)})),"
            f" expires_at {d.time},"
            f" created_at {d.time} NOT NULL,"
            f" updated_at {d.time} NOT NULL)",
            "CREATE TABLE events ("
            f" seq {d.sequence},"
            f" cluster_id {d.text} NOT NULL REFERENCES clusters (cluster_id),"
            f" kind {d.text} NOT NULL CHECK (kind IN ({one_of(EventKind)})),"
            f" at {d.time} NOT NULL,"
            f" expires_at {d.time},"
            f" recorded_at {d.time} NOT NULL,"
            f" source {d.text} NOT NULL,"
            f" idempotency_key {d.text},"
            f" payload {d.json} NOT NULL DEFAULT '{{}}')",
            "CREATE INDEX events_by_cluster ON events (cluster_id, seq)",
            "CREATE UNIQUE INDEX events_by_key ON events (cluster_id, idempotency_key)"
            " WHERE idempotency_key IS NOT NULL",
            *d.append_only,
        ),
        2: (
            *_add_columns(
                d,
                "clusters",
                f"last_phase {d.text} CHECK (last_phase IN ({one_of(Phase)}))",
                f"last_evaluated_at {d.time}",
                f"region {d.text}",
            ),
            "CREATE INDEX clusters_by_account ON clusters (account, cluster_id)",
        ),
        3: (
            # One row per account, replaced by each later sync: the event log stays the truth.
            "CREATE TABLE account_syncs ("
            f" account {d.text} PRIMARY KEY,"
            f" synced_at {d.time} NOT NULL,"
            f" balance {d.text},"
            f" currency {d.text})",
        ),
        4: (
            # Whether an event was replayed (0: it came too late) and what it did on arrival.
            *_add_columns(
                d,
                "events",
                f"applied {d.integer} NOT NULL DEFAULT 1 CHECK (applied IN (0, 1))",
                f"effect {d.text}",
            ),
            # The replayed state after the cluster's last applied event (a cache of the log:
            # NULL means "replay the log"), the newest event kept, and the applied events
            # since the newest row of ``checkpoints``.
            *_add_columns(
                d,
                "clusters",
                f"checkpoint {d.json}",
                f"newest_at {d.time}",
                f"since_checkpoint {d.integer} NOT NULL DEFAULT 0",
            ),
            # Older replayed states, each right after the event at (at, rank, expiry):
            # a late event rebuilds from the newest one before it. A cache of the log,
            # so no key: a write deletes and lays them in one statement, and two rows
            # at one position hold the same state.
            "CREATE TABLE checkpoints ("
            f" cluster_id {d.text} NOT NULL REFERENCES clusters (cluster_id),"
            f" at {d.time} NOT NULL,"
            f" rank {d.integer} NOT NULL,"
            f" expiry {d.time} NOT NULL,"
            f" state {d.json} NOT NULL)",
            "CREATE INDEX checkpoints_by_position ON checkpoints (cluster_id, at, rank, expiry)",
            "CREATE INDEX events_by_instant ON events (cluster_id, at)",
        ),
        WARNINGS_FROM: _warnings_ledger(d),
        EXPECT_FROM: d.functions,
    }


def _warnings_ledger(d: Dialect) -> tuple[str, ...]:
    """The ledger of warnings issued: its key is issued once, by whoever inserts it first."""
    from ..warnings import Step  # its spellings (the schema is built by the first write)

    return (
        f"CREATE TABLE {WARNINGS_TABLE} ("
        f" cluster_id {d.text} NOT NULL REFERENCES clusters (cluster_id),"
        f" step {d.text} NOT NULL CHECK (step IN ({one_of(Step)})),"
        f" threshold {d.text} NOT NULL,"
        f" episode {d.time} NOT NULL,"
        f" due_at {d.time} NOT NULL,"
        f" deadline {d.time} NOT NULL,"
        f" message {d.text} NOT NULL,"
        f" issued_at {d.time} NOT NULL,"
        f" acknowledged_at {d.time},"
        " PRIMARY KEY (cluster_id, step, threshold, episode))",
    )


def _add_columns(dialect: Dialect, table: str, *columns: str) -> tuple[str, ...]:
    adds = [f"ADD COLUMN {column}" for column in columns]
    if dialect.adds_columns_at_once:
        return (f"ALTER TABLE {table} " + ", ".join(adds),)
    return tuple(f"ALTER TABLE {table} {add}" for add in adds)


def migrate(
    execute: Callable[[str, Sequence[object]], object],
    steps: Migrations,
    version: int,
    applied_at: object,
) -> None:
    """Bring a schema at ``version`` (0: none) to :data:`SCHEMA_VERSION`, step by step.

    ``execute`` runs one statement (``?`` placeholders) in the caller's
    transaction; each version applied is recorded with ``applied_at``.
    """
    for target in range(version + 1, SCHEMA_VERSION + 1):
        for statement in steps[target]:
            execute(statement, ())
        execute(RECORD_VERSION_SQL, (target, applied_at))


# -- the version rules ------------------------------------------------------------------


def checked_version(found: int | None, where: str) -> int:
    """The version read from the schema table (``max(version)``), if this code can use it."""
    if found is None:
        raise StoreError(f"the store at {where} is damaged: its schema version is missing")
    version = int(found)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store at {where} has schema version {version}, newer than this overdue-fsm "
            f"knows ({SCHEMA_VERSION}); upgrade overdue-fsm to use it"
        )
    return version


def check_readable(version: int | None, where: str, empty: str) -> None:
    """Refuse what a reader cannot read (a reader never migrates).

    ``version`` None: there is no store yet, and ``empty`` says why and what to do.
    """
    if version is None:
        raise no_store(where, empty)
    if version < READABLE_FROM:
        raise StoreError(
            f"the store at {where} has schema version {version}, too old to read; "
            "open it for writing once (any write, e.g. overdue-fsm observe) to migrate it"
        )


def no_store(where: str, reason: str) -> NoStoreError:
    """A reader found nothing to read at ``where``: ``reason`` says why and what to do."""
    return NoStoreError(f"no store at {where}: {reason}")
