"""The machine-free replay (:mod:`fsm.replay`) is the machine's, step for step.

Its steps are read from the same tables the ``transitions`` machine is built from; these
tests hold them equal to the machine's own (:func:`fsm.machine.steps_of`) and the replay
equal to :func:`fsm.machine.replay_from` on random event sequences and instants.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import fsm
from fsm import machine, replay
from fsm.run import Run
from fsm.table import Billing, Phase

from .test_fleet import EVENT_KINDS, event_of, policies, probes
from .test_properties import clusters, op_strategy


def test_every_step_is_the_machines_in_its_order() -> None:
    for trigger in machine.triggers():
        for phase in Phase:
            theirs = [
                (step.source_phase, step.dest_phase, step.check_names, step.effect_names)
                for step in machine.steps_of(trigger, phase)
            ]
            if any(name == machine.DUE_CONDITION for step in theirs for name, _ in step[2]):
                continue  # a timed step: fired by replay.advance from the schedule (below)
            ours = [
                (step.source_phase, step.dest_phase, step.check_names, step.effect_names)
                for step in replay.EVENT_STEPS.get((trigger, phase), ())
            ]
            assert ours == theirs, (trigger, phase)


def test_every_timed_step_waits_for_its_billing_and_deadline_alone() -> None:
    for trigger in machine.triggers():
        for phase in Phase:
            for step in machine.steps_of(trigger, phase):
                names = dict(step.check_names)
                if machine.DUE_CONDITION not in names:
                    continue
                # What replay.advance settles by construction: no other condition, no effect.
                assert set(names) - set(machine.BILLING_CONDITIONS) == {machine.DUE_CONDITION}
                assert all(names.values()) and not step.effect_names


def _runs(spec: Any, events: list[fsm.Event], policy: fsm.Policy) -> tuple[Run, Run]:
    billing, expires_at = spec
    cluster = fsm.Cluster("c-prop", billing, expires_at=expires_at, policy=policy)
    kind = Billing(cluster.billing)
    return (
        Run(kind, cluster.initial_expires_at, policy),
        Run(kind, cluster.initial_expires_at, policy),
    )


def _facts(run: Run) -> tuple[object, ...]:
    return (
        run.state,
        run.overdue,
        run.overdue_since,
        run.expires_at,
        run.phase_since,
        tuple(run.history),
    )


@settings(max_examples=300, deadline=None)
@given(clusters, st.lists(op_strategy(EVENT_KINDS), max_size=10), probes, policies)
def test_the_replay_is_the_machines(
    spec: Any, ops: list[tuple[Any, ...]], now: datetime, policy: fsm.Policy
) -> None:
    events = sorted({event_of(op) for op in ops}, key=lambda event: event.order)
    ours, theirs = _runs(spec, events, policy)
    assert _facts(replay.replay_from(ours, events, now)) == _facts(
        machine.replay_from(theirs, events, now)
    )
