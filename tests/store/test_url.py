"""Store URLs: what is accepted, the default, and passwords never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsm import InputError
from fsm.store import default_store_url, mask_password, open_store, parse_store_url, sqlite_url


def test_an_absolute_sqlite_path() -> None:
    parsed = parse_store_url("sqlite:///var/lib/overdue fsm/clusters.db")
    assert parsed.engine == "sqlite"
    assert parsed.path == Path("/var/lib/overdue fsm/clusters.db")
    assert parse_store_url("sqlite:///tmp/a%20b.db").path == Path("/tmp/a b.db")


def test_an_absolute_path_is_an_sqlite_store(tmp_path: Path) -> None:
    # The issue "every answer says why": one grammar, and a plain absolute path is in it.
    assert parse_store_url(str(tmp_path / "a b.db")).path == tmp_path / "a b.db"
    assert parse_store_url("/tmp/x.db").engine == "sqlite"


@pytest.mark.parametrize("name", ["clusters.db", "a b.db", "50% #1?.db", "ünï/c.db"])
def test_sqlite_url_quotes_a_path_so_it_parses_back_to_that_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert parse_store_url(sqlite_url(path)).path == path
    assert parse_store_url(sqlite_url(str(path))).path == path


def test_sqlite_url_makes_a_relative_path_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_store_url(sqlite_url("state/clusters.db")).path == tmp_path / "state/clusters.db"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://clusters.db",
        "sqlite:clusters.db",
        "sqlite:///",
        "sqlite:///tmp/dir/",
        "sqlite:///tmp/x.db?mode=ro",
    ],
)
def test_a_sqlite_url_without_an_absolute_file_path_is_refused(url: str) -> None:
    with pytest.raises(InputError, match="store") as error:
        parse_store_url(url)
    assert url in str(error.value)


@pytest.mark.parametrize(
    "url", ["mysql://root@localhost/test", "clusters.db", "", "   ", "http://x"]
)
def test_an_unknown_scheme_is_refused_naming_what_is_expected(url: str) -> None:
    with pytest.raises(InputError, match=r"sqlite:///ABSOLUTE/PATH\.db or postgresql://"):
        open_store(url)


def test_a_postgres_url_keeps_its_libpq_parameters_and_takes_a_schema() -> None:
    parsed = parse_store_url("postgresql://u@db.example:5433/fleet?sslmode=require&schema=ofsm")
    assert parsed.engine == "postgresql"
    assert parsed.schema == "ofsm"
    assert parsed.conninfo == "postgresql://u@db.example:5433/fleet?sslmode=require"
    assert parse_store_url("postgres://u@h/db").engine == "postgresql"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2@host:notaport/db",
        "postgresql://u:hunter2@host/db?schema=bad-name",
        "postgresql://u:hunter2@host/db/extra",
        "ftp://u:hunter2@host/db",
    ],
)
def test_a_malformed_url_is_refused_with_its_password_masked(url: str) -> None:
    with pytest.raises(InputError) as error:
        open_store(url)
    assert "hunter2" not in str(error.value)
    assert "u:***@host" in str(error.value)


def test_mask_password() -> None:
    assert mask_password("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_password("postgresql://u@h/db") == "postgresql://u@h/db"
    assert mask_password("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"


def test_the_default_url_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OVERDUE_FSM_STORE", "postgresql://u@h/db")
    assert default_store_url() == "postgresql://u@h/db"
    monkeypatch.delenv("OVERDUE_FSM_STORE")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_store_url() == f"sqlite://{tmp_path}/overdue-fsm/clusters.db"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_url() == f"sqlite://{tmp_path}/home/.local/state/overdue-fsm/clusters.db"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_store_url().endswith("/home/.local/state/overdue-fsm/clusters.db")


def test_open_store_without_a_url_uses_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OVERDUE_FSM_STORE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    with open_store() as store:
        assert store.url == f"sqlite://{tmp_path}/overdue-fsm/clusters.db"
        store.upsert_cluster("c-1", "pay_as_you_go")
    assert (tmp_path / "overdue-fsm" / "clusters.db").is_file()
