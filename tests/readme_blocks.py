"""The README's generated blocks: the diagram and the lifecycle tables.

`make readme` rewrites them from the engine; tests/test_readme.py fails when the
README's copy differs from what `overdue-fsm diagram` / `overdue-fsm tables` print.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from fsm.diagram import mermaid
from fsm.docs import all_tables

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(
    r"(<!-- BEGIN generated: (?P<name>[a-z]+) -->\n)"
    r"(?P<body>.*?)"
    r"(<!-- END generated: (?P=name) -->)",
    re.DOTALL,
)


def expected_blocks() -> dict[str, str]:
    return {"diagram": f"```mermaid\n{mermaid()}```\n", **all_tables()}


def current_blocks(text: str) -> dict[str, str]:
    return {match["name"]: match["body"] for match in BLOCK.finditer(text)}


def rewrite(text: str) -> str:
    blocks = expected_blocks()
    return BLOCK.sub(lambda m: m.group(1) + blocks[m["name"]] + m.group(4), text)


if __name__ == "__main__":
    if "--write" in sys.argv:
        README.write_text(rewrite(README.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        sys.stdout.write(rewrite(README.read_text(encoding="utf-8")))
