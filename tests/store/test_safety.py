"""Stores that rehearsals, readers and odd files must leave alone (issue 12, items 5-7, 14)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest

from fsm.cli import main
from fsm.store import SCHEMA_VERSION, open_store

from .conftest import Raw, at
from .test_faults import as_another_user, fill, fingerprint
from .test_schema import make_store, versions


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err
    return code, out, err


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(("-wal", "-shm")))


def schema_exists(raw: Raw) -> bool:
    base, _, schema = raw.url.partition("schema=")
    rows = Raw(base.rstrip("?&")).query("SELECT 1 FROM pg_namespace WHERE nspname = ?", (schema,))
    return bool(rows)


# -- item 5: a rehearsal writes nothing ---------------------------------------------------------


def rehearse(
    capsys: pytest.CaptureFixture[str], store_url: str, cluster_id: str, *extra: str
) -> tuple[int, str, str]:
    """``observe CLUSTER --billing pay_as_you_go --balance -5 --dry-run`` on ``store_url``."""
    return cli(
        capsys, "observe", cluster_id, "--billing", "pay_as_you_go", "--balance", "-5",
        "--store", store_url, "--dry-run", *extra,
    )  # fmt: skip


def test_a_rehearsal_on_no_store_creates_nothing_and_says_it_would(
    capsys: pytest.CaptureFixture[str], store_url: str, raw: Raw
) -> None:
    code, out, err = rehearse(capsys, store_url, "c-1", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["dry_run"] is True
    assert [e["kind"] for e in data["recorded"]] == ["balance_negative"]
    assert len(data["would_also"]) == 1 and data["would_also"][0].startswith("create the store")
    if raw.sqlite:
        assert not Path(store_url.removeprefix("sqlite://")).parent.exists()
    else:
        assert not schema_exists(raw)
    code, out, _ = rehearse(capsys, store_url, "c-1")
    assert out.startswith("would create the store at ")
    assert "would record: balance_negative" in out


def test_a_rehearsal_on_an_older_store_migrates_and_switches_nothing(
    capsys: pytest.CaptureFixture[str], store_url: str, raw: Raw
) -> None:
    make_store(raw, 1)
    path = Path(store_url.removeprefix("sqlite://"))
    before = fingerprint(path) if raw.sqlite else None
    code, out, err = rehearse(capsys, store_url, "c-new", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [e["kind"] for e in data["recorded"]] == ["balance_negative"]
    assert f"migrate its schema from version 1 to {SCHEMA_VERSION}" in data["would_also"]
    assert versions(raw) == [1]
    assert raw.count("events") == 1
    if raw.sqlite:
        assert "switch its journal from delete to WAL" in data["would_also"]
        assert fingerprint(path) == before
        assert leftovers(path.parent) == []
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    # The write itself migrates, as before.
    assert cli(capsys, "observe", "c-old", "--balance", "10", "--store", store_url)[0] == 0
    assert versions(raw) == list(range(1, SCHEMA_VERSION + 1))


def test_a_sync_rehearsal_uses_a_rehearsal_store(store_url: str, raw: Raw) -> None:
    with open_store(store_url, rehearsal=True) as store:
        assert store.regions() == {}
        assert store.get("c-1") is None
        assert store.clusters(now=at()) == []
        assert store.pending[0].startswith("create the store")
    if not raw.sqlite:
        assert not schema_exists(raw)


# -- item 6: readers on read-only directories and files leave nothing behind -----------------


def test_a_plain_status_leaves_no_wal_or_shm_behind(
    capsys: pytest.CaptureFixture[str], sqlite_url: str
) -> None:
    fill(sqlite_url)
    directory = Path(sqlite_url.removeprefix("sqlite://")).parent
    assert leftovers(directory) == []
    for argv in (("status", "c-1"), ("list",), ("history", "c-1")):
        code, _, err = cli(capsys, *argv, "--store", sqlite_url)
        assert code == 0, err
        assert leftovers(directory) == [], argv


@pytest.mark.parametrize("read_only", ["directory", "file", "both"])
def test_readers_work_on_a_read_only_directory_or_file(
    shared_dir: Path,
    read_only: str,
) -> None:
    db = shared_dir / "clusters.db"
    fill(f"sqlite://{db}")
    db.chmod(0o444 if read_only in ("file", "both") else 0o644)
    if read_only in ("directory", "both"):
        shared_dir.chmod(0o555)
    before = fingerprint(db)

    def check() -> None:
        for argv in (["status", "c-1"], ["list"], ["check", "c-0", "view_cluster_info"]):
            assert main([*argv, "--store", f"sqlite://{db}"]) == 0, argv
        with open_store(f"sqlite://{db}", create=False) as reader:  # the lookups' and inventory's
            assert len(reader.clusters(now=at())) == 3

    try:
        as_another_user(check)
    finally:
        shared_dir.chmod(0o777)
    assert fingerprint(db) == before
    assert leftovers(shared_dir) == []


# -- item 7: owner-only files, never through a link ------------------------------------------------


def test_a_new_store_and_its_wal_and_shm_are_owner_only(sqlite_url: str) -> None:
    path = Path(sqlite_url.removeprefix("sqlite://"))
    old = os.umask(0o000)
    try:
        with open_store(sqlite_url) as store:
            store.upsert_cluster("c-1", "pay_as_you_go")
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
    finally:
        os.umask(old)
    assert modes == {"clusters.db": 0o600, "clusters.db-wal": 0o600, "clusters.db-shm": 0o600}
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o666, 0o664, 0o646])
def test_a_store_others_may_write_is_refused_with_the_mode_and_the_fix(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, mode: int
) -> None:
    fill(sqlite_url)
    path = Path(sqlite_url.removeprefix("sqlite://"))
    path.chmod(mode)
    for argv in (("status", "c-1"), ("observe", "c-1", "--balance", "3")):
        code, _, err = cli(capsys, *argv, "--store", sqlite_url)
        assert code == 2
        assert f"{mode:04o}" in err and f"chmod 600 {path}" in err


def test_an_empty_world_writable_file_is_not_adopted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "clusters.db"
    path.touch()
    path.chmod(0o666)
    code, _, err = cli(
        capsys, "observe", "c-1", "--billing", "pay_as_you_go", "--store", f"sqlite://{path}"
    )
    assert code == 2 and "0666" in err
    assert path.stat().st_size == 0


def test_an_empty_file_is_adopted_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "clusters.db"
    path.touch()
    path.chmod(0o644)
    with open_store(f"sqlite://{path}") as store:
        store.upsert_cluster("c-1", "pay_as_you_go")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("target_state", ["empty", "missing"])
def test_a_new_store_is_never_created_through_a_symlink(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, target_state: str
) -> None:
    target = tmp_path / "elsewhere.db"
    if target_state == "empty":
        target.touch()
        target.chmod(0o600)
    link = tmp_path / "clusters.db"
    link.symlink_to(target)
    code, _, err = cli(
        capsys, "observe", "c-1", "--billing", "pay_as_you_go", "--store", f"sqlite://{link}"
    )
    assert code == 2
    assert "symbolic link" in err and str(target) in err
    if target_state == "empty":
        assert target.stat().st_size == 0
    else:
        assert not target.exists()


def test_an_existing_store_behind_a_symlink_is_used(tmp_path: Path) -> None:
    target = tmp_path / "real.db"
    fill(f"sqlite://{target}")
    link = tmp_path / "clusters.db"
    link.symlink_to(target)
    with open_store(f"sqlite://{link}") as store:
        store.upsert_cluster("c-9", "pay_as_you_go")
    with open_store(f"sqlite://{target}", create=False) as reader:
        assert reader.get("c-9") is not None


# -- item 14: schema names are identifiers, never the system's ----------------------------------


@pytest.mark.parametrize(
    "schema", ["abc%0A", "information_schema", "pg_catalog", "PG_toast", "a%22b", "x" * 64]
)
def test_a_schema_name_must_be_an_identifier_of_your_own(
    capsys: pytest.CaptureFixture[str], schema: str
) -> None:
    url = f"postgresql://postgres@127.0.0.1:5432/test?schema={schema}"
    for argv in (("status", "c-1"), ("observe", "c-1", "--billing", "pay_as_you_go")):
        code, _, err = cli(capsys, *argv, "--store", url)
        assert code == 2
        assert "?schema=" in err
