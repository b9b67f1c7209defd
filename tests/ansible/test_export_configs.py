"""The overdue.emr.export_configs action plugin, in-process, through the real SDK and the fake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest

from .conftest import KEY_ID, KEY_SECRET, NOW, REGION, record

OPTION_SECRET = "export-option-SeCrEt-5353"


@pytest.fixture
def cluster_id(fake_aliyun: Any) -> str:
    return fake_aliyun.fleet[REGION][0]["ClusterId"]


@pytest.fixture
def run(common: Any, fake_aliyun: Any, store_url: str, tmp_path: Path) -> Any:
    """``run(check_mode=False, diff=False, **args)``: the action against the fake."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import action_loader

    def run(check_mode: bool = False, diff: bool = False, **args: Any) -> dict[str, Any]:
        task = MagicMock()
        task.args = {
            "endpoint": fake_aliyun.endpoint,
            "protocol": "http",
            "timeout": 3,
            "store": store_url,
            "now": NOW,
            **args,
        }
        task.args = {k: v for k, v in task.args.items() if v is not None}
        task.check_mode, task.diff, task.async_val = check_mode, diff, 0
        task.action = "overdue.emr.export_configs"
        connection = MagicMock()
        connection._shell.tmpdir = None
        action = action_loader.get(
            "overdue.emr.export_configs", task, connection, PlayContext(), DataLoader(), None, None
        )
        result = action.run(task_vars={})
        shown = json.dumps(result, default=str)
        for secret in (KEY_ID, KEY_SECRET, OPTION_SECRET):
            assert secret not in shown
        assert "Traceback" not in shown
        return result

    return run


def test_export_then_again_unchanged(
    run: Any, store_url: str, cluster_id: str, tmp_path: Path
) -> None:
    record(store_url, cluster_id, billing="pay_as_you_go", region=REGION)
    dest = tmp_path / "rescue" / cluster_id
    first = run(cluster_id=cluster_id, dest=str(dest))
    assert "failed" not in first, first["msg"]
    assert first["changed"] is True
    assert first["counts"] == {"added": 5, "changed": 0, "unchanged": 0}
    assert (dest / "manifest.json").is_file()
    assert "business data" in first["at_risk"]
    again = run(cluster_id=cluster_id, dest=str(dest))
    assert again["changed"] is False
    assert again["counts"] == {"added": 0, "changed": 0, "unchanged": 5}


def test_check_mode_writes_nothing_and_diff_names_the_files(
    run: Any, store_url: str, cluster_id: str, tmp_path: Path
) -> None:
    record(store_url, cluster_id, billing="pay_as_you_go", region=REGION)
    dest = tmp_path / cluster_id
    result = run(check_mode=True, diff=True, cluster_id=cluster_id, dest=str(dest))
    assert "failed" not in result, result["msg"]
    assert result["changed"] is True and result["dry_run"] is True
    assert not dest.exists()
    assert sorted(d["after_header"] for d in result["diff"]) == [
        "applications/HDFS.json",
        "applications/SPARK3.json",
        "applications/YARN.json",
        "cluster.json",
        "manifest.json",
    ]
    assert all(d["before"] == "" for d in result["diff"])
    run(cluster_id=cluster_id, dest=str(dest))
    assert run(check_mode=True, diff=True, cluster_id=cluster_id, dest=str(dest))["diff"] == []


def test_refuses_a_purged_cluster_with_the_reason(
    run: Any, fake_aliyun: Any, store_url: str, cluster_id: str, tmp_path: Path
) -> None:
    record(
        store_url,
        cluster_id,
        billing="pay_as_you_go",
        region=REGION,
        balance="-5",
        overdue_since="2025-11-01T00:00:00Z",
    )
    result = run(cluster_id=cluster_id, dest=str(tmp_path / "x"))
    assert result["failed"] is True and result["changed"] is False
    assert "export_service_config" in result["msg"] and "purged" in result["msg"]
    assert result["decision"]["verdict"] == "deny"
    assert result["decision"]["phase"] == "purged"
    assert not (tmp_path / "x").exists()
    assert fake_aliyun.calls() == []


@pytest.mark.parametrize("store", ["none", None])
def test_fails_closed_when_the_phase_is_unknown(
    run: Any, fake_aliyun: Any, store_url: str, cluster_id: str, tmp_path: Path, store: str | None
) -> None:
    record(store_url, "c-someone-else", billing="pay_as_you_go", region=REGION)
    # With a store, cluster_id is not tracked in it; with none there is no phase to ask.
    result = run(
        cluster_id=cluster_id, dest=str(tmp_path / "x"), **({"store": store} if store else {})
    )
    assert result["failed"] is True
    assert "cannot be determined" in result["msg"]
    assert result["decision"]["allowed"] is False
    assert fake_aliyun.calls() == []


def test_a_cloud_error_names_the_api_and_writes_nothing(
    run: Any, fake_aliyun: Any, store_url: str, cluster_id: str, tmp_path: Path
) -> None:
    record(store_url, cluster_id, billing="pay_as_you_go", region=REGION)
    fake_aliyun.fail_4xx(
        "Forbidden.RAM",
        "no permission for {access_key_id}",
        status=403,
        action="ExportApplicationConfigs",
    )
    result = run(
        cluster_id=cluster_id,
        dest=str(tmp_path / "x"),
        access_key_id=KEY_ID,
        access_key_secret=OPTION_SECRET,
    )
    assert result["failed"] is True
    assert result["error"]["api"] == "ExportApplicationConfigs"
    assert result["error"]["code"] == "Forbidden.RAM"
    assert "nothing was written" in result["msg"]
    assert not (tmp_path / "x").exists()


def test_the_documented_options_are_validated(run: Any, tmp_path: Path) -> None:
    result = run(cluster_id="c-1", dest=str(tmp_path), export_mode="SOME")
    assert result["failed"] is True
    assert "export_mode" in result["msg"]


# -- beside alibaba.alicloud: its option names and environment --------------------------------


def test_alicloud_option_names_are_aliases_and_their_secrets_never_show(
    run: Any, fake_aliyun: Any, store_url: str, cluster_id: str, tmp_path: Path
) -> None:
    from tests.aliyun.fake_endpoint import STS_KEY_ID

    record(store_url, cluster_id, billing="pay_as_you_go", region=REGION)
    result = run(
        cluster_id=cluster_id,
        dest=str(tmp_path / "x"),
        alicloud_access_key="AKIDaliasOption8080",
        alicloud_secret_key=OPTION_SECRET,
        alicloud_assume_role={"role_arn": "acs:ram::1234567890:role/rescue"},
        sts_endpoint=fake_aliyun.endpoint,
    )
    assert "failed" not in result, result["msg"]
    [assumed] = fake_aliyun.calls("AssumeRole")
    assert "AKIDaliasOption8080" in assumed.headers["authorization"]
    others = [r for r in fake_aliyun.calls() if r.action != "AssumeRole"]
    assert others and all(STS_KEY_ID in r.headers["authorization"] for r in others)


def test_alicloud_environment_names_and_region(
    run: Any,
    fake_aliyun: Any,
    store_url: str,
    cluster_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALICLOUD_ACCESS_KEY", KEY_ID)
    monkeypatch.setenv("ALICLOUD_SECRET_KEY", KEY_SECRET)
    monkeypatch.setenv("ALICLOUD_REGION", REGION)
    # Tracked without a region: the region of the environment is used.
    record(store_url, cluster_id, billing="pay_as_you_go")
    result = run(cluster_id=cluster_id, dest=str(tmp_path / "x"))
    assert "failed" not in result, result["msg"]
    assert result["region"] == REGION
    assert all(KEY_ID in r.headers["authorization"] for r in fake_aliyun.calls())
