"""The command line with a store: observe, then read it back from any later run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fsm.cli import main

T0 = "2026-01-01T00:00:00Z"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def observe_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code, out, err = run(capsys, "observe", *argv, "--json")
    assert code == 0, err
    data: dict[str, object] = json.loads(out)
    return data


def test_the_clock_survives_between_runs(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    first = observe_json(
        capsys, "c-1", "--billing", "PayAsYouGo", "--balance", "-11.19", "--at", T0
    )
    assert first["changed"] is True
    assert first["recorded"] == [{"kind": "balance_negative", "at": T0}]
    code, out, _ = run(capsys, "status", "c-1", "--now", "2026-01-16T00:00:00Z", "--json")
    assert code == 0
    assert json.loads(out)["phase"] == "restricted"
    assert json.loads(out)["overdue_since"] == T0


def test_observing_the_same_thing_twice_changes_nothing(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    argv = ("c-1", "--billing", "PayAsYouGo", "--balance", "-5", "--at", T0)
    observe_json(capsys, *argv)
    size = store.stat().st_size
    again = observe_json(capsys, *argv)
    assert again["changed"] is False
    assert again["recorded"] == []
    _code, out, _ = run(capsys, "history", "c-1", "--json")
    assert [e["kind"] for e in json.loads(out)["events"]] == ["balance_negative"]
    assert store.stat().st_size == size


def test_a_later_negative_balance_keeps_the_original_clock(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    observe_json(capsys, "c-1", "--billing", "PayAsYouGo", "--balance", "-5", "--at", T0)
    later = observe_json(capsys, "c-1", "--balance", "-9", "--at", "2026-01-03T00:00:00Z")
    assert later["overdue_since"] == T0


def test_recharge_brings_the_cluster_back(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    observe_json(capsys, "c-1", "--billing", "PayAsYouGo", "--balance", "-5", "--at", T0)
    back = observe_json(capsys, "c-1", "--balance", "120.00", "--at", "2026-01-05T00:00:00Z")
    assert back["phase"] == "active"
    assert back["recorded"] == [{"kind": "recharged", "at": "2026-01-05T00:00:00Z"}]
    assert [h["to"] for h in back["history"]] == ["overdue_grace", "suspended", "active"]


def test_dry_run_writes_nothing(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    data = observe_json(
        capsys, "c-1", "--billing", "PayAsYouGo", "--balance", "-5", "--at", T0, "--dry-run"
    )
    assert data["dry_run"] is True
    assert data["phase"] != "active"
    assert not store.exists()


def test_check_on_an_untracked_cluster_fails_closed(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    observe_json(capsys, "c-1", "--billing", "PayAsYouGo", "--balance", "5", "--at", T0)
    code, out, err = run(capsys, "check", "c-404", "scale_out")
    assert code == 1
    assert "not tracked" in err
    assert out == ""


def test_reading_a_missing_store_creates_nothing(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    code, _, err = run(capsys, "status", "c-1")
    assert code == 2
    assert "store" in err
    assert not store.parent.exists()


def test_list_filters_by_phase_and_account(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    observe_json(capsys, "c-1", "--billing", "PayAsYouGo", "--balance", "-5", "--at", T0)
    observe_json(capsys, "c-2", "--billing", "PayAsYouGo", "--account", "team-b", "--balance", "3")
    observe_json(capsys, "s-1", "--billing", "Subscription", "--expires-at", "2027-01-01T00:00:00Z")
    now = "2026-01-20T00:00:00Z"
    code, out, _ = run(capsys, "list", "--now", now, "--json")
    assert code == 0
    assert {r["cluster_id"]: r["phase"] for r in json.loads(out)} == {
        "c-1": "restricted",
        "c-2": "active",
        "s-1": "active",
    }
    code, out, _ = run(capsys, "list", "--now", now, "--phase", "restricted")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["CLUSTER", "ACCOUNT", "BILLING", "PHASE"]
    assert [line.split()[0] for line in lines[1:]] == ["c-1"]
    code, out, _ = run(capsys, "list", "--account", "team-b", "--json")
    assert [r["cluster_id"] for r in json.loads(out)] == ["c-2"]


def test_history_shows_events_and_transitions(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    observe_json(
        capsys, "c-1", "--billing", "PayAsYouGo", "--balance", "-5", "--at", T0, "--key", "run-1"
    )
    code, out, _ = run(capsys, "history", "c-1", "--now", "2026-01-03T00:00:00Z", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["events"][0]["idempotency_key"].startswith("run-1")
    assert data["events"][0]["source"] == "cli"
    assert data["events"][0]["payload"]["balance"] == "-5"
    assert [(t["from"], t["to"]) for t in data["transitions"]] == [
        ("active", "overdue_grace"),
        ("overdue_grace", "suspended"),
    ]


def test_new_cluster_needs_billing(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    code, _, err = run(capsys, "observe", "c-9", "--balance", "-5")
    assert code == 2
    assert "billing" in err


def test_renewal_and_expiry(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    observe_json(
        capsys, "s-1", "--billing", "Subscription", "--expires-at", "2026-02-01T00:00:00Z",
        "--balance", "10", "--at", T0,
    )  # fmt: skip
    code, out, _ = run(capsys, "check", "s-1", "scale_out", "--now", "2026-02-02T00:00:00Z")
    assert (code, out.strip()) == (1, "deny")
    renewed = observe_json(
        capsys, "s-1", "--renewed-until", "2027-02-01T00:00:00Z", "--at", "2026-02-03T00:00:00Z"
    )
    assert renewed["phase"] == "active"
    assert renewed["expires_at"] == "2027-02-01T00:00:00Z"


def test_store_url_errors_mask_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "status", "c-1", "--store", "mysql://u:hunter2@db/x")
    assert code == 2
    assert "hunter2" not in err
    assert os.environ.get("OVERDUE_FSM_STORE") is None or "mysql" in err


def test_history_says_what_each_event_did_and_a_late_one_lands_where_it_belongs(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    observe_json(capsys, "c-1", "--billing", "PayAsYouGo", "--balance", "3", "--at", T0)
    late = observe_json(
        capsys, "c-1", "--balance", "-5", "--overdue-since", "2025-12-30T00:00:00Z", "--at", T0
    )
    assert late["phase"] == "active"  # negative two days before the positive balance at T0
    code, out, _ = run(capsys, "history", "c-1")
    assert code == 0
    assert "unchanged: the account is not overdue" in out
    assert "landed late: rewrote the history; the phase stays active" in out


def test_an_event_too_late_to_apply_is_kept_and_said_in_one_line(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    observe_json(capsys, "c-1", "--billing", "PayAsYouGo", "--balance", "3", "--at", T0)
    argv = ("observe", "c-1", "--balance", "-5", "--overdue-since", "2025-12-01T00:00:00Z")
    code, out, _ = run(capsys, *argv, "--at", T0)
    assert code == 0
    (line,) = [text for text in out.splitlines() if text.startswith("too late")]
    assert "2025-12-01T00:00:00Z" in line and T0 in line and "kept, not applied" in line
    data = observe_json(
        capsys, "c-1", "--balance", "-5", "--overdue-since", "2025-12-02T00:00:00Z", "--at", T0
    )
    assert data["phase"] == "active" and len(data["too_late"]) == 1  # type: ignore[arg-type]
