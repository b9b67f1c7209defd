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

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, cast

from transitions import EventData, Machine
from transitions import Transition as TransitionsTransition
from transitions.core import Event as TransitionsEvent

from .policy import Policy
from .replay import replay_with
from .run import Run as Run  # its home is fsm.run; the machine drives it
from .schedule import SCHEDULE, deadline
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
from .values import IGNORED, REFUSED, Checkpoint, Event, EventOrder

Callback = Callable[[Run, datetime, "datetime | None", "Step"], object]

#: The conditions that name a billing: a cluster's billing never changes, so a bulk
#: evaluation settles them once per billing (:mod:`fsm.steps`).
BILLING_CONDITIONS: Final[Mapping[str, Billing]] = MappingProxyType(
    {"is_pay_as_you_go": Billing.PAY_AS_YOU_GO, "is_subscription": Billing.SUBSCRIPTION}
)
_BILLING_CONDITION: Final = {billing: name for name, billing in BILLING_CONDITIONS.items()}
#: The condition every timed step waits for: its deadline has come.
DUE_CONDITION: Final = "is_due"


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
        transitions.append(
            {
                "trigger": step.trigger,
                "source": [str(p) for p in step.sources],
                "dest": str(step.dest),
                "conditions": [_BILLING_CONDITION[step.billing], DUE_CONDITION],
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


class Step(TransitionsTransition):
    """A transition of the machine that runs only what this machine declares.

    The machine has conditions, ``after`` effects and one ``after_state_change``
    hook, and no prepare/before/enter/exit callbacks. The generic path of
    ``transitions`` (an ``EventData`` per step, every callback resolved by name,
    each stage logged) costs several times the work itself, and a fleet evaluates
    millions of steps: each callback is resolved to the model's method once, when
    the machine is built (:func:`_bind`), and called as ``(run, at, expires_at, step)``.
    """

    def __init__(self, source: str, dest: str | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(source, dest, *args, **kwargs)  # type: ignore[arg-type]
        # The model holds Phase members (a StrEnum, so the machine's string
        # keys still match); converting on every step would cost more than it.
        self.source_phase = Phase(source)
        self.dest_phase = None if dest is None else Phase(dest)
        self.trigger = ""  # set by _bind: a transition does not know its event
        self.check_names = tuple((str(c.func), bool(c.target)) for c in self.conditions)
        self.effect_names = tuple(str(name) for name in self.after)
        self.checks: tuple[tuple[Callback, bool], ...] = ()
        self.effects: tuple[Callback, ...] = ()

    def fire(
        self,
        run: Run,
        at: datetime,
        expires_at: datetime | None,
        checks: tuple[tuple[Callback, bool], ...] | None = None,
        record: bool = True,
    ) -> bool:
        """Take this transition if its conditions hold; whether it was taken.

        ``checks``: the conditions to test, when a caller has settled some already
        (:mod:`fsm.steps` settles the billing once per cluster); default: all of them.
        ``record``: run the machine's ``after_state_change`` (the history and
        ``phase_since``); a caller that asks for the phase alone may skip it.
        """
        for check, target in self.checks if checks is None else checks:
            if check(run, at, expires_at, self) != target:
                return False
        if self.dest_phase is not None:
            run.state = self.dest_phase
        for effect in self.effects:
            effect(run, at, expires_at, self)
        if record:
            run.record_transition(at, expires_at, self)  # the machine's after_state_change
        return True

    def execute(self, event_data: EventData) -> bool:
        """``transitions``' own entry point, for a caller that triggers the machine directly."""
        kwargs = event_data.kwargs
        return self.fire(cast(Run, event_data.model), kwargs["at"], kwargs.get("expires_at"))


class _StepEvent(TransitionsEvent):
    """A trigger for a model the machine does not hold (see the module docstring)."""

    def fire(self, run: Run, at: datetime, expires_at: datetime | None = None) -> bool:
        for step in self.transitions.get(run.state, ()):
            if cast(Step, step).fire(run, at, expires_at):
                return True
        return False

    def trigger(self, model: Any, *args: Any, **kwargs: Any) -> bool:
        return self.fire(model, kwargs["at"], kwargs.get("expires_at"))


class _FleetMachine(Machine):
    transition_cls = Step
    event_cls = _StepEvent


_MACHINE: Final = _FleetMachine(model=None, **machine_definition())


def _bind(machine: Machine) -> None:
    """Resolve every condition and effect the table names to the model's method.

    A name the model lacks is an error at import, not at the first step that needs it.
    """
    for trigger, event in machine.events.items():
        for transitions in event.transitions.values():
            for step in cast(list[Step], transitions):
                step.trigger = trigger
                step.checks = tuple((_method(name), target) for name, target in step.check_names)
                step.effects = tuple(_method(name) for name in step.effect_names)


def _method(name: str) -> Callback:
    method = getattr(Run, name, None)
    if not callable(method):
        raise ImportError(f"fsm.table names {name!r}; the lifecycle model lacks it")
    return cast(Callback, method)


_bind(_MACHINE)
_VALID_EVENT: Final = frozenset(
    (row.trigger, source) for row in EVENT_TRANSITIONS for source in row.sources
)
_FIRE: Final = {name: cast(_StepEvent, event).fire for name, event in _MACHINE.events.items()}


def steps_of(trigger: str, phase: Phase) -> tuple[Step, ...]:
    """The machine's transitions of ``trigger`` from ``phase``, in the order it tries them."""
    return tuple(cast(list[Step], _MACHINE.events[trigger].transitions.get(phase, ())))


def triggers() -> tuple[str, ...]:
    """Every trigger of the machine: the recorded events and the timed steps."""
    return tuple(_MACHINE.events)


def advance(run: Run, now: datetime) -> None:
    """Fire every timed transition due by ``now``, each at its own instant."""
    while (step := SCHEDULE.get((run.billing, run.state))) is not None:
        at = deadline(step, run.overdue_since, run.expires_at, run.policy)
        if at is None or at > now:
            return
        _FIRE[step.trigger](run, at)


def apply_event(run: Run, event: Event) -> str | None:
    """Apply one event at its instant; returns why it had no effect, if it had none."""
    phase = run.state
    if phase in TERMINAL_PHASES:
        return f"{IGNORED} the cluster is {phase} (terminal); no event brings it back"
    if (event.kind, phase) in _VALID_EVENT and _FIRE[event.kind](run, event.at, event.expires_at):
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
    return replay_with(run, events, until, advance, apply_event)


def run_from(checkpoint: Checkpoint, billing: Billing, policy: Policy) -> Run:
    return Run.resumed(billing, policy, checkpoint)


def checkpoint_of(run: Run, position: EventOrder) -> Checkpoint:
    return Checkpoint(position, *run.facts())
