"""History benchmark: what a write costs however long a cluster's log grows (issue 9).

Every observation is kept, so logs grow; a write resumes from the cluster's
checkpoint and replays only what came after it. This prints, on the embedded
SQLite store (or the one named by --store):

- observe latency (p50, p99) for a cluster with 10, 1,000 and 10,000 stored
  events, each observation in event-time order, and the ratio of the p50 at
  10,000 to the p50 at 10 (target: within 2x);
- the latency of an event landing 6 days late in a 10,000-event log
  (target: under 20 ms);
- a year of hourly observations (8,760) for 1,000 clusters: the store's size
  and the time to list every cluster at now. One cluster's year goes through
  the store's own write path; the other 999 are copies of its rows.

    .venv/bin/python benchmarks/history.py
    .venv/bin/python benchmarks/history.py --sizes 10 1000 --year-clusters 50
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

# Runs from a checkout without installing: the repository root holds fsm/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fsm import Event, Observation
from fsm.store import open_store, sqlite_url

START = datetime(2025, 1, 1, tzinfo=UTC)
SAMPLES = 200


DIP_EVERY = 240  # hours: the balance dips below zero for 3 hours every 10 days


def look(step: int) -> Observation:
    """The hourly observation ``step``; each dip is two transitions (overdue, then back).

    A write's cost grows with the cluster's transitions (its checkpoint holds
    them), not with its events: ``--dip-every 24`` shows an account that goes
    negative every day.
    """
    balance = Decimal(-4) if step % DIP_EVERY in (20, 21, 22) else Decimal(12)
    return Observation(START + timedelta(hours=step), balance)


def fill(store: object, cid: str, events: int) -> int:
    """Observe ``cid`` hourly until its log holds ``events`` events; the next step."""
    for step in range(events):
        store.observe(cid, look(step), billing="pay_as_you_go", now=look(step).at)  # type: ignore[attr-defined]
    return events


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bench_observe(url: str, sizes: list[int]) -> dict[int, tuple[float, float]]:
    figures: dict[int, tuple[float, float]] = {}
    with open_store(url) as store:
        for size in sizes:
            cid = f"c-size-{size}"
            step = fill(store, cid, size)
            timings = []
            for offset in range(SAMPLES):
                seen = look(step + offset)
                began = time.perf_counter()
                store.observe(cid, seen, now=seen.at)
                timings.append((time.perf_counter() - began) * 1000)
            figures[size] = (statistics.median(timings), percentile(timings, 0.99))
    return figures


def bench_late(url: str, size: int) -> tuple[float, float]:
    with open_store(url) as store:
        cid = f"c-late-{size}"
        step = fill(store, cid, size)
        newest = look(step - 1).at
        timings = []
        for n in range(50):
            # Six days back, between two hourly looks: each a new event that lands late.
            at = newest - timedelta(days=6, minutes=30 + n)
            began = time.perf_counter()
            result = store.record(cid, Event.create("balance_negative", at), now=newest)
            timings.append((time.perf_counter() - began) * 1000)
            assert result.outcome.late and result.outcome.applied
    return statistics.median(timings), percentile(timings, 0.99)


def bench_year(directory: Path, clusters: int) -> tuple[int, int, float, float]:
    path = directory / "year.db"
    url = sqlite_url(path)
    hours = 365 * 24
    began = time.perf_counter()
    with open_store(url) as store:
        fill(store, "c-year-0000", hours)
    one = time.perf_counter() - began
    with sqlite3.connect(path) as conn:
        for n in range(1, clusters):
            cid = f"c-year-{n:04d}"
            conn.execute(
                "INSERT INTO clusters SELECT ?, account, billing, expires_at, created_at,"
                " updated_at, last_phase, last_evaluated_at, region, checkpoint, newest_at,"
                " since_checkpoint FROM clusters WHERE cluster_id = 'c-year-0000'",
                (cid,),
            )
            conn.execute(
                "INSERT INTO events (cluster_id, kind, at, expires_at, recorded_at, source,"
                " idempotency_key, payload, applied, effect) SELECT ?, kind, at, expires_at,"
                " recorded_at, source, idempotency_key, payload, applied, effect FROM events"
                " WHERE cluster_id = 'c-year-0000'",
                (cid,),
            )
            conn.execute(
                "INSERT INTO checkpoints SELECT ?, at, rank, expiry, state FROM checkpoints"
                " WHERE cluster_id = 'c-year-0000'",
                (cid,),
            )
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
    conn.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = path.stat().st_size
    now = START + timedelta(hours=hours + 1)
    timings = []
    with open_store(url, create=False) as reader:
        for _ in range(3):
            began = time.perf_counter()
            listed = reader.clusters(now=now)
            timings.append(time.perf_counter() - began)
    assert len(listed) == clusters
    return events, size, statistics.median(timings), one


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1_000, 10_000])
    parser.add_argument("--year-clusters", type=int, default=1_000)
    parser.add_argument("--dip-every", type=int, default=240, help="hours between dips")
    args = parser.parse_args()
    global DIP_EVERY
    DIP_EVERY = args.dip_every
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        url = sqlite_url(directory / "history.db")
        figures = bench_observe(url, args.sizes)
        print(
            "observe in event-time order (SQLite, one cluster, 200 samples each;"
            f" the balance dips every {DIP_EVERY} h)"
        )
        print(f"{'stored events':>14}  {'p50 ms':>7}  {'p99 ms':>7}")
        for size, (p50, p99) in figures.items():
            print(f"{size:>14,}  {p50:7.2f}  {p99:7.2f}")
        smallest, largest = min(figures), max(figures)
        ratio = figures[largest][0] / figures[smallest][0]
        print(f"p50 at {largest:,} / p50 at {smallest:,}: {ratio:.2f}x (target <= 2x)")
        late_p50, late_p99 = bench_late(url, max(args.sizes))
        print(
            f"late event 6 days back in a {max(args.sizes):,}-event log: p50 {late_p50:.2f} ms,"
            f" p99 {late_p99:.2f} ms (target p50 < 20 ms)"
        )
        events, size, listing, one = bench_year(directory, args.year_clusters)
        print(
            f"a year of hourly observations for {args.year_clusters:,} clusters: {events:,} events,"
            f" {size / 2**20:.0f} MiB on disk; clusters() at now: {listing:.2f} s"
            f" (one cluster's year through observe: {one:.1f} s)"
        )


if __name__ == "__main__":
    main()
