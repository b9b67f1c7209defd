"""The README's examples run as written, on today's date (issue "every answer says why")."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```\n", re.DOTALL | re.MULTILINE)


def blocks(lang: str) -> list[str]:
    return [m["body"] for m in FENCE.finditer(README.read_text()) if m["lang"] == lang]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh default store, and the README's policy file as overdue-policy.yml here."""
    for name in list(os.environ):
        if name.startswith("OVERDUE_FSM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    [policy] = [b for b in blocks("yaml") if b.startswith("grace:")]
    (tmp_path / "overdue-policy.yml").write_text(policy)
    return tmp_path


def test_the_python_examples_run_in_order_and_show_a_policy(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fsm

    namespace: dict[str, object] = {}
    for block in blocks("python"):
        exec(compile(block, "README.md", "exec"), namespace)  # our own README
    assert (home / "state" / "overdue-fsm" / "clusters.db").exists()
    # A policy loaded from a file and passed in, with an effect the defaults do not have.
    assert isinstance(namespace.get("policy"), fsm.Policy)
    assert namespace["policy"] != fsm.Policy.default()
    assert "deny" in capsys.readouterr().out.splitlines()  # the policy example's own line


def test_the_readme_says_the_sync_needs_credentials_even_against_the_fake() -> None:
    from tests.aliyun.fake_endpoint import sync_command

    text = " ".join(README.read_text().split())
    assert sync_command(8765, "cn-hangzhou") in text
    assert "needs credentials even against the fake" in text


def test_the_stateless_command_lines_print_what_the_readme_shows(home: Path) -> None:
    [shown] = [b for b in blocks("sh") if b.startswith("$ overdue-fsm status")]
    command, *expected = shown.split("\n\n")[0].splitlines()
    done = subprocess.run(
        shlex.split(command.removeprefix("$ ")),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected


def test_the_command_line_examples_with_a_store_run_as_written(home: Path) -> None:
    """Each line exits 0 (done, allowed) or 1 (denied), never 2 or 3, and prints no traceback."""
    [stateful] = [b for b in blocks("sh") if b.startswith("overdue-fsm observe c-1")]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    for line in stateful.splitlines():
        command = line.split("  #")[0].replace("&& submit-my-job", "").strip()
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, check=False, env=env
        )
        assert done.returncode in (0, 1), (command, done.stderr)
        assert "Traceback" not in done.stderr
