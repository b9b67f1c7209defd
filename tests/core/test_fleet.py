"""The fleet path: ``evaluate_fleet`` on the compiled step table agrees with ``Cluster``.

The compiled table (:mod:`fsm.steps`) is derived from the one ``transitions``
machine; these properties hold the two equal on random event sequences: the phase,
the transitions taken, the next phase and when, and every verdict.
"""

from __future__ import annotations

import gc
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fsm
from fsm.decisions import allowed
from fsm.machine import Run, checkpoint_of, steps_of, triggers
from fsm.run import state_of
from fsm.steps import (
    FleetRow,
    compiled,
    decide_fleet,
    evaluate_fleet,
)
from fsm.table import OPERATIONS
from fsm.values import Checkpoint

from ._support import DAY, T0
from .test_properties import ALL_KINDS, END, WINDOW, clusters, instants, op_strategy

PROPERTY = settings(max_examples=300, deadline=None)

# Events only (time passing is the ``now`` of the evaluation).
EVENT_KINDS = [kind for kind in ALL_KINDS if kind != "advance"]
probes = st.one_of(instants, st.just(END), st.just(END + 400 * DAY))
policies = st.sampled_from([fsm.Policy.default(), fsm.Policy(late_tolerance=WINDOW + DAY)])


def event_of(op: tuple[Any, ...]) -> fsm.Event:
    return fsm.Event.create(*op)


def recorded(spec: Any, events: list[fsm.Event], policy: fsm.Policy) -> fsm.Cluster:
    """The cluster as a user builds it: each event recorded as it arrives."""
    billing, expires_at = spec
    cluster = fsm.Cluster("c-prop", billing, expires_at=expires_at, policy=policy)
    for event in events:
        cluster.record(event, now=END)
    return cluster


@PROPERTY
@given(clusters, st.lists(op_strategy(EVENT_KINDS), max_size=10), probes, policies)
def test_the_fleet_path_agrees_with_the_cluster(
    spec: Any, ops: list[tuple[Any, ...]], now: datetime, policy: fsm.Policy
) -> None:
    billing, expires_at = spec
    events = [event_of(op) for op in ops]
    (state,) = evaluate_fleet([FleetRow("c-prop", billing, events, expires_at)], now, policy=policy)
    cluster = recorded(spec, events, policy)
    expected = cluster.state(now)
    assert state.phase == expected.phase
    assert state.history == expected.history  # the transitions taken, each at its instant
    assert state.timeline() == expected.timeline()  # the next phase and when
    assert state == expected
    # The events as raw tuples, as Event.create takes them: checked the same way.
    raw = evaluate_fleet([FleetRow("c-prop", billing, ops, expires_at)], now, policy=policy)
    assert raw == [state]
    rebuilt = fsm.Cluster.from_events(
        "c-prop", billing, events, expires_at=expires_at, policy=policy
    )
    assert state == rebuilt.state(now)
    row = FleetRow("c-prop", billing, events, expires_at)
    for strict in (False, True):
        verdicts = decide_fleet(
            [row] * len(OPERATIONS), now, OPERATIONS, policy=policy, strict=strict
        )
        for operation, verdict in zip(OPERATIONS, verdicts, strict=True):
            decision = fsm.decide(expected, operation, strict=strict)
            assert allowed(state, operation, strict=strict) is decision.allowed
            assert fsm.decide(state, operation, strict=strict) == decision._replace(state=state)
            assert verdict == ("c-prop", expected.phase, decision.allowed)


@PROPERTY
@given(clusters, st.lists(op_strategy(EVENT_KINDS), max_size=6), probes)
def test_a_cluster_advanced_and_decided_matches_the_fleet(
    spec: Any, ops: list[tuple[Any, ...]], now: datetime
) -> None:
    """As the fleet benchmark runs it: record, ``advance(now)``, ``decide``."""
    events = [event_of(op) for op in ops]
    cluster = recorded(spec, events, fsm.Policy.default())
    cluster.advance(now)
    (state,) = evaluate_fleet([FleetRow("c-prop", spec[0], events, spec[1])], now)
    if cluster.evaluated_at == now:  # time never moves back: an older now changes nothing
        assert cluster.phase == state.phase
        assert cluster.history == list(state.history)
        for operation in OPERATIONS:
            assert cluster.decide(operation).allowed is allowed(state, operation)


def test_every_transition_of_the_machine_is_in_the_compiled_table() -> None:
    table = compiled()
    taken = {
        id(entry.step)
        for by_event in table.events.values()
        for entries in by_event.values()
        for entry in entries
    }
    taken |= {id(entry.step) for by_phase in table.timed.values() for entry in by_phase.values()}
    for trigger in triggers():
        for phase in fsm.Phase:
            for step in steps_of(trigger, phase):
                assert id(step) in taken, (trigger, phase)


def test_a_run_s_state_and_checkpoint_name_each_fact_as_their_records_do() -> None:
    """fsm.run.state_of (what a fleet and a Cluster answer) and machine.checkpoint_of build
    their tuples by position from Run.facts."""
    policy = fsm.Policy.default()
    cluster = fsm.Cluster("c-1", "pay_as_you_go", policy=policy)
    cluster.balance_negative(T0, now=T0)
    run = Run.resumed(fsm.Billing.PAY_AS_YOU_GO, policy, cluster.checkpoint())
    run.state = fsm.Phase.SUSPENDED  # every field apart from its neighbours
    run.phase_since, run.expires_at = T0 + DAY, T0 + 2 * DAY
    assert state_of(run, "c-1", "acct", END, T0 + 3 * DAY) == fsm.ClusterState(
        cluster_id="c-1",
        account="acct",
        billing=fsm.Billing.PAY_AS_YOU_GO,
        phase=fsm.Phase.SUSPENDED,
        phase_since=T0 + DAY,
        overdue=True,
        overdue_since=T0,
        expires_at=T0 + 2 * DAY,
        history=tuple(run.history),
        evaluated_at=END,
        policy=policy,
        newest_event_at=T0 + 3 * DAY,
    )
    assert checkpoint_of(run, (T0, 1, T0)) == Checkpoint(
        position=(T0, 1, T0),
        phase=fsm.Phase.SUSPENDED,
        phase_since=T0 + DAY,
        overdue=True,
        overdue_since=T0,
        expires_at=T0 + 2 * DAY,
        history=tuple(run.history),
    )


def test_rows_are_checked_as_a_cluster_checks_its_facts() -> None:
    with pytest.raises(fsm.InputError) as err:
        evaluate_fleet([FleetRow("bad id!", "pay_as_you_go", [])], END)
    assert err.value.field == "cluster_id"
    with pytest.raises(fsm.InputError) as err:
        evaluate_fleet([FleetRow("c-1", "pay_as_you_go", [], expires_at=T0)], END)
    assert err.value.field == "expires_at"
    assert gc.isenabled()  # the collector is back on after a failed call too


def test_operations_one_per_row_from_any_iterable() -> None:
    """A caller may stream the operations in step with the rows (the benchmark does)."""
    rows = [
        FleetRow(f"c-{i}", "pay_as_you_go", [("balance_negative", T0 + i * DAY)])
        for i in range(len(OPERATIONS))
    ]
    listed = decide_fleet(rows, END, list(OPERATIONS))
    assert decide_fleet(iter(rows), END, (operation for operation in OPERATIONS)) == listed
    assert [verdict.allowed for verdict in listed] == [
        allowed(state, operation)
        for state, operation in zip(evaluate_fleet(rows, END), OPERATIONS, strict=True)
    ]


def test_an_empty_fleet_and_a_fresh_cluster() -> None:
    assert evaluate_fleet([], END) == []
    assert decide_fleet([], END, "scale_out") == []
    (verdict,) = decide_fleet([FleetRow("c-1", "pay_as_you_go", ())], END, "scale_out")
    assert verdict == ("c-1", fsm.Phase.ACTIVE, True)
    (state,) = evaluate_fleet([("s-1", "Subscription", (), T0, "acct")], END)
    assert state == fsm.Cluster("s-1", "subscription", account="acct", expires_at=T0).state(END)


BAD_EVENTS = [
    ("overdrawn", T0),  # no such kind
    (fsm.EventKind.BALANCE_NEGATIVE, T0.replace(tzinfo=None)),  # naive
    ("balance_negative", "yesterday"),
    ("balance_negative", True),
    ("recharged", T0, T0 + DAY),  # only renewed carries an expiry
    ("renewed", T0),  # renewed needs one
    ("renewed", T0, T0),  # after the renewal
    ("released", T0, None, None),
    ([], T0),
]


@pytest.mark.parametrize("event", BAD_EVENTS, ids=repr)
def test_a_raw_event_is_refused_as_event_create_refuses_it(event: tuple[Any, ...]) -> None:
    with pytest.raises((fsm.InputError, TypeError)) as expected:
        fsm.Event.create(*event)
    row = FleetRow("c-1", "pay_as_you_go", [("balance_negative", T0), event])
    for fleet in (
        lambda: evaluate_fleet([row], END),
        lambda: decide_fleet([row], END, "scale_out"),
    ):
        with pytest.raises(type(expected.value)) as err:
            fleet()
        assert str(err.value) == str(expected.value)


def test_raw_events_in_any_spelling_event_create_takes() -> None:
    as_created = [
        fsm.Event.create("balance_negative", T0),
        fsm.Event.create("recharged", T0 + DAY, None),
        fsm.Event.create("renewed", T0 + 2 * DAY, T0 + 90 * DAY),
    ]
    spellings = [
        [("balance_negative", "2026-01-01T00:00:00Z"), ("recharged", T0 + DAY, None)],
        [(fsm.EventKind.BALANCE_NEGATIVE, T0.timestamp()), as_created[1]],
        [
            ("balance_negative", T0.astimezone(timezone(timedelta(hours=8)))),
            ("recharged", T0 + DAY),
        ],
    ]
    for spelled in spellings:
        events = [*spelled, ("renewed", T0 + 2 * DAY, T0 + 90 * DAY)]
        rows = [FleetRow("s-1", "subscription", events, T0 + 30 * DAY)]
        expected = [FleetRow("s-1", "subscription", as_created, T0 + 30 * DAY)]
        assert evaluate_fleet(rows, END) == evaluate_fleet(expected, END)
