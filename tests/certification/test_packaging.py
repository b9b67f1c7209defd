"""What users install: the EE's Python requirements, the sample EE, and the sdist and wheel."""

from __future__ import annotations

import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from .conftest import REPO, run, tool, tool_env

pytestmark = pytest.mark.slow


def test_ansible_builder_introspect_lists_the_package_with_both_extras(installed: Path) -> None:
    bin_dir = tool("ansible-builder")
    done = run(
        bin_dir / "ansible-builder", "introspect", "--sanitize", installed, env=tool_env(bin_dir)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "overdue-fsm[aliyun,postgres]>=0.1.0  # from collection overdue.emr" in done.stdout
    assert "<" not in done.stdout.split("python:")[1].split("system:")[0]  # no upper bound


def test_the_sample_execution_environment_definition_is_valid(tmp_path: Path) -> None:
    bin_dir = tool("ansible-builder")
    sample = REPO / "docs" / "execution-environment" / "execution-environment.yml"
    context = tmp_path / "context"
    done = run(
        bin_dir / "ansible-builder", "create", "--file", sample, "--context", context,
        env=tool_env(bin_dir), cwd=sample.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [build_file] = [p for p in context.iterdir() if p.name in ("Containerfile", "Dockerfile")]
    containerfile = build_file.read_text()
    assert 'EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert 'PYCMD="/usr/bin/python3.11"' in containerfile
    assert "ansible-core>=2.18" in containerfile
    requirements = context / "_build" / "requirements.yml"
    assert "overdue.emr" in requirements.read_text()


def test_sdist_and_wheel_carry_the_license_and_pass_twine_check(tmp_path: Path) -> None:
    bin_dir = tool("build")
    out = tmp_path / "dist"
    done = run(
        bin_dir / "python", "-m", "build", "--no-isolation", "--outdir", out, REPO,
        env=tool_env(bin_dir),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [sdist] = out.glob("overdue_fsm-*.tar.gz")
    [wheel] = out.glob("overdue_fsm-*-py3-none-any.whl")
    checked = run(bin_dir / "twine", "check", "--strict", sdist, wheel, env=tool_env(bin_dir))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2, checked.stdout

    license_text = (REPO / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in license_text and "Version 3" in license_text
    base = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as tar:
        member = tar.extractfile(f"{base}/LICENSE")
        assert member is not None and member.read().decode() == license_text
    with zipfile.ZipFile(wheel) as whl:
        dist_info = next(n.split("/")[0] for n in whl.namelist() if ".dist-info/" in n)
        assert whl.read(f"{dist_info}/licenses/LICENSE").decode() == license_text
        metadata = Parser().parsestr(whl.read(f"{dist_info}/METADATA").decode())
        assert metadata["License-Expression"] == "GPL-3.0-or-later"
        assert metadata.get_all("License-File") == ["LICENSE"]
        assert metadata.get_all("Requires-Dist") is not None
        assert any('extra == "aliyun"' in r for r in metadata.get_all("Requires-Dist"))
        assert "fsm/__init__.py" in whl.namelist()
