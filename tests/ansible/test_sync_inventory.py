"""The sync option of the overdue.emr.clusters inventory, in-process against a fake cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import KEY_ID, KEY_SECRET, REGION, record


@pytest.fixture
def parse(common: Any, tmp_path: Path) -> Any:
    from ansible.inventory.data import InventoryData
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import inventory_loader

    def parse(text: str) -> Any:
        source = tmp_path / "inventory" / "synced.overdue_clusters.yml"
        source.parent.mkdir(exist_ok=True)
        source.write_text(text)
        plugin = inventory_loader.get("overdue.emr.clusters")
        data = InventoryData()
        plugin.parse(data, DataLoader(), str(source), cache=False)
        return data

    return parse


def _source(fake: Any, store_url: str, **sync: str) -> str:
    lines = [
        "plugin: overdue.emr.clusters",
        f"store: {store_url}",
        "sync:",
        f"  regions: [{REGION}]",
        f"  endpoint: {fake.endpoint}",
        "  protocol: http",
        "  timeout: 3",
        *(f"  {key}: {value}" for key, value in sync.items()),
    ]
    return "\n".join(lines) + "\n"


def _members(data: Any, group: str) -> list[str]:
    return sorted(host.name for host in data.groups[group].get_hosts())


def test_the_groups_hold_the_clusters_synced_just_before(
    parse: Any, fake_aliyun: Any, store_url: str
) -> None:
    from tests.aliyun.fake_endpoint import make_fleet

    fleet = make_fleet(250, REGION)
    data = parse(_source(fake_aliyun, store_url, account="team-data"))  # no store yet
    assert len(fake_aliyun.calls("ListClusters")) == 3
    assert sorted(data.hosts) == sorted(c["ClusterId"] for c in fleet)
    released = [
        c["ClusterId"] for c in fleet if c.get("StateChangeReason", {}).get("Code") == "UserRequest"
    ]
    assert _members(data, "phase_released") == sorted(released)
    payg = [
        c["ClusterId"]
        for c in fleet
        if c["PaymentType"] == "PayAsYouGo" and c["ClusterId"] not in released
    ]
    assert set(payg) <= set(_members(data, "phase_active"))
    assert _members(data, "phase_overdue_grace") == []
    assert len(_members(data, "account_team_data")) == 250

    fake_aliyun.balance = "-11.19"
    data = parse(_source(fake_aliyun, store_url, account="team-data"))
    grace = _members(data, "phase_overdue_grace")
    assert set(payg) <= set(grace)  # fresh: the balance went negative since the last read
    assert data.hosts[payg[0]].vars["overdue_operations"]["scale_out"] == "deny"


def test_a_failed_sync_fails_the_source_with_the_reason(
    parse: Any, fake_aliyun: Any, store_url: str, tmp_path: Path
) -> None:
    from ansible.errors import AnsibleParserError

    fake_aliyun.fail_4xx(
        "InvalidAccessKeyId.NotFound",
        "Specified access key is not found: {access_key_id}",
        status=404,
        action="QueryAccountBalance",
    )
    with pytest.raises(AnsibleParserError) as caught:
        parse(_source(fake_aliyun, store_url))
    message = caught.value.message
    assert (
        "synced.overdue_clusters.yml: QueryAccountBalance failed: InvalidAccessKeyId.NotFound"
        in (message)
    )
    assert "RequestId" in message
    assert message.endswith("; nothing was recorded")
    assert KEY_ID not in message
    assert KEY_SECRET not in message
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    ("sync", "message"),
    [
        (
            "{regions: [cn-hangzhou], access_key_secret: x}",
            "sync: access_key_secret is not accepted in an inventory source",
        ),
        ("{regions: [cn-hangzhou], region: cn-beijing}", "sync: unknown option region;"),
        ("{account: team-data}", "sync: missing required arguments: regions"),
        ("{regions: [cn-hangzhou], protocol: ftp}", "sync: value of protocol must be one of"),
        ("[cn-hangzhou]", "sync"),
    ],
)
def test_bad_sync_options_fail_the_source(
    parse: Any, store_url: str, sync: str, message: str
) -> None:
    from ansible.errors import AnsibleParserError

    with pytest.raises(AnsibleParserError) as caught:
        parse(f"plugin: overdue.emr.clusters\nstore: {store_url}\nsync: {sync}\n")
    assert message in caught.value.message


def test_without_sync_the_inventory_only_reads(
    parse: Any, fake_aliyun: Any, store_url: str, tmp_path: Path
) -> None:
    record(store_url, "c-1", billing="pay_as_you_go", balance="5")
    db = tmp_path / "state" / "clusters.db"
    before = db.read_bytes()
    data = parse(f"plugin: overdue.emr.clusters\nstore: {store_url}\n")
    assert sorted(data.hosts) == ["c-1"]
    assert fake_aliyun.calls() == []
    assert db.read_bytes() == before


def test_the_inventory_reads_alicloud_environment_names_and_refuses_its_secret_options(
    parse: Any, fake_aliyun: Any, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ansible.errors import AnsibleParserError

    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALICLOUD_ACCESS_KEY", KEY_ID)
    monkeypatch.setenv("ALICLOUD_SECRET_KEY", KEY_SECRET)
    monkeypatch.setenv("ALICLOUD_REGION", REGION)
    text = _source(fake_aliyun, store_url).replace(f"  regions: [{REGION}]\n", "")
    data = parse(text)  # the region and the credentials of alibaba.alicloud's environment
    assert len(data.hosts) == 250
    assert all(KEY_ID in r.headers["authorization"] for r in fake_aliyun.calls())
    with pytest.raises(AnsibleParserError) as caught:
        parse(_source(fake_aliyun, store_url, alicloud_secret_key="x-secret-value"))
    assert "alicloud_secret_key is not accepted in an inventory source" in caught.value.message
