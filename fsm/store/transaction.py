"""How a store runs its statements, whatever it stores: the transaction protocol.

An engine supplies three hooks (:meth:`Transactional._run_read`,
:meth:`~Transactional._run_write`, :meth:`~Transactional._store_error`); on
them this module builds what the store's API relies on:

- a read is exactly one statement, so one snapshot and no transaction
  (:class:`OneRead` sees to it);
- a write runs in one transaction holding its cluster's lock;
- a change (:meth:`~Transactional._change`) is planned optimistically on an
  optimistic engine (both are): reads go through, writes are held back
  (:class:`Deferred`), and the lock is taken only to apply them to the state
  they were planned from, which may be what the store's own last write to the
  cluster left (then nothing is read to plan it);
- a store opened before a fork refuses to run in the child, and its
  connections are never closed there (:meth:`~Transactional._release`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, Generic, NamedTuple, Protocol, TypeVar, cast

from ..errors import FsmError, StoreError

T = TypeVar("T")

Write = tuple[str, Sequence[object]]
"""One statement and its parameters."""


class Tx(Protocol):
    """One open transaction of an engine, in ``?`` placeholder style."""

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    def row(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None: ...

    def run(self, sql: str, params: Sequence[object] = ()) -> None: ...


class Closable(Protocol):
    def close(self) -> None: ...


_ORPHANS: Final[list[Closable]] = []
"""Connections a forked child inherited and closed: kept, never closed by the child.

Closing an inherited connection would end the parent's PostgreSQL session or
let SQLite tidy files the parent still uses; the child only drops its handle.
"""

_UNSEEN: Final = object()
_REMEMBERED: Final = 1024
"""The most clusters a store remembers the state of (see ``Transactional._change``)."""


class OneRead:
    """A read: exactly one statement, hence one snapshot without a transaction."""

    __slots__ = ("_tx", "_used")

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self._used = False

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        assert not self._used, "a read is one statement (one snapshot)"
        self._used = True
        return self._tx.rows(sql, params)

    def row(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        assert not self._used, "a read is one statement (one snapshot)"
        self._used = True
        return self._tx.row(sql, params)

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        raise AssertionError("a read never writes")


class Deferred:
    """A transaction whose reads go through and whose writes are held back.

    It also keeps the token (see :meth:`Transactional._token`) of the state the
    plan was made from, as the plan's first read noted it (:func:`note_token`),
    whether that state was recalled rather than read (:func:`note_recalled`), and what a
    read would find once the writes are stored (:func:`note_after`).
    """

    __slots__ = ("_tx", "after", "recalled", "token", "writes")

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self.token: object = _UNSEEN
        self.writes: list[Write] = []
        self.recalled = False
        self.after: object = None

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        assert not self.writes, "a planned write must not read after writing"
        return self._tx.rows(sql, params)

    def row(self, sql: str, params: Sequence[object] = ()) -> tuple[Any, ...] | None:
        assert not self.writes, "a planned write must not read after writing"
        return self._tx.row(sql, params)

    def run(self, sql: str, params: Sequence[object] = ()) -> None:
        self.writes.append((sql, params))


def note_token(tx: Tx, token: object) -> None:
    """Tell a planning transaction what state its write depends on (else: nothing)."""
    if isinstance(tx, Deferred):
        tx.token = token


def note_recalled(tx: Tx, token: object) -> None:
    """Tell a planning transaction it plans from a recalled state (see ``_recall``)."""
    if isinstance(tx, Deferred):
        tx.token = token
        tx.recalled = True


def note_after(tx: Tx, state: object) -> None:
    """Tell a planning transaction what a read finds once its writes are stored (None:
    nothing worth remembering); the store remembers it when they are (see ``_change``)."""
    if isinstance(tx, Deferred):
        tx.after = state


class Planned(NamedTuple, Generic[T]):
    """How a planned write went (see :meth:`Transactional._write_planned`)."""

    applied: bool  # the planned writes were stored as planned
    token: object  # then: the token after them
    replanned: T | None = None  # else: what the work answered, run again under the lock


class Transactional:
    """A connection to a store and the protocol above; the engines fill in the hooks.

    ``writable`` is False for readers: they never create, migrate or write.
    """

    engine: str = "?"
    optimistic: bool = False
    """Plan each write on a snapshot and take the lock only to apply it (see ``_change``)."""

    def __init__(self, url: str, writable: bool) -> None:
        self.url = url
        self.writable = writable
        self._pid = os.getpid()
        # Each cluster this store wrote: the token its write left and what a read would
        # then find, so that its next write need not read (see ``_change``).
        self._known: dict[str, tuple[object, object]] = {}

    # -- engine hooks ----------------------------------------------------------------

    def _run_read(self, work: Callable[[Tx], T]) -> T:
        raise NotImplementedError

    def _run_write(self, cluster_id: str, work: Callable[[Tx], T]) -> T:
        """Run ``work`` in one transaction holding the write lock of ``cluster_id``."""
        raise NotImplementedError

    def _store_error(self, error: Exception) -> StoreError | None:
        """The user-facing error for an engine exception (None: not the engine's)."""
        return None

    def _token(self, tx: Tx, cluster_id: str) -> object:
        """What a write to ``cluster_id`` depends on, read under the lock (see ``_change``)."""
        raise NotImplementedError

    # -- the protocol -----------------------------------------------------------------

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

    def _closed_error(self) -> StoreError:
        return StoreError(f"the store at {self.url} is closed")

    def _busy_error(self, held: str, waited: str) -> StoreError:
        """Another writer held ``held`` (the lock we wait for) longer than we wait."""
        return StoreError(
            f"the store at {self.url} is busy: another writer held {held} "
            f"for more than {waited}; try again"
        )

    def _inherited(self) -> bool:
        """True in a process forked after the store was opened: its connection is not ours."""
        return os.getpid() != self._pid

    def _release(self, conn: Closable | None) -> None:
        """Close ``conn``, or in a forked child only let go of it (see ``_ORPHANS``)."""
        if conn is None:
            return
        if self._inherited():
            _ORPHANS.append(conn)
        else:
            conn.close()

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
            return self._run_read(lambda tx: work(OneRead(tx)))

    def _write_planned(
        self, cluster_id: str, token: object, writes: Sequence[Write], work: Callable[[Tx], T]
    ) -> Planned[T]:
        """Under the lock of ``cluster_id``: store ``writes`` if the cluster is still at
        ``token``, and read the token they leave; else run ``work`` again."""

        def apply(tx: Tx) -> Planned[T]:
            if self._token(tx, cluster_id) != token:
                return Planned(False, None, work(tx))
            for sql, params in writes:
                tx.run(sql, params)
            return Planned(True, self._token(tx, cluster_id))

        return self._write(cluster_id, apply)

    def _recall(self, tx: Tx, cluster_id: str) -> tuple[object, object] | None:
        """What this store's last write to ``cluster_id`` left (its token and state), for
        a plan (a :class:`Deferred`) that may use it instead of reading; else None."""
        if not isinstance(tx, Deferred):
            return None
        return self._known.get(cluster_id)

    def _remember(self, cluster_id: str, token: object, state: object) -> None:
        if state is None:
            self._known.pop(cluster_id, None)
            return
        if len(self._known) >= _REMEMBERED:
            self._known.clear()
        self._known[cluster_id] = (token, state)

    def _change(self, cluster_id: str, work: Callable[[Tx], T]) -> T:
        """Run ``work`` as if it held the lock of ``cluster_id`` from its first read.

        Pessimistic engines simply run it under the lock. An optimistic one
        runs it first on a read snapshot with its writes held back: if it writes
        nothing, that is the answer and no lock is taken at all (a repeated
        observation). Else, under the lock, the writes are applied only if the
        cluster's row and log are still what the snapshot saw; if another writer
        got there first, ``work`` runs again under the lock. Either way every
        write is computed from the current state, and the lock is held only to
        append. ``work`` must do all its reads before its first write, and its
        first read must note the token of what it read (:func:`note_token`).

        The first read may instead recall what this store's own last write to the
        cluster left (:meth:`_recall`, for an event after every one it kept): the
        plan then reads nothing, and the token is checked as for a snapshot; a plan
        that writes nothing checks it with one read.
        """
        if not self.optimistic or not self.writable:
            return self._write(cluster_id, work)  # (a reader: its error)

        def plan(tx: Tx) -> tuple[Deferred, T]:
            deferred = Deferred(tx)
            result = work(deferred)
            assert deferred.token is not _UNSEEN, "a write loads its cluster first"
            return deferred, result

        deferred, result = self._read(plan)
        if not deferred.writes and deferred.recalled:
            if self._read(lambda tx: self._token(tx, cluster_id)) == deferred.token:
                return result
            self._known.pop(cluster_id, None)  # another writer was here: read it
            deferred, result = self._read(plan)
        if not deferred.writes:
            return result
        try:
            planned = self._write_planned(cluster_id, deferred.token, deferred.writes, work)
        except BaseException:
            self._known.pop(cluster_id, None)
            raise
        if not planned.applied:
            self._known.pop(cluster_id, None)
            return cast(T, planned.replanned)
        self._remember(cluster_id, planned.token, deferred.after)
        return result
