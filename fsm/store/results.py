"""What the store hands back: a row of an event log, what a write did, a warning's entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..lifecycle import Cluster
from ..table import EventKind, Phase
from ..timeutil import format_time, optional_format
from ..values import ClusterState, Event, Outcome
from ..warnings import DeadlineWarning, Status


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

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
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

    changed: bool  # the event joined the log
    outcome: Outcome
    cluster: Cluster  # the cluster after the event
    duplicate: bool  # the idempotency key was already stored: nothing was written


@dataclass(frozen=True, slots=True)
class ObserveResult:
    """What :meth:`Store.observe` did (or, with ``dry_run``, would do)."""

    cluster_id: str
    created: bool
    changed: bool  # created, facts changed, or at least one event recorded
    recorded: list[Event]
    outcomes: list[Outcome]
    before: ClusterState | None  # as last evaluated by a write (None: never)
    after: ClusterState  # evaluated at ``now`` after the observation
    entered: list[Phase]  # phases entered since the last write-evaluation
    dry_run: bool
    duplicate: bool = False  # the idempotency key was already stored: no event recorded
    facts_changed: bool = False


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
