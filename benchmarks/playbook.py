"""How much overdue.emr adds to a playbook run, against the same play without it.

Two pairs of plays over 200 hosts (``connection: local``), one host per cluster
of a 200-cluster SQLite store, listed by the overdue.emr.clusters inventory:

1. guard: a task with ``when: lookup('overdue.emr.allowed', inventory_hostname,
   operation='scale_out')`` against the same task with ``when:
   lookup('ansible.builtin.env', 'HOME') | length > 0`` (target ratio <= 1.15);
2. module: ``overdue.emr.cluster_phase`` per host against ``ansible.builtin.set_fact``
   (target ratio <= 1.3).

Both sides of a pair run alternately (ABBA...), each run is a real
``ansible-playbook``; the medians and ratios are printed. It is a benchmark, not a
test: it exits 0 unless a run fails. CPU time (ansible-playbook and its forked
workers) is printed too: it is steadier than wall time on a busy machine.
``--inventory static`` lists the same hosts in
an INI file instead, which shows what a guard costs when no overdue.emr plugin runs
in the controller's main process before the workers fork.

    .venv/bin/python benchmarks/playbook.py [--hosts 200] [--rounds 5] [--inventory plugin|static]
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

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-03-01T00:00:00Z"
TARGETS = {"guard": 1.15, "module": 1.3}

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
TASKS = {
    "guard-env": DEBUG + GUARD_BASE,
    "guard-overdue": DEBUG + GUARD_OURS,
    "module-set_fact": (
        "      ansible.builtin.set_fact:\n        cluster: '{{ inventory_hostname }}'"
    ),
    "module-cluster_phase": (
        "      overdue.emr.cluster_phase:\n        cluster_id: '{{ inventory_hostname }}'"
    ),
}
PAIRS = {
    "guard": ("guard-env", "guard-overdue"),
    "module": ("module-set_fact", "module-cluster_phase"),
}


def build(work: Path, hosts: int, inventory: str) -> dict[str, str]:
    """The store, the collection link, the inventory and the plays; returns the environment."""
    import fsm
    from fsm.store import open_store

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

    python = sys.executable
    if inventory == "plugin":
        source = work / "fleet.overdue_clusters.yml"
        source.write_text(
            "plugin: overdue.emr.clusters\n"
            "compose:\n"
            "  ansible_connection: \"'local'\"\n"
            f"  ansible_python_interpreter: \"'{python}'\"\n"
        )
    else:
        source = work / "hosts.ini"
        names = "\n".join(f"c-{index:04d}" for index in range(hosts))
        source.write_text(
            f"[fleet]\n{names}\n\n[fleet:vars]\n"
            f"ansible_connection=local\nansible_python_interpreter={python}\n"
        )
    (work / "ansible.cfg").write_text(
        "[defaults]\n"
        f"collections_path = {work / 'collections'}\n"
        f"inventory = {source}\n"
        "host_key_checking = False\n"
        "retry_files_enabled = False\n"
    )
    for name, task in TASKS.items():
        (work / f"{name}.yml").write_text(PLAY.format(task=task))

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ANSIBLE_", "OVERDUE_FSM_"))
    }
    env.update(
        ANSIBLE_CONFIG=str(work / "ansible.cfg"),
        OVERDUE_FSM_STORE="sqlite://" + str(store),
        OVERDUE_FSM_NOW=NOW,
        PATH=f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(work: Path, env: dict[str, str], name: str, hosts: int) -> tuple[float, float]:
    """Wall time and CPU time (ansible-playbook and its workers) of one run."""
    playbook = Path(sys.executable).parent / "ansible-playbook"
    cpu = _cpu()
    start = time.perf_counter()
    done = subprocess.run(
        [str(playbook), str(work / f"{name}.yml")],
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
    seen = len(re.findall(r"^\S+\s+: ok=", recap, re.M))
    if done.returncode != 0 or failed or seen != hosts:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"{name}: ansible-playbook failed (rc {done.returncode}, {seen} hosts)")
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5, help="runs of each side (default 5)")
    parser.add_argument("--inventory", choices=("plugin", "static"), default="plugin")
    parser.add_argument("--pair", choices=(*PAIRS, "all"), default="all")
    args = parser.parse_args()

    pairs = PAIRS if args.pair == "all" else {args.pair: PAIRS[args.pair]}
    with tempfile.TemporaryDirectory(prefix="overdue-bench-") as tmp:
        work = Path(tmp)
        env = build(work, args.hosts, args.inventory)
        print(
            f"{args.hosts} hosts, connection local, forks 5, {args.rounds} rounds, "
            f"inventory: {args.inventory}, ansible-playbook of {sys.executable}",
            flush=True,
        )
        for pair, (base, ours) in pairs.items():
            wall: dict[str, list[float]] = {base: [], ours: []}
            cpu: dict[str, list[float]] = {base: [], ours: []}
            run(work, env, base, args.hosts)  # warm the file cache and .pyc files, untimed
            run(work, env, ours, args.hosts)
            for index in range(args.rounds):
                order = (base, ours) if index % 2 == 0 else (ours, base)
                for name in order:
                    elapsed, used = run(work, env, name, args.hosts)
                    wall[name].append(elapsed)
                    cpu[name].append(used)
            for name in (base, ours):
                runs = " ".join(f"{t:.2f}" for t in wall[name])
                print(
                    f"  {name:22s} wall median {statistics.median(wall[name]):6.2f} s"
                    f"  cpu median {statistics.median(cpu[name]):6.2f} s   (wall: {runs})"
                )
            ratio = statistics.median(wall[ours]) / statistics.median(wall[base])
            cpu_ratio = statistics.median(cpu[ours]) / statistics.median(cpu[base])
            verdict = "within" if ratio <= TARGETS[pair] else "OVER"
            print(
                f"{pair}: wall ratio {ratio:.3f} (target <= {TARGETS[pair]}, {verdict} target);"
                f" cpu ratio {cpu_ratio:.3f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
