"""Store throughput: concurrent writers and a fleet listing, on SQLite and PostgreSQL.

    python benchmarks/store.py [--engine sqlite|postgresql|both] [--processes 8]
                               [--observations 500] [--clusters 10000] [--rounds 3]

Each of N processes opens its own store and calls ``observe`` (the write path
of the CLI and the Ansible module: lock, load, replay, evaluate, append) for
its observations, each of which records exactly one event; the figures are
events/s over the whole run, p50/p99 latency of one write, and the count check
(events in the store against what the writers were told they recorded). Each
row is printed against its floor, measured in the same run, alternating with it
(benchmarks/rounds.py, medians of --rounds rounds):

- SQLite: N processes doing one-row INSERT transactions into the same events
  table of a store (WAL, synchronous=NORMAL as the store sets it, SQLite's own
  busy handler); target >= 0.5.
- PostgreSQL: pgbench (N clients, 2 threads) running the statements one
  observation sends, as the store sends them (one pipeline, prepared; only the
  end of the log the check compares is read by a subquery, pgbench cannot carry
  it over); target >= 0.9, and >= 2,000 events/s. Then the round trips one
  observation costs, counted in libpq's trace of the store's connection
  (ReadyForQuery messages): one for a cluster the store has written, two for a
  first look (read, then write).

A second run sends the same observations from every process to the same
clusters (every write contends) and checks each event is stored once. Then
``clusters()`` evaluates a fleet of 10,000 clusters.

PostgreSQL: ``OVERDUE_FSM_BENCH_PG`` or ``OVERDUE_FSM_TEST_PG``, else
postgresql://postgres@127.0.0.1:5432/test; each run uses a schema of its own,
dropped afterwards. pgbench comes with PostgreSQL's client package
(Debian: ``apt-get install postgresql-client``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rounds import Row, alternate, print_rows

import fsm
from fsm.store import Store, load_write_path, open_store, sqlite_url
from fsm.store.transaction import Write

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
        # Before the clock: connect, check the schema, import what a first write imports
        # (as a process that forks writers does, see fsm.store.load_write_path).
        store.get("warm-up")
        load_write_path()
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
    url: str,
    processes: int,
    per_process: int,
    per_cluster: int,
    shared: bool,
    report: list[str] | None = None,
) -> float:
    """One write run on a store of its own at ``url``: its events/s (details to ``report``)."""
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
    if not ok:
        raise SystemExit(
            f"count check FAILED: expected {expected}, writers recorded {recorded}, "
            f"stored {stored}, duplicated {duplicates}"
        )
    if report is not None:
        server = (
            f" (client {(cpu - backend) / len(latencies) * 1000:.2f} ms,"
            f" server {backend / len(latencies) * 1000:.2f} ms)"
            if backend
            else ""
        )
        report[:] = [
            f"  writes, {processes} processes x {per_process} observations, {label}, "
            f"{per_cluster} events per cluster:",
            f"    {len(latencies) / elapsed:,.0f} observations/s, "
            f"{recorded / elapsed:,.0f} events/s, {elapsed:.2f} s",
            f"    latency p50 {percentile(latencies, 0.5) * 1000:.2f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.2f} ms, "
            f"max {max(latencies) * 1000:.1f} ms",
            f"    CPU per observation {cpu / len(latencies) * 1000:.2f} ms{server}; "
            f"the writers used {cpu / elapsed:.2f} of {os.cpu_count()} CPUs, "
            f"{idle:.0%} of the machine stayed idle",
            f"    count check: expected {expected}, writers recorded {recorded}, "
            f"stored {stored}, duplicated {duplicates}, lost 0: OK",
        ]
    return recorded / elapsed


def raw_connection(path: str) -> sqlite3.Connection:
    """A plain sqlite3 connection to a store's file, set as the store sets its own."""
    conn = sqlite3.connect(path, timeout=15, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def raw_inserts(path: str, count: int, barrier: Barrier) -> None:
    """The SQLite floor's writer: ``count`` one-row INSERT transactions into ``events``."""
    conn = raw_connection(path)
    row = (
        "bench-setup",
        "balance_negative",
        "2026-01-01T00:00:00.000000Z",
        None,
        "2026-01-01T00:00:00.000000Z",
        "bench",
        None,
        '{"balance":"-5.00","observed_at":"2026-01-01T00:00:00Z"}',
        1,
        None,
    )
    barrier.wait()
    for _ in range(count):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO events (cluster_id, kind, at, expires_at, recorded_at, source,"
            " idempotency_key, payload, applied, effect) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
        conn.execute("COMMIT")
    conn.close()


def sqlite_floor(path: Path, processes: int, per_process: int) -> float:
    """Raw one-row INSERT transactions/s of ``processes`` processes into a store's events."""
    with open_store(sqlite_url(path)) as store:
        store.upsert_cluster("bench-setup", "pay_as_you_go")  # the schema, WAL, the FK row
    return forked_rate(processes, per_process, raw_inserts, (str(path), per_process))


def forked_rate(
    processes: int, per_process: int, target: Callable[..., None], args: tuple[object, ...]
) -> float:
    """Writes/s of ``processes`` forked ``target(*args, barrier)``, timed from the barrier."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(processes + 1)
    workers = [ctx.Process(target=target, args=(*args, barrier)) for _ in range(processes)]
    for proc in workers:
        proc.start()
    barrier.wait()
    started = time.perf_counter()
    for proc in workers:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a {target.__name__} process failed with exit code {proc.exitcode}")
    return processes * per_process / (time.perf_counter() - started)


def sqlite_observation_statements(path: Path) -> list[str]:
    """The statements a store sends for one observation of a cluster it has written.

    Caught on the store's own connection (its trace, values in place), so that they
    can be sent again as they were: what a write costs with nothing evaluated.
    """
    sent: list[str] = []
    with open_store(sqlite_url(path)) as store:
        for k, (cid, observation) in enumerate(observations(4, ["bound"])):
            if k == 3:
                store._conn.set_trace_callback(sent.append)  # type: ignore[attr-defined]
            store.observe(cid, observation, billing="pay_as_you_go", now=NOW, source="bench")
    return sent


def sqlite_statements_bound(path: Path, count: int = 2000) -> tuple[float, float]:
    """(raw INSERT transactions/s, observations' statements/s), one process, CPU time.

    The statements are :func:`sqlite_observation_statements`: what the SQLite row
    could reach if evaluating an observation cost nothing.
    """
    sent = sqlite_observation_statements(path)
    insert = next(statement for statement in sent if statement.startswith("INSERT"))
    conn = raw_connection(str(path))
    raw = statements = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(count):
            for statement in ("BEGIN IMMEDIATE", insert, "COMMIT"):
                conn.execute(statement)
        raw = min(raw, time.process_time() - started)
        started = time.process_time()
        for _ in range(count):
            for statement in sent:
                conn.execute(statement).fetchall()
        statements = min(statements, time.process_time() - started)
    conn.close()
    return count / raw, count / statements


def statements_writer(url: str, body: list[str], count: int, barrier: Barrier) -> None:
    """Send ``body`` ``count`` times, each in one write of the store's own (lock, retries)."""
    with open_store(url) as store:
        store.get("warm-up")
        barrier.wait()
        for _ in range(count):
            store._run_write(  # type: ignore[attr-defined]
                "bound", lambda tx: [tx.rows(statement) for statement in body]
            )


def sqlite_statements_concurrent(path: Path, processes: int, per_process: int) -> float:
    """Observations/s of ``processes`` processes sending only an observation's statements.

    Each process writes :func:`sqlite_observation_statements` through the store's own
    write transaction (its lock and its retries), evaluating nothing: the SQLite row's
    ceiling on this machine, against the same floor.
    """
    sent = sqlite_observation_statements(path)
    body = [s for s in sent if s not in ("BEGIN IMMEDIATE", "COMMIT")]
    return forked_rate(
        processes, per_process, statements_writer, (sqlite_url(path), body, per_process)
    )


def psycopg_bound(base: str, statements: Sequence[Write], count: int = 2000) -> float:
    """Client CPU s of psycopg alone sending one observation's round trip.

    As many prepared statements as ``statements`` (one observation's write, see
    :func:`last_write`), each selecting its parameters as they are, in one pipeline
    with one sync: the client cost that no store code could go below.
    """
    import psycopg

    selects = [
        ("SELECT " + ", ".join(["%s"] * len(params)) if params else "SELECT 1", params)
        for _, params in statements
    ]
    best = float("inf")
    with psycopg.connect(base, autocommit=True) as conn:
        cursor = conn.cursor()
        for _ in range(3):
            started = time.process_time()
            for _ in range(count):
                with conn.pipeline():
                    for sql, params in selects:
                        cursor.execute(sql, params, prepare=True)
                cursor.fetchone()
            best = min(best, time.process_time() - started)
    return best / count


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


PGBENCH_CLUSTER = "pgbench-"


def pg_schema_url(base: str, schemas: list[str]) -> str:
    """A store URL on a new schema of its own (dropped at the end of the run)."""
    schemas.append(f"bench_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    return f"{base}{'&' if '?' in base else '?'}schema={schemas[-1]}"


def pgbench_script(url: str, clients: int, per_cluster: int) -> str:
    """The statements one observation sends, as a pgbench script for ``clients`` clients.

    Cluster ``pgbench-0`` is observed ``per_cluster`` times through the store and the
    statements of its last write are kept as the store sent them (values as literals),
    but for the cluster (``pgbench-<client_id>``, each client its own, copies of
    ``pgbench-0``), its lock key (``client_id``) and the token the check compares: the
    row as that write left it, and the end of the log read by a subquery.
    """
    import psycopg
    from psycopg import sql

    from fsm.store import postgres

    cid = f"{PGBENCH_CLUSTER}0"
    statements, left = last_write(url, cid, per_cluster)
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        mine = f"('{PGBENCH_CLUSTER}' || :client_id)"
        seq = f"(SELECT max(seq) FROM events WHERE cluster_id = {mine})"
        lines = ["\\startpipeline"]
        for index, (text, params) in enumerate(statements):
            values: list[str] = []
            for position, value in enumerate(params):
                if index == 0 and position == 1:
                    values.append(":client_id")  # the lock key
                elif index == 0 and 4 <= position < 4 + len(postgres.TOKEN_COLUMNS):
                    values.append(sql.Literal(left[position - 4]).as_string(conn))
                elif index == 0 and position == 4 + len(postgres.TOKEN_COLUMNS):
                    values.append(seq)
                elif value == cid:
                    values.append(mine)
                else:
                    values.append(sql.Literal(pgbench_value(value)).as_string(conn))
            pieces = text.split("?")
            assert len(pieces) == len(values) + 1
            lines.append("".join(p + v for p, v in zip(pieces, [*values, ""], strict=True)) + ";")
        lines.append("\\endpipeline")
        schema = url.rsplit("schema=", 1)[1]
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        for k in range(1, clients):
            conn.execute(
                "INSERT INTO clusters SELECT %s, account, billing, expires_at, created_at,"
                " updated_at, last_phase, last_evaluated_at, region, checkpoint, newest_at,"
                " since_checkpoint FROM clusters WHERE cluster_id = %s",
                (f"{PGBENCH_CLUSTER}{k}", cid),
            )
    return "\n".join(lines) + "\n"


def last_write(url: str, cid: str, per_cluster: int) -> tuple[Sequence[Write], tuple[object, ...]]:
    """The statements of the last of ``per_cluster`` observations of ``cid``, as the store
    sent them, and the token that write left."""
    from fsm.store import postgres

    captured: list[Sequence[Write]] = []
    with open_store(url) as store:
        assert isinstance(store, postgres.PostgresStore)
        planned = store.planned_statements

        def spy(*args: object) -> tuple[Write, ...]:
            statements = planned(*args)  # type: ignore[arg-type]
            captured.append(statements)
            return statements

        store.planned_statements = spy  # type: ignore[method-assign,assignment]
        for _, observation in observations(per_cluster, [cid]):
            store.observe(cid, observation, billing="pay_as_you_go", now=NOW, source="bench")
        left = store._read(lambda tx: store._token(tx, cid))
        assert isinstance(left, tuple)
    return captured[-1], left


def pgbench_value(value: object) -> object:
    """``value`` as a pgbench script may spell it: pgbench takes ``:name`` for a variable
    even in a string literal, so JSON is given with a space after each colon (psycopg's
    own spelling of the same JSON; the store may send it compact)."""
    from psycopg.types.json import Jsonb

    if not isinstance(value, Jsonb):
        return value
    text = value.dumps(value.obj) if value.dumps is not None else json.dumps(value.obj)
    return Jsonb(json.loads(text))


def pgbench_floor(url: str, clients: int, per_client: int, per_cluster: int) -> float:
    """Transactions/s of pgbench running the statements of one observation (one event each)."""
    script = pgbench_script(url, clients, per_cluster)
    base, schema = url.rsplit("schema=", 1)
    dsn = f"{base}options=-csearch_path%3D{schema}"
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="overdue-fsm-") as file:
        file.write(script)
        file.flush()
        done = subprocess.run(
            [
                *("pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2"),
                *("-t", str(per_client), "-f", file.name, dsn),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    processed = re.search(r"actually processed: (\d+)/(\d+)", done.stdout)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    if done.returncode or not processed or processed[1] != processed[2] or not tps:
        raise SystemExit(f"pgbench failed:\n{done.stdout}\n{done.stderr}\n{script}")
    return float(tps[1])


def round_trips(url: str, clusters: int, per_cluster: int) -> tuple[float, float]:
    """Round trips per observation (first looks, then clusters seen), from libpq's trace.

    Each round trip ends with one ReadyForQuery from the server (a simple query or a
    sync ends with one): they are counted in a trace of the store's own connection.
    """
    import psycopg

    plan = observations(clusters * per_cluster, [f"rt-{k}" for k in range(clusters)])
    counts: list[int] = []
    with open_store(url) as store:
        store.upsert_cluster("bench-setup", "pay_as_you_go")
        conn = store._conn  # type: ignore[attr-defined]
        for part in (plan[:clusters], plan[clusters:]):
            with tempfile.TemporaryFile("w+") as trace:
                conn.pgconn.trace(trace.fileno())
                conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
                for cid, observation in part:
                    store.observe(
                        cid, observation, billing="pay_as_you_go", now=NOW, source="bench"
                    )
                conn.pgconn.untrace()
                trace.seek(0)
                counts.append(sum("ReadyForQuery" in line for line in trace))
    return counts[0] / clusters, counts[1] / (len(plan) - clusters)


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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n, per, per_cluster = args.processes, args.observations, args.events_per_cluster
    print(f"overdue-fsm store benchmark ({os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version})")
    rows: list[Row] = []
    details: list[str] = []

    if args.engine in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="overdue-fsm-bench-") as tmp:
            counter = iter(range(1000))
            print("SQLite (WAL, synchronous=NORMAL):", flush=True)
            row = alternate(
                f"SQLite {n} writers, events/s",
                floor=lambda: sqlite_floor(Path(tmp, f"floor-{next(counter)}.db"), n, per),
                measured=lambda: bench_writes(
                    f"sqlite://{tmp}/writes-{next(counter)}.db", n, per, per_cluster, False, details
                ),
                rounds=args.rounds,
                target=0.5,
                bound="min",
                unit="ev/s",
                floor_name="raw INSERT",
                warm=False,
            )
            print("\n".join(details))
            raw, alone = sqlite_statements_bound(Path(tmp, "bound.db"))
            bound_row = Row(
                "  ... bound: its statements alone, 1 process",
                alone,
                raw,
                unit="tx/s",
                bound="min",
                floor_name="raw INSERT",
            )
            concurrent_row = alternate(
                f"  ... bound: its statements alone, {n} processes",
                floor=lambda: sqlite_floor(Path(tmp, f"floor-{next(counter)}.db"), n, per),
                measured=lambda: sqlite_statements_concurrent(
                    Path(tmp, f"alone-{next(counter)}.db"), n, per
                ),
                rounds=args.rounds,
                bound="min",
                unit="ev/s",
                floor_name="raw INSERT",
                warm=False,
            )
            bench_writes(f"sqlite://{tmp}/shared.db", n, per, per_cluster, True, details)
            print("\n".join(details))
            bench_clusters(f"sqlite://{tmp}/fleet.db", args.clusters)
            print_rows([row, bound_row, concurrent_row])
            rows += [row, bound_row, concurrent_row]

    if args.engine in ("postgresql", "both"):
        import psycopg

        base = os.environ.get("OVERDUE_FSM_BENCH_PG") or os.environ.get(
            "OVERDUE_FSM_TEST_PG", PG_DEFAULT
        )
        schemas: list[str] = []
        try:
            with psycopg.connect(base, autocommit=True) as conn:
                version = conn.execute("SHOW server_version").fetchone()
            print(f"PostgreSQL {version[0] if version else '?'} ({base}):", flush=True)
            pg_rows = []
            if shutil.which("pgbench") is None:
                print(
                    "  pgbench is not installed, so the floor is not measured: it comes with"
                    " PostgreSQL's client package (Debian: apt-get install postgresql-client)"
                )
                bench_writes(pg_schema_url(base, schemas), n, per, per_cluster, False, details)
                print("\n".join(details))
            else:
                row = alternate(
                    f"PostgreSQL {n} writers, events/s",
                    floor=lambda: pgbench_floor(pg_schema_url(base, schemas), n, per, per_cluster),
                    measured=lambda: bench_writes(
                        pg_schema_url(base, schemas), n, per, per_cluster, False, details
                    ),
                    rounds=args.rounds,
                    target=0.9,
                    bound="min",
                    unit="ev/s",
                    floor_name="pgbench",
                    warm=False,
                )
                print("\n".join(details))
                pg_rows.append(row)
                # The floor keeps the CPUs busy (server and pgbench, whose own client
                # cost is C's); a client adding `client` s per observation on the same
                # CPUs stretches each one by client / CPUs.
                statements, _ = last_write(pg_schema_url(base, schemas), "bound", per_cluster)
                client = psycopg_bound(base, statements)
                pg_rows.append(
                    Row(
                        "  ... bound: psycopg alone, no store code",
                        1 / (1 / row.floor + client / (os.cpu_count() or 1)),
                        row.floor,
                        unit="ev/s",
                        bound="min",
                        floor_name="pgbench",
                    )
                )
                pg_rows.append(
                    Row(
                        f"PostgreSQL {n} writers, events/s (absolute)",
                        row.measured,
                        2000.0,
                        target=1.0,
                        bound="min",
                        unit="ev/s",
                        floor_name="target",
                        runs=row.runs,
                    )
                )
            first, seen = round_trips(pg_schema_url(base, schemas), 50, per_cluster)
            pg_rows.append(
                Row("PostgreSQL round trips per observation", seen, 1.0, 1.0, "RT", "max", "one")
            )
            pg_rows.append(
                Row(
                    "  ... a first look at a cluster (read + write)",
                    first,
                    1.0,
                    None,
                    "RT",
                    "max",
                    "one",
                )
            )
            bench_writes(pg_schema_url(base, schemas), n, per, per_cluster, True, details)
            print("\n".join(details))
            bench_clusters(pg_schema_url(base, schemas), args.clusters)
            print_rows(pg_rows)
            rows += pg_rows
        finally:
            with psycopg.connect(base, autocommit=True) as conn:
                for schema in schemas:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    print("\nsummary:")
    print_rows(rows)


if __name__ == "__main__":
    main()
