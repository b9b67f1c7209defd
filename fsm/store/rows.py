"""How a store reads and writes its rows: facts, events, checkpoints, and damaged cells.

:class:`RowStore` is the layer under the public API (:mod:`.base`): the one
statement that loads what a write needs (:meth:`RowStore.load_for_write`:
the row, its checkpoint, the part of the log a replay needs), the writes a
plan decided, and how values travel to and from the engine's column types.
A cell the code cannot read makes the store "damaged", naming the cluster
and the column. SQL is written with ``?`` placeholders; every value travels
as a parameter.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from ..errors import FsmError, StoreError
from ..policy import Policy
from ..table import Billing, EventKind, Phase
from ..timeutil import format_time, parse_time, utcnow
from ..values import Checkpoint, ClusterState, Event, Transition
from .plan import CheckpointChange, Facts, Loaded, RowChange, Writes, follows, loaded_after
from .schema import CHECKPOINTS_FROM, SCHEMA_VERSION
from .transaction import Transactional, Tx, Write, note_after, note_recalled, note_token

KINDS: Final = {str(kind): kind for kind in EventKind}
"""Each event kind by its spelling in ``events.kind``."""
_BEFORE_ANY: Final = datetime(1, 1, 1, tzinfo=UTC)  # earlier than every event
_AFTER_ALL: Final = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)  # later than every one
TOKEN_COLUMNS: Final = (
    "account",
    "billing",
    "expires_at",
    "region",
    "updated_at",
    "last_phase",
    "last_evaluated_at",
)
"""The columns of a cluster's row a write depends on; with the end of its log, its token."""
_TOKEN_SQL: Final = (
    f"SELECT {', '.join(TOKEN_COLUMNS)}, (SELECT max(seq) FROM events WHERE cluster_id = ?)"
    " FROM clusters WHERE cluster_id = ?"
)


_REMEMBERED_TEXTS: Final = 4096  # clusters whose last checkpoint text a store keeps
_NO_HISTORY: Final = '"history":[]'


def json_text(value: Any) -> str:
    """JSON as the store writes it: compact, keys sorted (SQLite keeps exactly this text)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class RowStore(Transactional):
    """The rows of a store and how they travel; :class:`~.base.Store` is its public face."""

    def __init__(self, url: str, policy: Policy, writable: bool, rehearsal: bool = False) -> None:
        super().__init__(url, writable)
        self.policy = policy
        self.rehearsal = rehearsal
        # The schema found when opened (None: no store yet); an engine sets it.
        self.schema_version: int | None = SCHEMA_VERSION
        # The checkpoint each cluster's row held when last read, decoded: a writer that
        # observes one cluster over and over decodes its transitions once.
        self._decoded: dict[str, tuple[object, Checkpoint]] = {}
        # The history of the last checkpoint each cluster's row was given, and its JSON
        # text: the next one mostly has the same history and a transition or two more.
        self._histories: dict[str, tuple[tuple[Transition, ...], str]] = {}

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

    def _json_text_in(self, text: str) -> object:
        """JSON already written as :func:`json_text`, as the engine's JSON column takes it."""
        return text

    def _checkpoint_in(self, cid: str, checkpoint: Checkpoint) -> object:
        """The tip checkpoint of ``cid``'s row as its column takes it (see ``_checkpoint_text``)."""
        return self._json_text_in(self._checkpoint_text(cid, checkpoint))

    def _checkpoint_text(self, cid: str, checkpoint: Checkpoint) -> str:
        """``json_text(checkpoint.as_dict())``, the same text, with its history encoded once.

        The history is most of a checkpoint and grows with the cluster's transitions, while
        a write mostly adds one or none: the text of the history the cluster's last
        checkpoint had is kept, and only the transitions after it are encoded.
        """
        history = checkpoint.history
        known = self._histories.get(cid)
        if known is not None and history[: len(known[0])] == known[0]:
            text = known[1]
            tail = history[len(known[0]) :]
        else:
            text, tail = "[]", history
        data = checkpoint._replace(history=tail).as_dict()
        if tail:
            more = json_text(data["history"])
            text = more if text == "[]" else f"{text[:-1]},{more[1:]}"
        data["history"] = []
        head = json_text(data)  # no other key or value holds the marker: names and numbers
        if len(self._histories) >= _REMEMBERED_TEXTS:
            self._histories.clear()
        self._histories[cid] = (history, text)
        return head.replace(_NO_HISTORY, f'"history":{text}', 1)

    # -- rows -------------------------------------------------------------------------------

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

        A plan may instead recall what this store's last write to the cluster left
        (see ``_change``): for events after every one kept, no key to look up and
        the same expiry, that is what this statement would read.
        """
        if key is None:
            known = self._recall(tx, cid)
            if known is not None:
                token, state = known
                assert isinstance(state, Loaded)
                if follows(state, wanted) and (
                    new_expiry is None or new_expiry == state.facts.expires_at
                ):
                    note_recalled(tx, token)
                    return state
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
            cell("clusters.billing", Billing, billing),
            cell("clusters.expires_at", opt_time_out, expires_at),
            region,
            None if last_phase is None else cell("clusters.last_phase", Phase, last_phase),
            cell("clusters.last_evaluated_at", opt_time_out, last_at),
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
        return tx.row(*self._token_read(cluster_id))

    def _token_read(self, cluster_id: str) -> Write:
        """The statement :meth:`_token` runs (None: the cluster is not tracked)."""
        return _TOKEN_SQL, (cluster_id, cluster_id)

    def _apply_loaded(
        self,
        tx: Tx,
        cid: str,
        writes: Writes,
        before: Loaded | None,
        evaluated: ClusterState | None = None,
    ) -> None:
        """:meth:`_apply` the writes of a plan made from ``before`` (as
        :meth:`_load_for_write` read it), noting what they leave for the next write
        (with ``evaluated``, the cluster as the plan evaluated it)."""
        self._apply(tx, cid, writes)
        note_after(tx, loaded_after(before, writes, evaluated))

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
        # Only a new row or new facts are stamped (the phase cache is no fact).
        stamp = self._time_in(utcnow()) if change.create or change.facts_changed else None
        tip_columns: list[str] = []
        tip_values: list[object] = []
        if checkpoints is not None:
            tip = checkpoints.tip
            tip_columns = ["checkpoint", "newest_at", "since_checkpoint"]
            tip_values = [
                None if tip is None else self._checkpoint_in(cid, tip),
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
            cell("events.kind", KINDS.__getitem__, kind),
            cell("events.at", self._time_out, at),
            cell("events.expires_at", self._opt_time_out, expires_at),
        )

    @contextmanager
    def _damaged(self, cid: str) -> Iterator[None]:
        """A value of ``cid``'s rows that this code never writes: a damaged store, said so."""
        try:
            yield
        except DamagedCell as cell:
            raise StoreError(
                f"the store at {self.url} is damaged: cluster {cid!r} has {cell.value!r} "
                f"in {cell.column}, which overdue-fsm never writes; restore the store from "
                "a backup, or move it aside"
            ) from None


def of_clusters(
    tx: Tx, what: str, cids: Sequence[str], column: str = "cluster_id"
) -> list[tuple[Any, ...]]:
    """``SELECT what`` of the rows whose ``column`` is one of ``cids``, in one statement
    (none: no statement)."""
    if not cids:
        return []
    return tx.rows(f"SELECT {what} WHERE {column} IN ({', '.join('?' * len(cids))})", cids)


class DamagedCell(Exception):
    def __init__(self, column: str, value: object) -> None:
        super().__init__(column)
        self.column = column
        self.value = value


_T = TypeVar("_T")


def cell(column: str, convert: Callable[[Any], _T], value: Any) -> _T:
    """``convert(value)`` read from ``column``; a value it refuses is a damaged cell."""
    try:
        return convert(value)
    except (ValueError, KeyError, TypeError, OverflowError, FsmError):
        raise DamagedCell(column, value) from None
