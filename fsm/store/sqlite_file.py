"""How an SQLite store's file is opened: one home for the Store and the cheap reader.

:class:`fsm.store.sqlite.SqliteStore` and :mod:`fsm.store.read` (which must not import
the write path) open the same file the same way: they wait as long for a lock, refuse
a file others may write, and read it so that they leave nothing behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

__all__ = ["BUSY_TIMEOUT", "reader_mode", "writers_besides_owner"]

BUSY_TIMEOUT: Final = 15.0  # seconds a writer waits for the write lock before giving up

_OTHERS: Final = ((0o020, "its group"), (0o002, "everyone"))


def writers_besides_owner(mode: int) -> str | None:
    """Who else may write a file of ``mode`` ("its group and everyone"), or None: nobody."""
    who = [name for bit, name in _OTHERS if mode & bit]
    return " and ".join(who) if who else None


def reader_mode(path: Path) -> str:
    """How a reader opens the file (SQLite's URI ``mode``) so that it leaves nothing behind.

    Where this user may write the file and its directory, read-write with
    ``query_only``: as the last connection to close, it removes the -wal and
    -shm files it used (a read-only connection cannot, and leaves them).
    Elsewhere (a backup, a read-only mount) nobody writes, so without a -wal
    to follow the file is read as immutable: no -shm is needed, none is made.
    """
    if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK):
        return "rw"
    if not Path(f"{path}-wal").exists():
        return "ro&immutable=1"
    return "ro"
