"""The example rulebook under the real ansible-rulebook: its playbook runs once, 7 days ahead.

ansible-rulebook lives in its own venv (``make rulebook``: .venv-rulebook/) and needs a
Java 17 runtime (Debian: ``apt-get install openjdk-17-jre-headless``); without either this
test skips and says which. The source's clock is injected, so 13 days pass in seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from fsm import Observation
from fsm.store import open_store
from fsm.timeutil import parse_time

REPO = Path(__file__).resolve().parents[2]
RULEBOOK = REPO / "extensions" / "eda" / "rulebooks" / "overdue_emr.yml"
INVENTORY = REPO / "playbooks" / "inventory" / "fleet.overdue_clusters.yml"
RULEBOOK_BIN = REPO / ".venv-rulebook" / "bin"
PLAY = "PLAY [Before an overdue cluster's data is deleted]"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.ansible,
    pytest.mark.skipif(
        shutil.which("java") is None,
        reason="ansible-rulebook needs Java 17: apt-get install openjdk-17-jre-headless",
    ),
    pytest.mark.skipif(
        not (RULEBOOK_BIN / "ansible-rulebook").exists(),
        reason="ansible-rulebook is not installed: make rulebook (creates .venv-rulebook/)",
    ),
]


def test_the_example_rulebook_runs_its_playbook_once_when_deletion_is_7_days_away(
    tmp_path: Path,
) -> None:
    t0 = parse_time("2026-01-01T00:00:00Z", "T0")
    url = f"sqlite:///{tmp_path / 'clusters.db'}"
    with open_store(url) as store:
        store.observe("c-1", Observation.create(balance="-3", at=t0), billing="PayAsYouGo", now=t0)
        store.observe("c-2", Observation.create(balance="8", at=t0), billing="PayAsYouGo", now=t0)
    # The example as shipped, its source's clock set to run from day 50 to day 63: the
    # 7-day warning (day 53), the 1-day one (day 59) and purged (day 60) all come by.
    rulebook = yaml.safe_load(RULEBOOK.read_text(encoding="utf-8"))
    source = rulebook[0]["sources"][0]["overdue.emr.phase_events"]
    source.update(now="2026-02-20T00:00:00Z", stop_at="2026-03-05T00:00:00Z")
    under_test = tmp_path / "overdue_emr.yml"
    under_test.write_text(yaml.safe_dump(rulebook, sort_keys=False), encoding="utf-8")
    collections = tmp_path / "collections" / "ansible_collections" / "overdue"
    collections.mkdir(parents=True)
    (collections / "emr").symlink_to(REPO)
    notices = tmp_path / "notices.txt"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OVERDUE_", "ANSIBLE_"))},
        "PATH": f"{RULEBOOK_BIN}{os.pathsep}{os.environ['PATH']}",
        "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "OVERDUE_FSM_STORE": url,
        "OVERDUE_EMR_CURSOR": str(tmp_path / "cursor.json"),
        "OVERDUE_EMR_NOTICE_FILE": str(notices),
    }
    result = subprocess.run(
        [
            str(RULEBOOK_BIN / "ansible-rulebook"),
            "--rulebook",
            str(under_test),
            "--inventory",
            str(INVENTORY),
            "--env-vars",
            "OVERDUE_EMR_CURSOR",
            "--shutdown-delay",
            "5",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count(PLAY) == 1, output
    assert notices.read_text(encoding="utf-8").splitlines() == [
        "c-1 data_deletion 2026-03-02T00:00:00Z notified"
    ]
