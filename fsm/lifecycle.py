"""A cluster on the overdue road: its facts, its kept event log, and its phase.

:class:`Cluster` keeps every event but an exact repeat and replays the log in
event-time order on the one machine of :mod:`fsm.machine`, from the newest
checkpoint a change needs. :func:`evaluate` answers from facts alone. The
phase is a pure function of (facts, event log, now).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from .decisions import Decision, decide, report
from .errors import InputError
from .machine import (
    Run,
    advance,
    apply_event,
    checkpoint_of,
    machine_definition,
    replay_from,
    run_from,
)
from .policy import Policy
from .run import state_of
from .table import Billing, EventKind, Phase
from .timeutil import (
    TimeInput,
    at_least_start,
    at_most_end,
    format_duration,
    format_time,
    parse_time,
    utcnow,
)
from .values import (
    TOO_LATE,
    Checkpoint,
    ClusterState,
    Event,
    EventOrder,
    Outcome,
    Transition,
    parse_account,
    parse_billing,
    parse_cluster_id,
    unheeded,
)

if TYPE_CHECKING:  # imported by evaluate, the one use: a stored cluster never needs it
    from .observations import Observation

__all__ = [
    "Cluster",
    "evaluate",
    "machine_definition",  # its home is fsm.machine; kept here for callers of 0.1.0
    "record_observed",
    "unheeded",  # its home is fsm.values; fsm.cli imports it from here
]

_CHECKPOINT_EVERY: Final = 64
"""Applied events between the in-memory checkpoints a late event rebuilds from."""


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
        "_tip",
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
        self.cluster_id, self.billing, self.account, self.initial_expires_at = _facts(
            cluster_id, billing, account, expires_at
        )
        self.policy = Policy.default() if policy is None else policy
        self._events: list[Event] = []  # kept, in recording order
        self._seen: set[Event] = set()
        # Applied events after the base, in replay order, and their positions.
        self._applied: list[Event] = []
        self._orders: list[EventOrder] = []
        self._base: Checkpoint | None = None  # what the applied events replay on (None: the start)
        self._checkpoints: list[Checkpoint] = []  # every _CHECKPOINT_EVERY applied events
        self._run = self._start()
        # ``_run`` is the state right after the last applied event, unadvanced since: its
        # checkpoint needs no replay (set by an event applied in order, cleared by anything
        # else that moves ``_run``).
        self._tip = False
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
        if self._tip:
            return checkpoint_of(self._run, self._orders[-1])
        start, first = self._restart_point(lambda checkpoint: True)
        return checkpoint_of(replay_from(start, self._applied[first:], None), self._orders[-1])

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
                advance(run, at)
            else:
                start, index = self._restart_point(lambda c: c.position[0] <= at)
                run = replay_from(start, self._applied[index:], at)
        return state_of(run, self.cluster_id, self.account, at, self._newest)

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
        if self._newest is None or event.at >= earliest_applied(self._newest, tolerance):
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
            advance(before, event.at)
            seen = len(before.history)
            fingerprint = before.fingerprint()
            note = apply_event(before, event)
            changed = before.fingerprint() != fingerprint
            entered = tuple(t.dest for t in before.history[seen:])
            self._applied.append(event)
            self._orders.append(order)
            self._clock = event.at
            self._tip = True
            if len(self._applied) % _CHECKPOINT_EVERY == 0:
                self._checkpoints.append(checkpoint_of(before, order))
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
        advance(self._run, at)
        self._clock = at
        self._tip = False
        entered = tuple(t.dest for t in self._run.history[seen:])
        return Outcome("advance", bool(entered), phase_before, self.phase, entered)

    # -- replay ------------------------------------------------------------------------

    def _start(self) -> Run:
        if self._base is not None:
            return run_from(self._base, self.billing, self.policy)
        return Run(self.billing, self.initial_expires_at, self.policy)

    def _restart_point(self, usable: Callable[[Checkpoint], bool]) -> tuple[Run, int]:
        """The newest usable checkpoint as a fresh run, and the first applied event after it."""
        for checkpoint in reversed(self._checkpoints):
            if usable(checkpoint):
                return (
                    run_from(checkpoint, self.billing, self.policy),
                    bisect_right(self._orders, checkpoint.position),
                )
        return self._start(), 0

    def _rebuild(self, first: int, run: Run, watch: Event | None = None) -> str | None:
        """Replay the applied events from index ``first`` on ``run``; it becomes the state.

        Checkpoints are laid again on the way; returns the note of ``watch``.
        """
        note = None
        for index in range(first, len(self._applied)):
            event = self._applied[index]
            advance(run, event.at)
            result = apply_event(run, event)
            if event is watch:
                note = result
            if (index + 1) % _CHECKPOINT_EVERY == 0 and (
                not self._checkpoints or self._checkpoints[-1].position < self._orders[index]
            ):
                self._checkpoints.append(checkpoint_of(run, self._orders[index]))
        if self._clock is not None:
            advance(run, self._clock)
        self._run = run
        self._tip = False
        return note

    def _take(self, applied: Iterable[Event]) -> None:
        """Replay ``applied`` (any order, repeats once) after the base: the state."""
        self._applied = sorted(set(applied), key=event_order)
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


def event_order(event: Event) -> EventOrder:
    """The key events are replayed in: their instant, then the same-instant order."""
    return event.order


def _facts(
    cluster_id: str, billing: Billing | str, account: str, expires_at: TimeInput | None
) -> tuple[str, Billing, str, datetime | None]:
    """A cluster's facts, parsed: its id, billing, account and initial expiry."""
    parsed_billing = parse_billing(billing)
    expiry = initial_expiry(parsed_billing, expires_at)
    return parse_cluster_id(cluster_id), parsed_billing, parse_account(account), expiry


def initial_expiry(billing: Billing, expires_at: TimeInput | None) -> datetime | None:
    """The initial expiry of a cluster of ``billing``: only subscriptions expire."""
    if expires_at is None:
        return None
    expiry = parse_time(expires_at, "expires_at")
    if billing is Billing.PAY_AS_YOU_GO:
        raise InputError(
            "expires_at",
            format_time(expiry),
            "nothing for a pay_as_you_go cluster (only subscriptions expire)",
        )
    return expiry


def earliest_applied(newest: datetime, tolerance: timedelta) -> datetime:
    """The earliest instant an event may be dated and still apply, after ``newest``."""
    return at_least_start(newest, tolerance)


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
        from .observations import check_fits, events_for

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
