"""The store's machine-free reader (:mod:`fsm.store.read`) answers as the Store does.

``read_states`` answers a guard's question (a cluster's state at an instant) without the
store's write path; on random logs, instants and policies (the one written with and the
one read with) it gives what ``Store.get(id).state(now)`` gives, so every verdict
``fsm.decide`` rules on it is the same, and it leaves to the Store whatever it cannot read
plainly.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fsm
from fsm.store import open_store
from fsm.store.read import UNREAD, read_states
from fsm.table import OPERATIONS

from ..core.test_fleet import EVENT_KINDS, event_of, policies, probes
from ..core.test_properties import END, clusters, op_strategy

_COUNTER = iter(range(10**9))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    clusters,
    st.lists(op_strategy(EVENT_KINDS), max_size=8),
    probes,
    policies,
    st.sampled_from([fsm.Policy.default(), fsm.Policy(grace=fsm.Policy.default().grace * 3)]),
)
def test_the_reader_answers_what_the_store_answers(
    tmp_path: Path,
    spec: Any,
    ops: list[tuple[Any, ...]],
    now: datetime,
    written_with: fsm.Policy,
    read_with: fsm.Policy,
) -> None:
    billing, expires_at = spec
    url = "sqlite://" + str(tmp_path / f"s{next(_COUNTER)}.db")
    with open_store(url, policy=written_with) as store:
        store.upsert_cluster("c-1", billing, expires_at=expires_at)
        for op in ops:
            store.record("c-1", event_of(op), now=END)
    (found,) = read_states(url, ["c-1"], read_with, now) or pytest.fail("unread")
    with open_store(url, policy=read_with, create=False) as store:
        cluster = store.get("c-1")
        assert cluster is not None
        state = cluster.state(now)
    assert found == state  # phase, history, facts, newest event: the whole state
    for strict in (False, True):
        for operation in OPERATIONS:
            assert fsm.decide(found, operation, strict=strict) == fsm.decide(
                state, operation, strict=strict
            )


def test_an_untracked_cluster_reads_as_none(tmp_path: Path) -> None:
    url = "sqlite://" + str(tmp_path / "s.db")
    with open_store(url) as store:
        store.upsert_cluster("c-1", "pay_as_you_go")
    now = fsm.timeutil.parse_time("2026-01-01T00:00:00Z", "now")
    readings = read_states(url, ["c-2", "c-1"], fsm.Policy.default(), now)
    assert readings is not None and readings[0] is None
    assert readings[1] is not None and readings[1].phase is fsm.Phase.ACTIVE


def test_what_it_cannot_read_plainly_is_left_to_the_store(tmp_path: Path) -> None:
    now = fsm.timeutil.parse_time("2026-01-01T00:00:00Z", "now")
    policy = fsm.Policy.default()
    missing = "sqlite://" + str(tmp_path / "none.db")
    assert read_states(missing, ["c-1"], policy, now) is UNREAD
    assert not (tmp_path / "none.db").exists()  # a reader never creates a store
    assert read_states("postgresql://u@127.0.0.1:1/x", ["c-1"], policy, now) is UNREAD
    other = tmp_path / "other.db"
    import sqlite3

    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    assert read_states("sqlite://" + str(other), ["c-1"], policy, now) is UNREAD
    shared = tmp_path / "shared.db"
    with open_store("sqlite://" + str(shared)) as store:
        store.upsert_cluster("c-1", "pay_as_you_go")
    os.chmod(shared, 0o664)  # others may write it: the Store refuses it, naming the fix
    assert read_states("sqlite://" + str(shared), ["c-1"], policy, now) is UNREAD
