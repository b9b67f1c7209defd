"""The state of stored clusters, read without the store's write path.

A guard in a forked Ansible worker, or ``overdue-fsm check``, asks one question of a
store: the state of a cluster at ``now``. :class:`fsm.store.Store` answers it too, but
importing it (the write path, the plans, the ledger, the ``transitions`` machine) costs
more than the answer. Here a reader opens the SQLite file as
:class:`fsm.store.sqlite.SqliteStore` opens it for reading (``query_only``, read-write
only where it may remove the -wal it used), runs the statement
:meth:`fsm.store.Store.get` runs, and replays the applied log on the lifecycle's tables
(:mod:`fsm.replay`), as :meth:`fsm.Cluster.state` replays it.

It answers only what it reads plainly. Anything else (no file yet, a file others may
write, a schema it does not know, a damaged cell, a busy store, PostgreSQL) is
:data:`UNREAD`: the caller asks the :class:`~fsm.store.Store`, which says what is wrong
in its own words. So the answers, the errors and the messages are the Store's.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from ..errors import FsmError
from ..replay import replay_from
from ..run import Run, state_of
from ..table import Billing, EventKind
from ..timeutil import parse_time
from ..values import ClusterState, Event, parse_account
from .schema import CHECKPOINTS_FROM, READABLE_FROM, SCHEMA_TABLE, VERSION_SQL, checked_version
from .sqlite_file import BUSY_TIMEOUT, reader_mode, writers_besides_owner
from .url import parse_store_url

if TYPE_CHECKING:
    from ..policy import Policy

__all__ = ["UNREAD", "forget", "read_states", "state_statement"]


UNREAD: Final = None
"""What :func:`read_states` returns when the Store must answer instead (see the module)."""

_KINDS: Final = {str(kind): kind for kind in EventKind}
_BILLINGS: Final = {str(billing): billing for billing in Billing}

# The connections of this process, by file: a guard is asked once per host.
_OPEN: dict[tuple[int, str], sqlite3.Connection] = {}


def read_states(
    url: str, cluster_ids: Sequence[str], policy: Policy, now: datetime
) -> list[ClusterState | None] | None:
    """Each cluster's state at ``now`` (None: not tracked), in order, as
    ``Store.get(cluster_id).state(now)`` gives it; or :data:`UNREAD` when only the
    :class:`~fsm.store.Store` can answer.

    ``url`` is canonical (:func:`fsm.store.url.canonical_store_url`), each id parsed.
    """
    try:
        parsed = parse_store_url(url)
        if parsed.engine != "sqlite" or parsed.path is None:
            return UNREAD
        conn = _connection(parsed.path)
        if conn is None:
            return UNREAD
        version = _version(conn, url)
        if version is None:
            return UNREAD
        return [_reading(conn, version, cid, policy, now) for cid in cluster_ids]
    except _Unread:
        return UNREAD
    except (sqlite3.Error, OSError, ValueError, KeyError, TypeError, OverflowError, FsmError):
        return UNREAD  # the Store reads it again and says what is wrong


class _Unread(Exception):
    """Only the Store can read this (see the module)."""


def _connection(path: Path) -> sqlite3.Connection | None:
    """This process's reader of ``path``, opened as SqliteStore opens one (None: cannot)."""
    key = (os.getpid(), str(path))
    conn = _OPEN.get(key)
    if conn is not None:
        return conn
    if not path.is_file() or writers_besides_owner(os.stat(path).st_mode) is not None:
        return None  # no store yet, or one the Store refuses: it says why
    conn = sqlite3.connect(
        f"file:{quote(str(path))}?mode={reader_mode(path)}",
        uri=True,
        timeout=BUSY_TIMEOUT,  # as SqliteStore's connections wait for a lock
        isolation_level=None,
        check_same_thread=False,
    )
    try:
        conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    # A connection inherited from a parent process stays referenced, never used or closed.
    _OPEN[key] = conn
    return conn


def forget() -> None:
    """Close this process's readers (tests, long-lived controllers)."""
    pid = os.getpid()
    for key in [key for key in _OPEN if key[0] == pid]:
        with suppress(sqlite3.Error):
            _OPEN.pop(key).close()


def _version(conn: sqlite3.Connection, where: str) -> int | None:
    """The schema version, when it is one a reader reads (else None)."""
    tables = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if SCHEMA_TABLE not in tables:
        return None
    version = checked_version(conn.execute(VERSION_SQL).fetchone()[0], where)
    return version if version >= READABLE_FROM else None


def state_statement(version: int) -> str:
    """The one statement a reader runs for a cluster of schema ``version`` (``?``: its id)."""
    applied = "e.applied" if version >= CHECKPOINTS_FROM else "1"
    return (
        f"SELECT c.account, c.billing, c.expires_at, e.kind, e.at, e.expires_at, {applied}"
        " FROM clusters c LEFT JOIN events e ON e.cluster_id = c.cluster_id"
        " WHERE c.cluster_id = ? ORDER BY e.seq"
    )


def _reading(
    conn: sqlite3.Connection, version: int, cid: str, policy: Policy, now: datetime
) -> ClusterState | None:
    """One cluster at ``now``, from the statement Store.get runs (None: not tracked)."""
    rows = conn.execute(state_statement(version), (cid,)).fetchall()
    if not rows:
        return None
    account, billing_name, expiry = rows[0][:3]
    parse_account(account)  # as the Store's Cluster parses it
    billing = _BILLINGS[billing_name]
    expires_at = (
        None if expiry is None else parse_time(datetime.fromisoformat(expiry), "expires_at")
    )
    if expires_at is not None and billing is not Billing.SUBSCRIPTION:
        raise _Unread  # the Store refuses it, naming it
    taken: set[Event] = set()
    newest: datetime | None = None
    for *_, kind, at, renewal, flag in rows:
        if kind is None:
            continue  # no events yet: the one row holds the facts alone
        event = Event(
            _KINDS[kind],
            datetime.fromisoformat(at),
            None if renewal is None else datetime.fromisoformat(renewal),
        )
        if newest is None or event.at > newest:
            newest = event.at
        if flag:
            taken.add(event)
    run = replay_from(
        Run(billing, expires_at, policy), sorted(taken, key=lambda event: event.order), now
    )
    return state_of(run, cid, account, now, newest)  # as Cluster.state(now) makes it
