"""The collection as users get it: ansible-doc renders it, the built tarball installs and runs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import BIN, REPO

pytestmark = [pytest.mark.ansible, pytest.mark.slow]


def _run(*args: str, env: dict[str, str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("overdue.emr.cluster_phase",),
            (
                "> MODULE overdue.emr.cluster_phase",
                "OPTIONS",
                "require",
                "EXAMPLES",
                "RETURN VALUES",
            ),
        ),
        (
            ("overdue.emr.export_configs",),
            ("> MODULE overdue.emr.export_configs", "export_mode", "diff_mode", "RETURN VALUES"),
        ),
        (
            ("-t", "lookup", "overdue.emr.allowed"),
            ("> LOOKUP overdue.emr.allowed", "operation", "OVERDUE_FSM_STORE", "EXAMPLES"),
        ),
        (
            ("-t", "lookup", "overdue.emr.phase"),
            ("> LOOKUP overdue.emr.phase", "details", "section: overdue_emr", "EXAMPLES"),
        ),
        (
            ("-t", "inventory", "overdue.emr.clusters"),
            ("> INVENTORY overdue.emr.clusters", "keyed_groups", "compose", "EXAMPLES"),
        ),
    ],
)
def test_ansible_doc_renders_every_plugin(
    ansible_env: dict[str, str], args: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    done = _run("ansible-doc", *args, env=ansible_env)
    assert done.returncode == 0, done.stderr
    assert "[WARNING]" not in done.stderr and "[ERROR]" not in done.stderr
    for text in expected:
        assert text in done.stdout, text


def test_ansible_doc_lists_the_collection(ansible_env: dict[str, str]) -> None:
    for kind, names in (
        ("module", ["overdue.emr.cluster_phase", "overdue.emr.export_configs", "overdue.emr.sync"]),
        ("lookup", ["overdue.emr.allowed", "overdue.emr.cluster_of", "overdue.emr.phase"]),
        ("inventory", ["overdue.emr.clusters"]),
    ):
        done = _run("ansible-doc", "-t", kind, "-l", "overdue.emr", env=ansible_env)
        assert done.returncode == 0, done.stderr
        assert sorted(line.split()[0] for line in done.stdout.splitlines() if line) == names


def test_the_built_collection_installs_into_an_empty_path_and_runs_the_demo(
    ansible_env: dict[str, str], tmp_path: Path, playbook: Any
) -> None:
    # Nothing of the checkout is on the collections path: only what the tarball installs.
    env = {
        k: v
        for k, v in ansible_env.items()
        if k not in ("ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH")
    }
    built = _run(
        "ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(REPO), env=env
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [tarball] = tmp_path.glob("overdue-emr-*.tar.gz")
    listing = subprocess.run(
        ["tar", "tzf", str(tarball)], capture_output=True, text=True, check=True
    ).stdout
    names = set(listing.split())
    assert {
        "MANIFEST.json",
        "plugins/modules/cluster_phase.py",
        "playbooks/demo.yml",
        "LICENSE",
        "COPYING",  # the plugins' headers point to it; it points to LICENSE
        "CHANGELOG.md",
        "changelogs/changelog.yaml",
        "docs/docsite/links.yml",
        "docs/docsite/extra-docs.yml",
        "docs/docsite/rst/guide_guard.rst",
        "docs/docsite/rst/guide_sync.rst",
        "meta/execution-environment.yml",
        "requirements.txt",
        "tests/config.yml",
    } <= names
    # Of tests/ only ansible-test's config ships: a new folder of pytest suites must be added to
    # galaxy.yml's build_ignore.
    unwanted = ("fsm/", "tests/", "benchmarks/", "tools/", ".", "pyproject.toml", "Makefile")
    shipped = [n for n in names if n.startswith(unwanted) or n.endswith(".pyc")]
    assert sorted(shipped) == ["tests/", "tests/config.yml"]

    installed = tmp_path / "collections"
    done = _run(
        "ansible-galaxy", "collection", "install", "-p", str(installed), str(tarball), env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    target = installed / "ansible_collections" / "overdue" / "emr"
    assert (target / "plugins" / "action" / "cluster_phase.py").is_file()
    assert not target.is_symlink()

    plain = tmp_path / "ansible.cfg"
    plain.write_text("[defaults]\n")
    env.update(
        ANSIBLE_CONFIG=str(plain),
        ANSIBLE_COLLECTIONS_PATH=str(installed),
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_LOCALHOST_WARNING="False",
    )
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    run = playbook("overdue.emr.demo", env=env, now=None, cwd=empty)
    assert run.rc == 0, run.output
    gate = "Require submit_task (expected to fail on c-demo-restricted; rescued below)"
    assert run.statuses(gate)["c-demo-restricted"] == "failed"
    assert "gate closed on c-demo-restricted: submit_task (task) is denied" in run.stdout
