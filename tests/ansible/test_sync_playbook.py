"""The real ansible-playbook syncing from a fake Alibaba Cloud: the scheduled job, the inventory.

Each run gets the SDK's credentials in its environment (distinctive values) and
must not show them anywhere, at any verbosity.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import KEY_ID, KEY_SECRET, PLAYBOOKS, REGION, cloud_env, history

pytestmark = [pytest.mark.ansible, pytest.mark.slow]

JOB = PLAYBOOKS / "sync_and_guard.yml"
OPTION_ID = "AKIDplaybookOption4242"
OPTION_SECRET = "playbook-SeCrEt-Option-6161"
OPTION_TOKEN = "playbook-ToKeN-Option-2323"
SECRETS = (KEY_ID, KEY_SECRET, OPTION_ID, OPTION_SECRET, OPTION_TOKEN)


def fleet(fake: Any = None, count: int = 250) -> list[dict[str, Any]]:
    """The fleet of the fake; given the fake, a smaller one where size does not matter."""
    from tests.aliyun.fake_endpoint import make_fleet

    clusters = make_fleet(count, REGION)
    if fake is not None:
        fake.set_fleet(REGION, clusters)
    return clusters


def recap(run: Any, host: str) -> dict[str, int]:
    line = re.search(rf"^{re.escape(host)}\s+: (.*)$", run.stdout, re.M)
    assert line, f"no recap for {host}:\n{run.stdout[-2000:]}"
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.group(1))}


def clean(run: Any) -> None:
    """No traceback, no internal error, no credential, anywhere in what the run printed."""
    assert "Traceback" not in run.output
    assert "internal error" not in run.output
    for secret in SECRETS:
        assert secret not in run.output
        assert secret not in str(run.events)


def job(playbook: Any, fake: Any, *args: str, clusters: list[str] | None = None) -> Any:
    extra = f'{{"sync_endpoint": "{fake.endpoint}", "sync_protocol": "http"}}'
    targets = [] if clusters is None else ["-e", json.dumps({"job_clusters": clusters})]
    run = playbook(JOB, "-e", extra, *targets, *args, env=cloud_env(), now=None)
    clean(run)
    # The credentials were in play: the calls were signed with the key id of the environment.
    assert all(KEY_ID in call.headers["authorization"] for call in fake.calls())
    return run


def seed(fake: Any, store_url: str) -> None:
    """A first sync, in-process (quicker than a playbook run)."""
    from fsm.sources.aliyun import AliyunSource
    from fsm.store import open_store
    from fsm.sync import sync

    source = AliyunSource(endpoint=fake.endpoint, protocol="http", timeout_s=3)
    with open_store(store_url) as store:
        assert sync(store, source, [REGION]).complete


def test_the_scheduled_job_syncs_then_guards_and_a_second_run_changes_nothing(
    playbook: Any, fake_aliyun: Any
) -> None:
    clusters = fleet()
    active, also_active, subscription, released = (clusters[i]["ClusterId"] for i in (0, 1, 2, 24))
    targets = [active, also_active, subscription, released]

    first = job(playbook, fake_aliyun, clusters=targets)
    assert first.rc == 0, first.output
    assert len(fake_aliyun.calls("ListClusters")) == 3  # 250 clusters over three pages
    [synced] = first.task("Record what the cloud says (changed only when something was recorded)")
    assert synced["changed"] is True
    assert synced["result"]["counts"] == {
        "recorded": 250,
        "unchanged": 0,
        "failed": 0,
        "untouched": 0,
    }
    assert synced["msg"].endswith(
        "250 cluster(s) in cn-hangzhou: 250 recorded, 0 unchanged, 0 failed, 0 untouched"
    )
    notified = {
        e["result"]["item"]["cluster_id"]: e["msg"]
        for e in first.items("Notify the owner of each cluster that entered a phase in this sync")
    }
    assert notified[released] == f"notify default: {released} is now released; nothing scheduled"
    assert active not in notified  # registered active: it entered no phase

    assert first.statuses("Scale out (skipped where fee-generating work may not run)") == {
        active: "ok",
        also_active: "ok",
        subscription: "skipped",  # expired months ago, purged
        released: "skipped",
    }
    why = {e["host"]: e["msg"] for e in first.task("Say why scale_out was skipped") if e["msg"]}
    assert why[released].startswith(f"skipped: scale_out (fee_generating) is denied: {released}")
    assert first.statuses("Upgrade the node configuration") == {active: "ok", also_active: "ok"}
    closed = {
        e["host"]: e["msg"]
        for e in first.task("Show the closed gate (nothing was upgraded; the job goes on)")
    }
    assert sorted(closed) == sorted([subscription, released])
    assert closed[subscription].startswith(
        f"not upgraded: upgrade_node_config (fee_generating) is denied: {subscription} is purged"
    )
    assert recap(first, "localhost")["changed"] == 1

    second = job(playbook, fake_aliyun, clusters=targets)
    assert second.rc == 0, second.output
    [synced] = second.task("Record what the cloud says (changed only when something was recorded)")
    assert synced["changed"] is False
    assert synced["result"]["counts"]["unchanged"] == 250
    for host in ("localhost", *targets):
        assert recap(second, host)["changed"] == 0, host


def test_check_mode_reads_the_cloud_and_writes_nothing(
    playbook: Any, fake_aliyun: Any, store_url: str
) -> None:
    active = fleet(fake_aliyun, 30)[0]["ClusterId"]
    seed(fake_aliyun, store_url)
    fake_aliyun.balance = "-11.19"

    preview = job(playbook, fake_aliyun, "--check", "-vvv", clusters=[active])
    assert preview.rc == 0, preview.output
    [synced] = preview.task("Record what the cloud says (changed only when something was recorded)")
    assert synced["changed"] is True
    assert synced["result"]["dry_run"] is True
    assert synced["result"]["overdue"] is True
    row = next(c for c in synced["result"]["clusters"] if c["cluster_id"] == active)
    assert row["recorded"] == ["balance_negative"]
    assert row["phase"] == "overdue_grace"
    # Nothing was written: the log holds only the positive balance the seeding sync saw.
    assert [e.kind for e in history(store_url, active)] == ["recharged"]
    # The store still says what the last real sync saw, so the guard lets the work run.
    assert preview.statuses("Scale out (skipped where fee-generating work may not run)") == {
        active: "ok"
    }


def test_an_api_error_fails_the_job_with_the_api_and_the_code(
    playbook: Any, fake_aliyun: Any, tmp_path: Path
) -> None:
    fleet(fake_aliyun, 30)
    fake_aliyun.fail_4xx(
        "Forbidden.RAM",
        "User {access_key_id} is not authorized to operate on the specified resource",
        status=403,
        action="ListClusters",
    )
    run = job(playbook, fake_aliyun, "-vvv")
    assert run.rc == 2
    [failed] = run.task("Record what the cloud says (changed only when something was recorded)")
    assert failed["status"] == "failed"
    assert failed["msg"].startswith("ListClusters failed: Forbidden.RAM: HTTP 403 from ")
    assert "(RequestId " in failed["msg"]
    assert failed["msg"].endswith("; nothing was recorded")
    assert failed["result"]["error"]["code"] == "Forbidden.RAM"
    assert "fatal: [localhost]: FAILED!" in run.stdout
    assert not (tmp_path / "state").exists()


def test_credentials_given_as_options_show_nowhere(playbook: Any, fake_aliyun: Any) -> None:
    fleet(fake_aliyun, 30)
    fake_aliyun.fail_4xx(
        "SignatureDoesNotMatch",
        "The signature of {access_key_id} does not match",
        action="QueryAccountBalance",
        times=1,
    )
    play = f"""
- name: Sync with credentials given as options
  hosts: localhost
  gather_facts: false
  vars:
    key_id: {OPTION_ID}
    key_secret: {OPTION_SECRET}
    token: {OPTION_TOKEN}
    sync_args:
      regions: [{REGION}]
      endpoint: {fake_aliyun.endpoint}
      protocol: http
      access_key_id: "{{{{ key_id }}}}"
      access_key_secret: "{{{{ key_secret }}}}"
      security_token: "{{{{ token }}}}"
  tasks:
    - name: Refused by the cloud
      overdue.emr.sync: "{{{{ sync_args }}}}"
      ignore_errors: true
    - name: Accepted
      overdue.emr.sync: "{{{{ sync_args }}}}"
      register: synced
    - name: Show the result
      ansible.builtin.debug:
        var: synced
"""
    run = playbook(play, "-vvv", env=cloud_env(), now=None)
    clean(run)
    assert run.statuses("Refused by the cloud") == {"localhost": "ignored"}
    assert run.statuses("Accepted") == {"localhost": "changed"}
    assert all(OPTION_ID in c.headers["authorization"] for c in fake_aliyun.calls())


def test_the_inventory_sync_option_builds_groups_from_freshly_synced_clusters(
    playbook: Any, fake_aliyun: Any, store_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "synced.overdue_clusters.yml"
    source.write_text(
        "plugin: overdue.emr.clusters\n"
        f"store: {store_url}\n"
        "compose:\n"
        "  ansible_connection: \"'local'\"\n"
        f"sync: {{regions: [{REGION}], endpoint: '{fake_aliyun.endpoint}', protocol: http}}\n"
    )
    play = """
- name: The released clusters
  hosts: phase_released
  gather_facts: false
  tasks:
    - name: Name each
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} {{ overdue_phase }}"
"""
    run = playbook(play, "-i", str(source), env=cloud_env(), now=None)
    clean(run)
    assert run.rc == 0, run.output
    released = {
        c["ClusterId"]
        for c in fleet()
        if c.get("StateChangeReason", {}).get("Code") == "UserRequest"
    }
    assert set(run.statuses("Name each")) == released
    assert len(fake_aliyun.calls("ListClusters")) == 3

    fake_aliyun.fail_4xx("Forbidden.RAM", "User not authorized", status=403, action="ListClusters")
    failed = playbook(play, "-i", str(source), env=cloud_env(), now=None)
    clean(failed)
    warnings = " ".join(failed.stderr.split())  # ansible-core < 2.19 wraps warnings
    assert "ListClusters failed: Forbidden.RAM" in warnings
    assert "Unable to parse" in warnings


def test_ansible_doc_renders_the_module(
    ansible_env: dict[str, str],
) -> None:
    import subprocess

    from .conftest import BIN, REPO

    done = subprocess.run(
        [str(BIN / "ansible-doc"), "overdue.emr.sync", "-t", "module"],
        cwd=REPO,
        env=ansible_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[WARNING]" not in done.stderr and "[ERROR]" not in done.stderr
    for text in ("> MODULE overdue.emr.sync", "access_key_secret", "EXAMPLES", "RETURN VALUES"):
        assert text in done.stdout, text
