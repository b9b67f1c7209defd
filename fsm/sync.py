"""Keep the store true to the cloud: one snapshot in, one observation per cluster out.

The snapshot is read whole before anything is written (a listing is all or
nothing), then the clusters are recorded in batches of :data:`BATCH`, each
batch in one transaction (its observations and the warnings they make due), so
a failure part way leaves every batch, and so every cluster, either fully
updated or untouched, and the summary says which: the clusters of the batch
that failed are ``failed`` (left as they were), those after it ``untouched``.
A snapshot applied again (nothing changed since) writes nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from .errors import FsmError
from .observations import Observation
from .table import Billing, Phase
from .timeutil import TimeInput, format_time, optional_format, parse_time, utcnow
from .values import REFUSED, TOO_LATE, ClusterState, parse_account, unheeded
from .warnings import DeadlineWarning

if TYPE_CHECKING:
    from .sources.base import AccountSnapshot, CloudCluster, Snapshot, Source
    from .store import Store
    from .store.base import ClusterObservation

BATCH: Final = 250
"""Clusters recorded per transaction: a failure leaves a batch untouched."""

Status = Literal["recorded", "unchanged", "failed", "untouched"]
STATUSES: Final[tuple[Status, ...]] = get_args(Status)


@dataclass(frozen=True)
class ClusterSync:
    """What a sync did to one cluster."""

    cluster_id: str
    region: str
    status: Status
    billing: Billing | None = None
    phase_before: Phase | None = None
    phase: Phase | None = None
    entered: list[Phase] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)  # event kinds
    next_phase: Phase | None = None
    next_phase_at: datetime | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # why an event was refused or too late
    warnings: list[DeadlineWarning] = field(default_factory=list)  # issued by this sync

    @property
    def phase_changed(self) -> bool:
        return self.phase is not None and self.phase != self.phase_before

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster_id": self.cluster_id,
            "region": self.region,
            "status": self.status,
            "billing": None if self.billing is None else str(self.billing),
            "phase_before": None if self.phase_before is None else str(self.phase_before),
            "phase": None if self.phase is None else str(self.phase),
            "phase_changed": self.phase_changed,
            "entered": [str(p) for p in self.entered],
            "recorded": list(self.recorded),
            "next_phase": None if self.next_phase is None else str(self.next_phase),
            "next_phase_at": optional_format(self.next_phase_at),
            "error": self.error,
            "notes": list(self.notes),
            "warnings": [w.as_dict() for w in self.warnings],
        }


@dataclass(frozen=True)
class SyncSummary:
    account: str
    regions: list[str]
    fetched_at: datetime
    balance: str
    currency: str
    overdue: bool
    overdue_since: datetime | None
    overdue_since_source: str  # transactions | first_seen
    clusters: list[ClusterSync]
    dry_run: bool

    @property
    def changed(self) -> bool:
        return any(c.status == "recorded" for c in self.clusters)

    @property
    def complete(self) -> bool:
        return all(c.status in ("recorded", "unchanged") for c in self.clusters)

    @property
    def warnings(self) -> list[DeadlineWarning]:
        """The warnings this sync issued (dry run: would issue), cluster by cluster."""
        return [w for c in self.clusters for w in c.warnings]

    def counts(self) -> dict[Status, int]:
        """How many clusters ended in each status."""
        return {status: sum(c.status == status for c in self.clusters) for status in STATUSES}

    def lines(self) -> list[str]:
        """What the sync did, in words: the account, then the clusters (every face says this)."""
        since = f", overdue since {format_time(self.overdue_since)}" if self.overdue_since else ""
        overdue = f" (overdue{since}, from {self.overdue_since_source})" if self.overdue else ""
        counts = self.counts()
        lines = [
            f"account {self.account}: balance {self.balance} {self.currency}{overdue}",
            f"{len(self.clusters)} cluster(s) in {', '.join(self.regions)}: "
            f"{counts['recorded']} {'would record' if self.dry_run else 'recorded'}, "
            f"{counts['unchanged']} unchanged, {counts['failed']} failed, "
            f"{counts['untouched']} untouched",
            *self.notes(),
        ]
        if warnings := self.warnings:
            lines.append(f"{len(warnings)} warning(s) {'would be ' if self.dry_run else ''}issued")
        return lines

    def notes(self) -> list[str]:
        """Each event the sync saw refused, with its cluster and why."""
        return [f"{c.cluster_id}: {note}" for c in self.clusters for note in c.notes]

    def stopped(self) -> str | None:
        """Why a sync that stopped part way stopped, in words; None when it is complete."""
        if self.complete:
            return None
        failed = next((c for c in self.clusters if c.status == "failed"), None)
        counts = self.counts()
        where, batch = "", ""
        if failed is not None:
            where = f" {failed.cluster_id} ({failed.region}): {failed.error}"
            if counts["failed"] > 1:  # a batch: one transaction, rolled back whole
                where = f" a batch of {counts['failed']} cluster(s) from" + where
                batch = f"the {counts['failed']} of the batch left as they were, "
            where = " at" + where
        return (
            f"sync stopped{where}; {counts['recorded']} cluster(s) recorded and "
            f"{counts['unchanged']} unchanged before it, {batch}{counts['untouched']} untouched; "
            "every cluster is either fully updated or untouched, sync again to finish"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "regions": list(self.regions),
            "fetched_at": format_time(self.fetched_at),
            "balance": self.balance,
            "currency": self.currency,
            "overdue": self.overdue,
            "overdue_since": optional_format(self.overdue_since),
            "overdue_since_source": self.overdue_since_source,
            "dry_run": self.dry_run,
            "changed": self.changed,
            "complete": self.complete,
            "counts": dict(self.counts()),
            "clusters": [c.as_dict() for c in self.clusters],
            "warnings": [w.as_dict() for w in self.warnings],
        }


def sync(
    store: Store,
    source: Source,
    regions: Sequence[str],
    *,
    account: str = "default",
    since_from_transactions: bool = False,
    dry_run: bool = False,
    now: TimeInput | None = None,
) -> SyncSummary:
    """Read the cloud once, then record what changed, a batch of clusters at a time."""
    account = parse_account(account)
    snapshot = source.snapshot(regions, since_from_transactions=since_from_transactions)
    return apply_snapshot(store, snapshot, account=account, dry_run=dry_run, now=now)


def apply_snapshot(
    store: Store,
    snapshot: Snapshot,
    *,
    account: str = "default",
    dry_run: bool = False,
    now: TimeInput | None = None,
) -> SyncSummary:
    """Record a snapshot already read (the part of :func:`sync` that writes)."""
    at = snapshot.fetched_at
    evaluated_at = max(at, utcnow() if now is None else parse_time(now, "now"))
    balance = snapshot.account
    known_regions = store.regions(account=account)
    located = {cid: region for cid, region in known_regions.items() if region is not None}
    work: list[tuple[str, str, CloudCluster | None]] = [
        (cloud.cluster_id, cloud.region, cloud) for cloud in snapshot.clusters
    ]
    # Gone from a complete listing of its region: the owner released it.
    work += [(cid, located[cid], None) for cid in snapshot.disappeared(located)]

    known = _known_expiries(store, snapshot, known_regions, account, evaluated_at)
    results: list[ClusterSync] = []
    started: list[datetime] = []  # when the store says each overdue cluster's clock started
    failed = False
    for batch in _batches(work, BATCH):
        if failed:
            results += [ClusterSync(cid, region, "untouched") for cid, region, _ in batch]
            continue
        try:
            items = [
                _item(cid, region, cloud, balance, at, account, snapshot.source, known)
                for cid, region, cloud in batch
            ]
            observed = store.observe_many(items, now=evaluated_at, dry_run=dry_run)
        except FsmError as err:
            # The batch's one transaction is rolled back: every cluster of it is as it was.
            failed = True
            results += [
                ClusterSync(cid, region, "failed", error=str(err)) for cid, region, _ in batch
            ]
            continue
        for (cid, region, _), (result, issued) in zip(batch, observed, strict=True):
            results.append(_summarise(cid, region, result.before, result.after, result, issued))
            if result.after.overdue and result.after.overdue_since is not None:
                started.append(result.after.overdue_since)
    if not dry_run and not failed and _news(store, account, at, balance):
        # What the metrics report as the account's balance and last successful sync.
        store.record_sync(account, synced_at=at, balance=balance.balance, currency=balance.currency)
    return SyncSummary(
        account=account,
        regions=list(snapshot.regions),
        fetched_at=at,
        balance=str(balance.balance),
        currency=balance.currency,
        overdue=balance.overdue,
        # Derived from transactions, or else the clock the store keeps (the first
        # sync that saw the balance negative).
        overdue_since=balance.overdue_since
        or (min(started) if balance.overdue and started else None),
        overdue_since_source=balance.overdue_since_source,
        clusters=results,
        dry_run=dry_run,
    )


def _batches(
    work: list[tuple[str, str, CloudCluster | None]], size: int
) -> Iterator[list[tuple[str, str, CloudCluster | None]]]:
    for start in range(0, len(work), size):
        yield work[start : start + size]


def _item(
    cluster_id: str,
    region: str,
    cloud: CloudCluster | None,
    balance: AccountSnapshot,
    at: datetime,
    account: str,
    source: str,
    known: dict[str, datetime | None],
) -> ClusterObservation:
    """What the snapshot says of one cluster (``cloud`` None: gone from its region's listing)."""
    from .store.base import ClusterObservation

    tracked = cluster_id in known
    if cloud is None:
        observation = Observation(at=at, released=True)
    else:
        observation = _observation(balance, cloud, at, known.get(cluster_id), tracked)
    return ClusterObservation(
        cluster_id,
        observation,
        billing=None if cloud is None else cloud.billing,
        account=account,
        # A cluster seen for the first time takes expires_at as a fact;
        # later extensions are renewals in its event log.
        expires_at=None if tracked or cloud is None else cloud.expires_at,
        region=region,
        source=f"{source}:{region}",
    )


def _known_expiries(
    store: Store,
    snapshot: Snapshot,
    tracked: dict[str, str | None],
    account: str,
    now: datetime,
) -> dict[str, datetime | None]:
    """Each tracked cluster's expiry as the store has it now (renewals included), read once.

    Only subscriptions need it (a later expiry in the cloud is a renewal); the others are
    listed as tracked with None.
    """
    known: dict[str, datetime | None] = dict.fromkeys(tracked)
    if not any(
        c.billing == Billing.SUBSCRIPTION and c.expires_at and c.cluster_id in tracked
        for c in snapshot.clusters
    ):
        return known
    for state in store.clusters(account=account, now=now):
        if state.cluster_id not in known:
            continue
        if state.newest_event_at is not None and state.newest_event_at > now:
            # An event dated after ``now`` (within the future tolerance): the whole log.
            known[state.cluster_id] = store.load(state.cluster_id).expires_at
        else:
            known[state.cluster_id] = state.expires_at
    return known


def _news(store: Store, account: str, at: datetime, balance: AccountSnapshot) -> bool:
    """Whether this sync is news to the store: not the very one it last remembered."""
    last = next((s for s in store.account_syncs() if s.account == account), None)
    seen = (at, str(balance.balance), balance.currency)
    return last is None or (last.synced_at, last.balance, last.currency) != seen


def _observation(
    balance: AccountSnapshot,
    cloud: CloudCluster,
    at: datetime,
    known: datetime | None,
    tracked: bool,
) -> Observation:
    renewed_until = None
    expiry = cloud.expires_at if tracked and cloud.billing == Billing.SUBSCRIPTION else None
    if expiry is not None and (known is None or expiry > known):
        renewed_until = expiry  # the cloud says it runs longer: a renewal
    return Observation(
        at=at,
        balance=balance.balance,
        overdue_since=balance.overdue_since if balance.overdue else None,
        renewed_until=renewed_until,
        released=cloud.released,
        released_at=cloud.released_at if cloud.released else None,
    )


def _summarise(
    cluster_id: str,
    region: str,
    before: ClusterState | None,
    after: ClusterState,
    result: Any,
    warnings: list[DeadlineWarning],
) -> ClusterSync:
    timeline = after.timeline()
    return ClusterSync(
        cluster_id=cluster_id,
        region=region,
        status="recorded" if result.changed else "unchanged",
        billing=after.billing,
        phase_before=None if before is None else before.phase,
        phase=after.phase,
        entered=list(result.entered),
        recorded=[str(e.kind) for e in result.recorded],
        next_phase=timeline[0][0] if timeline else None,
        next_phase_at=timeline[0][1] if timeline else None,
        notes=unheeded(result.outcomes, (REFUSED, TOO_LATE)),  # a terminal cluster's: routine
        warnings=warnings,
    )
