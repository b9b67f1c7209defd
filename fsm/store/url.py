"""Store URLs: which engine, where, and how to print it without its password."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from ..environment import STORE_ENV as STORE_ENV  # its home; re-exported for the store
from ..errors import InputError
from ..records import Record

EXPECTED_URL: Final = (
    "an absolute path, sqlite:///ABSOLUTE/PATH.db or postgresql://USER@HOST:PORT/DB "
    "(optionally ?schema=NAME for PostgreSQL)"
)
_PASSWORD_IN_TEXT: Final = re.compile(r"(//[^/@:]*:)[^@/]*@")
# PostgreSQL only: patterns, compiled (and cached by re) on first use, so a reader of an
# SQLite store in a forked Ansible worker does not compile them.
_SCHEMA_NAME: Final = r"[A-Za-z_][A-Za-z0-9_]{0,62}"
# PostgreSQL's own schemas: a store there would mix with (or shadow) the catalog.
_SYSTEM_SCHEMA: Final = r"pg_.*|information_schema"

Engine = Literal["sqlite", "postgresql"]


class StoreURL(Record):
    """A parsed store URL. ``display`` is safe to print: any password is masked."""

    engine: Engine
    display: str
    path: Path | None = None  # SQLite: the database file
    conninfo: str | None = None  # PostgreSQL: the libpq URL, without our own parameters
    schema: str | None = None  # PostgreSQL: the schema holding the tables (None: search_path)


def mask_password(url: str) -> str:
    """``url`` with any password replaced by ``***``, even when it does not parse."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return _PASSWORD_IN_TEXT.sub(r"\1***@", url)
        userinfo, _, hostinfo = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))
    except ValueError:
        return _PASSWORD_IN_TEXT.sub(r"\1***@", url)


def default_store_url() -> str:
    """``$OVERDUE_FSM_STORE``, else ``sqlite:///$XDG_STATE_HOME/overdue-fsm/clusters.db``.

    A relative ``XDG_STATE_HOME`` is ignored, as the XDG base directory
    specification says, and ``~/.local/state`` is used instead.
    """
    configured = os.environ.get(STORE_ENV, "").strip()
    if configured:
        return configured
    state_home = os.environ.get("XDG_STATE_HOME", "").strip()
    if not state_home or not os.path.isabs(state_home):
        state_home = os.path.join(os.path.expanduser("~"), ".local", "state")
    return sqlite_url(os.path.join(os.path.abspath(state_home), "overdue-fsm", "clusters.db"))


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """The store URL of the SQLite file at ``path`` (made absolute), quoted to parse back."""
    return "sqlite://" + quote(os.path.abspath(path))


def canonical_store_url(location: object) -> str:
    """The store URL of ``location`` (an absolute path becomes ``sqlite://PATH``), checked."""
    parsed = parse_store_url(location)
    if parsed.path is not None:
        return sqlite_url(parsed.path)
    assert isinstance(location, str)  # parse_store_url refuses anything else
    return location.strip()


def parse_store_url(url: object) -> StoreURL:
    """Check a store location; anything unusable is an :class:`InputError` naming it.

    One grammar for every face: an absolute path (``~/`` expanded) or
    ``sqlite:///ABSOLUTE/PATH.db`` for SQLite, ``postgresql://...`` for PostgreSQL. A
    relative SQLite path is refused with the absolute form it would have meant.
    """
    if not isinstance(url, str) or not url.strip():
        raise InputError("store", url, EXPECTED_URL)
    text = url.strip()
    if "://" not in text and not text.lower().startswith("sqlite:"):
        return _plain_path(text)
    display = mask_password(text)
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise InputError("store", display, EXPECTED_URL) from None
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        return _sqlite(parts.netloc, parts.path, parts.query, parts.fragment, display)
    if scheme in ("postgresql", "postgres"):
        return _postgres(text, port, display)
    raise InputError("store", display, EXPECTED_URL)


def _plain_path(text: str) -> StoreURL:
    """A location with no scheme: the path of an SQLite file, which must be absolute."""
    path = os.path.expanduser(text)
    if not os.path.isabs(path):
        raise _relative(text, path)
    return _sqlite("", quote(path), "", "", text)


def _relative(given: str, path: str) -> InputError:
    """A relative SQLite path is refused: naming the absolute form it would have meant."""
    return InputError(
        "store",
        given,
        f"{EXPECTED_URL}; a relative path depends on where the command runs, "
        f"so write this file as {sqlite_url(path)}",
    )


def _sqlite(netloc: str, path: str, query: str, fragment: str, display: str) -> StoreURL:
    if netloc or not path.startswith("/"):
        raise _relative(display, unquote(netloc + path))
    if path.count("/") == 1 and path != "/" and not path.startswith("//"):
        # sqlite:///clusters.db: SQLAlchemy reads it as a relative path, we as /clusters.db;
        # a store right under the filesystem root is never what was meant.
        raise _relative(display, unquote(path[1:]))
    if query or fragment:
        raise InputError("store", display, "sqlite:///ABSOLUTE/PATH.db with no ?query or #fragment")
    # sqlite:////abs/path (SQLAlchemy's spelling) means the same file as sqlite:///abs/path.
    file = "/" + unquote(path).lstrip("/")
    if file.endswith("/") or "\x00" in file:
        raise InputError("store", display, "a path to a database file, not a directory")
    return StoreURL("sqlite", display, path=Path(file))


def _postgres(text: str, port: int | None, display: str) -> StoreURL:
    parts = urlsplit(text)
    if parts.fragment:
        raise InputError("store", display, "postgresql://USER@HOST:PORT/DB with no #fragment")
    if parts.path not in ("", "/") and "/" in parts.path[1:]:
        raise InputError("store", display, "postgresql://USER@HOST:PORT/DB (one database name)")
    schema = None
    params = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "schema":
            if not re.fullmatch(_SCHEMA_NAME, value):
                raise InputError(
                    "store",
                    display,
                    "?schema= naming a schema of letters, digits and _ (at most 63)",
                )
            if re.fullmatch(_SYSTEM_SCHEMA, value, re.IGNORECASE):
                raise InputError(
                    "store", display, f"?schema= naming a schema of your own, not {value!r}"
                )
            schema = value
        else:
            params.append((key, value))
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(params), ""))
    del port  # validated by the caller; libpq reads it from the URL
    return StoreURL("postgresql", display, conninfo=conninfo, schema=schema)
