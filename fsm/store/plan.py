"""What a write will store, computed from what was read, without any I/O.

The store reads a cluster's row and log (:class:`Facts` and its events), a
plan here decides what changes (:class:`Writes`: the row, the events to
append) and what the caller is told; the store then writes it, or with
``dry_run`` does not. Keeping the decision pure keeps it testable apart from
the engines and lets a write gain more rows (a checkpoint, say) in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import InputError, MissingInputError
from ..lifecycle import Cluster, record_observed
from ..observations import Observation, check_fits, events_for
from ..policy import Policy
from ..table import BILLING_SPELLINGS, Billing, Phase
from ..timeutil import format_time
from ..values import Event, Outcome
from .results import ObserveResult


@dataclass(frozen=True, slots=True)
class Facts:
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


@dataclass(frozen=True, slots=True)
class RowChange:
    """How a write changes a cluster's row."""

    facts: Facts
    create: bool = False  # insert the row (else update it)
    facts_changed: bool = False  # write the facts proper
    mark: tuple[Phase, datetime] | None = None  # the phase cache to write: (phase, at)


@dataclass(frozen=True, slots=True)
class Writes:
    """Everything one write stores for a cluster: its row, then the events it appends."""

    row: RowChange | None = None  # None: the row stays as it is
    events: Sequence[tuple[Event, str | None]] = ()  # each with its idempotency key
    source: str = "api"
    payload: Mapping[str, Any] = field(default_factory=dict)  # the same for every event


def rebuild(cid: str, facts: Facts, events: Sequence[Event], policy: Policy) -> Cluster:
    """The cluster that ``facts`` and its log make."""
    return Cluster.from_events(
        cid,
        facts.billing,
        events,
        account=facts.account,
        expires_at=facts.expires_at,
        policy=policy,
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


@dataclass(frozen=True, slots=True)
class ObserveRequest:
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


def plan_observe(
    request: ObserveRequest,
    stored: Facts | None,
    old_events: Sequence[Event],
    keyed: Event | None,
    policy: Policy,
) -> tuple[ObserveResult, Writes]:
    """What observing does to a cluster read as ``stored`` (None: not tracked) and its log.

    ``keyed`` is the event already stored under the request's idempotency
    key, if any: then nothing is recorded. The result says what the caller is
    told, the writes what the store must write for it to be true.
    """
    cid, at_now = request.cluster_id, request.now
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
        cluster = rebuild(cid, facts, old_events, policy)
    else:
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
        old = rebuild(cid, stored, old_events, policy)
        at = stored.last_evaluated_at
        before = None if at is None else old.state(at)
        same = (facts.account, facts.expires_at) == (stored.account, stored.expires_at)
        cluster = old if same else rebuild(cid, facts, old_events, policy)
    facts_changed = stored is not None and facts.proper() != stored.proper()
    duplicate = keyed is not None
    recorded: list[Event] = []
    outcomes: list[Outcome] = []
    check_fits(request.observation, facts.billing)
    if not duplicate:
        for event in events_for(request.observation):
            outcome = record_observed(cluster, event, request.observation, at_now)
            outcomes.append(outcome)
            if outcome.changed:
                recorded.append(event)
    after = cluster.state(at_now)
    seen = set() if before is None else set(before.history)
    entered = [step.dest for step in after.history if step not in seen]
    last_at = None if stored is None else stored.last_evaluated_at
    mark_at = at_now if last_at is None or at_now >= last_at else last_at
    mark_phase = after.phase if mark_at is at_now else cluster.state(mark_at).phase
    moved = stored is None or mark_phase is not stored.last_phase
    row = None
    if recorded or created or facts_changed or moved or entered:
        row = RowChange(facts, created, facts_changed, (mark_phase, mark_at))
    key = request.idempotency_key
    writes = Writes(
        row,
        [(event, _nth_key(key, n)) for n, event in enumerate(recorded)],
        request.source,
        _payload(request.observation),
    )
    result = ObserveResult(
        cluster_id=cid,
        created=created,
        changed=created or facts_changed or bool(recorded),
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
