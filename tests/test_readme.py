"""The README shows what the engine does: its generated blocks are current."""

from __future__ import annotations

import subprocess
import sys

from tests.readme_blocks import README, current_blocks, expected_blocks


def test_readme_has_every_generated_block() -> None:
    blocks = current_blocks(README.read_text(encoding="utf-8"))
    assert set(blocks) == set(expected_blocks())


def test_readme_blocks_match_the_engine() -> None:
    blocks = current_blocks(README.read_text(encoding="utf-8"))
    for name, body in expected_blocks().items():
        assert blocks.get(name) == body, f"README block {name!r} is stale: run `make readme`"


def test_readme_diagram_is_what_the_command_prints() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "fsm.cli", "diagram"], check=True, capture_output=True, text=True
    ).stdout
    blocks = current_blocks(README.read_text(encoding="utf-8"))
    assert blocks["diagram"] == f"```mermaid\n{printed}```\n"
