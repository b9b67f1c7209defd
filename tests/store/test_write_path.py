"""What ``fsm.store.load_write_path`` promises: after it, a first write imports no more of fsm.

The ``clusters`` inventory calls it in Ansible's main process so that each forked
worker inherits the write path instead of importing it (benchmarks/playbook.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
import fsm
from fsm.store import load_write_path, open_store
url = sys.argv[1]
with open_store(url) as store:
    list(store.clusters())
    if sys.argv[2] == "warm":
        load_write_path()
    before = set(sys.modules)
    store.observe("c-2", fsm.Observation.create(balance="-3.50"), billing="pay_as_you_go")
    new = set(sys.modules) - before
    print(json.dumps(sorted(m for m in new if m.split(".")[0] in ("fsm", "decimal"))))
"""


def _new_modules(url: str, mode: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, url, mode], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def test_a_first_write_after_load_write_path_imports_nothing_more(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/clusters.db"
    from fsm import Observation
    from fsm.store import open_store

    with open_store(url) as store:
        store.observe("c-1", Observation.create(balance="1.00"), billing="pay_as_you_go")
    # Without it a first write imports more (so the check below can fail)...
    assert _new_modules(url, "cold")
    # ...with it, nothing.
    assert _new_modules(url, "warm") == []
