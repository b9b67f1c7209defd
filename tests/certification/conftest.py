"""Fixtures of the certification tests: the built tarball, and the tools the importers use.

The tools (galaxy-importer with its ansible-lint, antsibull-docs with Sphinx, ansible-builder,
build and twine) pin versions of their own, so each lives in its own venv under ``.tools/``,
made by ``make tools`` from ``tools/NAME.txt``. Without that venv a test skips and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools"
BIN = Path(sys.executable).parent


def tool(name: str) -> Path:
    """The bin/ of the tool venv ``.tools/NAME``, or skip saying how to make it."""
    bin_dir = TOOLS / name / "bin"
    if not (TOOLS / name / ".stamp").is_file():
        pytest.skip(f"needs the {name} venv .tools/{name}: run `make tools` (make test does)")
    return bin_dir


def run(
    *args: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: int = 600,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def tool_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment with ``bin_dir`` first on PATH and no ANSIBLE_* of the user."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "OVERDUE_FSM_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tarball ``ansible-galaxy collection build`` makes of this checkout (once a worker)."""
    out = tmp_path_factory.mktemp("dist")
    env = tool_env(BIN, ANSIBLE_HOME=str(out / "ansible-home"))
    done = run(BIN / "ansible-galaxy", "collection", "build", "--output-path", out, REPO, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    [built] = out.glob("overdue-emr-*.tar.gz")
    return built


@pytest.fixture(scope="session")
def extracted(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tarball's content at COLLECTIONS/ansible_collections/overdue/emr, as importers lay it."""
    root = tmp_path_factory.mktemp("collections")
    dest = root / "ansible_collections" / "overdue" / "emr"
    dest.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter="data")
    return dest


@pytest.fixture(scope="session")
def installed(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collections path on which ``ansible-galaxy collection install TARBALL`` put overdue.emr."""
    root = tmp_path_factory.mktemp("installed")
    env = tool_env(BIN, ANSIBLE_HOME=str(root / "ansible-home"), ANSIBLE_COLLECTIONS_PATH=str(root))
    done = run(
        BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", root, tarball, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "ansible_collections" / "overdue" / "emr" / "MANIFEST.json").is_file()
    return root
