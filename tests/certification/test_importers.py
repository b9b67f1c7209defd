"""What Galaxy and Automation Hub run on the uploaded tarball, each at zero errors and warnings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import run, tool, tool_env

pytestmark = pytest.mark.slow


def test_galaxy_importer_accepts_the_tarball_with_no_warning(tarball: Path, tmp_path: Path) -> None:
    bin_dir = tool("galaxy-importer")
    env = tool_env(
        bin_dir,
        # ansible-test sanity is the job of `make ansible-sanity`; everything else runs as on Galaxy
        GALAXY_IMPORTER_RUN_ANSIBLE_TEST="false",
        GALAXY_IMPORTER_RUN_ANSIBLE_LINT="true",
        GALAXY_IMPORTER_CHECK_CHANGELOG="true",
        GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP=str(tmp_path / "ansible-tmp"),
    )
    done = run(bin_dir / "python", "-m", "galaxy_importer.main", tarball, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "Importer processing completed successfully" in lines
    assert any(line.startswith("Linting collection via ansible-lint") for line in lines)
    assert [line for line in lines if line.startswith(("WARNING", "ERROR"))] == []

    result = json.loads((tmp_path / "importer_result.json").read_text())
    assert result["requires_ansible"] == ">=2.18.0"
    contents = {(c["content_type"], c["name"]) for c in result["contents"]}
    assert {
        ("module", "cluster_phase"),
        ("module", "sync"),
        ("lookup", "phase"),
        ("lookup", "allowed"),
        ("inventory", "clusters"),
        ("playbook", "sync_and_guard.yml"),
    } <= contents
    assert result["docs_blob"]["collection_readme"]["name"] == "README.md"


def test_ansible_lint_production_passes_over_the_whole_collection(extracted: Path) -> None:
    """As galaxy-importer runs it (collection on ANSIBLE_COLLECTIONS_PATH), minus its -x list."""
    bin_dir = tool("galaxy-importer")
    collections = extracted.parents[2]
    env = tool_env(
        bin_dir,
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_LINT_SKIP_SCHEMA_UPDATE="1",
        XDG_CACHE_HOME=str(collections / "cache"),
        NO_COLOR="1",
    )
    done = run(
        bin_dir / "ansible-lint", "--profile", "production", "--offline", "--nocolor",
        env=env, cwd=extracted,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "0 failure(s), 0 warning(s)" in output
    assert "Profile 'production' was required, and it passed" in output
    assert "duplicate" not in output.lower()
    processed = re.search(r"in (\d+) files processed", output)
    assert processed and int(processed[1]) >= 25, output  # the playbooks, meta, docs, changelogs


def test_antsibull_docs_lint_finds_nothing_in_extra_docs_and_plugin_docs(extracted: Path) -> None:
    bin_dir = tool("antsibull-docs")
    env = tool_env(bin_dir, ANSIBLE_COLLECTIONS_PATH=str(extracted.parents[2]))
    done = run(
        bin_dir / "antsibull-docs", "lint-collection-docs", "--plugin-docs", extracted, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == ""
