"""`overdue-fsm sync` against the fake endpoint: the real SDK clients, the real store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fsm.cli import main
from fsm.timeutil import format_time, parse_time

pytest.importorskip("alibabacloud_emr20210320", reason="needs overdue-fsm[aliyun]")

from fsm.store import open_store
from tests.aliyun.conftest import KEY_ID, KEY_SECRET, REGION
from tests.aliyun.fake_endpoint import FakeAliyun, make_fleet, to_ms


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/clusters.db"
    monkeypatch.setenv("OVERDUE_FSM_STORE", url)
    return url


def sync(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, *extra: str
) -> tuple[int, dict[str, object], str]:
    argv = ["sync", "--region", REGION, "--endpoint", fake.endpoint, "--protocol", "http"]
    code = main([*argv, "--timeout", "3", "--json", *extra])
    out, err = capsys.readouterr()
    for secret in (KEY_ID, KEY_SECRET):
        assert secret not in out
        assert secret not in err
    return code, (json.loads(out) if out.strip() else {}), err


def test_sync_records_a_fleet_of_250_over_three_pages(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str
) -> None:
    code, summary, err = sync(capsys, fake)
    assert code == 0, err
    assert len(fake.calls("ListClusters")) == 3
    assert summary["counts"] == {"recorded": 250, "unchanged": 0, "failed": 0, "untouched": 0}
    with open_store(store_url, create=False) as store:
        states = store.clusters()
    assert len(states) == 250
    phases = {str(s.phase) for s in states}
    assert "released" in phases  # TERMINATED by UserRequest
    assert {s.cluster_id for s in states if str(s.phase) == "released"} == {
        c["ClusterId"]
        for c in make_fleet(250, REGION)
        if c.get("StateChangeReason", {}).get("Code") == "UserRequest"
    }


def test_human_output_names_the_phases_that_changed(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str
) -> None:
    argv = ["sync", "--region", REGION, "--endpoint", fake.endpoint, "--protocol", "http"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("account default: balance 1000.00 CNY")
    assert "250 cluster(s) in cn-hangzhou: 250 recorded" in out
    assert "released" in out


def test_a_second_sync_changes_nothing(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str
) -> None:
    sync(capsys, fake)
    code, summary, _ = sync(capsys, fake)
    assert code == 0
    assert summary["changed"] is False
    assert summary["counts"]["unchanged"] == 250  # type: ignore[index]


def test_each_successful_sync_is_remembered_with_the_balance_it_saw(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str
) -> None:
    sync(capsys, fake)
    fake.balance = "-3.50"
    code, summary, _ = sync(capsys, fake)
    assert code == 0
    with open_store(store_url, create=False) as store:
        (last,) = store.account_syncs()
    assert (last.account, last.balance, last.currency) == ("default", "-3.50", "CNY")
    # Printed to the second, recorded whole.
    assert format_time(last.synced_at) == summary["fetched_at"]


def test_a_negative_balance_starts_every_clock_at_the_first_sync_that_saw_it(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str
) -> None:
    sync(capsys, fake)
    fake.balance = "-11.19"
    code, summary, _ = sync(capsys, fake)
    assert code == 0
    assert summary["overdue"] is True
    assert summary["overdue_since_source"] == "first_seen"
    seen = parse_time(str(summary["fetched_at"]), "fetched_at")
    assert summary["overdue_since"] == summary["fetched_at"]  # the clock the store keeps
    moved = [c for c in summary["clusters"] if c["phase_changed"]]  # type: ignore[union-attr]
    assert moved
    assert {c["phase"] for c in moved} <= {"overdue_grace", "suspended"}
    with open_store(store_url, create=False) as store:
        payg = [s for s in store.clusters() if str(s.billing) == "pay_as_you_go" and s.overdue]
    assert payg
    assert {format_time(s.overdue_since) for s in payg if s.overdue_since} == {format_time(seen)}
    # A later sync keeps the original clock, and says so.
    code, summary, _ = sync(capsys, fake)
    assert summary["changed"] is False
    assert parse_time(str(summary["overdue_since"]), "overdue_since") == seen
    billings = {c["billing"] for c in summary["clusters"]}  # type: ignore[union-attr]
    assert billings == {"pay_as_you_go", "subscription"}


def test_overdue_start_from_transactions(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    fake.balance = "-5.00"
    fake.set_transactions(
        [(start - timedelta(days=1), "100.00", "20.00"), (start, "-25.00", "-5.00")]
    )
    code, summary, _ = sync(capsys, fake, "--since-from-transactions")
    assert code == 0
    assert summary["overdue_since_source"] == "transactions"
    assert summary["overdue_since"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    with open_store(store_url, create=False) as store:
        payg = [s for s in store.clusters() if str(s.billing) == "pay_as_you_go" and s.overdue]
    assert payg
    assert {str(s.phase) for s in payg} == {"suspended"}  # 3 days: past the 24h grace


def test_dry_run_reads_the_cloud_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str, tmp_path: Path
) -> None:
    code, summary, _ = sync(capsys, fake, "--dry-run")
    assert code == 0
    assert summary["dry_run"] is True
    assert summary["counts"]["recorded"] == 250  # type: ignore[index]
    assert not (tmp_path / "clusters.db").exists()


def test_a_cluster_that_disappears_is_released(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str
) -> None:
    fleet = make_fleet(250, REGION)
    sync(capsys, fake)
    gone = fleet[0]["ClusterId"]
    fake.set_fleet(REGION, fleet[1:])
    code, summary, _ = sync(capsys, fake)
    assert code == 0
    rows = {c["cluster_id"]: c for c in summary["clusters"]}  # type: ignore[union-attr]
    assert rows[gone]["phase"] == "released"
    assert rows[gone]["recorded"] == ["released"]


def test_a_later_expiry_in_the_cloud_is_a_renewal(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str
) -> None:
    fleet = make_fleet(250, REGION)
    subscription = next(
        c for c in fleet if c["PaymentType"] == "Subscription" and c["ClusterState"] == "RUNNING"
    )
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    subscription["ExpireTime"] = to_ms(soon)
    fake.set_fleet(REGION, fleet)
    sync(capsys, fake)
    later = soon + timedelta(days=365)
    subscription["ExpireTime"] = to_ms(later)
    fake.set_fleet(REGION, fleet)
    code, summary, _ = sync(capsys, fake)
    assert code == 0
    row = next(c for c in summary["clusters"] if c["cluster_id"] == subscription["ClusterId"])  # type: ignore[union-attr]
    # The balance is kept too (SPEC 3), unless both syncs saw it in the same second.
    assert row["recorded"] in (["recharged", "renewed"], ["renewed"])
    assert row["phase"] == "active"


def test_an_api_error_touches_nothing_and_names_the_api(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str, tmp_path: Path
) -> None:
    fake.fail_4xx("Forbidden.RAM", "User not authorized", status=403, action="ListClusters")
    code, _, err = sync(capsys, fake)
    assert code == 2
    assert "ListClusters" in err
    assert "Forbidden.RAM" in err
    assert "RequestId" in err
    assert "Traceback" not in err
    assert not (tmp_path / "clusters.db").exists()


def test_human_output_says_since_when_and_from_what_the_balance_is_overdue(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str
) -> None:
    argv = ["sync", "--region", REGION, "--endpoint", fake.endpoint, "--protocol", "http"]
    sync(capsys, fake)
    fake.balance = "-11.19"
    code, summary, _ = sync(capsys, fake)
    assert code == 0
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == [
        f"account default: balance -11.19 CNY (overdue, overdue since {summary['overdue_since']}, "
        "from first_seen)",
        "250 cluster(s) in cn-hangzhou: 0 recorded, 250 unchanged, 0 failed, 0 untouched",
    ]


def test_a_sync_lists_the_warnings_it_issued_and_the_next_sync_issues_none(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str
) -> None:
    sync(capsys, fake)
    fake.balance = "-11.19"
    code, preview, _ = sync(capsys, fake, "--dry-run")
    assert code == 0
    with open_store(store_url, create=False) as store:
        assert store.warnings() == []  # the dry run issued nothing (nor recorded the debt)
    code, summary, _ = sync(capsys, fake)
    assert code == 0
    warnings = summary["warnings"]

    def keys(listed: object) -> list[tuple[str, str, str]]:
        return [(w["cluster_id"], w["step"], w["threshold"]) for w in listed]  # type: ignore[attr-defined]

    assert keys(warnings) == keys(preview["warnings"])  # the same, but for the clock's start
    payg = {c["cluster_id"] for c in summary["clusters"] if c["billing"] == "pay_as_you_go"}  # type: ignore[union-attr]
    overdue = {c["cluster_id"] for c in summary["clusters"] if c["phase"] == "overdue_grace"}  # type: ignore[union-attr]
    # Every pay-as-you-go cluster that went overdue is 24h from suspension: both thresholds.
    assert sorted((w["cluster_id"], w["threshold"]) for w in warnings) == sorted(  # type: ignore[union-attr]
        (cid, threshold) for cid in overdue & payg for threshold in ("7d", "24h")
    )
    assert {w["step"] for w in warnings} == {"suspension"}  # type: ignore[union-attr]
    for row in summary["clusters"]:  # type: ignore[union-attr]
        assert row["warnings"] == [w for w in warnings if w["cluster_id"] == row["cluster_id"]]  # type: ignore[index]
    code, again, _ = sync(capsys, fake)
    assert again["warnings"] == []
    argv = ["sync", "--region", REGION, "--endpoint", fake.endpoint, "--protocol", "http"]
    assert main(argv) == 0
    assert "warning(s)" not in capsys.readouterr().out  # issued once: the human output is quiet


def test_the_human_output_of_a_sync_counts_and_says_each_warning_it_issued(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str
) -> None:
    sync(capsys, fake)
    fake.balance = "-11.19"
    argv = ["sync", "--region", REGION, "--endpoint", fake.endpoint, "--protocol", "http"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    with open_store(store_url, create=False) as store:
        issued = store.warnings()
    assert issued
    assert lines[2] == f"{len(issued)} warning(s) issued"
    # In the order of the listing, each once.
    assert sorted(lines[3 : 3 + len(issued)]) == sorted(f"  {e.warning.message}" for e in issued)
    assert all(e.status == "due" and e.issued_at is not None for e in issued)
