"""A whole fleet at once: the machine's steps compiled into a lookup table.

:func:`evaluate_fleet` gives each cluster's state, :func:`decide_fleet` each one's
phase and verdict, without a :class:`fsm.Cluster` per row. Nothing is imported by
``import fsm``: a caller imports ``fsm.steps`` when it needs a fleet.

A fleet evaluates the same few transitions millions of times. This module reads the
one ``transitions`` machine of :mod:`fsm.machine` (its states, transitions and
conditions) once, on first use, into two tables keyed by what a cluster is at a step:
``(billing, phase, event kind)`` for recorded events and ``(billing, phase)`` for time
passing. The conditions that name a billing are settled while compiling, since a
cluster's billing never changes, and a timed step is fired at its own deadline, so
its ``is_due`` holds by construction; every other condition and every effect is the
machine's own callback. Nothing here restates a rule: a change to :mod:`fsm.table`
changes the machine, and with it this table. :func:`replay` is what
:func:`fsm.machine.replay_from` does, step for step (property tests hold the fleet
and :class:`fsm.Cluster` equal).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import repeat
from typing import Final, NamedTuple, TypeVar, cast

from .decisions import allowing
from .lifecycle import earliest_applied, event_order, initial_expiry
from .machine import (
    BILLING_CONDITIONS,
    DUE_CONDITION,
    Callback,
    Run,
    Step,
    steps_of,
    triggers,
)
from .policy import Policy
from .run import state_of
from .schedule import TIMED_BY_TRIGGER, wait
from .table import Billing, EventKind, Phase, TimedTransition
from .timeutil import TimeInput, parse_time
from .values import ClusterState, Event, parse_account, parse_billing, parse_cluster_id

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
    return _replay(run, events, until, compiled().events[run.billing], timed[run.billing], record)


def _replay(
    run: Run,
    events: Iterable[Event],
    until: datetime,
    steps: Mapping[tuple[Phase, str], tuple[EventStep, ...]],
    ahead: Mapping[Phase, _Timed],
    record: bool,
) -> Run:
    """:func:`replay` on the steps of the run's billing (looked up once per fleet)."""
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


# -- a whole fleet ---------------------------------------------------------------------


class FleetRow(NamedTuple):
    """One cluster of :func:`evaluate_fleet`: its facts and its log in recording order.

    Each event is an :class:`Event`, or what :meth:`Event.create` takes as a tuple
    ``(kind, at)`` or ``(kind, at, expires_at)`` (checked as it checks them, with the
    same errors).
    """

    cluster_id: str
    billing: Billing | str
    events: Sequence[Event | tuple[str, TimeInput] | tuple[str, TimeInput, TimeInput | None]]
    expires_at: TimeInput | None = None
    account: str = "default"


def evaluate_fleet(
    rows: Iterable[FleetRow], now: TimeInput, *, policy: Policy | None = None
) -> list[ClusterState]:
    """Every cluster of ``rows`` evaluated at ``now``, one state per row, in order.

    Each state is what ``Cluster.from_events(...).state(now)`` gives for the row (the
    same facts checked, the same events too late to apply, the same history), without
    a :class:`Cluster` per row: the events replay on the machine's steps compiled into
    a table (above). A row is a :class:`FleetRow` or a tuple of its five
    fields. Decide on a state with :func:`fsm.decide`; when only the verdicts count,
    :func:`decide_fleet` keeps no state at all.
    """
    at = parse_time(now, "now")
    return _resting(lambda: list(_states(rows, at, policy, True)))


class FleetVerdict(NamedTuple):
    """What :func:`decide_fleet` says of one cluster."""

    cluster_id: str
    phase: Phase
    allowed: bool


def decide_fleet(
    rows: Iterable[FleetRow],
    now: TimeInput,
    operations: str | Iterable[str],
    *,
    policy: Policy | None = None,
    strict: bool = False,
) -> list[FleetVerdict]:
    """Whether an operation may run on each cluster of ``rows`` at ``now``, and its phase.

    ``operations``: one operation for every row, or one per row. Each verdict is the
    ``allowed`` of :func:`fsm.decide` on the row's :func:`evaluate_fleet` state; the
    states themselves are not kept.
    """
    at = parse_time(now, "now")
    asked = repeat(operations) if isinstance(operations, str) else operations
    allows = allowing(Policy.default() if policy is None else policy, at, strict=strict)

    def verdicts() -> list[FleetVerdict]:
        return [
            tuple.__new__(
                FleetVerdict,
                (identity, run.state, allows(operation, run.state, run.billing, newest)),
            )
            # One operation per row (or the one for all): as many as there are rows.
            for (identity, _, run, newest), operation in zip(  # noqa: B905
                _runs(rows, at, policy, False), asked
            )
        ]

    return _resting(verdicts)


_Built = TypeVar("_Built")


def _resting(build: Callable[[], _Built]) -> _Built:
    """``build()`` with the cyclic collector at rest (as it was again afterwards).

    A fleet's evaluation makes no cyclic garbage: what it frees, reference counting
    frees. Collecting while its results pile up only walks them again and again (and,
    at 100k rows in the fleet benchmark, once over the caller's whole heap too). Only
    the young collections that the kept results pass through are left for after the
    call, as for any objects a caller keeps (``benchmarks/fleet.py`` times them).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return build()
    finally:
        if collecting:
            gc.enable()


def _states(
    rows: Iterable[FleetRow], at: datetime, policy: Policy | None, record: bool
) -> Iterator[ClusterState]:
    """The state of each row at ``at``."""
    for identity, owner, run, newest in _runs(rows, at, policy, record):
        yield state_of(run, identity, owner, at, newest)


def _runs(
    rows: Iterable[FleetRow], at: datetime, policy: Policy | None, record: bool
) -> Iterator[tuple[str, str, Run, datetime | None]]:
    """Each row's id, account, replay up to ``at`` and newest event instant.

    ``record`` False: the replay keeps no history or phase_since.
    """
    policy = Policy.default() if policy is None else policy
    tolerance = policy.late_tolerance
    timed = schedule(policy)
    by_event = compiled().events
    # A fleet has few billings and accounts: each spelling is parsed once, and the
    # steps of each billing are looked up once.
    parsed: dict[tuple[Billing | str, str], _Known] = {}
    new = tuple.__new__
    for cluster_id, billing, given, expires_at, account in rows:
        if (known := parsed.get((billing, account))) is None:
            kind = parse_billing(billing)
            known = parsed[(billing, account)] = (
                kind,
                parse_account(account),
                by_event[kind],
                timed[kind],
                kind is Billing.SUBSCRIPTION,
            )
        kind, owner, steps, ahead, expires = known
        identity = parse_cluster_id(cluster_id)
        if expires_at is None:
            expiry = None
        elif expires and type(expires_at) is datetime and expires_at.tzinfo is UTC:
            expiry = expires_at  # what initial_expiry gives a subscription (parse_time's shortcut)
        else:
            expiry = initial_expiry(kind, expires_at)
        events: list[Event] = []
        for raw in given:
            # Most of a fleet's events: a kind without an expiry, at an instant in UTC.
            if (
                type(raw) is tuple
                and (len(raw) == 2 or (len(raw) == 3 and raw[2] is None))
                and type(when := raw[1]) is datetime
                and when.tzinfo is UTC  # parse_time's own shortcut: UTC is kept as it is
                and isinstance(spelled := raw[0], str)
                and (plain := _PLAIN_KINDS.get(spelled)) is not None
            ):
                events.append(new(Event, (plain, when, None)))
            else:
                events.append(_event(raw))
        newest: datetime | None = None
        taken: Sequence[Event] = events
        if len(events) == 1:
            newest = events[0].at  # the first event is never too late
        elif events:
            earliest: datetime | None = None
            taken = []
            for event in events:
                when = event.at
                if earliest is None or when >= earliest:
                    taken.append(event)
                if newest is None or when > newest:
                    newest = when
                    earliest = earliest_applied(when, tolerance)
            taken = sorted(set(taken), key=event_order)
        run = _replay(Run(kind, expiry, policy), taken, at, steps, ahead, record)
        yield identity, owner, run, newest


_Known = tuple[
    Billing, str, Mapping[tuple[Phase, str], tuple[EventStep, ...]], Mapping[Phase, _Timed], bool
]


# The kinds of event that carry no expiry, by spelling (a StrEnum member is its spelling).
_PLAIN_KINDS: Final = {str(kind): kind for kind in EventKind if kind is not EventKind.RENEWED}


def _event(given: object) -> Event:
    """An event of a row that is not a plain kind at a UTC instant (those are taken inline).

    An :class:`Event` is kept as it is; anything else is what :meth:`Event.create`
    makes of it, with its errors.
    """
    if type(given) is not tuple and isinstance(given, Event):
        return given
    return Event.create(*cast(tuple[str, TimeInput, TimeInput | None], given))
