"""Persistence: cluster facts and their append-only event logs.

>>> from fsm import Observation
>>> from fsm.store import open_store
>>> with open_store("sqlite:///tmp/clusters.db") as store:  # doctest: +SKIP
...     result = store.observe("c-1", Observation.create(balance="-3"), billing="PayAsYouGo")
...     result.changed, [str(p) for p in result.entered]
(True, ['overdue_grace'])

Two engines behind one interface: SQLite (``sqlite:///ABSOLUTE/PATH.db``, the
embedded default) and PostgreSQL (``postgresql://USER@HOST:PORT/DB``, with
``?schema=NAME`` to keep the tables in their own schema). The store knows no
Ansible and no command line; the phase is always recomputed by the core.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ..errors import StoreError
from .url import (
    STORE_ENV,
    Engine,
    StoreURL,
    default_store_url,
    mask_password,
    parse_store_url,
    sqlite_url,
)

if TYPE_CHECKING:
    from ..policy import Policy
    from .base import Store
    from .results import AccountSync, ObserveResult, RecordResult, StoredEvent, WarningEntry
    from .schema import SCHEMA_VERSION

#: The public names not imported by ``import fsm.store``, each by its module: a reader
#: (a guard in a forked Ansible worker) loads only what it uses.
_LAZY: Final[Mapping[str, str]] = {
    "SCHEMA_VERSION": ".schema",
    "Store": ".base",
    "AccountSync": ".results",
    "ObserveResult": ".results",
    "RecordResult": ".results",
    "StoredEvent": ".results",
    "WarningEntry": ".results",
}


def __getattr__(name: str) -> Any:
    """A public name of :data:`_LAZY`, imported from its module on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "SCHEMA_VERSION",
    "STORE_ENV",
    "AccountSync",
    "ObserveResult",
    "RecordResult",
    "Store",
    "StoreError",
    "StoreURL",
    "StoredEvent",
    "WarningEntry",
    "default_store_url",
    "load_write_path",
    "mask_password",
    "open_store",
    "parse_store_url",
    "sqlite_url",
]

ENGINES: Final[Mapping[Engine, str]] = {
    "sqlite": ".sqlite:SqliteStore",
    "postgresql": ".postgres:PostgresStore",
}
"""Each engine by its URL scheme, as ``module:class``: imported only when used."""


def engine_class(engine: Engine) -> type[Store]:
    """The :class:`Store` subclass of ``engine`` (see :data:`ENGINES`)."""
    module, _, name = ENGINES[engine].partition(":")
    found: type[Store] = getattr(importlib.import_module(module, __name__), name)
    return found


#: What a first write imports beyond what a read does (see :func:`load_write_path`).
WRITE_PATH: Final[tuple[str, ...]] = (
    "decimal",
    "fsm.observations",
    "fsm.store.results",
    "fsm.warnings",
)


def load_write_path() -> None:
    """Import now what a first write would import (:data:`WRITE_PATH`).

    For a process about to fork workers that write: Ansible's main process, once the
    ``clusters`` inventory has read the store. Each worker then inherits these modules
    instead of importing them itself; a reader never needs to call this.
    """
    for name in WRITE_PATH:
        importlib.import_module(name)


def open_store(
    url: str | None = None,
    *,
    policy: Policy | None = None,
    create: bool = True,
    rehearsal: bool = False,
) -> Store:
    """Open the store at ``url`` (default: :func:`default_store_url`).

    ``create=True`` opens for writing: a missing SQLite file and its directory
    are created by the first write (0700 / 0600), an older schema is migrated.
    ``create=False`` opens for reading only: nothing is ever created, migrated
    or written, and a missing store is a :class:`StoreError`.
    ``rehearsal=True`` (a dry run, Ansible's check mode) opens as a reader does,
    but a missing or older store is read as it is: ``observe(dry_run=True)``
    answers what a write would do, and :attr:`Store.pending` says what opening
    for writing would do first (create the store, migrate its schema...).
    """
    parsed = parse_store_url(default_store_url() if url is None else url)
    if policy is None:
        from ..policy import Policy

        policy = Policy.default()
    writable = create and not rehearsal
    return engine_class(parsed.engine).from_url(parsed, policy, writable, rehearsal)
