"""The overdue.emr.clusters inventory plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import NOW, record


@pytest.fixture
def fleet(store_url: str) -> str:
    record(store_url, "c-active", billing="pay_as_you_go", account="team-web", balance="9")
    record(store_url, "c-grace", billing="PayAsYouGo", account="team.data", overdue_since=NOW)
    record(
        store_url,
        "s-expired",
        billing="subscription",
        account="team-web",
        expires_at="2026-01-10T00:00:00Z",
    )
    return store_url


@pytest.fixture
def parse(common: Any, tmp_path: Path) -> Any:
    from ansible.inventory.data import InventoryData
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import inventory_loader

    def parse(text: str, name: str = "fleet.overdue_clusters.yml") -> Any:
        source = tmp_path / "inventory" / name
        source.parent.mkdir(exist_ok=True)
        source.write_text(text)
        plugin = inventory_loader.get("overdue.emr.clusters")
        assert plugin.verify_file(str(source))
        data = InventoryData()
        plugin.parse(data, DataLoader(), str(source), cache=False)
        return data

    return parse


def _members(data: Any, group: str) -> list[str]:
    return sorted(host.name for host in data.groups[group].get_hosts())


def test_one_host_per_cluster_grouped_by_phase_billing_and_account(parse: Any, fleet: str) -> None:
    data = parse(f"plugin: overdue.emr.clusters\nstore: {fleet}\nnow: '{NOW}'\n")
    assert sorted(data.hosts) == ["c-active", "c-grace", "s-expired"]
    assert _members(data, "phase_active") == ["c-active"]
    assert _members(data, "phase_overdue_grace") == ["c-grace"]
    assert _members(data, "phase_suspended") == ["s-expired"]
    for phase in ("restricted", "purged", "released"):
        assert _members(data, f"phase_{phase}") == []  # every phase group exists
    assert _members(data, "billing_pay_as_you_go") == ["c-active", "c-grace"]
    assert _members(data, "billing_subscription") == ["s-expired"]
    assert _members(data, "account_team_web") == ["c-active", "s-expired"]
    assert _members(data, "account_team_data") == ["c-grace"]  # made a valid group name

    grace = data.hosts["c-grace"].vars
    assert grace["overdue_phase"] == "overdue_grace"
    assert grace["overdue_billing"] == "pay_as_you_go"
    assert grace["overdue_account"] == "team.data"
    assert grace["overdue_next_phase"] == "suspended"
    assert grace["overdue_next_phase_at"] == "2026-01-22T00:00:00Z"
    assert grace["overdue_operations"]["scale_out"] == "deny"
    assert grace["overdue_operations"]["submit_task"] == "warn"
    assert data.hosts["c-active"].vars["overdue_next_phase"] is None


def test_constructed_compose_groups_and_keyed_groups(parse: Any, fleet: str) -> None:
    data = parse(
        f"plugin: overdue.emr.clusters\nstore: {fleet}\nnow: '{NOW}'\n"
        "compose:\n"
        "  ansible_connection: \"'local'\"\n"
        "  scale_out: overdue_operations.scale_out\n"
        "groups:\n"
        "  paid_up: overdue_operations.scale_out == 'allow'\n"
        "keyed_groups:\n"
        "  - key: overdue_next_phase | default('none', true)\n"
        "    prefix: next\n"
    )
    assert data.hosts["c-grace"].vars["ansible_connection"] == "local"
    assert data.hosts["c-grace"].vars["scale_out"] == "deny"
    assert _members(data, "paid_up") == ["c-active"]
    assert _members(data, "next_suspended") == ["c-grace"]
    assert _members(data, "next_none") == ["c-active"]
    assert _members(data, "next_purged") == ["s-expired"]


def test_strict_makes_a_broken_expression_an_error(parse: Any, fleet: str) -> None:
    from ansible.errors import AnsibleError

    text = f"plugin: overdue.emr.clusters\nstore: {fleet}\ncompose:\n  x: undefined_thing.y\n"
    parse(text)  # not strict: skipped
    with pytest.raises(AnsibleError):
        parse(text + "strict: true\n")


def test_account_filter_and_a_store_relative_to_the_source(
    parse: Any, fleet: str, tmp_path: Path
) -> None:
    data = parse("plugin: overdue.emr.clusters\nstore: ../state/clusters.db\naccount: [team-web]\n")
    assert sorted(data.hosts) == ["c-active", "s-expired"]


def test_the_inventory_reads_and_never_creates(parse: Any, tmp_path: Path) -> None:
    from ansible.errors import AnsibleParserError

    with pytest.raises(AnsibleParserError) as caught:
        parse("plugin: overdue.emr.clusters\nstore: missing.db\n")
    assert "no store at sqlite://" in caught.value.message
    assert not (tmp_path / "inventory" / "missing.db").exists()

    with pytest.raises(AnsibleParserError, match="store: none is not accepted"):
        parse("plugin: overdue.emr.clusters\nstore: none\n")


def test_only_matching_file_names_are_sources(common: Any, tmp_path: Path) -> None:
    from ansible.plugins.loader import inventory_loader

    plugin = inventory_loader.get("overdue.emr.clusters")
    for name, wanted in (("a.overdue_clusters.yaml", True), ("hosts.yml", False)):
        (tmp_path / name).write_text("plugin: overdue.emr.clusters\n")
        assert plugin.verify_file(str(tmp_path / name)) is wanted
