"""What the store hands back: a row of an event log, what a write did, a warning's entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..lifecycle import Cluster
from ..table import EventKind, Phase
from ..timeutil import format_time, optional_format
from ..values import TOO_LATE, ClusterState, Event, Outcome, unheeded
from ..warnings import DeadlineWarning, Status


@dataclass(frozen=True, slots=True)
class AccountSync:
    """An account's last successful sync: when, and the balance it saw."""

    account: str
    synced_at: datetime
    balance: str | None = None  # a decimal amount as the provider returned it
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One row of a cluster's event log, as recorded."""

    seq: int
    cluster_id: str
    kind: EventKind
    at: datetime
    recorded_at: datetime
    source: str
    idempotency_key: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    applied: bool = True  # False: it came too late to apply (kept, never replayed)
    effect: str | None = None  # what it did when it arrived (None: recorded before schema 3)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "applied": self.applied,
            "effect": self.effect,
            "cluster_id": self.cluster_id,
            "kind": str(self.kind),
            "at": format_time(self.at),
            "recorded_at": format_time(self.recorded_at),
            "source": self.source,
            "idempotency_key": self.idempotency_key,
            "payload": dict(self.payload),
        }


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What :meth:`Store.record` did."""

    changed: bool  # the event changed the cluster (its phase, its facts or its history)
    outcome: Outcome
    cluster: Cluster  # the cluster after the event
    duplicate: bool  # the idempotency key was already stored: nothing was written
    recorded: bool = False  # the event joined the log (every event but a repeat)


@dataclass(frozen=True, slots=True)
class ObserveResult:
    """What :meth:`Store.observe` did (or, with ``dry_run``, would do)."""

    cluster_id: str
    created: bool
    changed: bool  # created, facts changed, or an event changed the cluster
    recorded: list[Event]  # every event that joined the log, whatever it did
    outcomes: list[Outcome]
    before: ClusterState | None  # as last evaluated by a write (None: never)
    after: ClusterState  # evaluated at ``now`` after the observation
    entered: list[Phase]  # phases entered since the last write-evaluation
    dry_run: bool
    duplicate: bool = False  # the idempotency key was already stored: no event recorded
    facts_changed: bool = False

    @property
    def too_late(self) -> list[str]:
        """One line for each event kept but too late to apply, with both instants."""
        return unheeded(self.outcomes, (TOO_LATE,))


@dataclass(frozen=True, slots=True)
class WarningEntry:
    """A warning as the ledger and the clock see it at one instant (see :meth:`Store.warnings`)."""

    warning: DeadlineWarning
    status: Status
    issued_at: datetime | None  # None: due, not issued yet
    acknowledged_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.warning.as_dict(),
            "status": self.status,
            "issued_at": optional_format(self.issued_at),
            "acknowledged_at": optional_format(self.acknowledged_at),
        }
