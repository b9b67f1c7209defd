"""The warning ledger on each engine: each warning issued exactly once per episode.

Repeated runs, processes issuing at the same instant and both engines must
enter a warning once; a recharge ends its episode; dry runs and readers write
nothing; an acknowledged warning is due no more.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from typing import Any

import pytest

import fsm
from fsm import Observation
from fsm.store import open_store
from fsm.timeutil import format_duration

from .conftest import T0, Raw, at
from .test_schema import make_store

NEGATIVE = Observation.create(at=T0, balance="-5")


def overdue(store: Any, cid: str = "c-1", now: object = T0) -> list[fsm.DeadlineWarning]:
    """Put ``cid`` overdue since T0 and return the warnings due at ``now``."""
    result = store.observe(cid, NEGATIVE, billing="pay_as_you_go", now=now)
    return fsm.warnings_due(result.after)


def keys(warnings: list[fsm.DeadlineWarning]) -> set[tuple[str, str]]:
    return {(str(w.step), format_duration(w.threshold)) for w in warnings}


def test_repeated_runs_issue_each_warning_once(store: Any, raw: Raw) -> None:
    due = overdue(store)
    assert keys(due) == {("suspension", "7d"), ("suspension", "24h")}
    assert store.issue_warnings("c-1", due, now=T0) == due
    for _ in range(3):
        assert store.issue_warnings("c-1", overdue(store), now=at(hours=1)) == []
    assert raw.count("warnings") == 2
    # The next threshold is a new warning of the same episode, issued once too.
    later = fsm.warnings_due(store.clusters(now=at(days=8))[0])
    assert keys(store.issue_warnings("c-1", later, now=at(days=8))) == {("restriction", "7d")}
    assert store.issue_warnings("c-1", later, now=at(days=9)) == []
    assert raw.count("warnings") == 3


def test_issued_warnings_are_listed_with_when_they_were_issued(store: Any) -> None:
    due = overdue(store)
    store.issue_warnings("c-1", due, now=at(minutes=5))
    entries = store.warnings(now=at(hours=1))
    assert [(e.status, e.issued_at, e.acknowledged_at) for e in entries] == [
        ("due", at(minutes=5), None),
        ("due", at(minutes=5), None),
    ]
    assert [e.warning for e in entries] == due
    assert entries[0].as_dict()["issued_at"] == "2026-01-01T00:05:00Z"
    # Once the step fires, its warnings have passed: no longer due.
    assert [e.status for e in store.warnings(now=at(days=2))] == ["passed", "passed"]
    assert store.warnings(now=at(days=2), due_only=True) == []


def test_a_warning_due_but_not_issued_is_listed_as_due_without_an_issue_time(store: Any) -> None:
    overdue(store)
    [entry] = store.warnings(now=at(days=8), due_only=True)
    assert (entry.status, entry.issued_at, str(entry.warning.step)) == ("due", None, "restriction")


def test_a_recharge_ends_the_episode_and_its_pending_warnings(store: Any) -> None:
    store.issue_warnings("c-1", overdue(store), now=T0)
    store.observe("c-1", Observation.create(at=at(hours=2), balance="10"), now=at(hours=2))
    assert store.warnings(now=at(hours=3), due_only=True) == []
    assert [e.status for e in store.warnings(now=at(hours=3))] == ["ended", "ended"]
    # A new episode warns afresh, once.
    again = Observation.create(at=at(days=3), balance="-1")
    result = store.observe("c-1", again, now=at(days=3))
    fresh = fsm.warnings_due(result.after)
    assert {w.episode for w in fresh} == {at(days=3)}
    assert store.issue_warnings("c-1", fresh, now=at(days=3)) == fresh
    assert store.issue_warnings("c-1", fresh, now=at(days=3)) == []


def test_an_acknowledged_warning_is_due_no_more_and_never_issued_again(
    store: Any, raw: Raw
) -> None:
    due = overdue(store)
    seven, _ = due
    store.issue_warnings("c-1", [seven], now=T0)
    # One issued, one not yet: acknowledging enters both, once.
    assert store.acknowledge(due, now=at(hours=1)) == due
    assert store.acknowledge(due, now=at(hours=2)) == []
    assert store.warnings(now=at(hours=3), due_only=True) == []
    entries = store.warnings(now=at(hours=3))
    assert [(e.status, e.issued_at, e.acknowledged_at) for e in entries] == [
        ("acknowledged", T0, at(hours=1)),
        ("acknowledged", at(hours=1), at(hours=1)),
    ]
    assert store.issue_warnings("c-1", due, now=at(hours=4)) == []
    assert raw.count("warnings") == 2


def test_a_dry_run_says_what_would_be_issued_and_writes_nothing(store: Any, raw: Raw) -> None:
    due = overdue(store)
    before = (raw.snapshot(), raw.query("SELECT * FROM warnings"))
    assert store.issue_warnings("c-1", due, now=T0, dry_run=True) == due
    assert store.issue_warnings("c-1", due, now=T0, dry_run=True) == due
    assert (raw.snapshot(), raw.query("SELECT * FROM warnings")) == before


def test_a_reader_lists_warnings_and_cannot_issue_them(store_url: str, raw: Raw) -> None:
    with open_store(store_url) as writer:
        writer.issue_warnings("c-1", overdue(writer), now=T0)
    before = (raw.snapshot(), raw.query("SELECT * FROM warnings"))
    with open_store(store_url, create=False) as reader:
        assert [e.status for e in reader.warnings(now=at(hours=1))] == ["due", "due"]
        due = [e.warning for e in reader.warnings(now=at(hours=1))]
        assert reader.issue_warnings("c-1", due, now=T0, dry_run=True) == []
        with pytest.raises(fsm.StoreError, match="opened for reading"):
            reader.acknowledge(due)
    assert (raw.snapshot(), raw.query("SELECT * FROM warnings")) == before


def test_a_reader_of_a_store_older_than_the_ledger_sees_every_due_warning(
    store_url: str, raw: Raw
) -> None:
    make_store(raw, 2)
    with open_store(store_url, create=False) as reader:
        due = reader.warnings(now=at(hours=1), due_only=True)
        assert [(e.status, e.issued_at, e.warning.cluster_id) for e in due] == [
            ("due", None, "c-old"),
            ("due", None, "c-old"),
        ]


def test_warnings_of_a_cluster_not_tracked_are_refused(store: Any) -> None:
    due = overdue(store)
    with pytest.raises(fsm.NotTrackedError):
        store.warnings(cluster_id="c-unknown")
    with pytest.raises(fsm.InputError, match="warnings of cluster c-2 only"):
        store.issue_warnings("c-2", due, now=T0)
    other = [w._replace(cluster_id="c-2") for w in due]
    with pytest.raises(fsm.NotTrackedError):
        store.issue_warnings("c-2", other, now=T0)


def test_warnings_are_listed_by_cluster_and_by_account(store: Any) -> None:
    overdue(store, "c-1")
    store.observe("c-2", NEGATIVE, billing="pay_as_you_go", account="acme", now=T0)
    listed = store.warnings(now=T0)
    assert [e.warning.cluster_id for e in listed] == ["c-1", "c-1", "c-2", "c-2"]
    assert {e.warning.cluster_id for e in store.warnings(now=T0, account="acme")} == {"c-2"}
    assert {e.warning.cluster_id for e in store.warnings(now=T0, cluster_id="c-1")} == {"c-1"}


# -- processes issuing at once ----------------------------------------------------------------

PROCESSES = 6
CLUSTERS = 5
# Each process issues at these days: together they cross every threshold of every step.
RUN_DAYS = (0, 8, 14, 53, 59)


def issuer(url: str, barrier: Barrier, out: Connection) -> None:
    issued = []
    with open_store(url) as store:
        barrier.wait()
        for day in RUN_DAYS:
            now = at(days=day)
            for state in store.clusters(now=now):
                for w in store.issue_warnings(state.cluster_id, fsm.warnings_due(state), now=now):
                    issued.append((w.cluster_id, str(w.step), w.threshold.total_seconds()))
    out.send(issued)


@pytest.mark.slow
def test_processes_issuing_at_once_issue_each_warning_exactly_once(
    store_url: str, raw: Raw
) -> None:
    with open_store(store_url) as store:
        for n in range(CLUSTERS):
            store.observe(f"c-{n}", NEGATIVE, billing="pay_as_you_go", now=T0)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    pipes, workers = [], []
    for _ in range(PROCESSES):
        receive, send = ctx.Pipe(duplex=False)
        worker = ctx.Process(target=issuer, args=(store_url, barrier, send))
        worker.start()
        pipes.append(receive)
        workers.append(worker)
    issued = [item for pipe in pipes for item in pipe.recv()]
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    per_cluster = {
        (step, seconds)
        for step in ("suspension", "restriction", "data_deletion")
        for seconds in (7 * 86400.0, 86400.0)
    }
    expected = sorted((f"c-{n}", step, s) for n in range(CLUSTERS) for step, s in per_cluster)
    assert sorted(issued) == expected  # every warning by exactly one process
    assert raw.count("warnings") == len(expected)
