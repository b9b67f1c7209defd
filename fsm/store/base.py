"""What every store does, whatever the engine underneath.

A store keeps each cluster's facts and its append-only event log, nothing else
that is true: the phase is always recomputed by the core engine from facts,
events and ``now``. Each cluster row also caches the phase the last write
computed (``last_phase``, ``last_evaluated_at``) so a write can tell which
phases were entered since; that cache is never read as the truth.

The engines (:mod:`.sqlite`, :mod:`.postgres`) supply connections,
transactions, the per-cluster lock and the SQL types; the logic is here, once.
SQL is written with ``?`` placeholders and every value travels as a parameter.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Protocol, TypeVar

from ..errors import FsmError, InputError, NotTrackedError, StoreError
from ..lifecycle import Cluster
from ..observations import Observation, events_for
from ..policy import Policy
from ..table import Billing, EventKind, Phase
from ..timeutil import TimeInput, format_time, optional_time, parse_time, utcnow
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

T = TypeVar("T")

SCHEMA_VERSION: Final = 2
"""The schema this code writes. 1: facts and events; 2: the phase cache and the region."""
READABLE_FROM: Final = 1
"""The oldest schema a reader can read without migrating (reads never write)."""

_KINDS: Final = {str(kind): kind for kind in EventKind}
_MAX_KEY: Final = 200
_MAX_SOURCE: Final = 64


# -- values ---------------------------------------------------------------------------


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


# -- what an engine provides ---------------------------------------------------------------


class Tx(Protocol):
    """One open transaction of an engine, in ``?`` placeholder style."""

    def rows(self, sql: str, params: Sequence[object] = ()) -> builtins.list[tuple[Any, ...]]: ...

    def row(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None: ...

    def run(self, sql: str, params: Sequence[object] = ()) -> None: ...


@dataclass(frozen=True, slots=True)
class _Facts:
    account: str
    billing: Billing
    expires_at: datetime | None
    region: str | None = None  # where the cloud keeps it; the lifecycle ignores it
    last_phase: Phase | None = None
    last_evaluated_at: datetime | None = None


_ORPHANS: Final[builtins.list[object]] = []
"""Connections a forked child inherited and closed: kept, never closed by the child.

Closing an inherited connection would end the parent's PostgreSQL session or
let SQLite tidy files the parent still uses; the child only drops its handle.
"""


class Store:
    """A store of cluster facts and event logs. Use as a context manager, or ``close()``.

    Open one with :func:`fsm.store.open_store`. ``writable`` is False for
    readers (``create=False``): they never create, migrate or write anything.
    """

    engine: str = "?"
    optimistic: bool = False
    """Plan each write on a snapshot and take the lock only to apply it (see ``_change``)."""

    def __init__(self, url: str, policy: Policy, writable: bool) -> None:
        self.url = url
        self.policy = policy
        self.writable = writable
        self._pid = os.getpid()

    # -- engine hooks ----------------------------------------------------------------

    def _run_read(self, work: Callable[[Tx], T]) -> T:
        raise NotImplementedError

    def _run_write(self, cluster_id: str, work: Callable[[Tx], T]) -> T:
        """Run ``work`` in one transaction holding the write lock of ``cluster_id``."""
        raise NotImplementedError

    def _store_error(self, error: Exception) -> StoreError | None:
        """The user-facing error for an engine exception (None: not the engine's)."""
        return None

    def _time_in(self, value: datetime) -> object:
        return value

    def _time_out(self, value: Any) -> datetime:
        return parse_time(value, "stored time")

    def _json_in(self, value: dict[str, Any]) -> object:
        return value

    def _json_out(self, value: Any) -> dict[str, Any]:
        return dict(value)

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

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn engine exceptions into one clear :class:`StoreError`."""
        try:
            yield
        except FsmError:
            raise
        except Exception as error:
            translated = self._store_error(error)
            if translated is None:
                raise
            raise translated from None

    def _inherited(self) -> bool:
        """True in a process forked after the store was opened: its connection is not ours."""
        return os.getpid() != self._pid

    def _check_process(self) -> None:
        if self._inherited():
            raise StoreError(
                f"the store at {self.url} was opened by process {self._pid}, before a fork; "
                "open the store again in this process (a connection must not cross a fork)"
            )

    def _write(self, cluster_id: str, work: Callable[[Tx], T]) -> T:
        self._check_process()
        if not self.writable:
            raise StoreError(
                f"the store at {self.url} was opened for reading (create=False); "
                "open it with create=True to record"
            )
        with self._errors():
            return self._run_write(cluster_id, work)

    def _read(self, work: Callable[[Tx], T]) -> T:
        """Run ``work``, which reads with one statement: one snapshot, no transaction."""
        self._check_process()
        with self._errors():
            return self._run_read(lambda tx: work(_OneRead(tx)))

    def _change(self, cluster_id: str, work: Callable[[Tx], T]) -> T:
        """Run ``work`` as if it held the lock of ``cluster_id`` from its first read.

        Pessimistic engines simply run it under the lock. An optimistic one
        (SQLite, whose one write lock covers every cluster) runs it first on a
        read snapshot with its writes held back: if it writes nothing, that is
        the answer and no lock is taken at all (a repeated observation). Else,
        under the lock, the writes are applied only if the cluster's row and
        log are still what the snapshot saw; if another writer got there
        first, ``work`` runs again under the lock. Either way every write is
        computed from the current state, and the lock is held only to append.
        ``work`` must do all its reads before its first write.
        """
        if not self.optimistic:
            return self._write(cluster_id, work)
        if not self.writable:
            return self._write(cluster_id, work)  # the reader's error

        def plan(tx: Tx) -> tuple[object, builtins.list[tuple[str, Sequence[object]]], T]:
            deferred = _Deferred(tx)
            result = work(deferred)
            assert deferred.token is not _UNSEEN, "a write loads its cluster first"
            return deferred.token, deferred.writes, result

        token, writes, result = self._read(plan)
        if not writes:
            return result

        def apply(tx: Tx) -> T:
            if self._token(tx, cluster_id) != token:
                return work(tx)
            for sql, params in writes:
                tx.run(sql, params)
            return result

        return self._write(cluster_id, apply)

    def _token(self, tx: Tx, cid: str) -> object:
        """What a write depends on: the cluster's row and the end of its log."""
        return tx.row(
            "SELECT account, billing, expires_at, region, updated_at, last_phase,"
            " last_evaluated_at, (SELECT max(seq) FROM events WHERE cluster_id = ?) FROM clusters"
            " WHERE cluster_id = ?",
            (cid, cid),
        )

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
        wanted = _Facts(
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
                self._save_cluster(tx, cid, wanted, create=True)
                return True
            _same_billing(cid, current.billing, wanted.billing)
            region = current.region if wanted.region is None else wanted.region
            new = _Facts(wanted.account, wanted.billing, wanted.expires_at, region)
            if _facts_of(new) == _facts_of(current):
                return False
            self._save_cluster(tx, cid, new, facts_changed=True)
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
            cluster = self._cluster(cid, facts, events)
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
                after = cluster.state(at_now)
                self._save_cluster(tx, cid, facts, mark=(after.phase, at_now))
                self._insert_events(tx, cid, [(event, key)], src, {})
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
        new_billing = None if billing is None else parse_billing(billing)
        new_account = None if account is None else parse_account(account)
        new_expiry = optional_time(expires_at, "expires_at")
        new_region = _region(region)
        key = _key(idempotency_key)
        src = _source(source)
        at_now = utcnow() if now is None else parse_time(now, "now")
        wanted_events = events_for(observation)
        payload: dict[str, Any] = {"observed_at": format_time(observation.at)}
        if observation.balance is not None:
            payload["balance"] = str(observation.balance)

        def work(tx: Tx) -> ObserveResult:
            stored, old_events, keyed = self._load(tx, cid, cache=True, key=key)
            created = stored is None
            if stored is None:
                if new_billing is None:
                    raise InputError(
                        "billing",
                        None,
                        f"pay_as_you_go or subscription: cluster {cid!r} is not tracked yet, "
                        "so its billing is needed",
                    )
                facts = _Facts(new_account or "default", new_billing, new_expiry, new_region)
                before = None
                cluster = self._cluster(cid, facts, old_events)
            else:
                if new_billing is not None:
                    _same_billing(cid, stored.billing, new_billing)
                facts = _Facts(
                    stored.account if new_account is None else new_account,
                    stored.billing,
                    stored.expires_at if new_expiry is None else new_expiry,
                    stored.region if new_region is None else new_region,
                    stored.last_phase,
                    stored.last_evaluated_at,
                )
                old = self._cluster(cid, stored, old_events)
                at = stored.last_evaluated_at
                before = None if at is None else old.state(at)
                same = (facts.account, facts.expires_at) == (stored.account, stored.expires_at)
                cluster = old if same else self._cluster(cid, facts, old_events)
            facts_changed = stored is not None and _facts_of(facts) != _facts_of(stored)
            duplicate = keyed is not None
            recorded: builtins.list[Event] = []
            outcomes: builtins.list[Outcome] = []
            if not duplicate:
                for event in wanted_events:
                    outcome = cluster.record(event, now=at_now)
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
            if not dry_run:
                if recorded or created or facts_changed or moved or entered:
                    self._save_cluster(
                        tx,
                        cid,
                        facts,
                        create=created,
                        facts_changed=facts_changed,
                        mark=(mark_phase, mark_at),
                    )
                rows = [(event, _nth_key(key, n)) for n, event in enumerate(recorded)]
                self._insert_events(tx, cid, rows, src, payload)
            return ObserveResult(
                cluster_id=cid,
                created=created,
                changed=created or facts_changed or bool(recorded),
                recorded=recorded,
                outcomes=outcomes,
                before=before,
                after=after,
                entered=entered,
                dry_run=dry_run,
                duplicate=duplicate,
                facts_changed=facts_changed,
            )

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
            phase = self._cluster(cid, facts, events).state(at_now).phase
            if phase is facts.last_phase:
                return False
            self._save_cluster(tx, cid, facts, mark=(phase, at_now))
            return True

        return self._change(cid, work)

    # -- reads ------------------------------------------------------------------------------

    def get(self, cluster_id: str) -> Cluster | None:
        """The cluster rebuilt from its facts and events, or None if it is not tracked."""
        cid = parse_cluster_id(cluster_id)

        def work(tx: Tx) -> Cluster | None:
            facts, events, _ = self._load(tx, cid)
            return None if facts is None else self._cluster(cid, facts, events)

        return self._read(work)

    def load(self, cluster_id: str) -> Cluster:
        """The cluster rebuilt from its facts and events; :class:`NotTrackedError` if unknown."""
        cluster = self.get(cluster_id)
        if cluster is None:
            raise NotTrackedError(cluster_id)
        return cluster

    def history(self, cluster_id: str) -> builtins.list[StoredEvent]:
        """The event log of a cluster in recording order."""
        cid = parse_cluster_id(cluster_id)

        def work(tx: Tx) -> builtins.list[StoredEvent]:
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

        def work(tx: Tx) -> builtins.list[tuple[Any, ...]]:
            where, params = ("", ()) if acct is None else (" WHERE account = ?", (acct,))
            return tx.rows(
                "SELECT cluster_id, region FROM clusters" + where + " ORDER BY cluster_id", params
            )

        return dict(self._read(work))

    def list(
        self,
        *,
        account: str | None = None,
        phase: Phase | str | None = None,
        now: TimeInput | None = None,
    ) -> builtins.list[ClusterState]:
        """Every tracked cluster (of ``account``) evaluated at ``now``, by cluster id.

        ``phase`` keeps only the clusters in that phase at ``now``.
        """
        acct = None if account is None else parse_account(account)
        wanted = None if phase is None else parse_phase(phase)
        at_now = utcnow() if now is None else parse_time(now, "now")

        def work(tx: Tx) -> builtins.list[tuple[Any, ...]]:
            where, params = ("", ()) if acct is None else (" WHERE c.account = ?", (acct,))
            # One statement: one consistent snapshot, the rows of a cluster together.
            return tx.rows(
                "SELECT c.cluster_id, c.account, c.billing, c.expires_at, e.kind, e.at,"
                " e.expires_at FROM clusters c LEFT JOIN events e"
                " ON e.cluster_id = c.cluster_id" + where + " ORDER BY c.cluster_id, e.seq",
                params,
            )

        time_out = self._time_out
        clusters: builtins.list[tuple[str, _Facts, builtins.list[Event]]] = []
        current = None
        log: builtins.list[Event] = []
        for cid, acc, billing, expiry, kind, at, renewal in self._read(work):
            if cid != current:
                current, log = cid, []
                facts = _Facts(acc, Billing(billing), None if expiry is None else time_out(expiry))
                clusters.append((cid, facts, log))
            if kind is not None:
                until = None if renewal is None else time_out(renewal)
                log.append(Event(_KINDS[kind], time_out(at), until))
        states = []
        for cid, facts, events in sorted(clusters, key=_first):
            state = self._cluster(cid, facts, events).state(at_now)
            if wanted is None or state.phase is wanted:
                states.append(state)
        return states

    # -- rows -----------------------------------------------------------------------------------

    def _load(
        self, tx: Tx, cid: str, *, cache: bool = False, key: str | None = None
    ) -> tuple[_Facts | None, builtins.list[Event], Event | None]:
        """A cluster's facts, its log in recording order, and the event stored under ``key``.

        One statement, so one snapshot and one round trip.
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
            if isinstance(tx, _Deferred):
                tx.token = None  # what _token finds for a cluster not tracked
            return None, [], None
        time_out = self._time_out
        events: builtins.list[Event] = []
        keyed = None
        for *_, kind, at, expiry, stored_key in rows:
            if kind is None:
                continue  # no events yet: the one row holds the facts alone
            event = Event(_KINDS[kind], time_out(at), None if expiry is None else time_out(expiry))
            events.append(event)
            if key is not None and stored_key == key:
                keyed = event
        account, billing, expires_at, region, last_phase, last_at, updated_at, seq = rows[-1][:8]
        if isinstance(tx, _Deferred):
            tx.token = (account, billing, expires_at, region, updated_at, last_phase, last_at, seq)
        facts = _Facts(
            account,
            Billing(billing),
            None if expires_at is None else time_out(expires_at),
            region,
            None if last_phase is None else Phase(last_phase),
            None if last_at is None else time_out(last_at),
        )
        return facts, events, keyed

    def _cluster(self, cid: str, facts: _Facts, events: Sequence[Event]) -> Cluster:
        return Cluster.from_events(
            cid,
            facts.billing,
            events,
            account=facts.account,
            expires_at=facts.expires_at,
            policy=self.policy,
        )

    def _save_cluster(
        self,
        tx: Tx,
        cid: str,
        facts: _Facts,
        *,
        create: bool = False,
        facts_changed: bool = False,
        mark: tuple[Phase, datetime] | None = None,
    ) -> None:
        """Insert or update the cluster's row in one statement (facts and phase cache)."""
        phase, at = (None, None) if mark is None else (str(mark[0]), self._time_in(mark[1]))
        stamp = self._time_in(utcnow())
        if create:
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
        columns: builtins.list[str] = []
        values: builtins.list[object] = []
        if facts_changed:
            columns += ["account", "expires_at", "region", "updated_at"]
            values += [facts.account, self._opt_time(facts.expires_at), facts.region, stamp]
        if mark is not None:
            columns += ["last_phase", "last_evaluated_at"]
            values += [phase, at]
        if columns:
            assignments = ", ".join(f"{column} = ?" for column in columns)
            tx.run(f"UPDATE clusters SET {assignments} WHERE cluster_id = ?", (*values, cid))

    def _insert_events(
        self,
        tx: Tx,
        cid: str,
        events: Sequence[tuple[Event, str | None]],
        source: str,
        extra: dict[str, Any],
    ) -> None:
        """Append ``events`` (each with its idempotency key) in one statement, in order."""
        if not events:
            return
        recorded_at = self._time_in(utcnow())
        values: builtins.list[object] = []
        for event, key in events:
            payload = dict(extra)
            if event.expires_at is not None:
                payload["expires_at"] = format_time(event.expires_at)
            values += [
                cid,
                str(event.kind),
                self._time_in(event.at),
                self._opt_time(event.expires_at),
                recorded_at,
                source,
                key,
                self._json_in(payload),
            ]
        rows = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(events))
        tx.run(
            "INSERT INTO events (cluster_id, kind, at, expires_at, recorded_at, source, "
            f"idempotency_key, payload) VALUES {rows}",
            values,
        )

    def _opt_time(self, value: datetime | None) -> object:
        return None if value is None else self._time_in(value)


_UNSEEN: Final = object()


class _OneRead:
    """A read: exactly one statement, hence one snapshot without a transaction."""

    __slots__ = ("_tx", "_used")

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self._used = False

    def rows(self, sql: str, params: Sequence[object] = ()) -> builtins.list[tuple[Any, ...]]:
        assert not self._used, "a read is one statement (one snapshot)"
        self._used = True
        return self._tx.rows(sql, params)

    def row(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        assert not self._used, "a read is one statement (one snapshot)"
        self._used = True
        return self._tx.row(sql, params)

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        raise AssertionError("a read never writes")


class _Deferred:
    """A transaction whose reads go through and whose writes are held back.

    It also keeps the token (see ``Store._token``) of the cluster it loaded.
    """

    __slots__ = ("_tx", "token", "writes")

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self.token: object = _UNSEEN
        self.writes: builtins.list[tuple[str, Sequence[object]]] = []

    def rows(self, sql: str, params: Sequence[object] = ()) -> builtins.list[tuple[Any, ...]]:
        assert not self.writes, "a planned write must not read after writing"
        return self._tx.rows(sql, params)

    def row(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        assert not self.writes, "a planned write must not read after writing"
        return self._tx.row(sql, params)

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        self.writes.append((sql, params))


# -- helpers ----------------------------------------------------------------------------------


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


def _key(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_KEY:
        raise InputError("idempotency_key", value, f"a non-empty string of at most {_MAX_KEY}")
    return value


def _facts_of(facts: _Facts) -> tuple[object, ...]:
    """The facts proper, without the phase cache."""
    return (facts.account, facts.billing, facts.expires_at, facts.region)


def _region(value: str | None) -> str | None:
    return None if value is None else parse_region(value)


def _nth_key(key: str | None, index: int) -> str | None:
    """The key of the ``index``-th event one write records: ``key``, ``key#1``, ``key#2``."""
    if key is None:
        return None
    return f"{key}#{index}" if index else key


def _source(value: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_SOURCE:
        raise InputError("source", value, f"a non-empty string of at most {_MAX_SOURCE}")
    return value


def _same_billing(cid: str, stored: Billing, given: Billing) -> None:
    if given is not stored:
        raise InputError(
            "billing",
            str(given),
            f"{stored}: the billing of tracked cluster {cid!r} cannot change "
            "(track the converted cluster under its new id)",
        )


def _show_event(event: Event) -> str:
    text = f"{event.kind} at {format_time(event.at)}"
    if event.expires_at is not None:
        text += f" until {format_time(event.expires_at)}"
    return text
