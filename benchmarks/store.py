"""Store throughput: concurrent writers and a fleet listing, on SQLite and PostgreSQL.

    python benchmarks/store.py [--engine sqlite|postgresql|both] [--processes 8]
                               [--observations 500] [--clusters 10000]

Each of N processes opens its own store and calls ``observe`` (the write path
of the CLI and the Ansible module: lock, load, replay, evaluate, append) for
its observations, each of which records exactly one event; the figures are
events/s over the whole run, p50/p99 latency of one write, and the count check
(events in the store against what the writers were told they recorded). A
second run sends the same observations from every process to the same
clusters (every write contends) and checks each event is stored once. Then
``clusters()`` evaluates a fleet of 10,000 clusters.

PostgreSQL: ``OVERDUE_FSM_BENCH_PG`` or ``OVERDUE_FSM_TEST_PG``, else
postgresql://postgres@127.0.0.1:5432/test; the run uses its own schema and
drops it afterwards. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fsm
from fsm.store import Store, open_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def observations(count: int, clusters: list[str]) -> list[tuple[str, fsm.Observation]]:
    """Alternating negative / positive balances per cluster: each one is an event."""
    plan = []
    for j in range(count):
        cid = clusters[j % len(clusters)]
        step = j // len(clusters)
        balance = "-5.00" if step % 2 == 0 else "12.50"
        at = T0 + timedelta(minutes=step)
        plan.append((cid, fsm.Observation(at, fsm.observations.parse_amount(balance, "b"))))
    return plan


def writer(
    url: str,
    plan: list[tuple[str, fsm.Observation]],
    barrier: Barrier,
    out: Connection,
) -> None:
    with open_store(url) as store:
        store.get("warm-up")  # connect and check the schema before the clock starts
        server = server_pid(store)
        barrier.wait()
        latencies = []
        recorded = 0
        cpu = cpu_seconds(os.getpid()) + cpu_seconds(server)
        for cid, observation in plan:
            started = time.perf_counter()
            result = store.observe(
                cid, observation, billing="pay_as_you_go", now=NOW, source="bench"
            )
            latencies.append(time.perf_counter() - started)
            recorded += len(result.recorded)
        client, backend = cpu_seconds(os.getpid()), cpu_seconds(server)
    out.send((recorded, latencies, client + backend - cpu, backend))
    out.close()


def server_pid(store: Store) -> int | None:
    """The PostgreSQL backend serving this store's connection (it runs on this machine)."""
    conn = getattr(store, "_conn", None)
    return getattr(getattr(conn, "info", None), "backend_pid", None)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (0 if unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def concurrent_run(
    url: str, processes: int, per_process: int, per_cluster: int, shared: bool
) -> tuple[float, int, list[float], float, float]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(processes + 1)
    workers = []
    pipes = []
    for p in range(processes):
        count = max(1, per_process // per_cluster)
        if shared:
            clusters = [f"shared-{k}" for k in range(count)]
        else:
            clusters = [f"w{p}-{k}" for k in range(count)]
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=writer, args=(url, observations(per_process, clusters), barrier, send)
        )
        proc.start()
        workers.append(proc)
        pipes.append(receive)
    barrier.wait()
    started = time.perf_counter()
    results = [pipe.recv() for pipe in pipes]
    elapsed = time.perf_counter() - started
    for proc in workers:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a writer failed with exit code {proc.exitcode}")
    recorded = sum(r for r, *_ in results)
    latencies = [value for _, lat, *_ in results for value in lat]
    cpu = sum(r[2] for r in results)
    backend = sum(r[3] for r in results)
    return elapsed, recorded, latencies, cpu, backend


def stored_events(store: Store) -> tuple[int, int]:
    """(events stored, events stored more than once) by reading every history."""
    total = duplicates = 0
    for state in store.clusters(now=NOW):
        seen = set()
        for event in store.history(state.cluster_id):
            total += 1
            marker = (event.kind, event.at)
            duplicates += marker in seen
            seen.add(marker)
    return total, duplicates


def machine_idle() -> float:
    """Idle CPU seconds of the whole machine so far (all CPUs)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return (int(fields[3]) + int(fields[4])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_writes(
    make_url: Callable[[], str], processes: int, per_process: int, per_cluster: int
) -> None:
    for shared in (False, True):
        url = make_url()
        with open_store(url) as store:
            store.upsert_cluster("bench-setup", "pay_as_you_go")  # create it before the clock
        idle_before = machine_idle()
        elapsed, recorded, latencies, cpu, backend = concurrent_run(
            url, processes, per_process, per_cluster, shared
        )
        idle = (machine_idle() - idle_before) / (elapsed * (os.cpu_count() or 1))
        with open_store(url, create=False) as store:
            stored, duplicates = stored_events(store)
        expected = processes * per_process if not shared else per_process
        label = "shared clusters (all writers contend)" if shared else "own clusters"
        ok = stored == expected == recorded and duplicates == 0
        print(
            f"  writes, {processes} processes x {per_process} observations, {label}, "
            f"{per_cluster} events per cluster:"
        )
        print(
            f"    {len(latencies) / elapsed:,.0f} observations/s, "
            f"{recorded / elapsed:,.0f} events/s, {elapsed:.2f} s"
        )
        print(
            f"    latency p50 {percentile(latencies, 0.5) * 1000:.2f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.2f} ms, "
            f"max {max(latencies) * 1000:.1f} ms"
        )
        server = f" (server {backend / len(latencies) * 1000:.2f} ms)" if backend else ""
        print(
            f"    CPU per observation {cpu / len(latencies) * 1000:.2f} ms{server}; "
            f"the writers used {cpu / elapsed:.2f} of {os.cpu_count()} CPUs, "
            f"{idle:.0%} of the machine stayed idle"
        )
        print(
            f"    count check: expected {expected}, writers recorded {recorded}, "
            f"stored {stored}, duplicated {duplicates}, lost {max(0, expected - stored)}: "
            + ("OK" if ok else "FAILED")
        )


def bench_clusters(url: str, clusters: int) -> None:
    with open_store(url) as store:
        started = time.perf_counter()
        for k in range(clusters):
            cid = f"fleet-{k:05d}"
            if k % 3 == 0:
                expiry = T0 + timedelta(days=k % 40)
                observation = fsm.Observation.create(at=T0, balance="10")
                store.observe(cid, observation, billing="subscription", expires_at=expiry, now=NOW)
            else:
                observation = fsm.Observation.create(
                    at=T0 + timedelta(hours=k % 500), balance="-1" if k % 2 else "5"
                )
                store.observe(
                    cid, observation, billing="pay_as_you_go", account=f"a{k % 7}", now=NOW
                )
        filled = time.perf_counter() - started
    with open_store(url, create=False) as store:
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            states = store.clusters(now=NOW)
            timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        suspended = store.clusters(now=NOW, phase="suspended")
        filtered = time.perf_counter() - started
    phases: dict[str, int] = {}
    for state in states:
        phases[str(state.phase)] = phases.get(str(state.phase), 0) + 1
    print(f"  clusters() over {len(states):,} clusters (filled in {filled:.1f} s):")
    print(
        f"    median {statistics.median(timings) * 1000:.0f} ms, best {min(timings) * 1000:.0f} ms;"
        f" phase=suspended ({len(suspended)} clusters) {filtered * 1000:.0f} ms"
    )
    print(f"    phases: {', '.join(f'{k} {v}' for k, v in sorted(phases.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--observations", type=int, default=500)
    parser.add_argument(
        "--events-per-cluster",
        type=int,
        default=10,
        help="observations per cluster in the write runs: the length of each replayed log",
    )
    parser.add_argument("--clusters", type=int, default=10_000)
    args = parser.parse_args()
    print(f"overdue-fsm store benchmark ({os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version})")

    if args.engine in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="overdue-fsm-bench-") as tmp:
            counter = iter(range(1000))
            print("SQLite (WAL, synchronous=NORMAL):")
            bench_writes(
                lambda: f"sqlite://{tmp}/writes-{next(counter)}.db",
                args.processes,
                args.observations,
                args.events_per_cluster,
            )
            bench_clusters(f"sqlite://{tmp}/fleet.db", args.clusters)

    if args.engine in ("postgresql", "both"):
        import psycopg

        base = os.environ.get("OVERDUE_FSM_BENCH_PG") or os.environ.get(
            "OVERDUE_FSM_TEST_PG", PG_DEFAULT
        )
        schemas: list[str] = []

        def make_url() -> str:
            schemas.append(f"bench_{os.getpid()}_{uuid.uuid4().hex[:8]}")
            return f"{base}{'&' if '?' in base else '?'}schema={schemas[-1]}"

        try:
            with psycopg.connect(base, autocommit=True) as conn:
                version = conn.execute("SHOW server_version").fetchone()
            print(f"PostgreSQL {version[0] if version else '?'} ({base}):")
            bench_writes(make_url, args.processes, args.observations, args.events_per_cluster)
            bench_clusters(make_url(), args.clusters)
        finally:
            with psycopg.connect(base, autocommit=True) as conn:
                for schema in schemas:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
