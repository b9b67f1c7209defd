"""The one ``transitions`` machine of the lifecycle, and the replay it runs.

The machine is built from the tables in :mod:`fsm.table` and shared by every
cluster. It drives a small plain model (:class:`Run`) only while a cluster is
being evaluated, so a fleet of any size costs one machine, not one per cluster
(``Machine.add_model`` is quadratic and each bound model is heavy). Time is
advanced to each event's instant before the event applies (:func:`advance`,
:func:`apply_event`); :class:`fsm.lifecycle.Cluster` keeps the log and decides
what to replay. Nothing runs on a timer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final, cast

from transitions import EventData, Machine
from transitions import Transition as TransitionsTransition
from transitions.core import Event as TransitionsEvent

from .policy import Policy
from .schedule import SCHEDULE, TIMED_BY_TRIGGER, deadline
from .table import (
    EVENT_TRANSITIONS,
    INITIAL_PHASE,
    TERMINAL_PHASES,
    TIMED_TRANSITIONS,
    Billing,
    EventKind,
    Phase,
)
from .timeutil import format_time, optional_format
from .values import IGNORED, REFUSED, Checkpoint, Event, EventOrder, Transition


class Run:
    """The plain model the shared machine drives: one cluster being replayed."""

    __slots__ = (
        "billing",
        "expires_at",
        "history",
        "overdue",
        "overdue_since",
        "phase_since",
        "policy",
        "state",
    )

    def __init__(self, billing: Billing, expires_at: datetime | None, policy: Policy) -> None:
        self.state: Phase = INITIAL_PHASE
        self.billing = billing
        self.policy = policy
        self.overdue = False
        self.overdue_since: datetime | None = None
        self.expires_at = expires_at
        self.phase_since: datetime | None = None
        self.history: list[Transition] = []

    def copy(self) -> Run:
        twin = Run(self.billing, self.expires_at, self.policy)
        twin.state = self.state
        twin.overdue = self.overdue
        twin.overdue_since = self.overdue_since
        twin.phase_since = self.phase_since
        twin.history = list(self.history)
        return twin

    def fingerprint(self) -> tuple[object, ...]:
        return (
            self.state,
            self.overdue,
            self.overdue_since,
            self.expires_at,
            len(self.history),
            self.history[-1] if self.history else None,
        )

    # conditions named in the table
    def is_pay_as_you_go(self, event: EventData) -> bool:
        return self.billing is Billing.PAY_AS_YOU_GO

    def is_subscription(self, event: EventData) -> bool:
        return self.billing is Billing.SUBSCRIPTION

    def is_overdue(self, event: EventData) -> bool:
        return self.overdue

    def renewal_extends(self, event: EventData) -> bool:
        new_expiry: datetime = event.kwargs["expires_at"]
        return self.expires_at is None or new_expiry > self.expires_at

    def is_due(self, event: EventData) -> bool:
        step = TIMED_BY_TRIGGER[event.event.name]
        at = deadline(step, self.overdue_since, self.expires_at, self.policy)
        return at is not None and event.kwargs["at"] >= at

    # effects named in the table
    def start_overdue_clock(self, event: EventData) -> None:
        self.overdue = True
        self.overdue_since = event.kwargs["at"]

    # An expired subscription has no overdue clock; the instant is kept for the
    # report and the flag blocks renewal until a recharge. The table names the two
    # effects apart for what they mean; what they do is the same.
    mark_overdue = start_overdue_clock

    def clear_overdue(self, event: EventData) -> None:
        self.overdue = False
        self.overdue_since = None

    def extend_expiry(self, event: EventData) -> None:
        self.expires_at = event.kwargs["expires_at"]

    def record_transition(self, event: EventData) -> None:
        step = cast(_StepTransition, event.transition)
        if step.dest_phase is None:
            return  # internal transition: facts changed, the phase did not
        at: datetime = event.kwargs["at"]
        self.history.append(Transition(step.source_phase, step.dest_phase, at, event.event.name))
        self.phase_since = at


def machine_definition() -> dict[str, Any]:
    """The states and transitions of the machine, as ``transitions`` takes them."""
    transitions: list[dict[str, Any]] = []
    for row in EVENT_TRANSITIONS:
        transitions.append(
            {
                "trigger": str(row.trigger),
                "source": [str(p) for p in row.sources],
                "dest": None if row.dest is None else str(row.dest),
                "conditions": list(row.conditions),
                "unless": list(row.unless),
                "after": [] if row.after is None else [row.after],
            }
        )
    for step in TIMED_TRANSITIONS:
        billing_condition = (
            "is_pay_as_you_go" if step.billing is Billing.PAY_AS_YOU_GO else "is_subscription"
        )
        transitions.append(
            {
                "trigger": step.trigger,
                "source": [str(p) for p in step.sources],
                "dest": str(step.dest),
                "conditions": [billing_condition, "is_due"],
            }
        )
    return {
        "states": [str(p) for p in Phase],
        "transitions": transitions,
        "initial": str(INITIAL_PHASE),
        "auto_transitions": False,  # no caller may jump phases
        "send_event": True,
        "after_state_change": "record_transition",
    }


class _StepTransition(TransitionsTransition):
    """A transition that runs only what this machine declares.

    The machine has conditions, ``after`` effects and one ``after_state_change``
    hook, and no prepare/before/enter/exit callbacks. The generic path of
    ``transitions`` (resolving every callback list by name, logging each stage)
    costs several times the work itself, and a fleet evaluates millions of steps.
    """

    def __init__(self, source: str, dest: str | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(source, dest, *args, **kwargs)  # type: ignore[arg-type]
        # The model holds Phase members (a StrEnum, so the machine's string
        # keys still match); converting on every step would cost more than it.
        self.source_phase = Phase(source)
        self.dest_phase = None if dest is None else Phase(dest)
        # Every callback of this machine names a method of the model.
        self.checks = tuple((str(c.func), c.target) for c in self.conditions)
        self.effects = tuple(str(name) for name in self.after)

    def execute(self, event_data: EventData) -> bool:
        model: Any = event_data.model
        for name, target in self.checks:
            if getattr(model, name)(event_data) != target:
                return False
        if self.dest_phase is not None:
            model.state = self.dest_phase
        for name in self.effects:
            getattr(model, name)(event_data)
        model.record_transition(event_data)  # the machine's after_state_change
        return True


class _StepEvent(TransitionsEvent):
    """A trigger for a model the machine does not hold (see the module docstring)."""

    def trigger(self, model: Any, *args: Any, **kwargs: Any) -> bool:
        event_data = EventData(None, self, self.machine, model, args=args, kwargs=kwargs)
        for transition in self.transitions.get(model.state, ()):
            event_data.transition = transition
            if transition.execute(event_data):
                return True
        return False


class _FleetMachine(Machine):
    transition_cls = _StepTransition
    event_cls = _StepEvent


_MACHINE: Final = _FleetMachine(model=None, **machine_definition())


def _check_callbacks(machine: Machine) -> None:
    """Every condition and effect the table names must be a method of the model."""
    for event in machine.events.values():
        for transitions in event.transitions.values():
            for transition in cast(list[_StepTransition], transitions):
                for name in (*(name for name, _ in transition.checks), *transition.effects):
                    if not callable(getattr(Run, name, None)):
                        raise ImportError(f"fsm.table names {name!r}; the lifecycle model lacks it")


_check_callbacks(_MACHINE)
_VALID_EVENT: Final = frozenset(
    (row.trigger, source) for row in EVENT_TRANSITIONS for source in row.sources
)
_FIRE: Final = {name: event.trigger for name, event in _MACHINE.events.items()}


def advance(run: Run, now: datetime) -> None:
    """Fire every timed transition due by ``now``, each at its own instant."""
    while (step := SCHEDULE.get((run.billing, run.state))) is not None:
        at = deadline(step, run.overdue_since, run.expires_at, run.policy)
        if at is None or at > now:
            return
        _FIRE[step.trigger](run, at=at)


def apply_event(run: Run, event: Event) -> str | None:
    """Apply one event at its instant; returns why it had no effect, if it had none."""
    phase = run.state
    if phase in TERMINAL_PHASES:
        return f"{IGNORED} the cluster is {phase} (terminal); no event brings it back"
    if (event.kind, phase) in _VALID_EVENT and _FIRE[event.kind](
        run, at=event.at, expires_at=event.expires_at
    ):
        return None
    return _why_not(run, event)


def _why_not(run: Run, event: Event) -> str:
    if event.kind is EventKind.RENEWED:
        if run.billing is Billing.PAY_AS_YOU_GO:
            return f"{REFUSED} a pay-as-you-go cluster has no subscription to renew"
        if run.overdue:
            return (
                f"{REFUSED} renewal is fee-generating and the account balance is negative; "
                "recharge the account first"
            )
        if run.expires_at is not None and event.expires_at is not None:
            return f"unchanged: the subscription already runs until {format_time(run.expires_at)}"
    if event.kind is EventKind.BALANCE_NEGATIVE and run.overdue:
        since = optional_format(run.overdue_since)
        return f"unchanged: already overdue since {since}; the original clock is kept"
    if event.kind is EventKind.RECHARGED and not run.overdue:
        return "unchanged: the account is not overdue"
    return f"{IGNORED} {event.kind} does not apply to a {run.billing} cluster in {run.state}"


def replay_from(run: Run, events: Iterable[Event], until: datetime | None) -> Run:
    """Replay ``events`` (already in replay order) on ``run`` in place, then advance."""
    for event in events:
        if until is not None and event.at > until:
            break
        advance(run, event.at)
        apply_event(run, event)
    if until is not None:
        advance(run, until)
    return run


def run_from(checkpoint: Checkpoint, billing: Billing, policy: Policy) -> Run:
    run = Run(billing, checkpoint.expires_at, policy)
    run.state = checkpoint.phase
    run.phase_since = checkpoint.phase_since
    run.overdue = checkpoint.overdue
    run.overdue_since = checkpoint.overdue_since
    run.history = list(checkpoint.history)
    return run


def checkpoint_of(run: Run, position: EventOrder) -> Checkpoint:
    return Checkpoint(
        position,
        run.state,
        run.phase_since,
        run.overdue,
        run.overdue_since,
        run.expires_at,
        tuple(run.history),
    )
