"""The lifecycle compiled for bulk evaluation: the machine's steps as a lookup table.

A fleet evaluates the same few transitions millions of times. This module reads the
one ``transitions`` machine of :mod:`fsm.machine` (its states, transitions and
conditions) once, on first use, into two tables keyed by what a cluster is at a step:
``(billing, phase, event kind)`` for recorded events and ``(billing, phase)`` for time
passing. The conditions that name a billing are settled while compiling, since a
cluster's billing never changes, and a timed step is fired at its own deadline, so
its ``is_due`` holds by construction; every other condition and every effect is the
machine's own callback. Nothing here restates a rule: a change to :mod:`fsm.table`
changes the machine, and with it this table. :func:`replay` is what
:func:`fsm.machine.replay_from` does, step for step (a property test holds them equal).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from .machine import BILLING_CONDITIONS, DUE_CONDITION, Callback, Run, Step, steps_of, triggers
from .schedule import TIMED_BY_TRIGGER, wait
from .table import Billing, Phase, TimedTransition

if TYPE_CHECKING:
    from .policy import Policy
    from .values import Event

Checks = tuple[tuple[Callback, bool], ...]


class EventStep(NamedTuple):
    """A transition a recorded event may take, with the conditions left to test."""

    step: Step
    checks: Checks


class TimedStep(NamedTuple):
    """The timed transition that leaves a phase, and what it waits for."""

    step: Step
    timed: TimedTransition
    checks: Checks


class Compiled(NamedTuple):
    """The machine by billing: ``events[billing][(phase, kind)]``, ``timed[billing][phase]``."""

    events: Mapping[Billing, Mapping[tuple[Phase, str], tuple[EventStep, ...]]]
    timed: Mapping[Billing, Mapping[Phase, TimedStep]]


@cache
def compiled() -> Compiled:
    """The machine as lookup tables (built on first use, then kept)."""
    events: dict[Billing, dict[tuple[Phase, str], tuple[EventStep, ...]]] = {}
    timed: dict[Billing, dict[Phase, TimedStep]] = {}
    for billing in Billing:
        by_event = events.setdefault(billing, {})
        by_phase = timed.setdefault(billing, {})
        for trigger in triggers():
            for phase in Phase:
                candidates = []
                for step in steps_of(trigger, phase):
                    settled = _settle(step, billing)
                    if settled is None:
                        continue  # never taken by a cluster of this billing
                    due, checks = settled
                    if not due:
                        candidates.append(EventStep(step, checks))
                    elif phase in by_phase:
                        raise ImportError(f"two timed steps leave {billing} {phase}")
                    else:
                        by_phase[phase] = TimedStep(step, TIMED_BY_TRIGGER[trigger], checks)
                if candidates:
                    by_event[(phase, trigger)] = tuple(candidates)
    return Compiled(events, timed)


def _settle(step: Step, billing: Billing) -> tuple[bool, Checks] | None:
    """Whether ``step`` is timed, and the conditions left once ``billing`` is known.

    None: the step never applies to that billing.
    """
    due = False
    left: list[tuple[Callback, bool]] = []
    for (name, target), (check, _) in zip(step.check_names, step.checks, strict=True):
        if name in BILLING_CONDITIONS:
            if (BILLING_CONDITIONS[name] is billing) != target:
                return None
        elif name == DUE_CONDITION and target:
            due = True
        else:
            left.append((check, target))
    return due, tuple(left)


class _Timed(NamedTuple):
    step: Step
    checks: Checks
    on_overdue_clock: bool  # the anchor: overdue_since, else expires_at
    wait: timedelta
    # Only the phase changes (no condition left, no effect): taken inline.
    dest: Phase | None


Schedule = Mapping[Billing, Mapping[Phase, _Timed]]


def schedule(policy: Policy) -> Schedule:
    """The timed steps with their waits under ``policy`` (cheap: one per phase and billing)."""
    return {
        billing: {
            phase: _Timed(
                entry.step,
                entry.checks,
                entry.timed.anchor == "overdue_since",
                wait(entry.timed, policy),
                None if entry.checks or entry.step.effects else entry.step.dest_phase,
            )
            for phase, entry in by_phase.items()
        }
        for billing, by_phase in compiled().timed.items()
    }


def replay(
    run: Run, events: Iterable[Event], until: datetime, timed: Schedule, record: bool = True
) -> Run:
    """Replay ``events`` (in replay order) on ``run`` up to ``until``, then advance to it.

    What :func:`fsm.machine.replay_from` does: before each event, every timed step due
    by its instant fires at its own deadline (``schedule.deadline``); then the event
    takes the first transition whose conditions hold. ``record``: as
    :meth:`fsm.machine.Step.fire` takes it (False: the history is not kept).
    """
    steps = compiled().events[run.billing]
    ahead = timed[run.billing]
    for next_event in (*events, None):
        event = None if next_event is None or next_event.at > until else next_event
        at = until if event is None else event.at
        # Time passes up to the event: each timed step due by then, at its deadline.
        while (entry := ahead.get(run.state)) is not None:
            anchor = run.overdue_since if entry.on_overdue_clock else run.expires_at
            if anchor is None:
                break
            try:
                due = anchor + entry.wait
            except OverflowError:
                break  # beyond year 9999: never (schedule.after)
            if due > at:
                break
            if entry.dest is None:
                entry.step.fire(run, due, None, entry.checks, record)
                continue
            run.state = entry.dest  # Step.fire, with nothing to check and no effect
            if record:
                run.record_transition(due, None, entry.step)
        if event is None:
            break
        for candidate in steps.get((run.state, event.kind), ()):
            if candidate.step.fire(run, at, event.expires_at, candidate.checks, record):
                break
    return run
