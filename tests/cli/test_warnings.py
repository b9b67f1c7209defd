"""`overdue-fsm warnings`: list the warnings due and issued, acknowledge them with --ack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_stateful import T0, run

HOUR1 = "2026-01-01T01:00:00Z"


def listed(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    code, out, err = run(capsys, "warnings", *argv, "--json")
    assert code == 0, err
    rows: list[dict[str, object]] = json.loads(out)
    return rows


@pytest.fixture
def fleet(capsys: pytest.CaptureFixture[str], store: Path) -> None:
    for argv in (
        ("c-1", "--billing", "PayAsYouGo", "--balance", "-3", "--at", T0),
        ("c-2", "--billing", "PayAsYouGo", "--account", "acme", "--balance", "-3", "--at", T0),
        ("c-3", "--billing", "PayAsYouGo", "--balance", "-3", "--at", T0),
    ):
        assert run(capsys, "observe", *argv)[0] == 0
    run(capsys, "observe", "c-3", "--balance", "5", "--at", "2026-01-01T00:30:00Z")


def test_the_warnings_due_are_listed_for_people_with_what_to_do(
    capsys: pytest.CaptureFixture[str], fleet: None
) -> None:
    code, out, err = run(capsys, "warnings", "--due", "--now", HOUR1)
    assert code == 0
    assert out.splitlines() == [
        "CLUSTER  STEP        WITHIN  DEADLINE              STATUS  ISSUED",
        "c-1      suspension  7d      2026-01-02T00:00:00Z  due     -",
        "c-1      suspension  24h     2026-01-02T00:00:00Z  due     -",
        "c-2      suspension  7d      2026-01-02T00:00:00Z  due     -",
        "c-2      suspension  24h     2026-01-02T00:00:00Z  due     -",
        *(
            f"  {cid} is suspended within {within}, on 2026-01-02T00:00:00Z; "
            "to prevent it, recharge the account"
            for cid in ("c-1", "c-2")
            for within in ("7d", "24h")
        ),
    ]
    assert err == "4 warning(s) due\n"


def test_warnings_are_selected_by_cluster_and_by_account(
    capsys: pytest.CaptureFixture[str], fleet: None
) -> None:
    assert {w["cluster_id"] for w in listed(capsys, "c-2", "--now", HOUR1)} == {"c-2"}
    assert {w["cluster_id"] for w in listed(capsys, "--account", "acme", "--now", HOUR1)} == {"c-2"}
    assert listed(capsys, "c-3", "--now", HOUR1) == []  # recharged: its episode ended
    code, _, err = run(capsys, "warnings", "c-9")
    assert code == 1
    assert "cluster 'c-9' is not tracked" in err


def test_ack_acknowledges_the_due_warnings_selected_once(
    capsys: pytest.CaptureFixture[str], fleet: None
) -> None:
    acked = listed(capsys, "c-1", "--ack", "--now", HOUR1)
    assert [(w["threshold"], w["status"], w["acknowledged_at"]) for w in acked] == [
        ("7d", "acknowledged", HOUR1),
        ("24h", "acknowledged", HOUR1),
    ]
    assert listed(capsys, "c-1", "--ack", "--now", HOUR1) == []
    assert {w["cluster_id"] for w in listed(capsys, "--due", "--now", HOUR1)} == {"c-2"}
    everything = listed(capsys, "--now", HOUR1)
    assert [(w["cluster_id"], w["status"]) for w in everything] == [
        ("c-1", "acknowledged"),
        ("c-1", "acknowledged"),
        ("c-2", "due"),
        ("c-2", "due"),
    ]
    code, out, err = run(capsys, "warnings", "--ack", "--now", HOUR1)
    assert code == 0
    assert err == "2 warning(s) acknowledged\n"
    assert "c-2 is suspended within 24h" in out


def test_listing_writes_nothing_and_needs_a_store(
    capsys: pytest.CaptureFixture[str], store: Path
) -> None:
    code, _, err = run(capsys, "warnings")
    assert code == 2
    assert "no store at" in err
    assert not store.exists()
    run(capsys, "observe", "c-1", "--billing", "PayAsYouGo", "--balance", "-3", "--at", T0)
    before = store.read_bytes()
    assert len(listed(capsys, "--due", "--now", HOUR1)) == 2
    assert store.read_bytes() == before


def test_bad_input_exits_2_with_the_field(capsys: pytest.CaptureFixture[str], fleet: None) -> None:
    code, _, err = run(capsys, "warnings", "--now", "yesterday")
    assert code == 2
    assert "--now" in err
    code, _, err = run(capsys, "warnings", "bad id!")
    assert code == 2
    assert "CLUSTER" in err
