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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, TypeVar

from ..errors import FsmError, InputError, NotTrackedError, StoreError
from ..lifecycle import Cluster
from ..observations import Observation, events_for
from ..policy import Policy
from ..table import Billing, EventKind, Phase
from ..timeutil import (
    TimeInput,
    format_duration,
    format_time,
    optional_time,
    parse_duration,
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
    parse_region,
)
from ..warnings import DeadlineWarning, Step, status, warnings_due
from .plan import (
    CheckpointChange,
    Facts,
    Loaded,
    ObserveRequest,
    RowChange,
    Writes,
    check_same_billing,
    checkpoint_change,
    key_reused,
    plan_observe,
    rebuild,
    record_all,
    resume,
)
from .results import AccountSync, ObserveResult, RecordResult, StoredEvent, WarningEntry
from .schema import (
    CHECKPOINTS_FROM,
    READABLE_FROM,
    SCHEMA_VERSION,
    SYNCS_FROM,
    WARNINGS_FROM,
    WARNINGS_TABLE,
)
from .transaction import Transactional, Tx, note_token
from .url import StoreURL

__all__ = [
    "READABLE_FROM",
    "SCHEMA_VERSION",
    "AccountSync",
    "ObserveResult",
    "RecordResult",
    "Store",
    "StoredEvent",
    "Tx",
    "WarningEntry",
]

_KINDS: Final = {str(kind): kind for kind in EventKind}
_MAX_KEY: Final = 200
_MAX_SOURCE: Final = 64
_BEFORE_ANY: Final = datetime(1, 1, 1, tzinfo=UTC)  # earlier than every event
_AFTER_ALL: Final = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)  # later than every one
_LEDGER_COLUMNS: Final = (
    "cluster_id, step, threshold, episode, due_at, deadline, message, issued_at, acknowledged_at"
)
_LEDGER_KEY: Final = "step, threshold, episode"
_LEDGER_KEY_COLUMNS: Final = "cluster_id, " + _LEDGER_KEY  # the ledger's primary key
LedgerKey = tuple[str, str, datetime]
"""A warning's key in its cluster's ledger rows: (step, threshold as written, episode)."""


class Store(Transactional):
    """A store of cluster facts and event logs. Use as a context manager, or ``close()``.

    Open one with :func:`fsm.store.open_store`. ``writable`` is False for
    readers (``create=False``): they never create, migrate or write anything.
    """

    def __init__(self, url: str, policy: Policy, writable: bool, rehearsal: bool = False) -> None:
        super().__init__(url, writable)
        self.policy = policy
        self.rehearsal = rehearsal
        # The schema found when opened (None: no store yet); an engine sets it.
        self.schema_version: int | None = SCHEMA_VERSION
        # The checkpoint each cluster's row held when last read, decoded: a writer that
        # observes one cluster over and over decodes its transitions once.
        self._decoded: dict[str, tuple[object, Checkpoint]] = {}

    @property
    def pending(self) -> tuple[str, ...]:
        """What opening this store for writing would do before any write (a rehearsal's news)."""
        if self.schema_version is None:
            return (f"create the store at {self.url}",)
        steps = list(self._engine_pending())
        if self.schema_version < SCHEMA_VERSION:
            steps.insert(
                0, f"migrate its schema from version {self.schema_version} to {SCHEMA_VERSION}"
            )
        return tuple(steps)

    def _engine_pending(self) -> tuple[str, ...]:
        """What else the engine would change on opening for writing (a journal mode, say)."""
        return ()

    def _nothing_stored(self) -> bool:
        """No store exists yet, and the engine cannot read one that is not there.

        Only a rehearsal (or a writer before its first write) meets it; reads
        then answer for an empty store without asking the engine.
        """
        return self.schema_version is None

    @property
    def _current(self) -> bool:
        """The store has this code's schema (an older one is read by a reader as it is)."""
        return self.schema_version == SCHEMA_VERSION

    def _has(self, version: int) -> bool:
        """The store as opened has the tables and columns of schema ``version``."""
        return self.schema_version is not None and self.schema_version >= version

    # -- engine hooks: how values travel -------------------------------------------------

    def _time_in(self, value: datetime) -> object:
        return value

    def _time_out(self, value: Any) -> datetime:
        return parse_time(value, "stored time")

    def _json_in(self, value: dict[str, Any]) -> object:
        return value

    def _json_out(self, value: Any) -> dict[str, Any]:
        return dict(value)

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
            _region(region),
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
        cid = parse_cluster_id(cluster_id)
        if not isinstance(event, Event):
            raise InputError("event", event, "an fsm.Event (fsm.Event.create(kind, at))")
        key = _key(idempotency_key)
        src = _source(source)
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
                self._apply(
                    tx, cid, Writes(RowChange(facts, mark=mark), rows, src, {}, checkpoints)
                )
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
        cid = parse_cluster_id(cluster_id)
        if not isinstance(observation, Observation):
            raise InputError("observation", observation, "an fsm.Observation")
        request = ObserveRequest(
            cluster_id=cid,
            observation=observation,
            billing=None if billing is None else parse_billing(billing),
            account=None if account is None else parse_account(account),
            expires_at=optional_time(expires_at, "expires_at"),
            region=_region(region),
            idempotency_key=_key(idempotency_key),
            source=_source(source),
            now=utcnow() if now is None else parse_time(now, "now"),
            dry_run=dry_run,
        )

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
                self._apply(tx, cid, writes)
            return result

        if dry_run:
            if self._nothing_stored():  # no store yet: a rehearsal creates none
                return plan_observe(request, None, wanted, self.policy)[0]
            return self._read(work)
        return self._change(cid, work)

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
                        kind=_cell("events.kind", _KINDS.__getitem__, kind),
                        at=_cell("events.at", self._time_out, at),
                        recorded_at=_cell("events.recorded_at", self._time_out, recorded_at),
                        source=src,
                        idempotency_key=key,
                        payload=_cell("events.payload", self._json_out, payload),
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
                        _cell("clusters.billing", Billing, billing),
                        _cell("clusters.expires_at", opt_time_out, expiry),
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

    # -- the warning ledger -------------------------------------------------------------------

    def issue_warnings(
        self,
        cluster_id: str,
        warnings: Iterable[DeadlineWarning],
        *,
        now: TimeInput | None = None,
        dry_run: bool = False,
    ) -> list[DeadlineWarning]:
        """Enter ``warnings`` of one cluster in the ledger; the ones this call entered come back.

        Each (cluster, step, threshold, episode) is entered once, however many
        runs, processes or controllers issue it at once: one statement inserts
        what is absent and returns what it inserted. ``dry_run`` writes nothing
        and returns those not entered yet. The cluster must be tracked.
        """
        cid = parse_cluster_id(cluster_id)
        given = list(warnings)
        wanted = _of_cluster(cid, given)
        other = next((w.cluster_id for w in given if w.cluster_id != cid), None)
        if other is not None:
            raise InputError("warnings", other, f"warnings of cluster {cid} only")
        at_now = utcnow() if now is None else parse_time(now, "now")
        entered = self._ledger_keys(cid) if wanted else set()
        fresh = [w for w in wanted if _ledger_key(w) not in entered]
        if dry_run or not fresh:
            return fresh
        issued_at = self._time_in(at_now)

        def work(tx: Tx) -> set[LedgerKey]:
            if tx.row("SELECT 1 FROM clusters WHERE cluster_id = ?", (cid,)) is None:
                raise NotTrackedError(cid)
            rows = tx.rows(
                self._ledger_insert(fresh) + f" ON CONFLICT DO NOTHING RETURNING {_LEDGER_KEY}",
                self._ledger_values(fresh, issued_at, None),
            )
            return {self._ledger_key_out(*row) for row in rows}

        inserted = self._write(cid, work)
        return [w for w in fresh if _ledger_key(w) in inserted]

    def acknowledge(
        self, warnings: Iterable[DeadlineWarning], *, now: TimeInput | None = None
    ) -> list[DeadlineWarning]:
        """Mark ``warnings`` acknowledged; the ones this call acknowledged come back.

        An acknowledged warning is no longer due and is never issued again in
        its episode; one not issued yet is entered in the ledger as issued now.
        """
        given = list(warnings)
        at_now = self._time_in(utcnow() if now is None else parse_time(now, "now"))
        done: list[DeadlineWarning] = []
        for cid in dict.fromkeys(w.cluster_id for w in given if isinstance(w, DeadlineWarning)):
            wanted = _of_cluster(cid, given)

            def work(
                tx: Tx, cid: str = cid, wanted: list[DeadlineWarning] = wanted
            ) -> set[LedgerKey]:
                if tx.row("SELECT 1 FROM clusters WHERE cluster_id = ?", (cid,)) is None:
                    raise NotTrackedError(cid)
                rows = tx.rows(
                    self._ledger_insert(wanted) + f" ON CONFLICT ({_LEDGER_KEY_COLUMNS}) DO UPDATE"
                    " SET acknowledged_at = excluded.acknowledged_at"
                    f" WHERE {WARNINGS_TABLE}.acknowledged_at IS NULL"
                    f" RETURNING {_LEDGER_KEY}",
                    self._ledger_values(wanted, at_now, at_now),
                )
                return {self._ledger_key_out(*row) for row in rows}

            acknowledged = self._write(cid, work)
            done += [w for w in wanted if _ledger_key(w) in acknowledged]
        return done

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
        entries.sort(key=_entry_order)
        return entries

    def _has_ledger(self) -> bool:
        """Whether the schema has the ledger: a writer migrated it; a reader may read older."""
        return self._has(WARNINGS_FROM)  # a rehearsal or a reader reads an older one as it is

    def _ledger_keys(self, cid: str) -> set[LedgerKey]:
        if not self._has_ledger():
            return set()
        rows = self._read(
            lambda tx: tx.rows(
                f"SELECT {_LEDGER_KEY} FROM {WARNINGS_TABLE} WHERE cluster_id = ?", (cid,)
            )
        )
        return {self._ledger_key_out(*row) for row in rows}

    def _ledger_rows(
        self, cid: str | None, acct: str | None
    ) -> list[tuple[DeadlineWarning, datetime, datetime | None]]:
        if not self._has_ledger():
            return []
        where: str = ""
        params: tuple[object, ...] = ()
        if cid is not None:
            where, params = " WHERE w.cluster_id = ?", (cid,)
        elif acct is not None:
            where, params = " WHERE c.account = ?", (acct,)
        rows = self._read(
            lambda tx: tx.rows(
                "SELECT w.cluster_id, c.account, w.step, w.threshold, w.episode, w.due_at,"
                " w.deadline, w.message, w.issued_at, w.acknowledged_at"
                f" FROM {WARNINGS_TABLE} w JOIN clusters c ON c.cluster_id = w.cluster_id" + where,
                params,
            )
        )
        out = self._time_out
        ledger = []
        for wid, account, step, threshold, episode, due_at, deadline, message, *stamps in rows:
            warning = DeadlineWarning(
                wid,
                account,
                Step(step),
                parse_duration(threshold, "stored threshold"),
                out(episode),
                out(due_at),
                out(deadline),
                message,
            )
            ledger.append((warning, out(stamps[0]), self._opt_time_out(stamps[1])))
        return ledger

    def _ledger_insert(self, warnings: Sequence[DeadlineWarning]) -> str:
        rows = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(warnings))
        return f"INSERT INTO {WARNINGS_TABLE} ({_LEDGER_COLUMNS}) VALUES {rows}"

    def _ledger_values(
        self, warnings: Sequence[DeadlineWarning], issued_at: object, acknowledged_at: object
    ) -> list[object]:
        values: list[object] = []
        for w in warnings:
            values += [
                w.cluster_id,
                str(w.step),
                format_duration(w.threshold),
                self._time_in(w.episode),
                self._time_in(w.due_at),
                self._time_in(w.deadline),
                w.message,
                issued_at,
                acknowledged_at,
            ]
        return values

    def _ledger_key_out(self, step: str, threshold: str, episode: Any) -> LedgerKey:
        return (step, threshold, self._time_out(episode))

    # -- rows -----------------------------------------------------------------------------------

    def _load(
        self, tx: Tx, cid: str, *, cache: bool = False, key: str | None = None
    ) -> tuple[Facts | None, list[Event], list[bool], Event | None]:
        """A cluster's facts, its whole log in recording order, which events were applied,
        and the event stored under ``key``.

        One statement, so one snapshot and one round trip. It also notes the
        token of what it read, for a planned write (see :meth:`_token`).
        """
        columns = "c.account, c.billing, c.expires_at" + (
            ", c.region, c.last_phase, c.last_evaluated_at, c.updated_at"
            if cache  # the columns of schema 2: writers only (readers read schema 1 too)
            else ", NULL, NULL, NULL, NULL"
        )
        applied = "e.applied" if self._has(CHECKPOINTS_FROM) else "1"
        rows = tx.rows(
            f"SELECT {columns}, e.seq, e.kind, e.at, e.expires_at, e.idempotency_key, {applied}"
            " FROM clusters c LEFT JOIN events e ON e.cluster_id = c.cluster_id"
            " WHERE c.cluster_id = ? ORDER BY e.seq",
            (cid,),
        )
        if not rows:
            note_token(tx, None)  # what _token finds for a cluster not tracked
            return None, [], [], None
        events: list[Event] = []
        flags: list[bool] = []
        keyed = None
        with self._damaged(cid):
            for *_, kind, at, expiry, stored_key, flag in rows:
                if kind is None:
                    continue  # no events yet: the one row holds the facts alone
                events.append(self._event_out(kind, at, expiry))
                flags.append(bool(flag))
                if key is not None and stored_key == key:
                    keyed = events[-1]
            account, billing, expires_at, region, last_phase, last_at, updated_at, seq = rows[-1][
                :8
            ]
            note_token(
                tx, (account, billing, expires_at, region, updated_at, last_phase, last_at, seq)
            )
            facts = self._facts(account, billing, expires_at, region, last_phase, last_at)
        return facts, events, flags, keyed

    def _load_whole(self, tx: Tx, cid: str, key: str | None) -> Loaded | None:
        """What a write needs of a cluster of an older schema: its whole log, every event
        applied (a rehearsal reads it so; a writer has migrated it first)."""
        facts, events, flags, keyed = self._load(tx, cid, cache=self._has(2), key=key)
        if facts is None:
            return None
        applied = [event for event, flag in zip(events, flags, strict=True) if flag]
        return Loaded(
            facts=facts,
            tip=None,
            anchor=None,
            events=applied,
            whole=True,
            repeats=frozenset(events),
            keyed=keyed,
            newest=max((event.at for event in events), default=None),
            since=0,
        )

    def _load_for_write(
        self,
        tx: Tx,
        cid: str,
        wanted: Sequence[Event],
        key: str | None,
        new_expiry: datetime | None,
    ) -> Loaded | None:
        """What a write of ``wanted`` needs of a cluster, in one statement (None: not tracked).

        The row with its checkpoint; the kept events at the instants of
        ``wanted`` (to find exact repeats) and the one under ``key``; and the
        applied events a replay needs: none when ``wanted`` comes after the
        checkpoint, those after the newest older checkpoint when one of them
        is late, the whole log when there is no checkpoint yet or the expiry
        changes. It notes the token of what it read, as :meth:`_load` does.
        """
        instants = sorted({event.at for event in wanted})
        earliest = self._time_in(instants[0]) if instants else self._time_in(_AFTER_ALL)
        whole = 1 if new_expiry is not None else 0
        expiry = None if new_expiry is None else self._time_in(new_expiry)
        event_columns = "seq, kind, at, expires_at, idempotency_key, applied"
        repeat = (
            f" UNION SELECT {event_columns} FROM events WHERE cluster_id = ? AND at IN ("
            + ", ".join("?" * len(instants))
            + ")"
            if instants
            else ""
        )
        # Each part of the log is read through an index: the replay window (from the
        # older checkpoint, the whole log, or nothing), the instants asked about, the key.
        rows = tx.rows(
            "SELECT c.account, c.billing, c.expires_at, c.region, c.last_phase,"
            " c.last_evaluated_at, c.updated_at,"
            " (SELECT max(seq) FROM events WHERE cluster_id = c.cluster_id),"
            " c.checkpoint, c.newest_at, c.since_checkpoint, a.state,"
            " e.seq, e.kind, e.at, e.expires_at, e.idempotency_key, e.applied"
            " FROM clusters c"
            " LEFT JOIN (SELECT at, state FROM checkpoints WHERE cluster_id = ? AND at < ?"
            " ORDER BY at DESC, rank DESC, expiry DESC LIMIT 1) a ON 1 = 1"
            f" LEFT JOIN (SELECT {event_columns} FROM events WHERE cluster_id = ? AND applied = 1"
            " AND at >= (SELECT CASE"
            " WHEN checkpoint IS NULL OR (? = 1 AND (expires_at IS NULL OR expires_at <> ?))"
            " THEN ?"
            " WHEN newest_at >= ? THEN COALESCE((SELECT max(at) FROM checkpoints"
            " WHERE cluster_id = ? AND at < ?), ?)"
            " ELSE ? END FROM clusters WHERE cluster_id = ?)"
            f"{repeat}"
            f" UNION SELECT {event_columns} FROM events"
            " WHERE cluster_id = ? AND idempotency_key = ?"
            ") e ON 1 = 1"
            " WHERE c.cluster_id = ? ORDER BY e.seq",
            (
                cid,
                earliest,
                cid,
                whole,
                expiry,
                self._time_in(_BEFORE_ANY),
                earliest,
                cid,
                earliest,
                self._time_in(_BEFORE_ANY),
                self._time_in(_AFTER_ALL),
                cid,
                *((cid, *(self._time_in(at) for at in instants)) if instants else ()),
                cid,
                key,
                cid,
            ),
        )
        if not rows:
            note_token(tx, None)
            return None
        first = rows[0]
        account, billing, expires_at, region, last_phase, last_at, updated_at, seq = first[:8]
        note_token(tx, (account, billing, expires_at, region, updated_at, last_phase, last_at, seq))
        tip_data, newest_at, since, anchor_data = first[8:12]
        with self._damaged(cid):
            facts = self._facts(account, billing, expires_at, region, last_phase, last_at)
        tip = None if tip_data is None else self._checkpoint_out(cid, tip_data)
        wanted_at = set(instants)
        events: list[Event] = []
        repeats: set[Event] = set()
        keyed = None
        for row in rows:
            kind, at, renewal, stored_key, applied = row[13:18]
            if kind is None:
                continue  # no matching events: the one row holds the facts alone
            with self._damaged(cid):
                event = self._event_out(kind, at, renewal)
            if event.at in wanted_at:
                repeats.add(event)
            if key is not None and stored_key == key:
                keyed = event
            if applied:
                events.append(event)
        changes_expiry = new_expiry is not None and new_expiry != facts.expires_at
        # The older checkpoint is read only for a late event (it is read on every write).
        late = tip is not None and any(
            event.order <= tip.position for event in wanted if event not in repeats
        )
        return Loaded(
            facts=facts,
            tip=tip,
            anchor=None
            if anchor_data is None or not late
            else self._checkpoint_out(cid, anchor_data),
            events=events,
            whole=tip is None or changes_expiry,
            repeats=frozenset(repeats),
            keyed=keyed,
            newest=self._opt_time_out(newest_at),
            since=int(since),
        )

    def _facts(
        self,
        account: str,
        billing: str,
        expires_at: Any,
        region: str | None,
        last_phase: str | None,
        last_at: Any,
    ) -> Facts:
        opt_time_out = self._opt_time_out
        return Facts(
            account,
            _cell("clusters.billing", Billing, billing),
            _cell("clusters.expires_at", opt_time_out, expires_at),
            region,
            None if last_phase is None else _cell("clusters.last_phase", Phase, last_phase),
            _cell("clusters.last_evaluated_at", opt_time_out, last_at),
        )

    def _checkpoint_out(self, cid: str, value: Any) -> Checkpoint:
        cached = self._decoded.get(cid)
        if cached is not None and isinstance(value, str) and cached[0] == value:
            return cached[1]
        try:
            checkpoint = Checkpoint.from_dict(self._json_out(value))
        except ValueError as error:
            raise StoreError(
                f"the store at {self.url} is damaged: cluster {cid!r} has an unreadable "
                f"checkpoint ({error}); it is a cache of the event log: set it to NULL "
                "to have the next write replay the log"
            ) from None
        if isinstance(value, str):  # SQLite's text; PostgreSQL hands over decoded JSON
            if len(self._decoded) > 4096:
                self._decoded.clear()
            self._decoded[cid] = (value, checkpoint)
        return checkpoint

    def _token(self, tx: Tx, cluster_id: str) -> object:
        """What a write depends on: the cluster's row and the end of its log, as ``_load``."""
        return tx.row(
            "SELECT account, billing, expires_at, region, updated_at, last_phase,"
            " last_evaluated_at, (SELECT max(seq) FROM events WHERE cluster_id = ?) FROM clusters"
            " WHERE cluster_id = ?",
            (cluster_id, cluster_id),
        )

    def _apply(self, tx: Tx, cid: str, writes: Writes) -> None:
        """Write what a plan decided: the cluster's row first, its new events, its checkpoints."""
        if writes.row is not None:
            self._save_row(tx, cid, writes.row, writes.checkpoints)
        self._insert_events(tx, cid, writes)
        if writes.checkpoints is not None:
            self._save_checkpoints(tx, cid, writes.checkpoints)

    def _save_checkpoints(self, tx: Tx, cid: str, change: CheckpointChange) -> None:
        """Lay the older checkpoints a late event may rebuild from; drop those never needed."""
        if change.rebuilt:
            if change.drop_from is None:
                tx.run("DELETE FROM checkpoints WHERE cluster_id = ?", (cid,))
            else:
                tx.run(
                    "DELETE FROM checkpoints WHERE cluster_id = ? AND at >= ?",
                    (cid, self._time_in(change.drop_from)),
                )
        if change.add:
            values: list[object] = []
            for checkpoint in change.add:
                at, rank, expiry = checkpoint.position
                values += [
                    cid,
                    self._time_in(at),
                    rank,
                    self._time_in(expiry),
                    self._json_in(checkpoint.as_dict()),
                ]
            rows = ", ".join(["(?, ?, ?, ?, ?)"] * len(change.add))
            tx.run(
                f"INSERT INTO checkpoints (cluster_id, at, rank, expiry, state) VALUES {rows}",
                values,
            )
        if change.prune_before is not None and change.add:
            # No event dated before the bound is ever applied again: the newest checkpoint
            # before it is the last one such an event could need.
            bound = self._time_in(change.prune_before)
            tx.run(
                "DELETE FROM checkpoints WHERE cluster_id = ? AND at < (SELECT max(at)"
                " FROM checkpoints WHERE cluster_id = ? AND at < ?)",
                (cid, cid, bound),
            )

    def _save_row(
        self, tx: Tx, cid: str, change: RowChange, checkpoints: CheckpointChange | None = None
    ) -> None:
        """Insert or update the cluster's row in one statement (facts, phase cache, checkpoint)."""
        facts, mark = change.facts, change.mark
        phase, at = (None, None) if mark is None else (str(mark[0]), self._time_in(mark[1]))
        stamp = self._time_in(utcnow())
        tip_columns: list[str] = []
        tip_values: list[object] = []
        if checkpoints is not None:
            tip = checkpoints.tip
            tip_columns = ["checkpoint", "newest_at", "since_checkpoint"]
            tip_values = [
                None if tip is None else self._json_in(tip.as_dict()),
                self._opt_time(checkpoints.newest),
                checkpoints.since,
            ]
        if change.create:
            tip_sql = "".join(f", {column}" for column in tip_columns)
            tx.run(
                "INSERT INTO clusters (cluster_id, account, billing, expires_at, region,"
                f" created_at, updated_at, last_phase, last_evaluated_at{tip_sql})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?" + ", ?" * len(tip_columns) + ")",
                (
                    cid,
                    facts.account,
                    str(facts.billing),
                    self._opt_time(facts.expires_at),
                    facts.region,
                    stamp,
                    stamp,
                    phase,
                    at,
                    *tip_values,
                ),
            )
            return
        columns: list[str] = []
        values: list[object] = []
        if change.facts_changed:
            columns += ["account", "expires_at", "region", "updated_at"]
            values += [facts.account, self._opt_time(facts.expires_at), facts.region, stamp]
        if mark is not None:
            columns += ["last_phase", "last_evaluated_at"]
            values += [phase, at]
        columns += tip_columns
        values += tip_values
        if columns:
            assignments = ", ".join(f"{column} = ?" for column in columns)
            tx.run(f"UPDATE clusters SET {assignments} WHERE cluster_id = ?", (*values, cid))

    def _insert_events(self, tx: Tx, cid: str, writes: Writes) -> None:
        """Append the planned events (each with its idempotency key) in one statement, in order."""
        if not writes.events:
            return
        recorded_at = self._time_in(utcnow())
        values: list[object] = []
        for event, key, applied, effect in writes.events:
            payload = dict(writes.payload)
            if event.expires_at is not None:
                payload["expires_at"] = format_time(event.expires_at)
            values += [
                cid,
                str(event.kind),
                self._time_in(event.at),
                self._opt_time(event.expires_at),
                recorded_at,
                writes.source,
                key,
                self._json_in(payload),
                1 if applied else 0,
                effect,
            ]
        rows = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(writes.events))
        tx.run(
            "INSERT INTO events (cluster_id, kind, at, expires_at, recorded_at, source, "
            f"idempotency_key, payload, applied, effect) VALUES {rows}",
            values,
        )

    def _opt_time(self, value: datetime | None) -> object:
        return None if value is None else self._time_in(value)

    def _opt_time_out(self, value: Any) -> datetime | None:
        return None if value is None else self._time_out(value)

    def _event_out(self, kind: str, at: Any, expires_at: Any) -> Event:
        """An event as the columns ``events.kind, at, expires_at`` hold it."""
        return Event(
            _cell("events.kind", _KINDS.__getitem__, kind),
            _cell("events.at", self._time_out, at),
            _cell("events.expires_at", self._opt_time_out, expires_at),
        )

    @contextmanager
    def _damaged(self, cid: str) -> Iterator[None]:
        """A value of ``cid``'s rows that this code never writes: a damaged store, said so."""
        try:
            yield
        except _DamagedCell as cell:
            raise StoreError(
                f"the store at {self.url} is damaged: cluster {cid!r} has {cell.value!r} "
                f"in {cell.column}, which overdue-fsm never writes; restore the store from "
                "a backup, or move it aside"
            ) from None

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


class _DamagedCell(Exception):
    def __init__(self, column: str, value: object) -> None:
        super().__init__(column)
        self.column = column
        self.value = value


_T = TypeVar("_T")


def _cell(column: str, convert: Callable[[Any], _T], value: Any) -> _T:
    """``convert(value)`` read from ``column``; a value it refuses is a damaged cell."""
    try:
        return convert(value)
    except (ValueError, KeyError, TypeError, OverflowError, FsmError):
        raise _DamagedCell(column, value) from None


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


def _ledger_key(warning: DeadlineWarning) -> LedgerKey:
    return (str(warning.step), format_duration(warning.threshold), warning.episode)


def _of_cluster(cid: str, warnings: Iterable[DeadlineWarning]) -> list[DeadlineWarning]:
    """The warnings of ``cid`` among ``warnings``, once each; anything else is an input error."""
    chosen: dict[LedgerKey, DeadlineWarning] = {}
    for warning in warnings:
        if not isinstance(warning, DeadlineWarning):
            raise InputError("warnings", warning, "fsm.DeadlineWarning values (fsm.warnings_due)")
        if warning.cluster_id == cid:
            chosen.setdefault(_ledger_key(warning), warning)
    return list(chosen.values())


def _entry_order(entry: WarningEntry) -> tuple[Any, ...]:
    w = entry.warning
    return (w.cluster_id, w.deadline, -w.threshold, w.episode)


def _key(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_KEY:
        raise InputError("idempotency_key", value, f"a non-empty string of at most {_MAX_KEY}")
    return value


def _region(value: str | None) -> str | None:
    return None if value is None else parse_region(value)


def _source(value: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_SOURCE:
        raise InputError("source", value, f"a non-empty string of at most {_MAX_SOURCE}")
    return value
