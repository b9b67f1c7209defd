"""The overdue.emr.cluster_of lookup over hosts as alibaba.alicloud's alicloud_ecs gives them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import KEY_ID, KEY_SECRET, REGION, cloud_env, record

pytestmark = [pytest.mark.ansible, pytest.mark.slow]


@pytest.fixture
def fleet(fake_aliyun: Any, store_url: str) -> dict[str, Any]:
    """Three clusters (one released), their nodes, and a store with two of them recorded."""
    from tests.aliyun.fake_endpoint import make_fleet

    clusters = make_fleet(3, REGION)
    clusters[2]["ClusterState"] = "TERMINATED"
    clusters[2]["StateChangeReason"] = {"Code": "UserRequest", "Message": "released"}
    fake_aliyun.set_fleet(REGION, clusters)
    paid, overdue = clusters[0]["ClusterId"], clusters[1]["ClusterId"]
    record(store_url, paid, billing="pay_as_you_go", region=REGION)
    record(
        store_url,
        overdue,
        billing="pay_as_you_go",
        region=REGION,
        balance="-1",
        overdue_since="2025-12-31T00:00:00Z",  # restricted at NOW: submit_task denied
    )
    nodes = {
        cid: [n["NodeId"] for n in fake_aliyun.cluster_details(REGION, cid)["nodes"]]
        for cid in (paid, overdue)
    }
    return {"paid": paid, "overdue": overdue, "nodes": nodes}


def ecs_inventory(tmp_path: Path, hosts: dict[str, str]) -> Path:
    """A static inventory with the host variables alicloud_ecs sets (instance_id, tags...)."""
    entries = {
        name: {
            "ansible_connection": "local",
            "instance_id": instance_id,
            "instance_name": name,
            "availability_zone": f"{REGION}-i",
            "private_ip_address": "192.168.0.10",
            "status": "running",
            "tags": {"Project": "data-platform"},
        }
        for name, instance_id in hosts.items()
    }
    path = tmp_path / "ecs.yml"
    path.write_text(json.dumps({"all": {"children": {"ecs": {"hosts": entries}}}}))
    return path


PLAY = """
- name: Guard ECS hosts by the phase of their EMR cluster
  hosts: ecs
  gather_facts: false
  vars:
    owning_cluster: >-
      {{ lookup('overdue.emr.cluster_of', instance_id, region='cn-hangzhou', default='',
                endpoint=fake_endpoint, protocol='http', timeout=3) }}
  tasks:
    - name: Owning cluster
      ansible.builtin.debug:
        msg: "{{ owning_cluster }}"
    - name: Submit where the owning cluster allows it
      ansible.builtin.debug:
        msg: submit
      when: >-
        owning_cluster | length > 0
        and lookup('overdue.emr.allowed', owning_cluster, operation='submit_task')
    - name: Details
      ansible.builtin.debug:
        msg: >-
          {{ lookup('overdue.emr.cluster_of', instance_id, details=true,
                    endpoint=fake_endpoint, protocol='http') }}
      when: owning_cluster | length > 0
"""


def test_maps_ecs_hosts_to_their_cluster_once_per_run_and_guards_by_its_phase(
    playbook: Any, fake_aliyun: Any, fleet: dict[str, Any], tmp_path: Path
) -> None:
    hosts = {
        "worker-a": fleet["nodes"][fleet["paid"]][0],
        "worker-b": fleet["nodes"][fleet["paid"]][1],
        "worker-c": fleet["nodes"][fleet["overdue"]][0],
        "bastion": "i-notanemrnode0001",
    }
    inventory = ecs_inventory(tmp_path, hosts)
    env = {**cloud_env(), "ALICLOUD_REGION": REGION}
    run = playbook(
        PLAY, "-i", str(inventory), "-e", f"fake_endpoint={fake_aliyun.endpoint}", env=env
    )
    assert run.rc == 0, run.output
    assert "Traceback" not in run.output
    for secret in (KEY_ID, KEY_SECRET):
        assert secret not in run.output
    owners = {e["host"]: e["msg"] for e in run.task("Owning cluster")}
    assert owners == {
        "worker-a": fleet["paid"],
        "worker-b": fleet["paid"],
        "worker-c": fleet["overdue"],
        "bastion": "",
    }
    assert run.statuses("Submit where the owning cluster allows it") == {
        "worker-a": "ok",
        "worker-b": "ok",
        "worker-c": "skipped",
        "bastion": "skipped",
    }
    details = {e["host"]: e["msg"] for e in run.task("Details") if e["status"] == "ok"}
    assert details["worker-c"]["node_group_type"] == "MASTER"
    assert details["worker-c"]["region"] == REGION  # from ALICLOUD_REGION
    # Once per run for every host and fork: one listing, the nodes of each running cluster.
    assert len(fake_aliyun.calls("ListClusters")) == 1
    listed = sorted(r.params["ClusterId"] for r in fake_aliyun.calls("ListNodes"))
    assert listed == sorted([fleet["paid"], fleet["overdue"]])


def test_an_instance_of_no_cluster_fails_closed_without_default(
    playbook: Any, fake_aliyun: Any, fleet: dict[str, Any], tmp_path: Path
) -> None:
    inventory = ecs_inventory(tmp_path, {"bastion": "i-notanemrnode0001"})
    play = """
- name: No default
  hosts: ecs
  gather_facts: false
  tasks:
    - name: Owning cluster
      ansible.builtin.debug:
        msg: "{{ lookup('overdue.emr.cluster_of', instance_id, region='cn-hangzhou',
                        endpoint=fake_endpoint, protocol='http') }}"
"""
    run = playbook(
        play, "-i", str(inventory), "-e", f"fake_endpoint={fake_aliyun.endpoint}", env=cloud_env()
    )
    assert run.rc != 0
    assert "i-notanemrnode0001 is no node of any EMR cluster of cn-hangzhou" in run.output
    assert "Traceback" not in run.output
