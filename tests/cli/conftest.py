"""Fixtures of the command-line suite."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default store (OVERDUE_FSM_STORE) of every command: a file not created yet."""
    path = tmp_path / "state" / "clusters.db"
    monkeypatch.setenv("OVERDUE_FSM_STORE", f"sqlite:///{path}")
    return path
