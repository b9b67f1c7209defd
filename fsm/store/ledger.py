"""The ledger of warnings issued (SPEC section 7): each one once per episode, whoever looks.

:class:`LedgerStore` adds to the rows of a store the table ``warnings``: one
statement inserts what is absent and returns what it inserted, on SQLite and
PostgreSQL alike, so repeated runs, parallel forks and several controllers
issue each warning exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ..errors import InputError, NotTrackedError
from ..timeutil import TimeInput, format_duration, parse_duration, parse_time, utcnow
from ..values import parse_cluster_id
from .rows import RowStore, of_clusters
from .schema import WARNINGS_FROM, WARNINGS_TABLE
from .transaction import Tx

if TYPE_CHECKING:  # the warnings are imported by the first call that reads or writes one
    from ..warnings import DeadlineWarning

_LEDGER_COLUMNS: Final = (
    "cluster_id, step, threshold, episode, due_at, deadline, message, issued_at, acknowledged_at"
)
_LEDGER_KEY: Final = "step, threshold, episode"
_LEDGER_KEY_COLUMNS: Final = "cluster_id, " + _LEDGER_KEY  # the ledger's primary key
LedgerKey = tuple[str, str, datetime]
"""A warning's key in its cluster's ledger rows: (step, threshold as written, episode)."""


class Ledgers(NamedTuple):
    """What a write transaction read of some clusters' ledgers (see ``_read_ledgers``)."""

    tracked: frozenset[str]  # the clusters that have a row
    entered: frozenset[tuple[str, str, str, datetime]]  # (cluster, *its LedgerKey)


class LedgerStore(RowStore):
    """A store's ledger of warnings issued; :class:`~.base.Store` is its public face."""

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
        fresh = [w for w in wanted if ledger_key(w) not in entered]
        if dry_run or not fresh:
            return fresh

        def work(tx: Tx) -> list[DeadlineWarning]:
            ledgers = self._read_ledgers(tx, [cid])
            if cid not in ledgers.tracked:
                raise NotTrackedError(cid)
            return self._enter_warnings(tx, ledgers, [fresh], at_now)[0]

        return self._write(cid, work)

    def acknowledge(
        self, warnings: Iterable[DeadlineWarning], *, now: TimeInput | None = None
    ) -> list[DeadlineWarning]:
        """Mark ``warnings`` acknowledged; the ones this call acknowledged come back.

        An acknowledged warning is no longer due and is never issued again in
        its episode; one not issued yet is entered in the ledger as issued now.
        """
        from ..warnings import DeadlineWarning

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
            done += [w for w in wanted if ledger_key(w) in acknowledged]
        return done

    def _read_ledgers(self, tx: Tx, cids: Sequence[str]) -> Ledgers:
        """Which of ``cids`` are tracked and the keys their ledger rows hold, in one statement.

        ``tx`` holds the locks of ``cids``: their ledger rows cannot change until it ends.
        """
        rows = of_clusters(
            tx,
            f"c.cluster_id, w.{_LEDGER_KEY.replace(', ', ', w.')} FROM clusters c"
            f" LEFT JOIN {WARNINGS_TABLE} w ON w.cluster_id = c.cluster_id",
            cids,
            "c.cluster_id",
        )
        tracked = frozenset(cid for cid, *_ in rows)
        entered = frozenset(
            (cid, *self._ledger_key_out(step, threshold, episode))
            for cid, step, threshold, episode in rows
            if step is not None
        )
        return Ledgers(tracked, entered)

    def _enter_warnings(
        self,
        tx: Tx,
        ledgers: Ledgers,
        due: Sequence[Sequence[DeadlineWarning]],
        now: datetime,
    ) -> list[list[DeadlineWarning]]:
        """Enter in ``tx`` the warnings of ``due`` (each cluster's, read in ``ledgers`` under
        its lock) that its ledger does not hold yet, in one statement; those, per cluster."""
        entered = ledgers.entered
        fresh = [[w for w in ws if (w.cluster_id, *ledger_key(w)) not in entered] for ws in due]
        if issued := [w for warnings in fresh for w in warnings]:
            # The locks keep other writers out; the conflict clause is the ledger's own guard.
            tx.run(
                self._ledger_insert(issued) + " ON CONFLICT DO NOTHING",
                self._ledger_values(issued, self._time_in(now), None),
            )
        return fresh

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
        from ..warnings import DeadlineWarning, Step

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


def ledger_key(warning: DeadlineWarning) -> LedgerKey:
    """What identifies a warning in the ledger: its step, threshold and episode (per cluster)."""
    return (str(warning.step), format_duration(warning.threshold), warning.episode)


def _of_cluster(cid: str, warnings: Iterable[DeadlineWarning]) -> list[DeadlineWarning]:
    """The warnings of ``cid`` among ``warnings``, once each; anything else is an input error."""
    from ..warnings import DeadlineWarning

    chosen: dict[LedgerKey, DeadlineWarning] = {}
    for warning in warnings:
        if not isinstance(warning, DeadlineWarning):
            raise InputError("warnings", warning, "fsm.DeadlineWarning values (fsm.warnings_due)")
        if warning.cluster_id == cid:
            chosen.setdefault(ledger_key(warning), warning)
    return list(chosen.values())
