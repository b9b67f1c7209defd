"""The overdue.emr.cluster_phase action plugin, run in-process with a task of its own.

The module file is documentation only, so there is no AnsibleModule to drive with
``patch_module_args``: the action plugin is the code, and it reads ``task.args``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest

from .conftest import NOW, history, record

SECTION_5 = (
    "cluster_id",
    "account",
    "billing",
    "phase",
    "phase_since",
    "overdue_since",
    "expires_at",
    "next_phase",
    "next_phase_at",
    "timeline",
    "data_deleted",
    "data_deletion_at",
    "operations",
    "history",
)


@pytest.fixture
def run(common: Any) -> Any:
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import action_loader

    def run(check_mode: bool = False, diff: bool = False, **args: Any) -> dict[str, Any]:
        task = MagicMock()
        task.args = args
        task.check_mode = check_mode
        task.diff = diff
        task.async_val = 0
        task.action = "overdue.emr.cluster_phase"
        connection = MagicMock()
        connection._shell.tmpdir = None
        action = action_loader.get(
            "overdue.emr.cluster_phase", task, connection, PlayContext(), DataLoader(), None, None
        )
        return action.run(task_vars={})

    return run


def test_stateless_evaluates_the_facts_given_and_fails_a_denied_requirement(
    run: Any, tmp_path: Path
) -> None:
    result = run(
        cluster_id="c-1",
        store="none",
        billing="PayAsYouGo",
        overdue_since="2026-01-01T00:00:00Z",
        now="2026-01-05T00:00:00Z",
        require=["view_cluster_info", "scale_out"],
    )
    assert all(key in result for key in SECTION_5)
    assert result["phase"] == "suspended"
    assert result["phase_since"] == "2026-01-02T00:00:00Z"
    assert result["next_phase"] == "restricted"
    assert result["next_phase_at"] == "2026-01-16T00:00:00Z"
    assert result["data_deletion_at"] == "2026-03-02T00:00:00Z"
    assert result["changed"] is False
    assert result["entered"] == []
    assert result["failed"] is True
    assert result["decision"]["operation"] == "scale_out"
    assert result["decision"]["allowed"] is False
    assert [d["operation"] for d in result["decisions"]] == ["view_cluster_info", "scale_out"]
    assert result["msg"] == (
        "scale_out (fee_generating) is denied: c-1 is suspended since 2026-01-02T00:00:00Z "
        "(pay_as_you_go); to change this, recharge the account; "
        "data is deleted on 2026-03-02T00:00:00Z unless you recharge the account"
    )
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere


def test_an_observation_is_recorded_once_and_entered_names_the_new_phases(
    run: Any, store_url: str
) -> None:
    args = {
        "cluster_id": "c-2",
        "store": store_url,
        "billing": "pay_as_you_go",
        "account": "team-data",
        "balance": -11.19,
        "overdue_since": "2026-01-20T00:00:00Z",
        "now": NOW,
    }
    first = run(**args)
    assert first["changed"] is True
    assert first["phase"] == "suspended"
    assert first["entered"] == ["overdue_grace", "suspended"]
    assert first["account"] == "team-data"
    assert "failed" not in first

    again = run(**args)
    assert again["changed"] is False
    assert again["entered"] == []
    assert again["phase"] == "suspended"
    assert [e.kind for e in history(store_url, "c-2")] == ["balance_negative"]


def test_check_mode_computes_the_same_result_and_writes_nothing(
    run: Any, store_url: str, tmp_path: Path
) -> None:
    args = {"cluster_id": "c-3", "store": store_url, "billing": "pay_as_you_go", "now": NOW}
    preview = run(check_mode=True, balance="-5", **args)
    assert preview["changed"] is True
    assert preview["phase"] == "overdue_grace"
    assert not (tmp_path / "state").exists()  # not even the file

    record(store_url, "c-3", billing="pay_as_you_go", balance="10")
    before = (tmp_path / "state" / "clusters.db").read_bytes()
    preview = run(check_mode=True, balance="-5", **args)
    assert preview["changed"] is True
    assert preview["entered"] == ["overdue_grace"]
    assert (tmp_path / "state" / "clusters.db").read_bytes() == before
    assert [e.kind for e in history(store_url, "c-3")] == ["recharged"]  # only the real write


def test_check_mode_on_an_older_store_migrates_and_switches_nothing(
    run: Any, tmp_path: Path
) -> None:
    import sqlite3
    from contextlib import closing

    from fsm.store import SCHEMA_VERSION
    from fsm.store.sqlite import MIGRATIONS

    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for statement in MIGRATIONS[1]:
            conn.execute(statement)
        conn.execute("INSERT INTO overdue_fsm_schema VALUES (1, '2026-01-01T00:00:00.000000Z')")
    path.chmod(0o600)
    before = path.read_bytes()
    args = {"cluster_id": "c-5", "store": str(path), "billing": "pay_as_you_go", "now": NOW}
    preview = run(check_mode=True, balance="-5", **args)
    assert preview["changed"] is True
    assert preview["would_also"] == [
        f"migrate its schema from version 1 to {SCHEMA_VERSION}",
        "switch its journal from delete to WAL",
    ]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.db"]
    assert "would_also" not in run(balance="-5", **args)


def test_diff_shows_the_phase_before_and_after(run: Any, store_url: str) -> None:
    args = {"cluster_id": "c-4", "store": store_url, "billing": "pay_as_you_go", "now": NOW}
    created = run(diff=True, overdue_since="2026-01-20T12:00:00Z", **args)
    assert created["diff"]["before"] == ""
    assert created["diff"]["after"].startswith("phase: overdue_grace\n")

    recharged = run(diff=True, balance=100, **args)
    assert recharged["diff"]["before"] == (
        "phase: overdue_grace\nphase_since: 2026-01-20T12:00:00Z\n"
        "overdue_since: 2026-01-20T12:00:00Z\n"
    )
    assert recharged["diff"]["after"] == "phase: active\nphase_since: 2026-01-21T00:00:00Z\n"

    unchanged = run(diff=True, balance=100, **args)
    assert "diff" not in unchanged


def test_a_warn_verdict_passes_with_a_warning_unless_strict(run: Any) -> None:
    args = {
        "cluster_id": "c-5",
        "store": "none",
        "billing": "pay_as_you_go",
        "balance": -1,
        "now": NOW,
        "require": ["submit_task"],
    }
    lenient = run(**args)
    assert "failed" not in lenient
    assert lenient["decision"]["verdict"] == "warn"
    assert lenient["warnings"] == [lenient["decision"]["reason"]]
    assert lenient["warnings"][0].startswith("submit_task (task) is allowed but may fail: c-5 is")

    strict = run(strict=True, **args)
    assert strict["failed"] is True
    assert strict["msg"].startswith("submit_task (task) is denied under strict mode: c-5 is")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"require": ["scale_up"]},
            "operation: 'scale_up' is not valid; expected one of clone_cluster,",
        ),
        (
            {"overdue_since": "2026-01-01T00:00:00"},
            "overdue_since: '2026-01-01T00:00:00' is not valid; expected a timezone-aware instant",
        ),
        ({"cluster_id": "-c"}, "cluster_id: '-c' is not valid; expected 1-128 characters"),
        ({"billing": "monthly"}, "billing: 'monthly' is not valid; expected pay_as_you_go"),
        ({"now": "tomorrow"}, "now: 'tomorrow' is not valid; expected an ISO 8601 instant"),
        ({"policy": "/nonexistent/policy.yml"}, "policy: '/nonexistent/policy.yml' is not valid"),
    ],
)
def test_bad_input_fails_the_task_with_a_clear_message(
    run: Any, args: dict[str, Any], message: str
) -> None:
    task = {"cluster_id": "c-6", "store": "none", "billing": "pay_as_you_go", "now": NOW, **args}
    result = run(**task)
    assert result["failed"] is True
    assert result["msg"].startswith(message)
    assert "Traceback" not in result["msg"]


def test_an_unreadable_store_fails_the_task(run: Any, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    result = run(cluster_id="c-7", store=str(junk), billing="pay_as_you_go", now=NOW)
    assert result["failed"] is True
    assert result["msg"].startswith(
        f"sqlite://{junk} is not an overdue-fsm store: the file is not an SQLite database"
    )

    folder = run(cluster_id="c-7", store=str(tmp_path), billing="pay_as_you_go", now=NOW)
    assert folder["msg"] == f"the store at sqlite://{tmp_path} is a directory, not a database file"


def test_an_unknown_cluster_needs_its_billing(run: Any, store_url: str) -> None:
    result = run(cluster_id="c-8", store=store_url, balance=-3, now=NOW)
    assert result["failed"] is True
    assert "cluster 'c-8' is not tracked yet, so its billing is needed" in result["msg"]


def test_an_unknown_parameter_is_refused_by_the_argument_spec(run: Any) -> None:
    from ansible.errors import AnsibleActionFail

    with pytest.raises(AnsibleActionFail, match=r"Unsupported parameters.*colour"):
        run(cluster_id="c-9", store="none", billing="subscription", colour="blue")


def test_an_internal_error_says_where_to_report_it(
    run: Any, common: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(common, "report", broken)
    result = run(cluster_id="c-10", store="none", billing="subscription", now=NOW)
    assert result["failed"] is True
    assert result["msg"].startswith("internal error in overdue.emr (ZeroDivisionError: division")
    assert "please report it at https://" in result["msg"]


def test_a_missing_fsm_package_fails_the_task_with_the_install_command(
    run: Any, common: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "HAS_FSM", False)
    result = run(cluster_id="c-11", store="none", billing="subscription")
    assert result["failed"] is True
    assert result["msg"].endswith("pip install overdue-fsm")


def test_an_unknown_required_operation_records_nothing(
    run: Any, store_url: str, tmp_path: Path
) -> None:
    result = run(
        cluster_id="c-12", store=store_url, billing="pay_as_you_go", balance=-1, require=["nap"]
    )
    assert result["msg"].startswith("operation: 'nap' is not valid")
    assert not (tmp_path / "state").exists()


def test_an_event_too_late_to_apply_is_kept_and_said_in_a_warning(run: Any, store_url: str) -> None:
    args = {"cluster_id": "c-late", "store": store_url, "billing": "pay_as_you_go", "now": NOW}
    run(balance=100, **args)  # the newest event: a positive balance at NOW
    weeks_before = "2026-01-01T00:00:00Z"  # 20 days before NOW, past the 7-day tolerance
    late = run(balance=-5, overdue_since=weeks_before, **args)
    assert late["changed"] is False
    assert late["phase"] == "active"
    (line,) = late["too_late"]
    assert line.startswith("too late") and weeks_before in line and NOW in line
    assert late["warnings"] == [line]
    kinds = [(str(e.kind), e.applied) for e in history(store_url, "c-late")]
    assert kinds == [("recharged", True), ("balance_negative", False)]


def test_a_now_from_the_environment_is_named_in_a_warning(
    run: Any, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = {"cluster_id": "c-6", "store": store_url, "billing": "pay_as_you_go"}
    monkeypatch.setenv("OVERDUE_FSM_NOW", NOW)
    pinned = run(balance="-5", require=["view_cluster_info"], **args)
    assert any("OVERDUE_FSM_NOW" in w and NOW in w for w in pinned["warnings"])
    monkeypatch.delenv("OVERDUE_FSM_NOW")
    given = run(balance="-5", now=NOW, **args)
    assert not any("pinned" in w for w in given.get("warnings", []))


def test_warnings_due_are_returned_by_one_run_each_and_not_issued_in_check_mode(
    run: Any, store_url: str, tmp_path: Path
) -> None:
    args = {
        "cluster_id": "c-w",
        "store": store_url,
        "billing": "pay_as_you_go",
        "overdue_since": "2026-01-01T00:00:00Z",
    }
    preview = run(check_mode=True, now="2026-01-01T00:00:00Z", **args)
    assert [(w["step"], w["threshold"]) for w in preview["warnings_due"]] == [
        ("suspension", "7d"),
        ("suspension", "24h"),
    ]
    assert not (tmp_path / "state").exists()  # check mode issued nothing

    first = run(now="2026-01-01T00:00:00Z", **args)
    assert first["warnings_due"] == preview["warnings_due"]
    assert first["warnings_due"][1] == {
        "cluster_id": "c-w",
        "account": "default",
        "step": "suspension",
        "threshold": "24h",
        "episode": "2026-01-01T00:00:00Z",
        "due_at": "2026-01-01T00:00:00Z",
        "deadline": "2026-01-02T00:00:00Z",
        "message": "c-w is suspended within 24h, on 2026-01-02T00:00:00Z; "
        "to prevent it, recharge the account",
    }
    assert run(now="2026-01-01T06:00:00Z", **args)["warnings_due"] == []
    assert run(check_mode=True, now="2026-01-01T07:00:00Z", **args)["warnings_due"] == []
    later = run(now="2026-01-09T00:00:00Z", **args)["warnings_due"]
    assert [(w["step"], w["threshold"]) for w in later] == [("restriction", "7d")]


def test_without_a_store_every_run_returns_every_warning_due(run: Any) -> None:
    args = {
        "cluster_id": "c-1",
        "store": "none",
        "billing": "PayAsYouGo",
        "overdue_since": "2026-01-01T00:00:00Z",
        "now": "2026-02-28T00:00:00Z",
    }
    for _ in range(2):
        assert [w["threshold"] for w in run(**args)["warnings_due"]] == ["7d"]
