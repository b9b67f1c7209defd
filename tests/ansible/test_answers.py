"""Every answer of the collection says why (issue "every answer says why"), from a real run."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import BIN, NOW, REPO

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


# One task on localhost that looks at c-1; the tests add its last lines.
LOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: look
      overdue.emr.cluster_phase:
        cluster_id: c-1
        billing: pay_as_you_go
"""


def test_entered_names_a_timed_step_even_when_nothing_was_recorded(playbook: Any) -> None:
    """``entered``: the phases entered since the store last evaluated the cluster (documented)."""
    task = LOOK + "        balance: -1\n"
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
        LOOK + "      ignore_errors: true\n",
        env={"OVERDUE_FSM_STORE": given},
        cwd=tmp_path,
    )
    [look] = run.task("look")
    assert look["status"] in ("failed", "ignored")
    assert f"sqlite://{tmp_path}/relative.db" in look["msg"], look["msg"]
    assert list(tmp_path.glob("relative.db*")) == []


# -- item 6: the examples run as written, on today's date -----------------------------------

RUNNABLE = ("ansible.builtin.", "overdue.emr.")


def _examples(path: str) -> str:
    """The EXAMPLES string of a plugin, read without importing it."""
    tree = ast.parse((REPO / path).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "EXAMPLES":
            return str(ast.literal_eval(node.value))
    raise AssertionError(f"{path} has no EXAMPLES")


def test_the_cluster_phase_examples_run_as_written_today(playbook: Any) -> None:
    """Every task of EXAMPLES, on the wall clock; a module of another collection (the mail
    notification) becomes a debug with the same ``when``, so its condition is still tested."""
    tasks = yaml.safe_load(_examples("plugins/modules/cluster_phase.py"))
    for task in tasks:
        module = next(k for k in task if k not in ("name", "when", "register", "loop"))
        if not module.startswith(RUNNABLE):
            del task[module]
            task["ansible.builtin.debug"] = {"msg": f"{module} would run"}
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}]
    run = playbook(yaml.safe_dump(play, sort_keys=False) + "\n", now=None)
    assert run.rc == 0, run.output
    statuses = [e["status"] for e in run.events]
    assert statuses.count("failed") == 0 and "skipped" not in statuses, statuses
    first = run.events[0]["result"]
    assert first["phase"] == "overdue_grace" and first["entered"] == ["overdue_grace"]


def test_the_inventory_doomed_example_groups_a_cluster_observed_now(
    tmp_path: Path, ansible_env: dict[str, str]
) -> None:
    """The example's ``doomed`` group parses deadlines with '%Y-%m-%dT%H:%M:%SZ'."""
    examples = _examples("plugins/inventory/clusters.py")
    prod = examples.split("# prod.overdue_clusters.yml")[1].split("\n# synced")[0].split("\n---")[0]
    source = tmp_path / "inventory" / "prod.overdue_clusters.yml"
    source.parent.mkdir()
    source.write_text("# prod" + prod)
    policy = tmp_path / "short.yml"  # data deleted 5 days after the balance went negative
    policy.write_text("grace: 1h\nrestrict_after: 2d\npurge_after: 5d\n")
    env = dict(ansible_env, OVERDUE_FSM_POLICY=str(policy))
    env.pop("OVERDUE_FSM_STORE")
    env.pop("OVERDUE_FSM_NOW", None)
    store = f"sqlite://{tmp_path}/state/fleet.sqlite"  # where the example's store points
    observe = [str(BIN / "overdue-fsm"), "observe", "c-doomed", "--store", store]
    subprocess.run(
        [*observe, "--billing", "PayAsYouGo", "--account", "team-data", "--balance", "-1"],
        env=env,
        check=True,
        capture_output=True,
    )
    listed = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(source), "--list"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    groups = json.loads(listed.stdout)
    assert groups.get("doomed", {}).get("hosts") == ["c-doomed"], listed.stdout + listed.stderr


# -- item 11: the docs say what the code does ---------------------------------------------------

CURRENT_RULES = (
    "https://www.alibabacloud.com/help/en/emr/emr-on-ecs/product-overview/description-of-arrears"
)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("module", "overdue.emr.cluster_phase"),
        ("module", "overdue.emr.sync"),
        ("lookup", "overdue.emr.allowed"),
        ("lookup", "overdue.emr.phase"),
        ("inventory", "overdue.emr.clusters"),
    ],
)
def test_ansible_doc_links_the_current_rules_and_says_store_none_only_where_accepted(
    ansible_env: dict[str, str], kind: str, name: str
) -> None:
    shown = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", kind, name, "--json"],
        env=ansible_env,
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(shown.stdout)[name]["doc"]
    links = [entry.get("link") for entry in doc.get("seealso", []) if entry.get("link")]
    assert links == [CURRENT_RULES]
    text = json.dumps(doc)
    stateless = "stateless" in text
    refused = "O(store=none) is not accepted" in text
    assert stateless != refused, (stateless, refused)  # one or the other, never both
    assert refused == (name in ("overdue.emr.sync", "overdue.emr.clusters"))
