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

from ..errors import StoreError
from ..policy import Policy
from .base import SCHEMA_VERSION, ObserveResult, RecordResult, Store, StoredEvent
from .url import STORE_ENV, StoreURL, default_store_url, mask_password, parse_store_url

__all__ = [
    "SCHEMA_VERSION",
    "STORE_ENV",
    "ObserveResult",
    "RecordResult",
    "Store",
    "StoreError",
    "StoreURL",
    "StoredEvent",
    "default_store_url",
    "mask_password",
    "open_store",
    "parse_store_url",
]


def open_store(
    url: str | None = None, *, policy: Policy | None = None, create: bool = True
) -> Store:
    """Open the store at ``url`` (default: :func:`default_store_url`).

    ``create=True`` opens for writing: a missing SQLite file and its directory
    are created by the first write (0700 / 0600), an older schema is migrated.
    ``create=False`` opens for reading only: nothing is ever created, migrated
    or written, and a missing store is a :class:`StoreError`.
    """
    parsed = parse_store_url(default_store_url() if url is None else url)
    chosen = Policy.default() if policy is None else policy
    if parsed.engine == "sqlite":
        from .sqlite import SqliteStore

        assert parsed.path is not None
        return SqliteStore(parsed.display, parsed.path, chosen, create)
    from .postgres import PostgresStore

    assert parsed.conninfo is not None
    return PostgresStore(parsed.display, parsed.conninfo, parsed.schema, chosen, create)
