"""What every store does, whatever the engine underneath: the public API.

A store keeps each cluster's facts and its append-only event log, nothing else
that is true: the phase is always recomputed by the core engine from facts,
events and ``now``. Each cluster row also caches the phase the last write
computed (``last_phase``, ``last_evaluated_at``) so a write can tell which
phases were entered since; that cache is never read as the truth.

The engines (:mod:`.sqlite`, :mod:`.postgres`) supply connections,
transactions, the per-cluster lock and the SQL types; how statements run is
:mod:`.transaction`, what a write stores is planned in :mod:`.plan`, the
tables are :mod:`.schema`; the rest of the logic is here, once. SQL is
written with ``?`` placeholders and every value travels as a parameter.
"""

from __future__ import annotations

import builtins
import warnings
from collections.abc import Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from ..errors import InputError, NotTrackedError
from ..lifecycle import Cluster
from ..policy import Policy
from ..table import Billing, Phase
from ..timeutil import (
    TimeInput,
    optional_time,
    parse_time,
    utcnow,
)
from ..values import (
    Checkpoint,
    ClusterState,
    Event,
    Outcome,
    parse_account,
    parse_amount,
    parse_billing,
    parse_cluster_id,
    parse_phase,
)
from .ledger import LedgerStore
from .plan import (
    ClusterObservation,
    ClusterObserved,
    Facts,
    RowChange,
    Writes,
    check_same_billing,
    checked_key,
    checked_region,
    checked_source,
    checkpoint_change,
    key_reused,
    observe_request,
    plan_observe,
    rebuild,
    record_all,
    resume,
)
from .rows import KINDS, cell
from .schema import (
    CHECKPOINTS_FROM,
    READABLE_FROM,
    SCHEMA_VERSION,
    SYNCS_FROM,
)
from .transaction import Tx
from .url import StoreURL

if TYPE_CHECKING:
    from ..observations import Observation
    from .results import AccountSync, ObserveResult, RecordResult, StoredEvent, WarningEntry

# What a write or a listing hands back, observations and warnings are imported by the
# first call that uses them: a reader asking for one cluster (a guard) never loads them.
_RESULTS: Final = frozenset(
    ("AccountSync", "ObserveResult", "RecordResult", "StoredEvent", "WarningEntry")
)


def __getattr__(name: str) -> Any:
    """The result classes, still importable from here (their home is :mod:`.results`)."""
    if name in _RESULTS:
        from . import results

        return getattr(results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "READABLE_FROM",
    "SCHEMA_VERSION",
    "AccountSync",
    "ClusterObservation",
    "ClusterObserved",
    "ObserveResult",
    "RecordResult",
    "Store",
    "StoredEvent",
    "Tx",
    "WarningEntry",
]

_MANY_LOCK: Final = "several clusters"  # taken first; no cluster id has a space


class Store(LedgerStore):
    """A store of cluster facts and event logs. Use as a context manager, or ``close()``.

    Open one with :func:`fsm.store.open_store`. ``writable`` is False for
    readers (``create=False``): they never create, migrate or write anything.
    """

    @classmethod
    def from_url(
        cls, url: StoreURL, policy: Policy, writable: bool, rehearsal: bool = False
    ) -> Store:
        """Open the store ``url`` names (an engine's own constructor takes it apart)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection; the store cannot be used afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    # -- writes ---------------------------------------------------------------------------

    def upsert_cluster(
        self,
        cluster_id: str,
        billing: str | Billing,
        *,
        account: str = "default",
        expires_at: TimeInput | None = None,
        region: str | None = None,
    ) -> bool:
        """Track ``cluster_id`` with these facts; True if it was created or a fact changed.

        The facts are set as given (``expires_at`` None: no expiry), except
        ``region``, which None leaves as it is. The billing of a tracked
        cluster cannot change: that is an :class:`InputError`.
        """
        cid = parse_cluster_id(cluster_id)
        wanted = Facts(
            parse_account(account),
            parse_billing(billing),
            optional_time(expires_at, "expires_at"),
            checked_region(region),
        )
        # The core checks the facts fit together (no expiry for pay-as-you-go).
        Cluster(cid, wanted.billing, account=wanted.account, expires_at=wanted.expires_at)

        def work(tx: Tx) -> bool:
            current, _, _, _ = self._load(tx, cid, cache=True)  # the facts, and the write's token
            if current is None:
                self._apply(tx, cid, Writes(RowChange(wanted, create=True)))
                return True
            check_same_billing(cid, current.billing, wanted.billing)
            region = current.region if wanted.region is None else wanted.region
            new = Facts(wanted.account, wanted.billing, wanted.expires_at, region)
            if new.proper() == current.proper():
                return False
            self._apply(tx, cid, Writes(RowChange(new, facts_changed=True)))
            return True

        return self._change(cid, work)

    def record(
        self,
        cluster_id: str,
        event: Event,
        idempotency_key: str | None = None,
        *,
        source: str = "api",
        now: TimeInput | None = None,
    ) -> RecordResult:
        """Record ``event`` for a tracked cluster where it belongs in event time.

        Every event joins the log but an exact repeat (``recorded``), even one
        that changes nothing now (``changed`` False): a late event may give it
        its effect. A key already stored for this cluster is a retry: nothing
        is written, ``duplicate`` is True.
        """
        from .results import RecordResult

        cid = parse_cluster_id(cluster_id)
        if not isinstance(event, Event):
            raise InputError("event", event, "an fsm.Event (fsm.Event.create(kind, at))")
        key = checked_key(idempotency_key)
        src = checked_source(source)
        at_now = utcnow() if now is None else parse_time(now, "now")

        def work(tx: Tx) -> RecordResult:
            loaded = self._load_for_write(tx, cid, [event], key, None)
            if loaded is None:
                raise NotTrackedError(cid)
            facts, stored = loaded.facts, loaded.keyed
            cluster = resume(cid, facts, loaded, [event], self.policy)
            if stored is not None:
                if stored != event:
                    raise key_reused(key, stored, [event])
                phase = cluster.phase
                note = f"duplicate: idempotency key {key!r} is already recorded"
                outcome = Outcome(str(event.kind), False, phase, phase, (), note)
                return RecordResult(False, outcome, cluster, True)
            outcomes, rows = record_all(cluster, [event], loaded, key, at_now)
            if rows:
                mark = (cluster.state(at_now).phase, at_now)
                checkpoints = checkpoint_change(cluster, loaded, rows)
                writes = Writes(RowChange(facts, mark=mark), rows, src, {}, checkpoints)
                self._apply_loaded(tx, cid, writes, loaded)
            outcome = outcomes[0]
            return RecordResult(outcome.changed, outcome, cluster, False, bool(rows))

        return self._change(cid, work)

    def observe(
        self,
        cluster_id: str,
        observation: Observation,
        *,
        billing: str | None = None,
        account: str | None = None,
        expires_at: TimeInput | None = None,
        region: str | None = None,
        source: str = "api",
        idempotency_key: str | None = None,
        now: TimeInput | None = None,
        dry_run: bool = False,
    ) -> ObserveResult:
        """Apply what was observed about a cluster, in one transaction under its lock.

        Creates the cluster if it is unknown (``billing`` is then required),
        updates the facts given (None leaves a fact as it is; ``region`` is
        where the cloud keeps the cluster), records the events the observation stands for
        that change the cluster, and evaluates it at ``now`` (default: the wall
        clock). ``dry_run`` computes the same result and writes nothing.
        """
        from ..observations import events_for

        asked = ClusterObservation(
            cluster_id, observation, billing, account, expires_at, region, source, idempotency_key
        )
        request = observe_request(asked, now, dry_run)
        cid = request.cluster_id

        wanted = events_for(observation)

        def work(tx: Tx) -> ObserveResult:
            if self._current:
                loaded = self._load_for_write(
                    tx, cid, wanted, request.idempotency_key, request.expires_at
                )
            else:  # a rehearsal reads an older schema as it is: the whole log
                loaded = self._load_whole(tx, cid, request.idempotency_key)
            result, writes = plan_observe(request, loaded, wanted, self.policy)
            if not dry_run:
                self._apply_loaded(tx, cid, writes, loaded, result.after)
            return result

        if dry_run:
            if self._nothing_stored():  # no store yet: a rehearsal creates none
                return plan_observe(request, None, wanted, self.policy)[0]
            return self._read(work)
        return self._change(cid, work)

    def observe_many(
        self,
        observations: Iterable[ClusterObservation],
        *,
        now: TimeInput | None = None,
        dry_run: bool = False,
    ) -> list[ClusterObserved]:
        """Apply several clusters' observations in one transaction: all of them, or none.

        Each does what :meth:`observe` with its arguments does, then enters the
        warnings due after it in the ledger (as :meth:`issue_warnings`); each result
        and warnings entered come back in the order given. A cluster appears once.
        The transaction holds every cluster's lock; if nothing changes, nothing is
        written. ``dry_run`` writes nothing (the warnings are those not entered yet).
        """
        given = list(observations)
        from ..observations import events_for
        from ..warnings import warnings_due

        at_now = utcnow() if now is None else parse_time(now, "now")
        if dry_run:
            return [self._observe_dry(item, at_now) for item in given]
        requests = [observe_request(item, at_now) for item in given]
        cids = [request.cluster_id for request in requests]
        if len(set(cids)) < len(cids):
            repeated = next(cid for cid in cids if cids.count(cid) > 1)
            raise InputError("observations", repeated, "each cluster observed once per call")

        def work(tx: Tx) -> list[ClusterObserved]:
            self._lock_clusters(tx, cids)
            # Their ledgers cannot change while the locks are held: read once, before any write.
            ledgers = self._read_ledgers(tx, cids)
            tracked = ledgers.tracked
            # Every read before any write (a PostgreSQL transaction sends its writes last).
            planned = []
            for request in requests:
                wanted = events_for(request.observation)
                loaded = None
                if request.cluster_id in tracked:
                    loaded = self._load_for_write(
                        tx, request.cluster_id, wanted, request.idempotency_key, request.expires_at
                    )
                planned.append(plan_observe(request, loaded, wanted, self.policy))
            due = [warnings_due(result.after, at_now) for result, _ in planned]
            for request, (_, writes) in zip(requests, planned, strict=True):
                self._apply(tx, request.cluster_id, writes)
            fresh = self._enter_warnings(tx, ledgers, due, at_now)
            return [ClusterObserved(r, w) for (r, _), w in zip(planned, fresh, strict=True)]

        return [] if not requests else self._write(_MANY_LOCK, work)

    def _observe_dry(self, item: ClusterObservation, at_now: datetime) -> ClusterObserved:
        from ..warnings import warnings_due

        cid, seen, billing, account, expires, region, source, key = item
        result = self.observe(
            cid, seen, billing=billing, account=account, expires_at=expires, region=region,
            source=source, idempotency_key=key, now=at_now, dry_run=True,
        )  # fmt: skip
        due = warnings_due(result.after, at_now)
        return ClusterObserved(result, self.issue_warnings(cid, due, now=at_now, dry_run=True))

    def _lock_clusters(self, tx: Tx, cluster_ids: Sequence[str]) -> None:
        """Take the write locks of ``cluster_ids`` in ``tx`` (an engine with one lock: none)."""

    def mark_evaluated(self, cluster_id: str, *, now: TimeInput | None = None) -> bool:
        """Refresh the cached phase of a cluster at ``now``; True if it was written.

        Internal bookkeeping for listings: the cache is never the truth.
        """
        cid = parse_cluster_id(cluster_id)
        at_now = utcnow() if now is None else parse_time(now, "now")

        def work(tx: Tx) -> bool:
            facts, events, applied, _ = self._load(tx, cid, cache=True)
            if facts is None:
                raise NotTrackedError(cid)
            last = facts.last_evaluated_at
            if last is not None and at_now <= last:
                return False
            phase = rebuild(cid, facts, events, self.policy, applied).state(at_now).phase
            if phase is facts.last_phase:
                return False
            self._apply(tx, cid, Writes(RowChange(facts, mark=(phase, at_now))))
            return True

        return self._change(cid, work)

    def record_sync(
        self,
        account: str,
        *,
        synced_at: TimeInput,
        balance: object = None,
        currency: str | None = None,
    ) -> bool:
        """Remember that a sync of ``account`` succeeded at ``synced_at``, seeing ``balance``.

        Only the latest sync of an account is kept: an older one arriving late
        changes nothing (False).
        """
        acct = parse_account(account)
        at = parse_time(synced_at, "synced_at")
        amount = None if balance is None else str(parse_amount(balance, "balance"))
        if currency is not None and not isinstance(currency, str):
            raise InputError("currency", currency, "a currency code such as CNY")

        def work(tx: Tx) -> bool:
            row = tx.row("SELECT synced_at FROM account_syncs WHERE account = ?", (acct,))
            if row is not None and self._time_out(row[0]) > at:
                return False
            values = (self._time_in(at), amount, currency, acct)
            if row is None:
                tx.run(
                    "INSERT INTO account_syncs (synced_at, balance, currency, account)"
                    " VALUES (?, ?, ?, ?)",
                    values,
                )
            else:
                tx.run(
                    "UPDATE account_syncs SET synced_at = ?, balance = ?, currency = ?"
                    " WHERE account = ?",
                    values,
                )
            return True

        # The account's own lock: no cluster id has a space in it.
        return self._write(f"account {acct}", work)

    # -- reads ------------------------------------------------------------------------------

    def get(self, cluster_id: str) -> Cluster | None:
        """The cluster rebuilt from its facts and events, or None if it is not tracked."""
        cid = parse_cluster_id(cluster_id)

        def work(tx: Tx) -> Cluster | None:
            facts, events, applied, _ = self._load(tx, cid)
            return None if facts is None else rebuild(cid, facts, events, self.policy, applied)

        if self._nothing_stored():
            return None
        return self._read(work)

    def load(self, cluster_id: str) -> Cluster:
        """The cluster rebuilt from its facts and events; :class:`NotTrackedError` if unknown."""
        cluster = self.get(cluster_id)
        if cluster is None:
            raise NotTrackedError(cluster_id)
        return cluster

    def history(self, cluster_id: str) -> list[StoredEvent]:
        """The event log of a cluster in recording order."""
        from .results import StoredEvent

        cid = parse_cluster_id(cluster_id)

        def work(tx: Tx) -> list[StoredEvent]:
            kept = "e.applied, e.effect" if self._has(CHECKPOINTS_FROM) else "1, NULL"
            rows = tx.rows(
                "SELECT e.seq, e.kind, e.at, e.recorded_at, e.source, e.idempotency_key,"
                f" e.payload, {kept} FROM clusters c"
                " LEFT JOIN events e ON e.cluster_id = c.cluster_id"
                " WHERE c.cluster_id = ? ORDER BY e.seq",
                (cid,),
            )
            if not rows:
                raise NotTrackedError(cid)
            with self._damaged(cid):
                return [
                    StoredEvent(
                        seq=int(seq),
                        cluster_id=cid,
                        kind=cell("events.kind", KINDS.__getitem__, kind),
                        at=cell("events.at", self._time_out, at),
                        recorded_at=cell("events.recorded_at", self._time_out, recorded_at),
                        source=src,
                        idempotency_key=key,
                        payload=cell("events.payload", self._json_out, payload),
                        applied=bool(applied),
                        effect=effect,
                    )
                    for seq, kind, at, recorded_at, src, key, payload, applied, effect in rows
                    if seq is not None  # the one row of a cluster with no events
                ]

        if self._nothing_stored():
            raise NotTrackedError(cid)
        return self._read(work)

    def regions(self, *, account: str | None = None) -> dict[str, str | None]:
        """Every tracked cluster (of ``account``) with its region (None: not known)."""
        acct = None if account is None else parse_account(account)

        # The region is a column of schema 2: an older store read as it is knows none.
        region = "region" if self._current else "NULL"

        def work(tx: Tx) -> list[tuple[Any, ...]]:
            where, params = ("", ()) if acct is None else (" WHERE account = ?", (acct,))
            return tx.rows(
                f"SELECT cluster_id, {region} FROM clusters" + where + " ORDER BY cluster_id",
                params,
            )

        if self._nothing_stored():
            return {}
        return dict(self._read(work))

    def clusters(
        self,
        *,
        account: str | None = None,
        phase: Phase | str | None = None,
        now: TimeInput | None = None,
    ) -> list[ClusterState]:
        """Every tracked cluster (of ``account``) evaluated at ``now``, by cluster id.

        ``phase`` keeps only the clusters in that phase at ``now``.
        """
        acct = None if account is None else parse_account(account)
        wanted = None if phase is None else parse_phase(phase)
        at_now = utcnow() if now is None else parse_time(now, "now")

        tips = self._has(CHECKPOINTS_FROM)
        at_param = self._time_in(at_now)

        def work(tx: Tx) -> list[tuple[Any, ...]]:
            where, params = ("", ()) if acct is None else (" WHERE c.account = ?", (acct,))
            # One statement: one consistent snapshot, the rows of a cluster together. A
            # cluster whose checkpoint covers ``now`` needs no log: it is not joined.
            if tips:
                columns = "c.checkpoint, c.newest_at, e.applied"
                join = " AND (c.checkpoint IS NULL OR c.newest_at IS NULL OR c.newest_at > ?)"
                params = (at_param, *params)
            else:
                columns, join = "NULL, NULL, 1", ""
            return tx.rows(
                "SELECT c.cluster_id, c.account, c.billing, c.expires_at, e.kind, e.at,"
                f" e.expires_at, {columns} FROM clusters c LEFT JOIN events e"
                " ON e.cluster_id = c.cluster_id" + join + where + " ORDER BY c.cluster_id, e.seq",
                params,
            )

        opt_time_out = self._opt_time_out
        clusters: list[
            tuple[str, Facts, Checkpoint | None, datetime | None, list[Event], list[bool]]
        ] = []
        current = None
        log: list[Event] = []
        flags: list[bool] = []
        rows = [] if self._nothing_stored() else self._read(work)
        for cid, acc, billing, expiry, kind, at, renewal, tip, newest, applied in rows:
            with self._damaged(cid):
                if cid != current:
                    current, log, flags = cid, [], []
                    facts = Facts(
                        acc,
                        cell("clusters.billing", Billing, billing),
                        cell("clusters.expires_at", opt_time_out, expiry),
                    )
                    usable = tip is not None and newest is not None
                    if usable and self._time_out(newest) > at_now:
                        usable = False  # asked about an instant before its newest event
                    checkpoint = self._checkpoint_out(cid, tip) if usable else None
                    newest_at = opt_time_out(newest)
                    clusters.append((cid, facts, checkpoint, newest_at, log, flags))
                if kind is not None:
                    log.append(self._event_out(kind, at, renewal))
                    flags.append(bool(applied))
        states = []
        for cid, facts, checkpoint, newest_at, events, applied in sorted(clusters, key=_first):
            if checkpoint is not None:
                cluster = Cluster.resume(
                    cid,
                    facts.billing,
                    checkpoint,
                    (),
                    newest=newest_at,
                    account=facts.account,
                    expires_at=facts.expires_at,
                    policy=self.policy,
                )
            else:
                cluster = rebuild(cid, facts, events, self.policy, applied)
            state = cluster.state(at_now)
            if wanted is None or state.phase is wanted:
                states.append(state)
        return states

    def account_syncs(self) -> list[AccountSync]:
        """Each account's last successful sync, by account (none before the first sync)."""
        from .results import AccountSync

        if not self._has(SYNCS_FROM):
            return []  # a reader of an older store: it kept no syncs

        def work(tx: Tx) -> list[tuple[Any, ...]]:
            return tx.rows(
                "SELECT account, synced_at, balance, currency FROM account_syncs ORDER BY account"
            )

        return [
            AccountSync(account, self._time_out(at), balance, currency)
            for account, at, balance, currency in self._read(work)
        ]

    def warnings(
        self,
        *,
        cluster_id: str | None = None,
        account: str | None = None,
        due_only: bool = False,
        now: TimeInput | None = None,
    ) -> list[WarningEntry]:
        """The warnings of the ledger and those due at ``now``, each with its status.

        ``due_only`` keeps the warnings due: threshold crossed, deadline ahead,
        episode current, not acknowledged (issued or not yet). Reads only.
        """
        from ..warnings import status, warnings_due
        from .results import WarningEntry

        cid = None if cluster_id is None else parse_cluster_id(cluster_id)
        acct = None if account is None else parse_account(account)
        at_now = utcnow() if now is None else parse_time(now, "now")
        states = self.clusters(account=acct, now=at_now)
        if cid is not None:
            states = [state for state in states if state.cluster_id == cid]
            if not states:
                raise NotTrackedError(cid)
        due = {w.key: w for state in states for w in warnings_due(state, at_now)}
        entries: list[WarningEntry] = []
        for warning, issued_at, acknowledged_at in self._ledger_rows(cid, acct):
            current = due.pop(warning.key, None)
            standing = status(
                warning,
                acknowledged=acknowledged_at is not None,
                due=current is not None,
                now=at_now,
            )
            if not due_only or standing == "due":
                entries.append(WarningEntry(warning, standing, issued_at, acknowledged_at))
        entries += [WarningEntry(w, "due", None, None) for w in due.values()]
        entries.sort(key=_ledger_order)
        return entries

    # -- deprecated names (last: ``list`` would shadow the builtin in the class body) ------------

    def list(
        self,
        *,
        account: str | None = None,
        phase: Phase | str | None = None,
        now: TimeInput | None = None,
    ) -> builtins.list[ClusterState]:
        """Deprecated: use :meth:`clusters`, which this calls."""
        warnings.warn(
            "Store.list() is deprecated; use Store.clusters()", DeprecationWarning, stacklevel=2
        )
        return self.clusters(account=account, phase=phase, now=now)


# -- helpers ----------------------------------------------------------------------------------


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


def _ledger_order(entry: WarningEntry) -> tuple[Any, ...]:
    w = entry.warning
    return (w.cluster_id, w.deadline, -w.threshold, w.episode)
