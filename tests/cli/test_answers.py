"""Every answer of the command line says why, in one shape (issue "every answer says why")."""

from __future__ import annotations

import json
import os
import queue
import shlex
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest

from .test_stateful import run

T0 = "2026-01-01T00:00:00Z"
DECISION_KEYS = {
    "cluster_id",
    "operation",
    "category",
    "verdict",
    "allowed",
    "action",
    "reason",
    "phase",
    "strict",
    "error",
}


# -- item 1: `tables` as the README shows it ------------------------------------------


def test_tables_with_no_argument_prints_every_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tables")
    assert code == 0, err
    for title in ("| phase |", "| trigger |", "| category | operations |", "| category | active |"):
        assert title in out


def test_tables_names_an_unknown_table_and_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _out, err = run(capsys, "tables", "phase")
    assert code == 2
    assert "'phase'" in err and "phases, transitions, operations, verdicts" in err


# -- item 2: one JSON shape for every outcome of `check` ---------------------------------


def test_check_json_is_one_flat_shape_tracked_untracked_denied_and_error(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    assert run(capsys, "observe", "c-1", "--billing", "PayAsYouGo", "--balance", "-1")[0] == 0
    answers = {}
    for name, argv, exit_code in (
        ("allowed", ("check", "c-1", "view_cluster_info"), 0),
        ("denied", ("check", "c-1", "scale_out"), 1),
        ("untracked", ("check", "c-404", "scale_out"), 1),
        ("error", ("check", "c-1", "scale_outt"), 2),
        ("bad store", ("check", "c-1", "scale_out", "--store", "mysql://x"), 2),
    ):
        code, out, err = run(capsys, *argv, "--json")
        assert code == exit_code, (name, err)
        answer = json.loads(out)
        assert set(answer) == DECISION_KEYS, name
        answers[name] = answer
    assert answers["allowed"]["allowed"] is True and answers["allowed"]["error"] is None
    assert answers["denied"]["allowed"] is False and answers["denied"]["action"] == "skip"
    for name in ("untracked", "error", "bad store"):
        assert answers[name]["allowed"] is False
        assert answers[name]["verdict"] == "deny"
        assert answers[name]["action"] == "fail"
        assert answers[name]["error"]
        assert answers[name]["error"] in answers[name]["reason"]
    assert "not tracked" in answers["untracked"]["error"]
    assert "scale_outt" in answers["error"]["error"]


def test_other_commands_answer_an_error_as_json_on_stdout_with_the_same_exit_code(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    assert run(capsys, "observe", "c-1", "--billing", "PayAsYouGo")[0] == 0
    code, out, err = run(capsys, "status", "c-404", "--json")
    assert code == 1
    assert json.loads(out) == {"error": err.strip().removeprefix("overdue-fsm: "), "exit_code": 1}
    code, out, _ = run(capsys, "observe", "c-1", "--balance", "x", "--json")
    assert code == 2
    assert json.loads(out)["exit_code"] == 2 and "balance" in json.loads(out)["error"]


# -- item 3: a refused or ignored event says why ---------------------------------------


def test_a_refused_renewal_says_why_on_the_command_line(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    argv = ("observe", "s-1", "--billing", "Subscription", "--expires-at", "2027-06-01T00:00:00Z")
    negative_at = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run(capsys, *argv, "--balance", "-3", "--at", negative_at)[0] == 0
    renew = ("observe", "s-1", "--renewed-until", "2028-01-01T00:00:00Z")
    code, out, err = run(capsys, *renew)
    assert code == 0, err
    assert "refused: renewal is fee-generating" in out
    assert "recharge" in out
    # Another look, at an instant of its own (the same one would be an exact repeat).
    earlier = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out, _ = run(capsys, *renew, "--at", earlier, "--json")
    assert any(note.startswith("refused: renewal") for note in json.loads(out)["notes"])


def test_an_event_on_a_purged_cluster_says_it_is_ignored(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    run(capsys, "observe", "c-1", "--billing", "PayAsYouGo", "--released")
    code, out, _ = run(capsys, "observe", "c-1", "--balance", "-5")
    assert code == 0
    assert "ignored: the cluster is released (terminal)" in out


# -- item 4: --renewed-until on a pay-as-you-go cluster is refused ---------------------


@pytest.mark.parametrize("tracked", [False, True])
def test_renewed_until_on_a_pay_as_you_go_cluster_is_refused(
    capsys: pytest.CaptureFixture[str], store: Path, tracked: bool
) -> None:
    if tracked:
        assert run(capsys, "observe", "c-1", "--billing", "PayAsYouGo")[0] == 0
    billing = () if tracked else ("--billing", "PayAsYouGo")
    code, out, err = run(
        capsys, "observe", "c-1", *billing, "--renewed-until", "2027-01-01T00:00:00Z"
    )
    assert code == 2
    assert "--renewed-until" in err and "pay_as_you_go" in err
    assert out == ""


# -- item 6: one precision and format for every printed instant --------------------------


def test_an_observation_made_now_prints_whole_seconds(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    code, out, err = run(capsys, "observe", "c-1", "--billing", "PayAsYouGo", "--balance", "-1")
    assert code == 0, err
    code, out, _ = run(capsys, "status", "c-1", "--json")
    since = json.loads(out)["overdue_since"]
    parsed = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(parsed - datetime.now(UTC)) < timedelta(minutes=1)


def test_an_input_with_a_fraction_of_a_second_prints_whole_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys,
        "status",
        "c-1",
        "--billing",
        "PayAsYouGo",
        "--overdue-since",
        "2026-01-01T00:00:00.750000Z",
        "--now",
        "2026-01-01T06:00:00.5Z",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["overdue_since"] == "2026-01-01T00:00:00Z"
    assert data["next_phase_at"] == "2026-01-02T00:00:00Z"
    assert data["evaluated_at"] == "2026-01-01T06:00:00Z"


# -- item 8: one store-location grammar ---------------------------------------------------


def test_an_absolute_path_is_a_store_for_the_command_line_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plain" / "clusters.db"
    monkeypatch.setenv("OVERDUE_FSM_STORE", str(path))
    code, _out, err = run(capsys, "observe", "c-1", "--billing", "PayAsYouGo")
    assert code == 0, err
    assert path.exists()
    assert run(capsys, "status", "c-1", "--store", f"sqlite://{path}")[0] == 0


@pytest.mark.parametrize(
    "given", ["sqlite:///relative.db", "relative.db", "sqlite://relative.db", "sqlite:relative.db"]
)
def test_a_relative_sqlite_location_is_an_error_naming_the_absolute_form(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    given: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(capsys, "observe", "c-1", "--billing", "PayAsYouGo", "--store", given)
    assert code == 2
    assert f"sqlite://{tmp_path}/relative.db" in err
    assert list(tmp_path.iterdir()) == []


# -- item 10: messages that name the right thing -------------------------------------------


def test_billing_missing_for_a_new_cluster_says_it_is_required(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    code, _out, err = run(capsys, "observe", "c-1", "--balance", "-1")
    assert code == 2
    assert "None is not valid" not in err
    assert "--billing" in err and "is not tracked yet" in err


def test_an_overdue_since_error_shows_the_value_as_given(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    later = "2030-01-01T00:00:00Z"
    code, _out, err = run(
        capsys, "observe", "c-1", "--billing", "PayAsYouGo", "--overdue-since", later, "--at", T0
    )
    assert code == 2
    assert later in err and "+00:00" not in err
    assert "--overdue-since" in err


def test_a_read_only_store_error_speaks_to_a_command_line_user(
    capsys: pytest.CaptureFixture[str], store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "observe", "c-1", "--billing", "PayAsYouGo")[0] == 0
    # Read-only for this user (chmod does not stop root, who runs the tests in CI).
    monkeypatch.setattr(os, "access", lambda path, mode, **_: mode != os.W_OK)
    code, _out, err = run(capsys, "observe", "c-1", "--balance", "-1")
    assert code == 2
    assert "create=False" not in err
    assert "read-only" in err and "writable" in err


# -- item 5: no traceback from the sync, and a fake that says how to use it ----------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_sync_without_credentials_prints_one_line_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "PATH": str(Path(sys.executable).parent),
        "HOME": str(tmp_path),
        "OVERDUE_FSM_STORE": f"sqlite://{tmp_path}/s.db",
        # No credentials: the metadata service is off (no traffic leaves the machine) and a
        # credentials URI refuses the connection, so the SDK's chain logs its failures.
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "ALIBABA_CLOUD_CREDENTIALS_URI": f"http://127.0.0.1:{_closed_port()}/credentials",
    }
    done = subprocess.run(
        [sys.executable, "-m", "fsm.cli", "sync", "--region", "cn-hangzhou"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "Exception" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "credentials" in done.stderr


def _lines(stream: IO[str], count: int) -> list[str]:
    """The first ``count`` lines of ``stream``, failing (not hanging) if they do not come."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    try:
        return [lines.get(timeout=30).strip() for _ in range(count)]
    except queue.Empty:
        raise AssertionError("the fake printed fewer lines than expected") from None


def test_the_fake_endpoint_prints_a_sync_command_that_runs_as_pasted(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.aliyun.fake_endpoint", "--port", "0", "--clusters", "5"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first, _, pasted = _lines(process.stdout, 3)
        port = int(first)
        words = shlex.split(pasted)
        assignments = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
        command = [w for w in words if w not in {f"{k}={v}" for k, v in assignments.items()}]
        assert command[0] == "overdue-fsm" and f"127.0.0.1:{port}" in command
        env = {
            "PATH": f"{Path(sys.executable).parent}",
            "HOME": str(tmp_path),
            "OVERDUE_FSM_STORE": f"sqlite://{tmp_path}/s.db",
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            **assignments,
        }
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "5 cluster(s) in cn-hangzhou: 5 recorded" in done.stdout
    finally:
        process.terminate()
        process.wait(timeout=5)
