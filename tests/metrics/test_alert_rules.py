"""The shipped Prometheus alert rules: valid, and firing when a cluster walks the phases.

promtool comes from Debian's ``prometheus`` package (.ci/run installs it); without it
these tests skip and say how to get it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from fsm import metrics

RULES_DIR = Path(__file__).resolve().parents[2] / "extensions" / "prometheus"
RULES = RULES_DIR / "overdue_emr_rules.yml"
RULES_TEST = RULES_DIR / "overdue_emr_rules_test.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed: apt-get install prometheus (Debian), as .ci/run does",
)
EXPORTED = {
    metrics.PHASE,
    metrics.NEXT_PHASE,
    metrics.DATA_DELETION,
    metrics.BALANCE,
    metrics.SYNC_SUCCESS,
    metrics.STORE_UP,
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120, check=False
    )


@needs_promtool
def test_promtool_checks_the_rules() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


@needs_promtool
def test_the_rules_fire_as_a_cluster_walks_the_phases() -> None:
    result = promtool("test", "rules", RULES_TEST.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_and_their_test_use_only_exported_metrics() -> None:
    """A renamed metric must break the rules here, not silently in someone's Prometheus."""
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    series = [
        item["series"]
        for case in yaml.safe_load(RULES_TEST.read_text(encoding="utf-8"))["tests"]
        for item in case["input_series"]
    ]
    used = {name for text in exprs + series for name in re.findall(r"\boverdue_emr_\w+", text)}
    assert used <= EXPORTED, used - EXPORTED
    assert {metrics.PHASE, metrics.DATA_DELETION, metrics.SYNC_SUCCESS} <= used
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {
        "OverdueEmrDataDeletionWithin7Days",
        "OverdueEmrDataDeletionWithin1Day",
        "OverdueEmrClusterRestricted",
        "OverdueEmrSyncStale",
    } <= names
