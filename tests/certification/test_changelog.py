"""After the 0.1.0 release, a fragment added for a later change lints and stays out of the build."""

from __future__ import annotations

import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from .conftest import REPO, run, tool_env

BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "fragment",
    [
        "---\nbugfixes:\n  - phase lookup - a fix after 0.1.0.\n",
        "bugfixes:\n- phase lookup - a fix after 0.1.0, written without indentation.\n",
    ],
)
def test_a_fragment_added_after_the_release_lints(tmp_path: Path, fragment: str) -> None:
    if not (BIN / "antsibull-changelog").exists():
        pytest.skip("needs antsibull-changelog in the project's venv: run `make test`")
    copy = tmp_path / "collection"
    copy.mkdir()
    shutil.copy(REPO / "galaxy.yml", copy)
    shutil.copytree(REPO / "changelogs", copy / "changelogs")
    (copy / "changelogs" / "fragments" / "later-fix.yml").write_text(fragment)
    done = run(BIN / "antsibull-changelog", "lint", env=tool_env(BIN), cwd=copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == ""


def test_the_tarball_ships_the_released_changelog_and_no_fragment(tarball: Path) -> None:
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "changelogs/changelog.yaml" in names and "CHANGELOG.md" in names
    assert not [n for n in names if n.startswith("changelogs/fragments")]
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("changelogs/changelog.yaml")
        assert member is not None
        assert "0.1.0:" in member.read().decode()
