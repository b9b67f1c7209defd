"""What a write will store, computed from what was read, without any I/O.

The store reads a cluster's row, its checkpoint and the part of its log a
write needs (:class:`Loaded`), a plan here decides what changes
(:class:`Writes`: the row, the events to append, the checkpoints) and what
the caller is told; the store then writes it, or with ``dry_run`` does not.

Bounded replay: an event in event-time order resumes from the cluster's
checkpoint (the state after its last applied event) and replays nothing
else. A late event resumes from the newest older checkpoint (one is kept
every :data:`CHECKPOINT_EVERY` applied events) and replays the events after
it; checkpoints older than the late tolerance are never needed again but the
newest of them, so they are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from ..errors import InputError, MissingInputError
from ..lifecycle import Cluster, record_observed
from ..policy import Policy
from ..records import Record
from ..table import BILLING_SPELLINGS, Billing, Phase
from ..timeutil import TimeInput, at_least_start, format_time, optional_time, parse_time, utcnow
from ..values import (
    Checkpoint,
    ClusterState,
    Event,
    Outcome,
    parse_account,
    parse_billing,
    parse_cluster_id,
    parse_region,
)

if TYPE_CHECKING:
    from ..observations import Observation
    from ..warnings import DeadlineWarning
    from .results import ObserveResult

_MAX_KEY: Final = 200  # characters of an idempotency key
_MAX_SOURCE: Final = 64  # characters of an event's source
CHECKPOINT_EVERY: Final = 64
"""Applied events between the checkpoints a late event may rebuild from."""


class Facts(Record):
    """A cluster's row: its facts and the phase the last write computed (a cache)."""

    account: str
    billing: Billing
    expires_at: datetime | None
    region: str | None = None  # where the cloud keeps it; the lifecycle ignores it
    last_phase: Phase | None = None
    last_evaluated_at: datetime | None = None

    def proper(self) -> tuple[object, ...]:
        """The facts proper, without the phase cache."""
        return (self.account, self.billing, self.expires_at, self.region)


class RowChange(Record):
    """How a write changes a cluster's row."""

    facts: Facts
    create: bool = False  # insert the row (else update it)
    facts_changed: bool = False  # write the facts proper
    mark: tuple[Phase, datetime] | None = None  # the phase cache to write: (phase, at)


class NewEvent(Record):
    """An event a write appends: with its key, whether it was applied, and what it did."""

    event: Event
    key: str | None
    applied: bool = True
    effect: str | None = None


class CheckpointChange(Record):
    """How a write changes a cluster's checkpoints."""

    tip: Checkpoint | None  # the state after the last applied event
    newest: datetime | None  # the newest event kept
    since: int  # applied events after the newest row of ``checkpoints``
    rebuilt: bool = False  # the checkpoints after ``drop_from`` are laid again:
    drop_from: datetime | None = None  # delete those at or after it (None: all of them)
    add: Sequence[Checkpoint] = ()  # then insert these
    prune_before: datetime | None = None  # keep only the newest checkpoint before this


class Writes(Record):
    """Everything one write stores for a cluster: its row, its new events, its checkpoints."""

    row: RowChange | None = None  # None: the row stays as it is
    events: Sequence[NewEvent] = ()
    source: str = "api"
    payload: Mapping[str, Any] = MappingProxyType({})  # the same for every event
    checkpoints: CheckpointChange | None = None


class Loaded(Record):
    """What a write read of a cluster in one statement (see ``Store._load_for_write``)."""

    facts: Facts
    tip: Checkpoint | None  # the stored checkpoint after the last applied event
    anchor: Checkpoint | None  # the newest stored checkpoint before the events asked about
    events: Sequence[Event]  # applied events: the whole log, or those after ``anchor``
    whole: bool  # ``events`` is the whole applied log
    repeats: frozenset[Event]  # kept events at the instants asked about
    keyed: Event | None  # the event stored under the request's idempotency key
    newest: datetime | None
    since: int
    # The cluster as the write that left this state evaluated it at ``facts.last_evaluated_at``
    # (None: not known), which the next write would compute again.
    evaluated: ClusterState | None = None


def loaded_after(
    before: Loaded | None, writes: Writes, evaluated: ClusterState | None = None
) -> Loaded | None:
    """What a write reading the cluster for the next event in event-time order finds once
    ``writes`` are stored over what was read as ``before`` (None: not tracked).

    That read needs no log: the event comes after every kept event, so it is no repeat,
    not late, and resumes from the new tip. None when it cannot be told without the
    store (no tip yet: a write would replay the whole log). ``evaluated`` is the cluster
    as the write evaluated it, kept if that is the instant the write marked.
    """
    row = writes.row
    if row is None or not row.create:
        if before is None:
            return None
        facts = before.facts
        if row is not None and row.facts_changed:
            new = row.facts
            facts = facts._replace(
                account=new.account, expires_at=new.expires_at, region=new.region
            )
    else:
        facts = row.facts._replace(last_phase=None, last_evaluated_at=None)
    if row is not None and row.mark is not None:
        facts = facts._replace(last_phase=row.mark[0], last_evaluated_at=row.mark[1])
    change = writes.checkpoints
    if change is not None:
        tip, newest, since = change.tip, change.newest, change.since
    elif before is not None:
        tip, newest, since = before.tip, before.newest, before.since
    else:
        return None
    if tip is None:
        return None
    if evaluated is not None and (
        row is None or row.mark is None or row.mark[1] != evaluated.evaluated_at
    ):
        evaluated = None
    return Loaded(facts, tip, None, (), False, frozenset(), None, newest, since, evaluated)


def follows(loaded: Loaded, wanted: Sequence[Event]) -> bool:
    """``wanted`` all come after every event ``loaded`` knows of: none repeats or is late."""
    newest = loaded.newest
    return newest is not None and all(event.at > newest for event in wanted)


def rebuild(
    cid: str,
    facts: Facts,
    events: Sequence[Event],
    policy: Policy,
    applied: Sequence[bool] | None = None,
) -> Cluster:
    """The cluster that ``facts`` and its log (in recording order) make.

    ``applied`` says which events were applied when they arrived (the store's
    marks; None: every one of them).
    """
    return Cluster.from_events(
        cid,
        facts.billing,
        events,
        account=facts.account,
        expires_at=facts.expires_at,
        policy=policy,
        applied=[True] * len(events) if applied is None else applied,
    )


def resume(
    cid: str, facts: Facts, loaded: Loaded, wanted: Sequence[Event], policy: Policy
) -> Cluster:
    """The cluster from the checkpoint the ``wanted`` events need, and the log after it."""
    base: Checkpoint | None
    events: Sequence[Event]
    new = [event.order for event in wanted if event not in loaded.repeats]
    if loaded.tip is None or loaded.whole:
        base, events = None, loaded.events
    elif new and min(new) <= loaded.tip.position:
        base, events = loaded.anchor, loaded.events  # late: rebuild from before it
    else:
        base, events = loaded.tip, ()
    return Cluster.resume(
        cid,
        facts.billing,
        base,
        events,
        newest=loaded.newest,
        account=facts.account,
        expires_at=facts.expires_at,
        policy=policy,
    )


def record_all(
    cluster: Cluster,
    wanted: Sequence[Event],
    loaded: Loaded | None,
    key: str | None,
    now: datetime,
    observation: Observation | None = None,
) -> tuple[list[Outcome], list[NewEvent]]:
    """Record ``wanted`` in ``cluster``: what each did, and the rows that join the log.

    The events of one observation are one look: they are recorded in event-time
    order, so none of them is too late for another (a release dated weeks before
    the balance seen beside it still applies to a cluster seen for the first time).
    """
    repeats = frozenset() if loaded is None else loaded.repeats
    done: dict[int, Outcome] = {}
    for index in sorted(range(len(wanted)), key=lambda i: wanted[i].order):
        event = wanted[index]
        if event in repeats:
            phase = cluster.phase
            note = "unchanged: the event repeats what is already recorded"
            done[index] = Outcome(str(event.kind), False, phase, phase, (), note)
        elif observation is not None:
            done[index] = record_observed(cluster, event, observation, now)
        else:
            done[index] = cluster.record(event, now=now)
    # Told and written in the observation's own order, as the caller gave them.
    outcomes = [done[index] for index in range(len(wanted))]
    rows: list[NewEvent] = []
    for event, outcome in zip(wanted, outcomes, strict=True):
        if outcome.recorded:
            rows.append(NewEvent(event, _nth_key(key, len(rows)), outcome.applied, outcome.effect))
    return outcomes, rows


def checkpoint_change(
    cluster: Cluster, loaded: Loaded | None, rows: Sequence[NewEvent]
) -> CheckpointChange | None:
    """What a write keeps of the replayed state, so the next write replays little."""
    tip = cluster.checkpoint()
    newest = max((row.event.at for row in rows), default=None)
    if loaded is not None and loaded.newest is not None:
        newest = loaded.newest if newest is None else max(newest, loaded.newest)
    if loaded is not None and tip == loaded.tip and newest == loaded.newest:
        return None  # nothing applied, nothing newer kept
    bound = None if newest is None else at_least_start(newest, cluster.policy.late_tolerance)
    base = cluster.base
    if loaded is not None and base is not None and base == loaded.tip:
        # Resumed from the tip: events in order. Every so often the tip is kept too.
        since = loaded.since + cluster.since_checkpoint()
        if since >= CHECKPOINT_EVERY and tip is not None:
            return CheckpointChange(tip, newest, 0, add=(tip,), prune_before=bound)
        return CheckpointChange(tip, newest, since)
    # Rebuilt from an older checkpoint (or the start): the later ones are laid again.
    again = [] if base is None else [base]
    return CheckpointChange(
        tip,
        newest,
        cluster.since_checkpoint(),
        rebuilt=True,
        drop_from=None if base is None else base.position[0],
        add=[*again, *cluster.checkpoints()],
        prune_before=bound,
    )


def check_same_billing(cid: str, stored: Billing, given: Billing) -> None:
    """The billing of a tracked cluster never changes: refuse another one."""
    if given is not stored:
        raise InputError(
            "billing",
            str(given),
            f"{stored}: the billing of tracked cluster {cid!r} cannot change "
            "(track the converted cluster under its new id)",
        )


class ObserveRequest(Record):
    """One :meth:`Store.observe` call, its arguments checked (None: leave as it is)."""

    cluster_id: str
    observation: Observation
    billing: Billing | None
    account: str | None
    expires_at: datetime | None
    region: str | None
    source: str
    idempotency_key: str | None
    now: datetime
    dry_run: bool


class ClusterObservation(Record):
    """One cluster's observation for :meth:`Store.observe_many`: ``observe``'s arguments."""

    cluster_id: str
    observation: Observation
    billing: str | None = None
    account: str | None = None
    expires_at: TimeInput | None = None
    region: str | None = None
    source: str = "api"
    idempotency_key: str | None = None


class ClusterObserved(Record):
    """What :meth:`Store.observe_many` did to one cluster: the result, the warnings entered."""

    result: ObserveResult
    warnings: list[DeadlineWarning]


def observe_request(
    item: ClusterObservation, now: TimeInput | None, dry_run: bool = False
) -> ObserveRequest:
    """What :meth:`Store.observe` is asked of one cluster, its arguments checked in order."""
    from ..observations import Observation

    if not isinstance(item, ClusterObservation):
        raise InputError("observations", item, "fsm.store.ClusterObservation values")
    cid = parse_cluster_id(item.cluster_id)
    if not isinstance(item.observation, Observation):
        raise InputError("observation", item.observation, "an fsm.Observation")
    return ObserveRequest(
        cluster_id=cid,
        observation=item.observation,
        billing=None if item.billing is None else parse_billing(item.billing),
        account=None if item.account is None else parse_account(item.account),
        expires_at=optional_time(item.expires_at, "expires_at"),
        region=checked_region(item.region),
        idempotency_key=checked_key(item.idempotency_key),
        source=checked_source(item.source),
        now=utcnow() if now is None else parse_time(now, "now"),
        dry_run=dry_run,
    )


def checked_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_KEY:
        raise InputError("idempotency_key", value, f"a non-empty string of at most {_MAX_KEY}")
    return value


def checked_region(value: str | None) -> str | None:
    return None if value is None else parse_region(value)


def checked_source(value: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_SOURCE:
        raise InputError("source", value, f"a non-empty string of at most {_MAX_SOURCE}")
    return value


def plan_observe(
    request: ObserveRequest,
    loaded: Loaded | None,
    wanted: Sequence[Event],
    policy: Policy,
) -> tuple[ObserveResult, Writes]:
    """What observing does to a cluster read as ``loaded`` (None: not tracked).

    ``wanted`` are the events the observation stands for. If an event is
    already stored under the request's idempotency key, nothing is recorded.
    The result says what the caller is told, the writes what the store must
    write for it to be true.
    """
    from ..observations import check_fits
    from .results import ObserveResult

    cid, at_now = request.cluster_id, request.now
    stored = None if loaded is None else loaded.facts
    keyed = None if loaded is None else loaded.keyed
    created = stored is None
    if stored is None:
        if request.billing is None:
            raise MissingInputError(
                "billing",
                f"cluster {cid!r} is not tracked yet, so its billing is needed",
                BILLING_SPELLINGS,
            )
        facts = Facts(
            request.account or "default", request.billing, request.expires_at, request.region
        )
        before = None
        cluster = rebuild(cid, facts, (), policy)
    else:
        assert loaded is not None
        if request.billing is not None:
            check_same_billing(cid, stored.billing, request.billing)
        facts = Facts(
            stored.account if request.account is None else request.account,
            stored.billing,
            stored.expires_at if request.expires_at is None else request.expires_at,
            stored.region if request.region is None else request.region,
            stored.last_phase,
            stored.last_evaluated_at,
        )
        old = resume(cid, stored, loaded, wanted, policy)
        at = stored.last_evaluated_at
        before = None if at is None else _state_at(old, _not_before(at, old), loaded.evaluated)
        same = (facts.account, facts.expires_at) == (stored.account, stored.expires_at)
        # A new expiry changes the replay from its start: ``loaded`` is then the whole log.
        cluster = old if same else resume(cid, facts, loaded, wanted, policy)
    facts_changed = stored is not None and facts.proper() != stored.proper()
    duplicate = keyed is not None
    outcomes: list[Outcome] = []
    rows: list[NewEvent] = []
    check_fits(request.observation, facts.billing)
    if keyed is not None and not any(_same_content(keyed, seen) for seen in wanted):
        # A retry repeats what it first said; different content under the key is a mistake.
        # Its date may differ: a retried observation without a date is dated when it runs.
        raise key_reused(request.idempotency_key, keyed, wanted)
    if not duplicate:
        outcomes, rows = record_all(
            cluster, wanted, loaded, request.idempotency_key, at_now, request.observation
        )
    recorded = [row.event for row in rows]
    after = cluster.state(at_now)
    entered = _entered(before, after)
    last_at = None if stored is None else stored.last_evaluated_at
    mark_at = at_now if last_at is None or at_now >= last_at else last_at
    mark_phase = after.phase if mark_at is at_now else cluster.state(mark_at).phase
    moved = stored is None or mark_phase is not stored.last_phase
    checkpoints = checkpoint_change(cluster, loaded, rows)
    row = None
    if rows or created or facts_changed or moved or entered or checkpoints:
        row = RowChange(facts, created, facts_changed, (mark_phase, mark_at))
    writes = Writes(row, rows, request.source, _payload(request.observation), checkpoints)
    result = ObserveResult(
        cluster_id=cid,
        created=created,
        changed=created or facts_changed or any(outcome.changed for outcome in outcomes),
        recorded=recorded,
        outcomes=outcomes,
        before=before,
        after=after,
        entered=entered,
        dry_run=request.dry_run,
        duplicate=duplicate,
        facts_changed=facts_changed,
    )
    return result, writes


def _state_at(cluster: Cluster, at: datetime, known: ClusterState | None) -> ClusterState:
    """``cluster.state(at)``: the state the last write evaluated if it is that instant's
    (the same log and facts give the same state)."""
    if known is not None and known.evaluated_at == at:
        return known
    return cluster.state(at)


def _entered(before: ClusterState | None, after: ClusterState) -> list[Phase]:
    """The phases ``after`` entered that ``before`` had not: its transitions not in before's."""
    old, new = (() if before is None else before.history), after.history
    if new[: len(old)] == old:  # the usual case: the history grew at its end
        tail = new[len(old) :]
        latest = max((step.at for step in old), default=None)
        if latest is None or all(step.at > latest for step in tail):
            return [step.dest for step in tail]  # later than every old step: none is one
    seen = set(old)
    return [step.dest for step in new if step not in seen]


def _not_before(at: datetime, cluster: Cluster) -> datetime:
    """``at``, or the instant of the checkpoint ``cluster`` resumed from if that is later.

    A write only resumes from a checkpoint dated before its last evaluation but
    for an event recorded up to the future tolerance ahead of the clock.
    """
    base = cluster.base
    return at if base is None or at >= base.position[0] else base.position[0]


def key_reused(key: str | None, stored: Event, given: Sequence[Event]) -> InputError:
    """A retry under ``key`` says something else than what the key is stored for."""
    wanted = ", ".join(show_event(event) for event in given) or "no event"
    return InputError(
        "idempotency_key",
        key,
        f"a new key: it is stored for {show_event(stored)}, not {wanted}",
    )


def _same_content(stored: Event, seen: Event) -> bool:
    return (stored.kind, stored.expires_at) == (seen.kind, seen.expires_at)


def show_event(event: Event) -> str:
    """An event in words, for messages: ``renewed at 2026-01-01T00:00:00Z until ...``."""
    text = f"{event.kind} at {format_time(event.at)}"
    if event.expires_at is not None:
        text += f" until {format_time(event.expires_at)}"
    return text


def _payload(observation: Observation) -> dict[str, Any]:
    """What every event an observation records keeps of it."""
    payload: dict[str, Any] = {"observed_at": format_time(observation.at)}
    if observation.balance is not None:
        payload["balance"] = str(observation.balance)
    return payload


def _nth_key(key: str | None, index: int) -> str | None:
    """The key of the ``index``-th event one write records: ``key``, ``key#1``, ``key#2``."""
    if key is None:
        return None
    return f"{key}#{index}" if index else key
