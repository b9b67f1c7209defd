"""The per-cluster lifecycle machine.

One ``transitions`` machine is built from the tables in :mod:`fsm.table` and
shared by every cluster. It drives a small plain model (``_Run``) only while a
cluster is being evaluated, so a fleet of any size costs one machine, not one
per cluster (``Machine.add_model`` is quadratic and each bound model is heavy).

The phase is a pure function of (facts, event log, now): events are kept in the
order they were recorded and replayed in event-time order, with time advanced
to each event's instant before it applies. Nothing runs on a timer.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Final, cast

from transitions import EventData, Machine
from transitions import Transition as TransitionsTransition
from transitions.core import Event as TransitionsEvent

from .decisions import Decision, decide, report
from .errors import InputError
from .observations import Observation, check_fits, events_for
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
from .timeutil import (
    TimeInput,
    at_most_end,
    format_duration,
    format_time,
    optional_format,
    optional_time,
    parse_time,
    utcnow,
)
from .values import (
    Checkpoint,
    ClusterState,
    Event,
    EventOrder,
    Outcome,
    Transition,
    parse_account,
    parse_billing,
    parse_cluster_id,
)

# -- the machine ---------------------------------------------------------------------


class _Run:
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

    def copy(self) -> _Run:
        twin = _Run(self.billing, self.expires_at, self.policy)
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
                    if not callable(getattr(_Run, name, None)):
                        raise ImportError(f"fsm.table names {name!r}; the lifecycle model lacks it")


_check_callbacks(_MACHINE)
_VALID_EVENT: Final = frozenset(
    (row.trigger, source) for row in EVENT_TRANSITIONS for source in row.sources
)
_FIRE: Final = {name: event.trigger for name, event in _MACHINE.events.items()}


def _advance(run: _Run, now: datetime) -> None:
    """Fire every timed transition due by ``now``, each at its own instant."""
    while (step := SCHEDULE.get((run.billing, run.state))) is not None:
        at = deadline(step, run.overdue_since, run.expires_at, run.policy)
        if at is None or at > now:
            return
        _FIRE[step.trigger](run, at=at)


#: How the note of an event begins when it was refused (it could apply, but not now).
REFUSED: Final = "refused:"
#: How the note of an event begins when it was ignored (it cannot apply: a terminal cluster...).
IGNORED: Final = "ignored:"
#: How the note of an event begins when it was kept but not applied: it came too late.
TOO_LATE: Final = "too late:"


def unheeded(
    outcomes: Iterable[Outcome], kinds: tuple[str, ...] = (REFUSED, IGNORED, TOO_LATE)
) -> list[str]:
    """Why events were refused or ignored: what a person must be told (repeats are not).

    ``kinds``: which notes, by how they begin; a sync, which sees every listed cluster on
    every run, asks for :data:`REFUSED` only.
    """
    return [o.note for o in outcomes if o.note is not None and o.note.startswith(kinds)]


def _apply(run: _Run, event: Event) -> str | None:
    """Apply one event at its instant; returns why it had no effect, if it had none."""
    phase = run.state
    if phase in TERMINAL_PHASES:
        return f"{IGNORED} the cluster is {phase} (terminal); no event brings it back"
    if (event.kind, phase) in _VALID_EVENT and _FIRE[event.kind](
        run, at=event.at, expires_at=event.expires_at
    ):
        return None
    return _why_not(run, event)


def _why_not(run: _Run, event: Event) -> str:
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


_CHECKPOINT_EVERY: Final = 64
"""Applied events between the in-memory checkpoints a late event rebuilds from."""


def _replay_from(run: _Run, events: Iterable[Event], until: datetime | None) -> _Run:
    """Replay ``events`` (already in replay order) on ``run`` in place, then advance."""
    for event in events:
        if until is not None and event.at > until:
            break
        _advance(run, event.at)
        _apply(run, event)
    if until is not None:
        _advance(run, until)
    return run


def _run_from(checkpoint: Checkpoint, billing: Billing, policy: Policy) -> _Run:
    run = _Run(billing, checkpoint.expires_at, policy)
    run.state = checkpoint.phase
    run.phase_since = checkpoint.phase_since
    run.overdue = checkpoint.overdue
    run.overdue_since = checkpoint.overdue_since
    run.history = list(checkpoint.history)
    return run


def _checkpoint_of(run: _Run, position: EventOrder) -> Checkpoint:
    return Checkpoint(
        position,
        run.state,
        run.phase_since,
        run.overdue,
        run.overdue_since,
        run.expires_at,
        tuple(run.history),
    )


# -- the cluster -------------------------------------------------------------------------


class Cluster:
    """One EMR cluster: its facts, its event log, and its phase on the overdue road.

    Events are methods (``balance_negative``, ``recharged``, ``renewed``,
    ``released``) and time moves with ``advance``. Each returns an
    :class:`Outcome` saying what the event did. Every event joins the log but an
    exact repeat (same kind, instant and values), including one that changes
    nothing when it arrives: an earlier-dated event that arrives later may give
    it its effect. The phase is the replay of the log in event-time order
    (:attr:`Event.order`), so it does not depend on the order of arrival. An
    event dated more than the policy's ``late_tolerance`` before the newest
    event of the cluster is kept but not applied.
    """

    __slots__ = (
        "_applied",
        "_base",
        "_checkpoints",
        "_clock",
        "_events",
        "_newest",
        "_orders",
        "_run",
        "_seen",
        "account",
        "billing",
        "cluster_id",
        "initial_expires_at",
        "policy",
    )

    def __init__(
        self,
        cluster_id: str,
        billing: Billing | str,
        *,
        account: str = "default",
        expires_at: TimeInput | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.cluster_id = parse_cluster_id(cluster_id)
        self.billing = parse_billing(billing)
        self.account = parse_account(account)
        self.policy = Policy.default() if policy is None else policy
        self.initial_expires_at = optional_time(expires_at, "expires_at")
        if self.billing is Billing.PAY_AS_YOU_GO and self.initial_expires_at is not None:
            raise InputError(
                "expires_at",
                format_time(self.initial_expires_at),
                "nothing for a pay_as_you_go cluster (only subscriptions expire)",
            )
        self._events: list[Event] = []  # kept, in recording order
        self._seen: set[Event] = set()
        # Applied events after the base, in replay order, and their positions.
        self._applied: list[Event] = []
        self._orders: list[EventOrder] = []
        self._base: Checkpoint | None = None  # what the applied events replay on (None: the start)
        self._checkpoints: list[Checkpoint] = []  # every _CHECKPOINT_EVERY applied events
        self._run = self._start()
        self._clock: datetime | None = None
        self._newest: datetime | None = None

    def __repr__(self) -> str:
        return f"Cluster({self.cluster_id!r}, {str(self.billing)!r}, phase={self.phase!s})"

    # -- rebuilding ----------------------------------------------------------------

    @classmethod
    def from_events(
        cls,
        cluster_id: str,
        billing: Billing | str,
        events: Sequence[Event],
        *,
        account: str = "default",
        expires_at: TimeInput | None = None,
        policy: Policy | None = None,
        applied: Sequence[bool] | None = None,
    ) -> Cluster:
        """Rebuild a cluster from its facts and its log (as :meth:`to_events` gave it).

        The log is in recording order, so the events that were too late when
        they arrived are found again and kept unapplied, as they were; a store
        says which were with ``applied`` (one flag per event), as it marked them.
        """
        cluster = cls(cluster_id, billing, account=account, expires_at=expires_at, policy=policy)
        taken: list[Event] = []
        for index, event in enumerate(events):
            if cluster.too_late(event) is None if applied is None else applied[index]:
                taken.append(event)
            cluster._keep(event)
        cluster._take(taken)
        return cluster

    @classmethod
    def resume(
        cls,
        cluster_id: str,
        billing: Billing | str,
        checkpoint: Checkpoint | None,
        events: Iterable[Event],
        *,
        newest: datetime | None,
        account: str = "default",
        expires_at: TimeInput | None = None,
        policy: Policy | None = None,
    ) -> Cluster:
        """A cluster from a store's checkpoint and the applied events after it.

        This is a store's bounded replay: the cluster takes no event dated at or
        before the checkpoint (the store resumes from an older one for those),
        and knows only the events it was given, plus ``newest``, the newest
        event its log holds.
        """
        cluster = cls(cluster_id, billing, account=account, expires_at=expires_at, policy=policy)
        if checkpoint is not None:
            cluster._base = checkpoint
            cluster._run = cluster._start()
            cluster._clock = checkpoint.position[0]
        after = [e for e in events if checkpoint is None or e.order > checkpoint.position]
        cluster._seen.update(after)
        cluster._take(after)
        if newest is not None and (cluster._newest is None or newest > cluster._newest):
            cluster._newest = newest
        return cluster

    def to_events(self) -> list[Event]:
        """The kept event log in recording order (the store keeps exactly this)."""
        return list(self._events)

    def checkpoint(self) -> Checkpoint | None:
        """The replayed state right after the last applied event (None: none yet)."""
        if not self._applied:
            return self._base
        start, first = self._restart_point(lambda checkpoint: True)
        return _checkpoint_of(_replay_from(start, self._applied[first:], None), self._orders[-1])

    def checkpoints(self) -> list[Checkpoint]:
        """The checkpoints laid since the base, one every so many applied events, oldest first."""
        return list(self._checkpoints)

    def since_checkpoint(self) -> int:
        """How many applied events come after the newest checkpoint laid (or the base)."""
        if not self._checkpoints:
            return len(self._applied)
        return len(self._applied) - bisect_right(self._orders, self._checkpoints[-1].position)

    @property
    def base(self) -> Checkpoint | None:
        """The checkpoint this cluster was resumed from (None: it replays from the start)."""
        return self._base

    # -- state ----------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self._run.state

    @property
    def phase_since(self) -> datetime | None:
        return self._run.phase_since

    @property
    def overdue(self) -> bool:
        """Whether the account balance is negative as far as this cluster knows."""
        return self._run.overdue

    @property
    def overdue_since(self) -> datetime | None:
        return self._run.overdue_since

    @property
    def expires_at(self) -> datetime | None:
        return self._run.expires_at

    @property
    def history(self) -> list[Transition]:
        return list(self._run.history)

    @property
    def evaluated_at(self) -> datetime | None:
        """The latest instant the cluster has been advanced to (None: never)."""
        return self._clock

    def state(self, now: TimeInput | None = None) -> ClusterState:
        """The cluster as it is at ``now`` (default: where it was last advanced to).

        Never changes the cluster: a later ``now`` is evaluated on a copy, an
        earlier one by replaying only the events up to it.
        """
        if now is None:
            run, at = self._run, self._clock
        else:
            at = parse_time(now, "now")
            if self._clock is None or at >= self._clock:
                run = self._run.copy()
                _advance(run, at)
            else:
                start, index = self._restart_point(lambda c: c.position[0] <= at)
                run = _replay_from(start, self._applied[index:], at)
        return ClusterState(
            cluster_id=self.cluster_id,
            account=self.account,
            billing=self.billing,
            phase=run.state,
            phase_since=run.phase_since,
            overdue=run.overdue,
            overdue_since=run.overdue_since,
            expires_at=run.expires_at,
            history=tuple(run.history),
            evaluated_at=at,
            policy=self.policy,
            newest_event_at=self._newest,
        )

    # -- events ------------------------------------------------------------------------

    def balance_negative(self, at: TimeInput, *, now: TimeInput | None = None) -> Outcome:
        """The account balance went negative at ``at``: an overdue episode starts."""
        return self.record(Event.create(EventKind.BALANCE_NEGATIVE, at), now=now)

    def recharged(self, at: TimeInput, *, now: TimeInput | None = None) -> Outcome:
        """The account was recharged at ``at``: the balance covers the fees again."""
        return self.record(Event.create(EventKind.RECHARGED, at), now=now)

    def renewed(
        self, at: TimeInput, expires_at: TimeInput, *, now: TimeInput | None = None
    ) -> Outcome:
        """The subscription was renewed at ``at`` until ``expires_at``."""
        return self.record(Event.create(EventKind.RENEWED, at, expires_at), now=now)

    def released(self, at: TimeInput, *, now: TimeInput | None = None) -> Outcome:
        """The owner released the cluster at ``at``."""
        return self.record(Event.create(EventKind.RELEASED, at), now=now)

    def too_late(self, event: Event) -> str | None:
        """Why ``event`` is too late to apply (kept, not replayed), if it is."""
        tolerance = self.policy.late_tolerance
        if self._newest is None or event.at >= self._newest - tolerance:
            return None
        return (
            f"{TOO_LATE} dated {format_time(event.at)}, more than the late tolerance of "
            f"{format_duration(tolerance)} before the newest event of the cluster "
            f"({format_time(self._newest)}); kept, not applied"
        )

    def record(self, event: Event, *, now: TimeInput | None = None) -> Outcome:
        """Record ``event`` where it belongs in event time; what it did is the outcome.

        ``now`` (default: the wall clock) bounds how far in the future an event
        may be dated: more than the policy's ``future_tolerance`` is an error.
        """
        reference = utcnow() if now is None else parse_time(now, "now")
        if event.at > at_most_end(reference, self.policy.future_tolerance):
            raise InputError(
                "at",
                format_time(event.at),
                f"an instant no later than {format_time(reference)} "
                f"plus the future tolerance of {self.policy.future_tolerance}",
            )
        trigger, phase_before = str(event.kind), self.phase
        order = event.order
        # The base's position is the last event it covers: equal orders are the same event.
        if event in self._seen or (self._base is not None and order == self._base.position):
            note: str | None = "unchanged: the event repeats what is already recorded"
            return Outcome(trigger, False, phase_before, phase_before, (), note)
        if (why := self.too_late(event)) is not None:
            self._keep(event)
            return Outcome(trigger, False, phase_before, phase_before, (), why, True, False)
        if self._base is not None and order < self._base.position:
            # A store hands over a checkpoint older than any event it may still take.
            raise ValueError(f"{event} is older than the checkpoint this cluster resumed from")
        before = self._run
        if (not self._orders or order > self._orders[-1]) and (
            self._clock is None or event.at >= self._clock
        ):
            # In order: move time to the event, then apply it, in place.
            late = False
            _advance(before, event.at)
            seen = len(before.history)
            fingerprint = before.fingerprint()
            note = _apply(before, event)
            changed = before.fingerprint() != fingerprint
            entered = tuple(t.dest for t in before.history[seen:])
            self._applied.append(event)
            self._orders.append(order)
            self._clock = event.at
            if len(self._applied) % _CHECKPOINT_EVERY == 0:
                self._checkpoints.append(_checkpoint_of(before, order))
        else:
            # Late: rebuild from the newest checkpoint before the event.
            late = True
            index = bisect_left(self._orders, order)
            self._applied.insert(index, event)
            self._orders.insert(index, order)
            self._checkpoints = [c for c in self._checkpoints if c.position < order]
            start, first = self._restart_point(lambda c: c.position < order)
            note = self._rebuild(first, start, watch=event)
            candidate = self._run
            changed = candidate.fingerprint() != before.fingerprint() or (
                candidate.history != before.history
            )
            old = set(before.history)
            entered = tuple(t.dest for t in candidate.history if t not in old)
        self._keep(event)
        if changed:
            note = None
        elif note is None:
            note = "unchanged: the event repeats what is already recorded"
        return Outcome(trigger, changed, phase_before, self.phase, entered, note, True, True, late)

    def advance(self, now: TimeInput) -> Outcome:
        """Move time to ``now``, crossing every threshold due by then.

        Each step is recorded at its own effective instant. Time never moves
        backwards: a ``now`` earlier than the last one changes nothing.
        """
        at = parse_time(now, "now")
        phase_before = self.phase
        if self._clock is not None and at < self._clock:
            return Outcome(
                "advance",
                False,
                phase_before,
                phase_before,
                (),
                f"unchanged: already evaluated at {format_time(self._clock)}",
            )
        seen = len(self._run.history)
        _advance(self._run, at)
        self._clock = at
        entered = tuple(t.dest for t in self._run.history[seen:])
        return Outcome("advance", bool(entered), phase_before, self.phase, entered)

    # -- replay ------------------------------------------------------------------------

    def _start(self) -> _Run:
        if self._base is not None:
            return _run_from(self._base, self.billing, self.policy)
        return _Run(self.billing, self.initial_expires_at, self.policy)

    def _restart_point(self, usable: Callable[[Checkpoint], bool]) -> tuple[_Run, int]:
        """The newest usable checkpoint as a fresh run, and the first applied event after it."""
        for checkpoint in reversed(self._checkpoints):
            if usable(checkpoint):
                return (
                    _run_from(checkpoint, self.billing, self.policy),
                    bisect_right(self._orders, checkpoint.position),
                )
        return self._start(), 0

    def _rebuild(self, first: int, run: _Run, watch: Event | None = None) -> str | None:
        """Replay the applied events from index ``first`` on ``run``; it becomes the state.

        Checkpoints are laid again on the way; returns the note of ``watch``.
        """
        note = None
        for index in range(first, len(self._applied)):
            event = self._applied[index]
            _advance(run, event.at)
            result = _apply(run, event)
            if event is watch:
                note = result
            if (index + 1) % _CHECKPOINT_EVERY == 0 and (
                not self._checkpoints or self._checkpoints[-1].position < self._orders[index]
            ):
                self._checkpoints.append(_checkpoint_of(run, self._orders[index]))
        if self._clock is not None:
            _advance(run, self._clock)
        self._run = run
        return note

    def _take(self, applied: Iterable[Event]) -> None:
        """Replay ``applied`` (any order, repeats once) after the base: the state."""
        self._applied = sorted(set(applied), key=_order)
        self._orders = [event.order for event in self._applied]
        if self._applied:
            self._rebuild(0, self._run)
            last = self._applied[-1].at
            self._clock = last if self._clock is None else max(self._clock, last)
            self._newest = last if self._newest is None else max(self._newest, last)

    def _keep(self, event: Event) -> None:
        self._events.append(event)
        self._seen.add(event)
        if self._newest is None or event.at > self._newest:
            self._newest = event.at

    # -- questions --------------------------------------------------------------------

    def decide(
        self, operation: str, now: TimeInput | None = None, strict: bool = False
    ) -> Decision:
        """May ``operation`` run on this cluster at ``now``? With the reason."""
        return decide(self.state(now), operation, strict=strict)

    def report(
        self, now: TimeInput | None = None, operation: str | None = None, strict: bool = False
    ) -> dict[str, Any]:
        """Everything about the cluster at ``now`` as a JSON-serialisable dict."""
        return report(self.state(now), operation=operation, strict=strict)


def _order(event: Event) -> EventOrder:
    return event.order


# -- stateless ---------------------------------------------------------------------------


def evaluate(
    cluster_id: str,
    billing: Billing | str,
    *,
    account: str | None = None,
    expires_at: TimeInput | None = None,
    observation: Observation | None = None,
    policy: Policy | None = None,
    now: TimeInput | None = None,
) -> ClusterState:
    """A cluster evaluated at ``now`` from the facts given alone: nothing is read or kept.

    What was observed (a negative balance since when, a renewal, a release) becomes
    events through :func:`fsm.observations.events_for`, as it does for a stored cluster.
    """
    at = utcnow() if now is None else parse_time(now, "now")
    cluster = Cluster(
        cluster_id,
        billing,
        account=account or "default",
        expires_at=expires_at,
        policy=policy,
    )
    if observation is not None:
        check_fits(observation, cluster.billing)
        for event in events_for(observation):
            record_observed(cluster, event, observation, at)
    return cluster.state(at)


def record_observed(
    cluster: Cluster, event: Event, observation: Observation, now: datetime
) -> Outcome:
    """Record an event ``observation`` stands for; one dated in the future names ``observed_at``.

    Every event of an observation is dated no later than the observation itself, so an
    event too far in the future means the observation is.
    """
    try:
        return cluster.record(event, now=now)
    except InputError as err:
        if err.field != "at":
            raise
        raise InputError("observed_at", format_time(observation.at), err.expected) from None
