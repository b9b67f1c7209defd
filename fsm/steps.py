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
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from .machine import BILLING_CONDITIONS, DUE_CONDITION, Callback, Run, Step, steps_of, triggers
from .schedule import TIMED_BY_TRIGGER, deadline
from .table import Billing, Phase, TimedTransition

if TYPE_CHECKING:
    from .values import Event

Checks = tuple[tuple[Callback, bool], ...]


class EventStep(NamedTuple):
    """A transition a recorded event may take, with the conditions left to test."""

    step: Step
    checks: Checks


class TimedStep(NamedTuple):
    """The timed transition that leaves a (billing, phase), and when it falls due."""

    step: Step
    timed: TimedTransition
    checks: Checks


class Compiled(NamedTuple):
    events: Mapping[tuple[Billing, Phase, str], tuple[EventStep, ...]]
    timed: Mapping[tuple[Billing, Phase], TimedStep]


@cache
def compiled() -> Compiled:
    """The machine as lookup tables (built on first use, then kept)."""
    events: dict[tuple[Billing, Phase, str], tuple[EventStep, ...]] = {}
    timed: dict[tuple[Billing, Phase], TimedStep] = {}
    for trigger in triggers():
        for billing in Billing:
            for phase in Phase:
                candidates = []
                for step in steps_of(trigger, phase):
                    settled = _settle(step, billing)
                    if settled is None:
                        continue  # never taken by a cluster of this billing
                    due, checks = settled
                    if due:
                        if (billing, phase) in timed:
                            raise ImportError(f"two timed steps leave {billing} {phase}")
                        timed[(billing, phase)] = TimedStep(step, TIMED_BY_TRIGGER[trigger], checks)
                    else:
                        candidates.append(EventStep(step, checks))
                if candidates:
                    events[(billing, phase, trigger)] = tuple(candidates)
    return Compiled(events, timed)


def _settle(step: Step, billing: Billing) -> tuple[bool, Checks] | None:
    """Whether ``step`` is timed and the conditions left once ``billing`` is known.

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


def advance(run: Run, now: datetime, table: Compiled) -> None:
    """Fire every timed step due by ``now``, each at its own deadline."""
    timed = table.timed
    billing = run.billing
    while (entry := timed.get((billing, run.state))) is not None:
        at = deadline(entry.timed, run.overdue_since, run.expires_at, run.policy)
        if at is None or at > now:
            return
        entry.step.fire(run, at, None, entry.checks)


def replay(run: Run, events: Iterable[Event], until: datetime, table: Compiled) -> Run:
    """Replay ``events`` (in replay order) on ``run`` up to ``until``, then advance to it."""
    steps = table.events
    billing = run.billing
    for event in events:
        at = event.at
        if at > until:
            break
        advance(run, at, table)
        for candidate in steps.get((billing, run.state, event.kind), ()):
            if candidate.step.fire(run, at, event.expires_at, candidate.checks):
                break
    advance(run, until, table)
    return run
