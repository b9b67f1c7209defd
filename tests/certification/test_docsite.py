"""The collection's HTML docsite builds from the tarball without a warning, with every page."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, run, tool, tool_env

pytestmark = pytest.mark.slow

PLUGIN_DIRS = {"modules": "module", "lookup": "lookup", "inventory": "inventory"}


def _shipped(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as tar:
        return tar.getnames()


def test_the_docsite_builds_with_a_page_per_plugin_and_guide(tarball: Path, tmp_path: Path) -> None:
    bin_dir = tool("antsibull-docs")
    dest = tmp_path / "docs"
    done = run("bash", REPO / ".ci" / "build_docs.sh", tarball, dest, env=tool_env(bin_dir))
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNING" not in output and "ERROR" not in output, output
    html = dest / "html" / "collections" / "overdue" / "emr"

    names = _shipped(tarball)
    plugins = [
        (Path(n).stem, kind)
        for n in names
        for folder, kind in PLUGIN_DIRS.items()
        if n.startswith(f"plugins/{folder}/") and n.endswith(".py")
    ]
    # Every plugin the collection ships: the modules, lookups and inventory under plugins/.
    expected = {
        (path.stem, kind)
        for folder, kind in PLUGIN_DIRS.items()
        for path in (REPO / "plugins" / folder).glob("*.py")
        if path.stem != "__init__"
    }
    assert set(plugins) == expected and len(expected) >= 5, plugins
    for name, kind in plugins:
        page = html / f"{name}_{kind}.html"
        assert page.is_file(), page
        assert f"overdue.emr.{name}" in page.read_text(encoding="utf-8")

    extra = yaml.safe_load((REPO / "docs" / "docsite" / "extra-docs.yml").read_text())
    guides = [entry for section in extra["sections"] for entry in section["toctree"]]
    titles = {
        "guide_guard": "Guard fee-generating work by phase",
        "guide_sync": "Keep phases true with a scheduled sync",
    }
    assert sorted(guides) == sorted(titles)
    index = (html / "index.html").read_text(encoding="utf-8")
    for guide in guides:
        assert f"docs/docsite/rst/{guide}.rst" in names
        page = html / "docsite" / f"{guide}.html"
        assert titles[guide] in page.read_text(encoding="utf-8")
        assert titles[guide] in index
