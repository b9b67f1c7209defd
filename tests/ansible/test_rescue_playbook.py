"""playbooks/rescue_before_purge.yml over the clusters inventory, exporting from the fake."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from .conftest import KEY_ID, KEY_SECRET, NOW, PLAYBOOKS, REGION, cloud_env, record

pytestmark = [pytest.mark.ansible, pytest.mark.slow]

RESCUE = PLAYBOOKS / "rescue_before_purge.yml"
INVENTORY = str(PLAYBOOKS / "inventory" / "fleet.overdue_clusters.yml")


def days_before(days: float) -> str:
    from fsm.timeutil import format_time, parse_time

    return format_time(parse_time(NOW, "now") - timedelta(days=days))


@pytest.fixture
def fleet(fake_aliyun: Any, store_url: str) -> dict[str, str]:
    """Four tracked clusters of the fake: due in 2 days, due in 10, purged, paid up."""
    ids = [c["ClusterId"] for c in fake_aliyun.fleet[REGION][:4]]
    names = dict(zip(("due", "later", "purged", "paid"), ids, strict=True))
    for name, overdue_days in (("due", 58), ("later", 50), ("purged", 70)):
        record(
            store_url,
            names[name],
            billing="pay_as_you_go",
            region=REGION,
            balance="-3",
            overdue_since=days_before(overdue_days),
        )
    record(store_url, names["paid"], billing="pay_as_you_go", region=REGION)
    return names


def rescue(playbook: Any, fake: Any, tmp_path: Path, *extra: str) -> Any:
    variables = {
        "rescue_dir": str(tmp_path / "rescued"),
        "rescue_endpoint": fake.endpoint,
        "rescue_protocol": "http",
    }
    run = playbook(RESCUE, "-i", INVENTORY, "-e", json.dumps(variables), *extra, env=cloud_env())
    assert "Traceback" not in run.output
    for secret in (KEY_ID, KEY_SECRET):
        assert secret not in run.output
    return run


def test_exports_only_the_clusters_due_within_the_window_and_says_what_is_at_risk(
    playbook: Any, fake_aliyun: Any, fleet: dict[str, str], tmp_path: Path
) -> None:
    run = rescue(playbook, fake_aliyun, tmp_path)
    assert run.rc == 0, run.output
    exported = run.statuses("Export the service configuration and the shape of the cluster")
    assert exported == {
        fleet["due"]: "changed",
        **dict.fromkeys((fleet["later"], fleet["purged"], fleet["paid"]), "skipped"),
    }
    assert (tmp_path / "rescued" / fleet["due"] / "manifest.json").is_file()
    assert not (tmp_path / "rescued" / fleet["later"]).exists()
    said = next(
        e for e in run.task("Say what was saved and what is still at risk") if e["status"] == "ok"
    )
    assert said["host"] == fleet["due"]
    assert "saved 5 file(s)" in said["msg"] and "(5 added, 0 changed)" in said["msg"]
    assert "business data" in said["msg"]
    [summary] = run.task("Summary of the run")
    assert summary["msg"]["saved"] == [fleet["due"]]
    assert summary["msg"]["failed"] == []
    assert sorted(summary["msg"]["not_due"]) == sorted(
        [fleet["later"], fleet["purged"], fleet["paid"]]
    )

    again = rescue(playbook, fake_aliyun, tmp_path)
    again_exported = again.statuses("Export the service configuration and the shape of the cluster")
    assert again_exported[fleet["due"]] == "ok"
    said = next(
        e for e in again.task("Say what was saved and what is still at risk") if e["status"] == "ok"
    )
    assert "(unchanged)" in said["msg"]


def test_a_wider_window_takes_the_longest_and_a_failure_is_reported(
    playbook: Any, fake_aliyun: Any, fleet: dict[str, str], tmp_path: Path
) -> None:
    fake_aliyun.fail_4xx("Forbidden.RAM", "not allowed", status=403, action="ListNodeGroups")
    run = rescue(playbook, fake_aliyun, tmp_path, "-e", '{"rescue_window": ["1d", "12d"]}')
    assert run.rc == 0, run.output
    [summary] = run.task("Summary of the run")
    assert sorted(summary["msg"]["failed"]) == sorted([fleet["due"], fleet["later"]])
    assert summary["msg"]["saved"] == []
    said = {
        e["host"]: e["msg"]
        for e in run.task("Say what was saved and what is still at risk")
        if e["status"] == "ok"
    }
    assert "NOT saved: ListNodeGroups failed: Forbidden.RAM" in said[fleet["due"]]
