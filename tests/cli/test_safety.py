"""Safety from the command line's side: guards that must not allow by accident, bad input
that must exit 2 naming the field (never 3), stores that readers and rehearsals leave alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fsm.timeutil import format_time

from .test_stateful import run as run_cli


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code, out, err = run_cli(capsys, *argv)
    assert "Traceback" not in err
    return code, out, err


def ago(**delta: float) -> str:
    return format_time(datetime.now(UTC) - timedelta(**delta))


# -- item 1: the CLI refuses events dated in the future ------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        ("--balance", "100", "--at", "+1d"),
        ("--balance", "-5", "--at", "2099-01-01T00:00:00Z"),
        ("--released", "--at", "253402300799"),
        ("--released", "--at", "+1d"),
    ],
)
def test_observe_refuses_an_event_dated_in_the_future(
    capsys: pytest.CaptureFixture[str], store: Path, extra: tuple[str, ...]
) -> None:
    args = [
        format_time(datetime.now(UTC) + timedelta(days=1)) if value == "+1d" else value
        for value in extra
    ]
    code, _, err = run(capsys, "observe", "c-1", "--billing", "pay_as_you_go", *args)
    assert code == 2, err
    assert "at:" in err and "future tolerance" in err
    assert not store.exists()


def test_a_clock_skewed_recharge_cannot_hide_a_later_true_overdue(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    skewed = format_time(datetime.now(UTC) + timedelta(days=1))
    argv = ("observe", "c-1", "--billing", "pay_as_you_go", "--balance", "100", "--at", ago(days=3))
    code, _, _ = run(capsys, *argv)
    code, _, _ = run(capsys, "observe", "c-1", "--balance", "100", "--at", skewed)
    assert code == 2
    # The true overdue, seen after the recharge in event time (SPEC 3 replays by event time).
    code, out, _ = run(capsys, "observe", "c-1", "--balance", "-5", "--json")
    assert code == 0
    assert json.loads(out)["recorded"][0]["kind"] == "balance_negative"
    code, out, _ = run(capsys, "check", "c-1", "scale_out")
    assert (code, out.strip()) == (1, "deny")


# -- item 11: a reused idempotency key with other content ---------------------------------


def test_a_reused_key_with_other_content_is_an_error_naming_it(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    first = ("observe", "c-1", "--billing", "pay_as_you_go", "--balance", "-5", "--key", "job-42")
    assert run(capsys, *first, "--at", ago(hours=2))[0] == 0
    # A retry (dated when it runs) is stored once.
    code, out, err = run(capsys, *first, "--json")
    assert code == 0, err
    assert json.loads(out)["recorded"] == []
    code, _, err = run(
        capsys, "observe", "c-1", "--balance", "10", "--key", "job-42", "--at", ago(hours=1)
    )
    assert code == 2
    assert "idempotency_key" in err and "job-42" in err and "recharged" in err
    code, out, _ = run(capsys, "history", "c-1", "--json")
    assert [e["kind"] for e in json.loads(out)["events"]] == ["balance_negative"]


# -- item 12: seconds in a milliseconds field --------------------------------------------------


@pytest.mark.parametrize("command", ["status", "observe"])
def test_seconds_in_expires_at_ms_are_refused_naming_expires_at(
    capsys: pytest.CaptureFixture[str], store: Path, command: str
) -> None:
    argv = [command, "c-1", "--billing", "subscription", "--expires-at-ms", "1767225600"]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "--expires-at-ms" in err and "--expires-at" in err.replace("--expires-at-ms", "")
    assert "probably seconds" in err
    assert not store.exists()
    code, out, err = run(
        capsys, "status", "c-1", "--billing", "subscription", "--expires-at-ms",
        "1767225600000", "--now", "2026-01-01T00:00:00Z", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["expires_at"] == "2026-01-01T00:00:00Z"


# -- item 9: bad input exits 2 naming the field, never 3 ---------------------------------------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (("check", "c-1", "scale_out", "--billing", "pay_as_you_go", "--overdue-since",
          "9999-12-31T23:59:59Z", "--now", "9999-12-31T23:59:59Z"), None),
        (("observe", "c-1", "--billing", "pay_as_you_go", "--at", "253402300799",
          "--released"), "at"),
        (("status", "c-1", "--policy", "/tmp/pol\0icy.yaml"), "NUL"),
        (("status", "c-1", "--billing", "pay_as_you_go", "--now",
          "+99999999999999999999999"), "--now"),
        (("status", "c-1", "--billing", "subscription", "--expires-at-ms", "9" * 400),
         "--expires-at-ms"),
    ],
)  # fmt: skip
def test_bad_input_is_never_an_internal_error(
    capsys: pytest.CaptureFixture[str], store: Path, argv: tuple[str, ...], named: str | None
) -> None:
    code, _, err = run(capsys, *argv)
    assert code in (1, 2) if named is None else code == 2, err
    assert "internal error" not in err
    if named is not None:
        assert named in err


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"grace: \xff\xfe\n", "UTF-8"),
        (b"grace: " + b"9" * 5000 + b"\n", "policy"),
        (b"grace: " + b"[" * 3000 + b"]" * 3000 + b"\n", "nested"),
        (b"grace: 24\n", "a unit"),
        (b"grace: 24h\ngrace: 48h\n", "grace"),
    ],
)
def test_a_bad_policy_file_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, named: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(content)
    code, _, err = run(capsys, "policy", "--policy", str(path))
    assert code == 2, err
    assert named in err and "internal error" not in err


# -- item 2: a guard asked about an instant before the newest recorded event -----------------


def test_a_guard_asked_about_an_instant_before_the_newest_event_denies_fee_generating_work(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    run(capsys, "observe", "c-1", "--billing", "pay_as_you_go", "--balance", "-5",
        "--at", ago(days=20))  # fmt: skip
    code, out, err = run(capsys, "check", "c-1", "scale_out", "--now", ago(days=30))
    assert (code, out.strip()) == (1, "deny")
    assert "before its newest recorded event" in err
    # Work that costs nothing is still answered for that instant.
    code, out, _ = run(capsys, "check", "c-1", "view_cluster_info", "--now", ago(days=30))
    assert (code, out.strip()) == (0, "allow")


@pytest.mark.parametrize(
    ("tamper", "column", "commands"),
    [
        ("INSERT INTO events (cluster_id, kind, at, recorded_at, source, payload)"
         " VALUES ('c-1', 'balance_negative', 'yesterday', '2026-01-01T00:00:00.000000Z',"
         " 'x', '{}')", "events.at", ("status", "list", "history", "observe")),
        ("INSERT INTO events (cluster_id, kind, at, recorded_at, source, payload)"
         " VALUES ('c-1', 'recharged', '2026-01-01T00:00:00.000000Z',"
         " '2026-01-01T00:00:00.000000Z', 'x', 'not json')", "events.payload", ("history",)),
        ("UPDATE clusters SET expires_at = '2026-13-45' WHERE cluster_id = 'c-1'",
         "clusters.expires_at", ("status", "list", "observe")),
        ("UPDATE clusters SET last_evaluated_at = 'soon' WHERE cluster_id = 'c-1'",
         "clusters.last_evaluated_at", ("observe",)),
    ],
)  # fmt: skip
def test_a_tampered_row_is_a_damaged_store_naming_the_cluster_and_column(
    capsys: pytest.CaptureFixture[str],
    store: Path,
    tamper: str,
    column: str,
    commands: tuple[str, ...],
) -> None:
    import sqlite3
    from contextlib import closing

    assert run(capsys, "observe", "c-1", "--billing", "subscription", "--expires-at",
               "2030-01-01T00:00:00Z")[0] == 0  # fmt: skip
    with closing(sqlite3.connect(store, isolation_level=None)) as conn:
        conn.execute(tamper)
    argv = {
        "status": ("status", "c-1"),
        "list": ("list",),
        "history": ("history", "c-1"),
        "observe": ("observe", "c-1", "--balance", "4"),
    }
    for command in commands:
        code, _, err = run(capsys, *argv[command])
        assert code == 2, (command, err)
        assert "damaged" in err and "'c-1'" in err and column in err, command


def test_a_tzinfo_whose_offset_fails_is_an_input_error() -> None:
    from datetime import tzinfo

    import fsm

    class Broken(tzinfo):
        def utcoffset(self, dt: datetime | None) -> timedelta:
            raise RuntimeError("no offset today")

    with pytest.raises(fsm.InputError, match="timezone-aware"):
        fsm.Event.create("recharged", datetime(2026, 1, 1, tzinfo=Broken()))
