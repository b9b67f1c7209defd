"""What a guard loads in a forked Ansible worker: only what answering needs (behaviour, not
timing).

Under a user's own (static) inventory no overdue.emr plugin runs in ansible-playbook's main
process, so every forked worker imports what ``lookup('overdue.emr.allowed', ...)`` needs
itself, once per host: a stateless answer loads no store, and an answer read from a store
loads none of what only a write, a listing or the command line uses.
"""

from __future__ import annotations

import os
from pathlib import Path

from .conftest import NOW, record
from .option_definitions import probe

# Never loaded by a lookup that reads one cluster (nor by a stateless one).
WRITE_OR_LIST = (
    "fsm.store.results",  # what a write or a listing hands back
    "fsm.store.postgres",  # the other engine
    "fsm.warnings",  # deadline warnings and their ledger
    "fsm.observations",  # what was observed: a write, or a stateless lookup given facts
    "fsm.policy_yaml",  # a policy file (none is given here)
    "fsm.sources",
    "fsm.sync",
    "fsm.cli",
    "fsm.diagram",
    "transitions.extensions",
)
# Never loaded by a guard that reads a phase from an SQLite store: the store's write path,
# its other readers and the machine (the phase is replayed on the lifecycle's tables).
READ_NEVER = (
    *WRITE_OR_LIST,
    "fsm.store.base",
    "fsm.store.sqlite",
    "fsm.store.plan",
    "fsm.store.ledger",
    "fsm.store.transaction",
    "fsm.lifecycle",
    "fsm.machine",
)
# Never loaded by a stateless lookup.
STORE = ("fsm.store", "sqlite3")


def _loaded_after_lookups(
    collections_path: Path, calls: list[dict[str, object]], env: dict[str, str]
) -> list[str]:
    """The fsm, sqlite3 and transitions modules loaded after ``calls`` of the allowed lookup,
    in a fresh interpreter (each call: the kwargs of one lookup of cluster ``c-1``)."""
    loaded = probe(
        collections_path,
        f"""
        for kwargs in {calls!r}:
            answer = lookup_loader.get("overdue.emr.allowed").run(["c-1"], variables={{}}, **kwargs)
            assert answer in ([True], [False]), answer
        print(json.dumps(sorted(m for m in sys.modules
                                if m.split(".")[0] in ("fsm", "sqlite3", "transitions"))))
        """,
        env,
    )
    return list(loaded)


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OVERDUE_FSM_")}
    env.update(extra)
    return env


STATELESS = {
    "operation": "scale_out",
    "store": "none",
    "billing": "pay_as_you_go",
    "now": NOW,
}


def test_a_stateless_guard_loads_no_store(collections_path: Path) -> None:
    loaded = _loaded_after_lookups(collections_path, [STATELESS], _env())
    assert "fsm.lifecycle" in loaded  # it did evaluate the cluster
    assert not [name for name in loaded if name.startswith(STORE) or name in WRITE_OR_LIST]


def test_a_guard_reading_the_store_loads_nothing_of_writes(
    collections_path: Path, store_url: str
) -> None:
    record(store_url, "c-1", billing="pay_as_you_go", balance="-3", at="2026-01-01T00:00:00Z")
    calls = [STATELESS, {"operation": "scale_out", "now": NOW}]
    loaded = _loaded_after_lookups(collections_path, calls, _env(OVERDUE_FSM_STORE=store_url))
    assert {"fsm.store", "fsm.store.read", "fsm.lifecycle"} <= set(loaded)
    assert not [name for name in loaded if name in WRITE_OR_LIST or name.startswith("fsm.sources")]
    # The phase is read and replayed without the store's write path or the machine: the
    # stateless call loaded the machine, so check a store's guard on its own.
    alone = _loaded_after_lookups(collections_path, calls[1:], _env(OVERDUE_FSM_STORE=store_url))
    assert "fsm.store.read" in alone
    assert not [name for name in alone if name in READ_NEVER or name.startswith("transitions")]
