"""Every answer of the collection says why (issue "every answer says why"), from a real run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import NOW

OBSERVING = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: subscription overdue
      overdue.emr.cluster_phase:
        cluster_id: s-1
        billing: subscription
        expires_at: "2026-06-01T00:00:00Z"
        balance: -3
    - name: renewal while overdue
      overdue.emr.cluster_phase:
        cluster_id: s-1
        renewed_until: "2027-06-01T00:00:00Z"
    - name: pay-as-you-go renewal
      overdue.emr.cluster_phase:
        cluster_id: c-1
        billing: pay_as_you_go
        renewed_until: "2027-06-01T00:00:00Z"
      ignore_errors: true
    - name: observed in the future
      overdue.emr.cluster_phase:
        cluster_id: c-2
        billing: pay_as_you_go
        balance: -1
        observed_at: "2026-02-01T00:00:00Z"
      ignore_errors: true
    - name: overdue since as a YAML timestamp, with a positive balance
      overdue.emr.cluster_phase:
        cluster_id: c-3
        billing: pay_as_you_go
        balance: 5
        overdue_since: 2026-01-02T19:33:39Z
      ignore_errors: true
"""


def test_a_refused_event_says_why_in_msg_and_a_warning(playbook: Any) -> None:
    run = playbook(OBSERVING, now=NOW)
    assert run.rc == 0, run.output
    [renewal] = run.task("renewal while overdue")
    assert renewal["status"] == "ok" and not renewal["changed"]
    assert renewal["msg"].startswith("refused: renewal is fee-generating")
    assert renewal["result"]["notes"] == [renewal["msg"]]
    assert "[WARNING]: refused: renewal is fee-generating" in run.output


def test_renewed_until_on_pay_as_you_go_fails_the_task(playbook: Any) -> None:
    run = playbook(OBSERVING, now=NOW)
    [renewal] = run.task("pay-as-you-go renewal")
    assert renewal["status"] in ("failed", "ignored")
    assert renewal["msg"].startswith("renewed_until:")
    assert "pay_as_you_go" in renewal["msg"]


def test_messages_name_the_option_and_the_value_as_given(playbook: Any) -> None:
    run = playbook(OBSERVING, now=NOW)
    [future] = run.task("observed in the future")
    assert future["status"] in ("failed", "ignored")
    assert future["msg"].startswith("observed_at: '2026-02-01T00:00:00Z'"), future["msg"]
    [since] = run.task("overdue since as a YAML timestamp, with a positive balance")
    assert since["status"] in ("failed", "ignored")
    assert "'2026-01-02T19:33:39Z'" in since["msg"], since["msg"]
    assert "+00:00" not in since["msg"]


def test_entered_names_a_timed_step_even_when_nothing_was_recorded(playbook: Any) -> None:
    """``entered``: the phases entered since the store last evaluated the cluster (documented)."""
    task = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: look
      overdue.emr.cluster_phase:
        cluster_id: c-1
        billing: pay_as_you_go
        balance: -1
"""
    assert playbook(task, now="2026-01-01T00:00:00Z").rc == 0
    later = playbook(task, now="2026-01-03T00:00:00Z")
    [look] = later.task("look")
    assert look["changed"] is False
    assert look["result"]["entered"] == ["suspended"]
    again = playbook(task, now="2026-01-03T01:00:00Z")
    assert again.task("look")[0]["result"]["entered"] == []


def _lookup_play(expression: str) -> str:
    return f"""
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: ask
      ansible.builtin.debug:
        msg: "{{{{ {expression} }}}}"
      ignore_errors: true
"""


def test_a_misspelt_lookup_option_is_an_error_naming_it(playbook: Any) -> None:
    for name in ("allowed", "phase"):
        run = playbook(
            _lookup_play(f"lookup('overdue.emr.{name}', 'c-1', operation='scale_out', stict=true)")
        )
        [ask] = run.task("ask")
        assert ask["status"] in ("failed", "ignored"), name
        assert "stict" in ask["msg"] and "strict" in ask["msg"], ask["msg"]


def test_a_lookup_default_answers_for_a_store_never_written(playbook: Any, tmp_path: Path) -> None:
    missing = f"sqlite://{tmp_path}/never/clusters.db"
    run = playbook(
        _lookup_play(
            "lookup('overdue.emr.allowed', 'c-1', operation='scale_out', default=false) | string"
            " + '/' + lookup('overdue.emr.phase', 'c-1', default='unknown')"
        ),
        env={"OVERDUE_FSM_STORE": missing},
    )
    [ask] = run.task("ask")
    assert ask["status"] == "ok", ask["msg"]
    assert ask["msg"] == "False/unknown"
    assert not (tmp_path / "never").exists()
    fail_closed = playbook(
        _lookup_play("lookup('overdue.emr.allowed', 'c-1', operation='scale_out')"),
        env={"OVERDUE_FSM_STORE": missing},
    )
    [ask] = fail_closed.task("ask")
    assert ask["status"] in ("failed", "ignored") and "no store at" in ask["msg"]


@pytest.mark.parametrize("given", ["sqlite:///relative.db", "relative.db"])
def test_a_relative_store_is_an_error_naming_the_absolute_form(
    playbook: Any, tmp_path: Path, given: str
) -> None:
    run = playbook(
        """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: look
      overdue.emr.cluster_phase:
        cluster_id: c-1
        billing: pay_as_you_go
      ignore_errors: true
""",
        env={"OVERDUE_FSM_STORE": given},
        cwd=tmp_path,
    )
    [look] = run.task("look")
    assert look["status"] in ("failed", "ignored")
    assert f"sqlite://{tmp_path}/relative.db" in look["msg"], look["msg"]
    assert list(tmp_path.glob("relative.db*")) == []
