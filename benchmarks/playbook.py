"""How much overdue.emr adds to a playbook run, against the same play without it.

Plays over 200 hosts (``connection: local``), one host per cluster of a 200-cluster
SQLite store:

1. guard: a task with ``when: lookup('overdue.emr.allowed', inventory_hostname,
   operation='scale_out')`` against the same task with ``when:
   lookup('ansible.builtin.env', 'HOME') | length > 0`` (target ratio <= 1.15);
2. module: ``overdue.emr.cluster_phase`` per host against ``ansible.builtin.set_fact``
   (target ratio <= 1.3).

Each pair runs with the hosts listed by the overdue.emr.clusters inventory (forks 5;
wall-time target, as it always had), and the guard also with the same hosts in a static
INI file, forks 5 and 20: no overdue.emr plugin then runs in the controller's main process
before the workers fork, so each forked worker imports what the lookup needs itself. Its
target is on CPU time (ansible-playbook and its forked workers, steadier than wall time on
a busy machine); both are printed for every pair. The static guard has a bound too: a
lookup doing only what no guard that reads the store can skip in a forked worker (import
sqlite3, open the store, run the reader's statement), against the same ``env`` play.

Both sides of a pair run alternately (benchmarks/rounds.py), each run a real
``ansible-playbook``. It is a benchmark, not a test: it exits 0 unless a run fails.

    .venv/bin/python benchmarks/playbook.py [--hosts 200] [--rounds 3]
        [--inventory plugin|static|both] [--pair guard|module|all] [--forks 5,20]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rounds import Row, alternate, print_rows

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-03-01T00:00:00Z"
TARGETS = {"guard": 1.15, "module": 1.3}
INVENTORIES = {"plugin": "fleet.overdue_clusters.yml", "static": "hosts.ini"}

GUARD_OURS = "lookup('overdue.emr.allowed', inventory_hostname, operation='scale_out')"
GUARD_BASE = "lookup('ansible.builtin.env', 'HOME') | length > 0"

PLAY = """\
- name: Benchmark
  hosts: all
  gather_facts: false
  tasks:
    - name: The task
{task}
"""
DEBUG = "      ansible.builtin.debug:\n        msg: scale out\n      when: "
# The guard's bound under a static inventory: a lookup of a benchmark-only collection that
# does only what no store-reading guard can skip in a forked worker (import sqlite3, open
# the store as fsm.store.read opens it, run the reader's one statement for the host).
BOUND_TASK = "guard-store_row"
TASKS = {
    "guard-env": DEBUG + GUARD_BASE,
    "guard-overdue": DEBUG + GUARD_OURS,
    BOUND_TASK: DEBUG + "lookup('bench.floor.store_row', inventory_hostname)",
    "module-set_fact": (
        "      ansible.builtin.set_fact:\n        cluster: '{{ inventory_hostname }}'"
    ),
    "module-cluster_phase": (
        "      overdue.emr.cluster_phase:\n        cluster_id: '{{ inventory_hostname }}'"
    ),
}
BOUND_PLUGIN = """\
from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        import sqlite3

        conn = sqlite3.connect({uri!r}, uri=True, isolation_level=None)
        try:
            conn.execute("PRAGMA query_only = ON")
            return [bool(conn.execute({sql!r}, (str(terms[0]),)).fetchall())]
        finally:
            conn.close()
"""

PAIRS = {
    "guard": ("guard-env", "guard-overdue"),
    "module": ("module-set_fact", "module-cluster_phase"),
}


def build(work: Path, hosts: int) -> dict[str, str]:
    """The store, the collection link, both inventories and the plays; returns the environment."""
    import fsm
    from fsm.store import open_store
    from fsm.store.read import state_statement
    from fsm.store.schema import SCHEMA_VERSION
    from fsm.store.sqlite_file import reader_mode

    store = work / "clusters.db"
    with open_store("sqlite://" + str(store)) as db:
        for index in range(hosts):
            # Every cluster went through an overdue episode of 1 to 30 days and was recharged,
            # so both sides run the task on every host (a skip would make ours look cheaper).
            cluster_id = f"c-{index:04d}"
            since = 1767225600 + (index % 30) * 3600  # 2026-01-01, staggered by the hour
            back = since + (1 + index % 30) * 86400
            for seen in (
                fsm.Observation.create(at=since, balance="-11.19", overdue_since=since),
                fsm.Observation.create(at=back, balance="120.50"),
            ):
                db.observe(
                    cluster_id, seen, billing="pay_as_you_go", account=f"acct-{index % 7}", now=NOW
                )

    link = work / "collections" / "ansible_collections" / "overdue"
    link.mkdir(parents=True)
    (link / "emr").symlink_to(ROOT)
    floor = work / "collections" / "ansible_collections" / "bench" / "floor"
    (floor / "meta").mkdir(parents=True)
    (floor / "meta" / "runtime.yml").write_text('requires_ansible: ">=2.15"\n')
    (floor / "plugins" / "lookup").mkdir(parents=True)
    (floor / "plugins" / "lookup" / "store_row.py").write_text(
        BOUND_PLUGIN.format(
            uri=f"file:{quote(str(store))}?mode={reader_mode(store)}",
            sql=state_statement(SCHEMA_VERSION),
        )
    )

    python = sys.executable
    (work / INVENTORIES["plugin"]).write_text(
        "plugin: overdue.emr.clusters\n"
        "compose:\n"
        "  ansible_connection: \"'local'\"\n"
        f"  ansible_python_interpreter: \"'{python}'\"\n"
    )
    names = "\n".join(f"c-{index:04d}" for index in range(hosts))
    (work / INVENTORIES["static"]).write_text(
        f"[fleet]\n{names}\n\n[fleet:vars]\n"
        f"ansible_connection=local\nansible_python_interpreter={python}\n"
    )
    (work / "ansible.cfg").write_text(
        "[defaults]\n"
        f"collections_path = {work / 'collections'}\n"
        "host_key_checking = False\n"
        "retry_files_enabled = False\n"
    )
    for name, task in TASKS.items():
        (work / f"{name}.yml").write_text(PLAY.format(task=task))

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ANSIBLE_", "OVERDUE_FSM_")) and key != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        ANSIBLE_CONFIG=str(work / "ansible.cfg"),
        OVERDUE_FSM_STORE="sqlite://" + str(store),
        PATH=f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    # No OVERDUE_FSM_NOW: the plays read at the clock's now, as a user's do. Pinned, every
    # lookup and module says so in a warning of its own (a user never sees one), which Ansible
    # carries from each worker to the main process: about 1.5 ms a host measured on the guard.
    # Every cluster was recharged long before, so the phase at any later now is the same.
    return env


# A user's installed package has its .pyc files: PYTHONDONTWRITEBYTECODE is dropped from
# the runs' environment (above), so no timed run compiles fsm from source (the untimed
# warm-up run of each side writes what is missing).


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(
    work: Path, env: dict[str, str], name: str, hosts: int, inventory: str, forks: int
) -> tuple[float, float]:
    """Wall time and CPU time (ansible-playbook and its workers) of one run."""
    playbook = Path(sys.executable).parent / "ansible-playbook"
    command = [str(playbook), "-i", str(work / INVENTORIES[inventory]), "-f", str(forks)]
    cpu = _cpu()
    start = time.perf_counter()
    done = subprocess.run(
        [*command, str(work / f"{name}.yml")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    cpu = _cpu() - cpu
    recap = done.stdout[done.stdout.rfind("PLAY RECAP") :]
    failed = sum(int(n) for n in re.findall(r"failed=(\d+)", recap))
    skipped = sum(int(n) for n in re.findall(r"skipped=(\d+)", recap))
    seen = len(re.findall(r"^\S+\s+: ok=", recap, re.M))
    if done.returncode != 0 or failed or skipped or seen != hosts:
        # A skipped host would make a side look cheaper: both run the task on every host.
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(
            f"{name}: ansible-playbook failed (rc {done.returncode}, {seen} hosts, "
            f"{skipped} skipped)"
        )
    return elapsed, cpu


def pair_rows(
    work: Path,
    env: dict[str, str],
    pair: str,
    *,
    hosts: int,
    inventory: str,
    forks: int,
    rounds: int,
) -> list[Row]:
    """The CPU row and the wall row of one pair, from the same alternating runs.

    The target is on wall time with the clusters inventory (as it always was) and on CPU
    time with the static one (where the workers' own imports are what is measured).
    """
    base, ours = PAIRS[pair]
    walls: dict[str, list[float]] = {base: [], ours: []}

    def side(name: str) -> float:
        elapsed, used = run(work, env, name, hosts, inventory, forks)
        walls[name].append(elapsed)
        return used

    label = f"{pair}, {inventory} inventory, forks {forks}"
    on_cpu = inventory == "static"
    cpu = alternate(
        f"{label}: cpu",
        floor=lambda: side(base),
        measured=lambda: side(ours),
        rounds=rounds,
        target=TARGETS[pair] if on_cpu else None,
        floor_name=base,
    )
    # The warm-up runs (the first of each side) are not timed figures.
    base_walls, our_walls = walls[base][1:], walls[ours][1:]
    wall = Row(
        f"{label}: wall",
        statistics.median(our_walls),
        statistics.median(base_walls),
        target=None if on_cpu else TARGETS[pair],
        floor_name=base,
        runs=tuple(our_walls),
        floor_runs=tuple(base_walls),
    )
    rows = [cpu, wall]
    if on_cpu and pair == "guard":
        # What any guard reading the store costs in a forked worker (see BOUND_TASK).
        rows.append(
            alternate(
                "  ... bound: sqlite3 and the reader's statement alone",
                floor=lambda: run(work, env, base, hosts, inventory, forks)[1],
                measured=lambda: run(work, env, BOUND_TASK, hosts, inventory, forks)[1],
                rounds=rounds,
                floor_name=base,
            )
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side (default 3)")
    parser.add_argument("--inventory", choices=(*INVENTORIES, "both"), default="both")
    parser.add_argument("--pair", choices=(*PAIRS, "all"), default="all")
    parser.add_argument(
        "--forks", default="5,20", help="forks of the static-inventory rows (default 5,20)"
    )
    args = parser.parse_args()

    pairs = list(PAIRS) if args.pair == "all" else [args.pair]
    inventories = list(INVENTORIES) if args.inventory == "both" else [args.inventory]
    static_forks = [int(n) for n in args.forks.split(",")]
    with tempfile.TemporaryDirectory(prefix="overdue-bench-") as tmp:
        work = Path(tmp)
        env = build(work, args.hosts)
        print(
            f"{args.hosts} hosts, connection local, {args.rounds} rounds, "
            f"ansible-playbook of {sys.executable}",
            flush=True,
        )
        for inventory in inventories:
            # The static inventory shows what a guard costs a user's own inventory; the
            # module pair needs no second look there (a module runs in the worker either way).
            chosen = [p for p in pairs if inventory == "plugin" or p == "guard"]
            for pair in chosen:
                for forks in static_forks if inventory == "static" else [5]:
                    rows = pair_rows(
                        work,
                        env,
                        pair,
                        hosts=args.hosts,
                        inventory=inventory,
                        forks=forks,
                        rounds=args.rounds,
                    )
                    print_rows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
