"""Event time on both engines (SPEC 3): the phase is the replay of every kept event in
event-time order, whatever the order of arrival, the writer or the engine; an event too
late to apply is kept and said to be; a migrated store answers as it did.
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsm import Cluster, Event, Observation, Phase, Policy, report
from fsm.store import open_store
from fsm.timeutil import format_time

from .conftest import T0, Raw, at
from .test_schema import make_store

US = timedelta(microseconds=1)
END = at(days=130)
WIDE = Policy(late_tolerance=timedelta(days=400))  # every generated event is within it
OPERATIONS = ("scale_out", "submit_task", "restart_service", "view_cluster_info", "release")

ids = itertools.count()

instants = st.integers(0, 120 * 24).map(lambda hours: T0 + timedelta(hours=hours))


@st.composite
def events(draw: st.DrawFn) -> Event:
    kind = draw(st.sampled_from(["balance_negative", "recharged", "renewed", "released"]))
    when = draw(instants)
    if kind == "renewed":
        return Event.create(kind, when, when + timedelta(days=draw(st.integers(1, 200))))
    weights = {"released": 6}  # a release ends the road: keep it rarer
    if kind in weights and draw(st.integers(0, weights[kind])) != 0:
        kind = "recharged"
    return Event.create(kind, when)


def _write(url: str, cid: str, share: list[Event], barrier: Any) -> None:
    with open_store(url, policy=WIDE) as store:
        barrier.wait()
        for event in share:
            store.record(cid, event, now=END)


def replayed(billing: str, expires_at: datetime | None, log: list[Event]) -> Cluster:
    """The truth: the same events recorded one by one in event-time order."""
    cluster = Cluster("c-truth", billing, expires_at=expires_at, policy=WIDE)
    for event in sorted(set(log), key=lambda e: e.order):
        cluster.record(event, now=END)
    return cluster


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    billing=st.sampled_from(["pay_as_you_go", "subscription"]),
    log=st.lists(events(), min_size=2, max_size=14),
    writers=st.integers(2, 8),
    shuffler=st.randoms(use_true_random=False),
)
def test_any_arrival_over_any_writers_is_the_event_time_replay(
    store_url: str, billing: str, log: list[Event], writers: int, shuffler: random.Random
) -> None:
    cid = f"c-{next(ids)}"
    expires_at = at(days=45) if billing == "subscription" else None
    arrival = list(log)
    shuffler.shuffle(arrival)
    shares = [arrival[n::writers] for n in range(writers)]
    with open_store(store_url, policy=WIDE) as store:
        store.upsert_cluster(cid, billing, expires_at=expires_at)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(writers)
    processes = [
        context.Process(target=_write, args=(store_url, cid, share, barrier)) for share in shares
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    truth = replayed(billing, expires_at, log)
    with open_store(store_url, policy=WIDE, create=False) as reader:
        stored = reader.load(cid)
        (listed,) = [s for s in reader.clusters(now=END) if s.cluster_id == cid]
    for now in (END, *sorted({e.at for e in log})):
        assert stored.state(now).phase == truth.state(now).phase, (now, arrival)
    assert listed.phase == truth.state(END).phase
    assert listed.history == truth.state(END).history
    for operation in OPERATIONS:
        assert stored.decide(operation, END).verdict == truth.decide(operation, END).verdict


def test_a_late_event_exactly_at_the_tolerance_applies_one_microsecond_more_does_not(
    store: Any,
) -> None:
    tolerance = store.policy.late_tolerance
    store.upsert_cluster("c-1", "pay_as_you_go")
    store.record("c-1", Event.create("recharged", at(days=30)), now=at(days=30))
    at_bound = store.record("c-1", Event.create("balance_negative", at(days=30) - tolerance))
    assert (at_bound.recorded, at_bound.outcome.applied, at_bound.outcome.late) == (
        True,
        True,
        True,
    )
    assert store.load("c-1").state(at(days=29)).phase is Phase.SUSPENDED
    past = at(days=30) - tolerance - US
    beyond = store.record("c-1", Event.create("balance_negative", past))
    assert (beyond.recorded, beyond.changed, beyond.outcome.applied) == (True, False, False)
    note = beyond.outcome.note or ""
    assert note.startswith("too late")
    assert format_time(past) in note and format_time(at(days=30)) in note
    (row,) = [e for e in store.history("c-1") if e.at == past]
    assert (row.applied, row.effect) == (False, note)
    # Kept, never applied: the phase is that of the events within the tolerance.
    assert store.load("c-1").state(at(days=29)).phase is Phase.SUSPENDED
    assert store.load("c-1").state(at(days=29)).overdue_since == at(days=30) - tolerance


def test_a_late_recharge_before_the_purge_means_the_purge_never_happened(store: Any) -> None:
    store.upsert_cluster("c-1", "pay_as_you_go")
    store.record("c-1", Event.create("balance_negative", at()), now=at())
    store.record("c-1", Event.create("recharged", at(days=65)), now=at(days=65))
    assert store.load("c-1").state(at(days=65)).phase is Phase.PURGED  # day 65: ignored
    late = store.record("c-1", Event.create("recharged", at(days=59)), now=at(days=70))
    assert late.changed is True and late.outcome.late is True
    assert store.load("c-1").state(at(days=70)).phase is Phase.ACTIVE
    (listed,) = store.clusters(now=at(days=70))
    assert listed.phase is Phase.ACTIVE


def test_a_late_event_before_a_release_lands_and_the_cluster_stays_released(
    store: Any,
) -> None:
    store.upsert_cluster("c-1", "pay_as_you_go")
    store.record("c-1", Event.create("released", at(days=20)), now=at(days=20))
    after = store.record("c-1", Event.create("balance_negative", at(days=21)), now=at(days=21))
    assert after.changed is False and "terminal" in (after.outcome.note or "")
    before = store.record("c-1", Event.create("balance_negative", at(days=15)), now=at(days=21))
    assert before.changed is True  # history: overdue from day 15 until the release
    state = store.load("c-1").state(at(days=21))
    assert state.phase is Phase.RELEASED
    assert [str(t.dest) for t in state.history] == ["overdue_grace", "suspended", "released"]


def test_an_event_at_a_terminal_instant_changes_nothing(store: Any) -> None:
    store.upsert_cluster("c-1", "pay_as_you_go")
    store.record("c-1", Event.create("balance_negative", at()), now=at(days=60))
    purge = store.record("c-1", Event.create("recharged", at(days=60)), now=at(days=60))
    assert purge.changed is False
    assert store.load("c-1").state(at(days=61)).phase is Phase.PURGED


def test_a_late_event_in_a_long_log_rebuilds_from_a_checkpoint(store: Any, raw: Raw) -> None:
    """Hourly observations for 20 days, then one six days late: the checkpoints laid on the
    way (one every 64 applied events, none older than the tolerance but one) answer it."""
    store.upsert_cluster("c-1", "pay_as_you_go")
    start = at(days=100)
    for hour in range(20 * 24):
        when = start + timedelta(hours=hour)
        store.observe("c-1", Observation(when, balance=1 if hour % 7 else -1), now=when)
    # 480 applied events, one checkpoint every 64: those older than the tolerance are
    # dropped but the newest of them.
    count = raw.count("checkpoints")
    assert 1 < count <= 7 * 24 // 64 + 2
    newest = start + timedelta(hours=20 * 24 - 1)
    late_at = newest - timedelta(days=6, minutes=30)
    memory = Cluster.from_events("c-1", "pay_as_you_go", store.load("c-1").to_events())
    memory.record(Event.create("balance_negative", late_at), now=newest)
    store.record("c-1", Event.create("balance_negative", late_at), now=newest)
    assert store.load("c-1").state(newest).history == memory.state(newest).history
    (listed,) = store.clusters(now=newest)
    assert listed.history == memory.state(newest).history


def test_a_migrated_store_answers_as_before(store_url: str, raw: Raw) -> None:
    """A schema-2 store whose log is in event-time order: the first writer migrates it,
    and every answer is the one the same log gave before."""
    make_store(raw, 2)  # c-old: negative since 2026-01-01
    raw.execute(
        "INSERT INTO events (cluster_id, kind, at, recorded_at, source, payload)"
        " VALUES ('c-old', 'recharged', ?, ?, 'v2', '{}')",
        ("2026-01-20T00:00:00.000000Z", "2026-01-20T00:00:00.000000Z"),
    )
    old_log = [Event.create("balance_negative", T0), Event.create("recharged", at(days=19))]
    before = Cluster.from_events("c-old", "pay_as_you_go", old_log, account="acme")
    with open_store(store_url, create=False) as reader:  # reads schema 2 as it is
        assert reader.load("c-old").state(END) == before.state(END)
    with open_store(store_url) as writer:
        result = writer.observe("c-old", Observation(at(days=25), balance=5), now=at(days=25))
        assert result.changed is False
        # The same answers; only the newest event is the one just recorded.
        for now in (at(days=1), at(days=16), at(days=19), END):
            assert report(writer.load("c-old").state(now)) == report(before.state(now))
        (listed,) = writer.clusters(now=END)
        assert report(listed) == report(before.state(END))
        assert [e.effect for e in writer.history("c-old")] == [
            None,
            None,
            "unchanged: the account is not overdue",
        ]
