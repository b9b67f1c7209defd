"""The command line without a store: facts on the command line, answers on stdout/stderr."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fsm.cli import main

PAYG = ["--billing", "pay_as_you_go", "--overdue-since", "2026-01-01T00:00:00Z"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("now", "operation", "code", "verdict"),
    [
        ("2026-01-01T12:00:00Z", "scale_out", 1, "deny"),
        ("2026-01-01T12:00:00Z", "submit_task", 0, "warn"),
        ("2026-01-01T12:00:00Z", "view_cluster_info", 0, "allow"),
        ("2026-01-16T00:00:00Z", "submit_task", 1, "deny"),
        ("2025-12-31T23:59:59Z", "scale_out", 0, "allow"),
    ],
)
def test_check_exit_code_and_verdict(
    capsys: pytest.CaptureFixture[str], now: str, operation: str, code: int, verdict: str
) -> None:
    rc, out, err = run(capsys, "check", "c-1", operation, *PAYG, "--now", now)
    assert (rc, out.strip()) == (code, verdict)
    assert operation in err and err.count("\n") == 1  # one-line reason on stderr


def test_strict_turns_warn_into_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _out, err = run(
        capsys, "check", "c-1", "submit_task", "--strict", *PAYG, "--now", "2026-01-01T12:00:00Z"
    )
    assert rc == 1
    assert "denied under strict mode" in err


def test_check_json_is_the_decision(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(
        capsys, "check", "c-1", "scale_out", *PAYG, "--now", "2026-01-20T00:00:00Z", "--json"
    )
    decision = json.loads(out)
    assert rc == 1
    assert decision["verdict"] == "deny" and decision["allowed"] is False
    assert decision["action"] == "skip" and decision["phase"] == "restricted"
    assert "2026-03-02T00:00:00Z" in decision["reason"]  # the deadline ahead


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["check", "c-1", "fly_away", *PAYG], "operation"),
        (["status", "c 1", "--billing", "pay_as_you_go"], "cluster_id"),
        (["status", "c-1", "--billing", "monthly"], "billing"),
        (
            [
                "status",
                "c-1",
                "--billing",
                "pay_as_you_go",
                "--overdue-since",
                "2026-01-01T00:00:00",
            ],
            "--overdue-since",
        ),
        (["status", "c-1", "--overdue-since", "2026-01-01T00:00:00Z"], "--billing"),
        (["status", "c-1", *PAYG, "--now", "yesterday"], "--now"),
        (
            [
                "status",
                "c-1",
                *PAYG,
                "--now",
                "2026-01-01T00:00:00Z",
                "--released-at",
                "2027-01-01T00:00:00Z",
            ],
            "at",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_field(
    capsys: pytest.CaptureFixture[str], argv: list[str], field: str
) -> None:
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert err.startswith("overdue-fsm: ") and field in err
    assert "Traceback" not in err and out == ""


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["status", "c-1", "--colour"])
    assert exit_.value.code == 2


def test_status_json_holds_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "status", "c-1", *PAYG, "--now", "2026-01-20T00:00:00Z", "--json")
    report = json.loads(out)
    assert rc == 0
    assert report["phase"] == "restricted"
    assert report["next_phase"] == "purged" and report["next_phase_at"] == "2026-03-02T00:00:00Z"
    assert [step["to"] for step in report["history"]] == [
        "overdue_grace",
        "suspended",
        "restricted",
    ]
    assert report["operations"]["scale_out"] == "deny"


def test_timeline_lists_history_and_what_is_ahead(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "timeline", "c-1", *PAYG, "--now", "2026-01-01T06:00:00Z")
    assert rc == 0
    lines = out.splitlines()
    assert any("active -> overdue_grace" in line for line in lines)
    ahead = [line for line in lines if "(scheduled)" in line]
    assert [line.split()[-2] for line in ahead] == ["suspended", "restricted", "purged"]


def test_released_cluster_denies_everything(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "--billing",
        "subscription",
        "--released-at",
        "2026-01-05T00:00:00Z",
        "--now",
        "2026-01-06T00:00:00Z",
    ]
    rc, out, _err = run(capsys, "check", "s-1", "view_cluster_info", *argv, "--json")
    assert rc == 1
    assert json.loads(out)["action"] == "fail"


def test_policy_file_changes_thresholds(capsys: pytest.CaptureFixture[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    policy = tmp_path / "policy.yml"
    policy.write_text("grace: 2h\noperations:\n  run_spark_job: task\n")
    argv = [*PAYG, "--policy", str(policy), "--now", "2026-01-01T03:00:00Z"]
    rc, out, _ = run(capsys, "check", "c-1", "run_spark_job", *argv)
    assert (rc, out.strip()) == (0, "warn")  # suspended after 2h: task may fail
    rc, out, _ = run(capsys, "status", "c-1", *argv, "--json")
    assert json.loads(out)["phase"] == "suspended"


def test_bad_policy_file_names_the_key(capsys: pytest.CaptureFixture[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    policy = tmp_path / "policy.yml"
    policy.write_text("grace: 30d\n")
    rc, _, err = run(capsys, "policy", "--policy", str(policy))
    assert rc == 2 and "grace" in err and "restrict_after" in err


def test_diagram_is_mermaid_from_the_machine(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "diagram")
    assert rc == 0 and "stateDiagram-v2" in out
    assert "restricted --> purged: purge_due (PAYG, at overdue_since + 60d)" in out
    assert "class purged,released terminal" in out


def test_internal_error_says_where_to_report(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("fsm.cli.report", explode)
    rc, _, err = run(capsys, "status", "c-1", *PAYG)
    assert rc == 3
    assert "internal error" in err and "report it at" in err and "Traceback" not in err


def test_console_script_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fsm.cli", "check", "c-1", "scale_out", *PAYG],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and done.stdout.strip() == "deny"


def test_expiry_in_epoch_milliseconds_as_emr_returns_it(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--billing", "Subscription", "--expires-at-ms", "1798761600000", "--json"]
    rc, out, _ = run(capsys, "status", "s-1", *argv, "--now", "2026-12-01T00:00:00Z")
    assert rc == 0
    assert json.loads(out)["expires_at"] == "2027-01-01T00:00:00Z"
    rc, _, err = run(capsys, "status", "s-1", *argv, "--expires-at", "2027-01-01T00:00:00Z")
    assert rc == 2
    assert "--expires-at-ms" in err
