"""The schema version: older stores are migrated in a transaction, newer ones refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fsm import Observation, Phase, StoreError
from fsm.store import SCHEMA_VERSION, open_store
from fsm.store import postgres as pg_engine
from fsm.store import sqlite as sqlite_engine

from .conftest import Raw, at

STAMP = "2026-01-01T00:00:00.000000Z"


def engine_of(raw: Raw) -> Any:
    return sqlite_engine if raw.sqlite else pg_engine


def make_store(raw: Raw, version: int) -> None:
    """A store as an older overdue-fsm left it, with one cluster and one event."""
    if raw.sqlite:
        Path(raw.url.removeprefix("sqlite://")).parent.mkdir(parents=True)
    else:
        base, _, schema = raw.url.partition("schema=")
        Raw(base.rstrip("?&")).execute(f'CREATE SCHEMA "{schema}"')
    migrations = engine_of(raw).MIGRATIONS
    for target in range(1, version + 1):
        for statement in migrations[target]:
            raw.execute(statement)
        raw.execute("INSERT INTO overdue_fsm_schema (version, applied_at) VALUES (?, ?)", (
            target, STAMP,
        ))  # fmt: skip
    raw.execute(
        "INSERT INTO clusters (cluster_id, account, billing, expires_at, created_at, updated_at)"
        " VALUES ('c-old', 'acme', 'pay_as_you_go', NULL, ?, ?)",
        (STAMP, STAMP),
    )
    raw.execute(
        "INSERT INTO events (cluster_id, kind, at, recorded_at, source, payload)"
        " VALUES ('c-old', 'balance_negative', ?, ?, 'v1', '{}')",
        (STAMP, STAMP),
    )


def versions(raw: Raw) -> list[int]:
    return [int(v) for (v,) in raw.query("SELECT version FROM overdue_fsm_schema ORDER BY 1")]


def test_a_new_store_records_every_schema_version(store_url: str, raw: Raw) -> None:
    with open_store(store_url) as store:
        store.upsert_cluster("c-1", "pay_as_you_go")
    assert versions(raw) == list(range(1, SCHEMA_VERSION + 1))


def test_an_older_store_is_read_as_is_and_migrated_by_the_first_writer(
    store_url: str, raw: Raw
) -> None:
    make_store(raw, 1)
    with open_store(store_url, create=False) as reader:
        (state,) = reader.clusters(now=at(days=2))
        assert (state.cluster_id, state.account, state.phase) == ("c-old", "acme", "suspended")
        assert reader.history("c-old")[0].source == "v1"
    assert versions(raw) == [1]  # reading migrated nothing
    with open_store(store_url) as writer:
        assert versions(raw) == list(range(1, SCHEMA_VERSION + 1))
        result = writer.observe("c-old", Observation.create(at=at(days=2), balance="9"), now=at(2))
        assert result.recorded[0].kind == "recharged"
        assert result.after.phase is Phase.ACTIVE
    assert raw.query("SELECT last_phase FROM clusters") == [("active",)]
    assert raw.count("events") == 2


def test_a_newer_store_is_refused_by_readers_and_writers(store_url: str, raw: Raw) -> None:
    make_store(raw, SCHEMA_VERSION)
    raw.execute("INSERT INTO overdue_fsm_schema (version, applied_at) VALUES (99, ?)", (STAMP,))
    for create in (True, False):
        with pytest.raises(StoreError, match=r"schema version 99, newer .* upgrade overdue-fsm"):
            open_store(store_url, create=create)
    assert versions(raw) == [*range(1, SCHEMA_VERSION + 1), 99]


def test_a_store_older_than_readers_can_read_is_refused_by_a_reader(
    store_url: str, raw: Raw
) -> None:
    make_store(raw, 1)
    raw.execute("UPDATE overdue_fsm_schema SET version = 0")
    with pytest.raises(StoreError, match=r"schema version 0, too old to read; open it for writing"):
        open_store(store_url, create=False)
    assert versions(raw) == [0]


def test_a_failed_migration_leaves_the_older_store_as_it_was(
    store_url: str, raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_store(raw, 1)
    before = raw.snapshot()
    engine = engine_of(raw)
    broken = {**engine.MIGRATIONS, 2: (*engine.MIGRATIONS[2], "CREATE TABLE events (x int)")}
    monkeypatch.setattr(engine, "MIGRATIONS", broken)
    with pytest.raises(StoreError, match="already exists"):
        open_store(store_url)
    assert raw.snapshot() == before
    with pytest.raises(Exception, match="last_phase"):
        raw.query("SELECT last_phase FROM clusters")
    monkeypatch.undo()
    with open_store(store_url) as store:
        assert store.load("c-old").phase is Phase.OVERDUE_GRACE
    assert versions(raw) == list(range(1, SCHEMA_VERSION + 1))


def test_a_reader_of_a_store_older_than_the_sync_record_sees_no_syncs(
    store_url: str, raw: Raw
) -> None:
    make_store(raw, 2)
    with open_store(store_url, create=False) as reader:
        assert reader.account_syncs() == []
    assert versions(raw) == [1, 2]
    with open_store(store_url) as writer:
        assert writer.record_sync("acme", synced_at=at(days=1), balance="-2.50", currency="CNY")
        (sync,) = writer.account_syncs()
    assert (sync.account, sync.synced_at, sync.balance) == ("acme", at(days=1), "-2.50")


def test_a_schema_5_store_gains_the_functions_of_a_one_round_trip_write(
    store_url: str, raw: Raw
) -> None:
    """Schema 6 creates PostgreSQL's overdue_fsm_claim and overdue_fsm_finish (nothing on
    SQLite); the first writer of a schema-5 store migrates it, and writes in one trip."""
    make_store(raw, 5)
    with open_store(store_url) as writer:
        assert versions(raw) == [1, 2, 3, 4, 5, 6]
        for minutes in (0, 1, 2):
            balance = "9" if minutes % 2 == 0 else "-1"
            result = writer.observe(
                "c-old", Observation.create(at=at(days=2, minutes=minutes), balance=balance)
            )
            assert len(result.recorded) == 1
    assert raw.count("events") == 4
    if not raw.sqlite:
        names = raw.query(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = current_schema() AND starts_with(p.proname, 'overdue_fsm_')"
            " ORDER BY 1"
        )
        assert names == [
            ("overdue_fsm_append_only",),
            ("overdue_fsm_claim",),
            ("overdue_fsm_finish",),
        ]
