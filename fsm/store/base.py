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
from typing import Any, Final

from ..errors import InputError, NotTrackedError
from ..lifecycle import Cluster
from ..observations import Observation
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
    ClusterState,
    Event,
    Outcome,
    parse_account,
    parse_billing,
    parse_cluster_id,
    parse_phase,
    parse_region,
)
from ..warnings import DeadlineWarning, Step, status, warnings_due
from .plan import (
    Facts,
    ObserveRequest,
    RowChange,
    Writes,
    check_same_billing,
    plan_observe,
    rebuild,
)
from .results import ObserveResult, RecordResult, StoredEvent, WarningEntry
from .schema import READABLE_FROM, SCHEMA_VERSION, VERSION_SQL, WARNINGS_FROM, WARNINGS_TABLE
from .transaction import Transactional, Tx, note_token
from .url import StoreURL

__all__ = [
    "READABLE_FROM",
    "SCHEMA_VERSION",
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

    def __init__(self, url: str, policy: Policy, writable: bool) -> None:
        super().__init__(url, writable)
        self.policy = policy

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
    def from_url(cls, url: StoreURL, policy: Policy, writable: bool) -> Store:
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
            current, _, _ = self._load(tx, cid, cache=True)
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
        """Record ``event`` for a tracked cluster, if it changes the cluster.

        An event that changes nothing (a repeated ``balance_negative``) is not
        written and comes back with ``changed`` False. A key already stored
        for this cluster is a retry: nothing is written, ``duplicate`` is True.
        """
        cid = parse_cluster_id(cluster_id)
        if not isinstance(event, Event):
            raise InputError("event", event, "an fsm.Event (fsm.Event.create(kind, at))")
        key = _key(idempotency_key)
        src = _source(source)
        at_now = utcnow() if now is None else parse_time(now, "now")

        def work(tx: Tx) -> RecordResult:
            facts, events, stored = self._load(tx, cid, cache=True, key=key)
            if facts is None:
                raise NotTrackedError(cid)
            cluster = rebuild(cid, facts, events, self.policy)
            if stored is not None:
                if stored != event:
                    raise InputError(
                        "idempotency_key",
                        key,
                        f"a new key: it is stored for {_show_event(stored)}, "
                        f"not {_show_event(event)}",
                    )
                phase = cluster.phase
                note = f"duplicate: idempotency key {key!r} is already recorded"
                outcome = Outcome(str(event.kind), False, phase, phase, (), note)
                return RecordResult(False, outcome, cluster, True)
            outcome = cluster.record(event, now=at_now)
            if outcome.changed:
                mark = (cluster.state(at_now).phase, at_now)
                self._apply(tx, cid, Writes(RowChange(facts, mark=mark), [(event, key)], src))
            return RecordResult(outcome.changed, outcome, cluster, False)

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

        def work(tx: Tx) -> ObserveResult:
            stored, events, keyed = self._load(tx, cid, cache=True, key=request.idempotency_key)
            result, writes = plan_observe(request, stored, events, keyed, self.policy)
            if not dry_run:
                self._apply(tx, cid, writes)
            return result

        if dry_run:
            return self._read(work)
        return self._change(cid, work)

    def mark_evaluated(self, cluster_id: str, *, now: TimeInput | None = None) -> bool:
        """Refresh the cached phase of a cluster at ``now``; True if it was written.

        Internal bookkeeping for listings: the cache is never the truth.
        """
        cid = parse_cluster_id(cluster_id)
        at_now = utcnow() if now is None else parse_time(now, "now")

        def work(tx: Tx) -> bool:
            facts, events, _ = self._load(tx, cid, cache=True)
            if facts is None:
                raise NotTrackedError(cid)
            last = facts.last_evaluated_at
            if last is not None and at_now <= last:
                return False
            phase = rebuild(cid, facts, events, self.policy).state(at_now).phase
            if phase is facts.last_phase:
                return False
            self._apply(tx, cid, Writes(RowChange(facts, mark=(phase, at_now))))
            return True

        return self._change(cid, work)

    # -- reads ------------------------------------------------------------------------------

    def get(self, cluster_id: str) -> Cluster | None:
        """The cluster rebuilt from its facts and events, or None if it is not tracked."""
        cid = parse_cluster_id(cluster_id)

        def work(tx: Tx) -> Cluster | None:
            facts, events, _ = self._load(tx, cid)
            return None if facts is None else rebuild(cid, facts, events, self.policy)

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
            rows = tx.rows(
                "SELECT e.seq, e.kind, e.at, e.recorded_at, e.source, e.idempotency_key,"
                " e.payload FROM clusters c LEFT JOIN events e ON e.cluster_id = c.cluster_id"
                " WHERE c.cluster_id = ? ORDER BY e.seq",
                (cid,),
            )
            if not rows:
                raise NotTrackedError(cid)
            return [
                StoredEvent(
                    seq=int(seq),
                    cluster_id=cid,
                    kind=_KINDS[kind],
                    at=self._time_out(at),
                    recorded_at=self._time_out(recorded_at),
                    source=src,
                    idempotency_key=key,
                    payload=self._json_out(payload),
                )
                for seq, kind, at, recorded_at, src, key, payload in rows
                if seq is not None  # the one row of a cluster with no events
            ]

        return self._read(work)

    def regions(self, *, account: str | None = None) -> dict[str, str | None]:
        """Every tracked cluster (of ``account``) with its region (None: not known)."""
        acct = None if account is None else parse_account(account)

        def work(tx: Tx) -> list[tuple[Any, ...]]:
            where, params = ("", ()) if acct is None else (" WHERE account = ?", (acct,))
            return tx.rows(
                "SELECT cluster_id, region FROM clusters" + where + " ORDER BY cluster_id", params
            )

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

        def work(tx: Tx) -> list[tuple[Any, ...]]:
            where, params = ("", ()) if acct is None else (" WHERE c.account = ?", (acct,))
            # One statement: one consistent snapshot, the rows of a cluster together.
            return tx.rows(
                "SELECT c.cluster_id, c.account, c.billing, c.expires_at, e.kind, e.at,"
                " e.expires_at FROM clusters c LEFT JOIN events e"
                " ON e.cluster_id = c.cluster_id" + where + " ORDER BY c.cluster_id, e.seq",
                params,
            )

        opt_time_out = self._opt_time_out
        clusters: list[tuple[str, Facts, list[Event]]] = []
        current = None
        log: list[Event] = []
        for cid, acc, billing, expiry, kind, at, renewal in self._read(work):
            if cid != current:
                current, log = cid, []
                facts = Facts(acc, Billing(billing), opt_time_out(expiry))
                clusters.append((cid, facts, log))
            if kind is not None:
                log.append(self._event_out(kind, at, renewal))
        states = []
        for cid, facts, events in sorted(clusters, key=_first):
            state = rebuild(cid, facts, events, self.policy).state(at_now)
            if wanted is None or state.phase is wanted:
                states.append(state)
        return states

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
        if self.writable:
            return True
        row = self._read(lambda tx: tx.row(VERSION_SQL))
        return row is not None and row[0] is not None and int(row[0]) >= WARNINGS_FROM

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
    ) -> tuple[Facts | None, list[Event], Event | None]:
        """A cluster's facts, its log in recording order, and the event stored under ``key``.

        One statement, so one snapshot and one round trip. It also notes the
        token of what it read, for a planned write (see :meth:`_token`).
        """
        columns = "c.account, c.billing, c.expires_at" + (
            ", c.region, c.last_phase, c.last_evaluated_at, c.updated_at"
            if cache  # the columns of schema 2: writers only (readers read schema 1 too)
            else ", NULL, NULL, NULL, NULL"
        )
        rows = tx.rows(
            f"SELECT {columns}, e.seq, e.kind, e.at, e.expires_at, e.idempotency_key"
            " FROM clusters c LEFT JOIN events e ON e.cluster_id = c.cluster_id"
            " WHERE c.cluster_id = ? ORDER BY e.seq",
            (cid,),
        )
        if not rows:
            note_token(tx, None)  # what _token finds for a cluster not tracked
            return None, [], None
        opt_time_out = self._opt_time_out
        events: list[Event] = []
        keyed = None
        for *_, kind, at, expiry, stored_key in rows:
            if kind is None:
                continue  # no events yet: the one row holds the facts alone
            event = self._event_out(kind, at, expiry)
            events.append(event)
            if key is not None and stored_key == key:
                keyed = event
        account, billing, expires_at, region, last_phase, last_at, updated_at, seq = rows[-1][:8]
        note_token(tx, (account, billing, expires_at, region, updated_at, last_phase, last_at, seq))
        facts = Facts(
            account,
            Billing(billing),
            opt_time_out(expires_at),
            region,
            None if last_phase is None else Phase(last_phase),
            opt_time_out(last_at),
        )
        return facts, events, keyed

    def _token(self, tx: Tx, cluster_id: str) -> object:
        """What a write depends on: the cluster's row and the end of its log, as ``_load``."""
        return tx.row(
            "SELECT account, billing, expires_at, region, updated_at, last_phase,"
            " last_evaluated_at, (SELECT max(seq) FROM events WHERE cluster_id = ?) FROM clusters"
            " WHERE cluster_id = ?",
            (cluster_id, cluster_id),
        )

    def _apply(self, tx: Tx, cid: str, writes: Writes) -> None:
        """Write what a plan decided: the cluster's row first, then its new events."""
        if writes.row is not None:
            self._save_row(tx, cid, writes.row)
        self._insert_events(tx, cid, writes)

    def _save_row(self, tx: Tx, cid: str, change: RowChange) -> None:
        """Insert or update the cluster's row in one statement (facts and phase cache)."""
        facts, mark = change.facts, change.mark
        phase, at = (None, None) if mark is None else (str(mark[0]), self._time_in(mark[1]))
        stamp = self._time_in(utcnow())
        if change.create:
            tx.run(
                "INSERT INTO clusters (cluster_id, account, billing, expires_at, region,"
                " created_at, updated_at, last_phase, last_evaluated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        if columns:
            assignments = ", ".join(f"{column} = ?" for column in columns)
            tx.run(f"UPDATE clusters SET {assignments} WHERE cluster_id = ?", (*values, cid))

    def _insert_events(self, tx: Tx, cid: str, writes: Writes) -> None:
        """Append the planned events (each with its idempotency key) in one statement, in order."""
        if not writes.events:
            return
        recorded_at = self._time_in(utcnow())
        values: list[object] = []
        for event, key in writes.events:
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
            ]
        rows = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(writes.events))
        tx.run(
            "INSERT INTO events (cluster_id, kind, at, expires_at, recorded_at, source, "
            f"idempotency_key, payload) VALUES {rows}",
            values,
        )

    def _opt_time(self, value: datetime | None) -> object:
        return None if value is None else self._time_in(value)

    def _opt_time_out(self, value: Any) -> datetime | None:
        return None if value is None else self._time_out(value)

    def _event_out(self, kind: str, at: Any, expires_at: Any) -> Event:
        """An event as the columns ``events.kind, at, expires_at`` hold it."""
        return Event(_KINDS[kind], self._time_out(at), self._opt_time_out(expires_at))

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


def _show_event(event: Event) -> str:
    text = f"{event.kind} at {format_time(event.at)}"
    if event.expires_at is not None:
        text += f" until {format_time(event.expires_at)}"
    return text
