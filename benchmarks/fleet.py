"""Fleet benchmark: N clusters with 1-3 events each, built, advanced to a common instant
and decided one operation each, against a plain-Python replay of the same rows.

Every side starts from the same raw rows (cluster id, billing, expiry, events as plain
tuples, the operation asked) and ends with each cluster's phase and whether its
operation is allowed:

- *floor*: a replay written here in dicts and tuples, with no fsm on its hot path: the
  same too-late rule, event-time order, conditions, thresholds and verdicts;
- *fsm*: ``fsm.steps.decide_fleet`` on the raw rows, as a caller holding a fleet's
  data calls it: every fact and event checked as ``fsm.Cluster`` and
  ``fsm.Event.create`` check them, replayed on the compiled step table of
  ``fsm.steps``, each verdict ``fsm.decisions.allowed``'s;
- *Cluster*: one ``fsm.Cluster`` per row, each event recorded, ``advance``, ``decide``
  (shown, no target: what a caller holding Cluster objects pays).

All sides must agree on every cluster's phase and verdict: the run stops otherwise.
Each side runs in its own process (so peak RSS is that side's alone). A round runs
every side at every size, in alternating order (floor, fsm at 10k then at 100k; the
next round backwards), so the scaling row divides two figures of the same round and
a shared machine's drift between rounds falls on both; it prints the median over
the rounds of that per-round t(100k)/t(10k), ours and the floor's own, against the
size ratio. The clock is the worker's CPU time of the timed call (``--clock wall``:
its wall time): on the shared 2-core machine wall time also counts the time the
worker waited for a core. Targets (issue 10): fsm <= 4x the floor at 10k and 100k,
t(100k)/t(10k) <= 11 (1.1x the size ratio), peak RSS at 100k <= 150 MB.

    .venv/bin/python benchmarks/fleet.py              # 10k and 100k, 9 rounds
    .venv/bin/python benchmarks/fleet.py --sizes 1000 10000 --rounds 3 --no-cluster
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Runs from a checkout without installing: the repository root holds fsm/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rounds import MIN_ROUNDS, Row, print_rows

BASE = datetime(2026, 1, 1, tzinfo=UTC)
NOW = BASE + timedelta(days=90)
OPERATIONS = ("scale_out", "submit_task", "view_cluster_info", "restart_service")
RSS_BUDGET_MB = 150.0

RawEvent = tuple[str, datetime, datetime | None]
RawRow = tuple[str, str, datetime | None, list[RawEvent], str]


def rows(size: int, seed: int = 7) -> list[RawRow]:
    """The fleet as plain data: some recover, some walk on, some are released or renewed."""
    rnd = random.Random(seed)
    out: list[RawRow] = []
    for i in range(size):
        events: list[RawEvent] = []
        operation = OPERATIONS[i % len(OPERATIONS)]
        if i % 3:
            events.append(
                ("balance_negative", BASE + timedelta(hours=rnd.randrange(24 * 85)), None)
            )
            if i % 7 == 0:
                events.append(("recharged", BASE + timedelta(days=rnd.randrange(30, 88)), None))
            if i % 11 == 0:
                events.append(("released", BASE + timedelta(days=rnd.randrange(40, 89)), None))
            out.append((f"c-{i:07d}", "pay_as_you_go", None, events, operation))
        else:
            expires_at = BASE + timedelta(days=rnd.randrange(0, 100))
            if i % 2:
                events.append(
                    ("balance_negative", BASE + timedelta(days=rnd.randrange(0, 40)), None)
                )
            if i % 5 == 0:
                at = BASE + timedelta(days=rnd.randrange(0, 30))
                events.append(("renewed", at, BASE + timedelta(days=rnd.randrange(120, 400))))
            out.append((f"s-{i:07d}", "subscription", expires_at, events, operation))
    return out


# -- the floor: a plain-Python replay of the same rows --------------------------------

GRACE = timedelta(hours=24)
RESTRICT_AFTER = timedelta(days=15)
PURGE_AFTER = timedelta(days=60)
RETENTION = timedelta(days=15)
LATE_TOLERANCE = timedelta(days=7)
SAME_INSTANT = {"released": 0, "recharged": 1, "balance_negative": 2, "renewed": 3}
CATEGORY = {
    "scale_out": "fee",
    "submit_task": "task",
    "view_cluster_info": "read",
    "restart_service": "om",
}
_PHASES = ("active", "overdue_grace", "suspended", "restricted", "purged", "released")
_ALLOWING = {  # (category, billing) -> the phases it runs in (warn runs: not strict)
    ("fee", "p"): {"active"},
    ("fee", "s"): {"active"},
    ("om", "p"): {"active", "overdue_grace"},
    ("om", "s"): {"active", "overdue_grace"},
    ("read", "p"): {"active", "overdue_grace", "suspended", "restricted"},
    ("read", "s"): {"active", "overdue_grace", "suspended", "restricted"},
    ("task", "p"): {"active", "overdue_grace", "suspended"},
    ("task", "s"): {"active", "overdue_grace", "suspended"},
}
ALLOWED = {
    (op, billing, phase): phase in _ALLOWING[(category, billing[0])]
    for op, category in CATEGORY.items()
    for billing in ("pay_as_you_go", "subscription")
    for phase in _PHASES
}


def _by_order(event: RawEvent) -> tuple[datetime, int, datetime]:
    kind, at, expiry = event
    return (at, SAME_INSTANT[kind], at if expiry is None else expiry)


def floor_fleet(fleet: list[RawRow], now: datetime) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    for _, billing, expires, events, operation in fleet:
        payg = billing == "pay_as_you_go"
        newest = earliest = None
        taken = []
        for event in events:
            at = event[1]
            if earliest is None or at >= earliest:
                taken.append(event)
            if newest is None or at > newest:
                newest, earliest = at, at - LATE_TOLERANCE
        if len(taken) > 1:
            taken = sorted(set(taken), key=_by_order)
        phase, overdue, since = "active", False, None
        for kind, at, new_expiry in [*taken, ("", now, None)]:
            if at > now:
                at, kind = now, ""
            # time passes up to the event
            while True:
                if payg:
                    if since is None:
                        break
                    if phase == "overdue_grace" and since + GRACE <= at:
                        phase = "suspended"
                    elif phase == "suspended" and since + RESTRICT_AFTER <= at:
                        phase = "restricted"
                    elif phase == "restricted" and since + PURGE_AFTER <= at:
                        phase = "purged"
                    else:
                        break
                else:
                    if expires is None:
                        break
                    if phase in ("active", "overdue_grace") and expires <= at:
                        phase = "suspended"
                    elif phase == "suspended" and expires + RETENTION <= at:
                        phase = "purged"
                    else:
                        break
            if not kind:
                break
            if phase in ("purged", "released"):
                continue
            if kind == "balance_negative":
                if phase == "active":
                    phase, overdue, since = "overdue_grace", True, at
                elif phase == "suspended" and not payg and not overdue:
                    overdue, since = True, at
            elif kind == "recharged":
                if phase in ("overdue_grace", "restricted") or (phase == "suspended" and payg):
                    phase, overdue, since = "active", False, None
                elif phase == "suspended" and overdue:
                    overdue, since = False, None
            elif kind == "renewed":
                if (
                    not payg
                    and not overdue
                    and phase in ("active", "suspended")
                    and (expires is None or new_expiry > expires)
                ):
                    phase, expires = "active", new_expiry
            elif kind == "released":
                phase = "released"
        out.append((phase, ALLOWED[(operation, billing, phase)]))
    return out


# -- fsm ---------------------------------------------------------------------------------


def fsm_fleet(fleet: list[RawRow], now: datetime) -> list[Any]:
    """Each cluster's ``FleetVerdict``: its id, phase and verdict (as the caller gets them)."""
    from fsm.steps import decide_fleet

    return decide_fleet(
        # Rows as FleetRow's fields, each event a (kind, at, expires_at) tuple.
        ((cid, billing, events, expires, "default") for cid, billing, expires, events, _ in fleet),
        now,
        # The operations in step with the rows: each raw row is read in one pass, as the
        # floor reads it (a list of them first was a second pass over 100k cold rows).
        (row[4] for row in fleet),
    )


def cluster_fleet(fleet: list[RawRow], now: datetime) -> list[tuple[str, bool]]:
    import fsm

    out: list[tuple[str, bool]] = []
    for cid, billing, expires, events, operation in fleet:
        cluster = fsm.Cluster(cid, billing, expires_at=expires)
        for event in events:
            cluster.record(fsm.Event.create(*event), now=now)
        cluster.advance(now)
        out.append((cluster.phase, cluster.decide(operation).allowed))
    return out


SIDES = {"floor": floor_fleet, "fsm": fsm_fleet, "cluster": cluster_fleet}


def worker(size: int, side: str) -> dict[str, Any]:
    fleet = rows(size)
    if side != "floor":
        # The import is start-up, timed by the start-up benchmark. ``import fsm`` alone
        # defers the machine (and transitions) to first use: import what each side runs.
        import fsm.lifecycle
        import fsm.steps  # noqa: F401

    started, cpu = time.perf_counter(), time.process_time()
    verdicts = SIDES[side](fleet, NOW)
    cpu, seconds = time.process_time() - cpu, time.perf_counter() - started
    # What the call leaves the cyclic collector (decide_fleet rests it during the
    # call): the young collections its first allocations would run, timed here before
    # anything else allocates.
    collector = time.process_time()
    gc.collect(0)
    gc.collect(1)
    collector = time.process_time() - collector
    digest = hashlib.sha256(
        # Every side's items end with (phase, allowed).
        "\n".join(f"{item[-2]}:{int(item[-1])}" for item in verdicts).encode()
    ).hexdigest()
    return {
        "wall": seconds,
        "cpu": cpu,
        "collector": collector,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "digest": digest,
        "allowed": sum(item[-1] for item in verdicts),
    }


class Runner:
    """Runs one side of one size in a fresh process; checks every side agrees."""

    def __init__(self, clock: str) -> None:
        self.clock = clock
        self.digests: dict[int, set[str]] = {}
        self.rss: dict[tuple[int, str], list[float]] = {}
        self.collector: dict[tuple[int, str], list[float]] = {}

    def __call__(self, size: int, side: str) -> float:
        out = subprocess.run(
            [sys.executable, __file__, "--worker", str(size), "--side", side],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(out.stdout)
        seen = self.digests.setdefault(size, set())
        seen.add(result["digest"])
        if len(seen) != 1:
            raise SystemExit(f"{size:,} clusters: {side} disagrees with another side")
        self.rss.setdefault((size, side), []).append(result["peak_rss_mb"])
        self.collector.setdefault((size, side), []).append(result["collector"])
        return float(result[self.clock])


Times = dict[tuple[int, str], list[float]]


def in_rounds(run: Runner, sizes: list[int], sides: list[str], rounds: int) -> Times:
    """Each side at each size once per round; every other round in reverse order.

    A warm-up run of each side (untimed) fills file caches and ``.pyc`` files first.
    """
    for side in sides:
        run(min(sizes), side)
    times: Times = {}
    for index in range(max(rounds, MIN_ROUNDS)):
        order = [(size, side) for size in sizes for side in sides]
        for size, side in reversed(order) if index % 2 else order:
            times.setdefault((size, side), []).append(run(size, side))
    return times


def scaling(times: Times, side: str, small: int, large: int) -> list[float]:
    """t(large)/t(small) of ``side`` in each round."""
    pairs = zip(times[(large, side)], times[(small, side)], strict=True)
    return [big / little for big, little in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=9, help="alternating rounds (>= 3)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--no-cluster", action="store_true", help="skip the Cluster row")
    parser.add_argument("--show-runs", action="store_true")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=sorted(SIDES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.side)))
        return

    run = Runner(args.clock)
    sizes = sorted(set(args.sizes))
    sides = ["floor", "fsm"] if args.no_cluster else ["floor", "fsm", "cluster"]
    times = in_rounds(run, sizes, sides, args.rounds)
    rounds = len(times[(sizes[0], "floor")])
    print(f"{args.clock} time of the timed call, median of {rounds} rounds")

    def median_row(name: str, size: int, side: str, target: float | None) -> Row:
        return Row(
            name,
            statistics.median(times[(size, side)]),
            statistics.median(times[(size, "floor")]),
            target=target,
            floor_name="plain Python",
            runs=tuple(times[(size, side)]),
            floor_runs=tuple(times[(size, "floor")]),
        )

    table: list[Row] = []
    for size in sizes:
        table.append(median_row(f"fleet {size:,}: build+advance+decide", size, "fsm", 4))
        if not args.no_cluster:
            table.append(median_row("  the same with a Cluster object each", size, "cluster", None))
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        for side, name, target in (
            ("fsm", f"t({large:,})/t({small:,}) in one round", 1.1),
            ("floor", "  the floor's own, in one round", None),
        ):
            ratios = scaling(times, side, small, large)
            table.append(
                Row(
                    name,
                    statistics.median(ratios),
                    large / small,
                    target=target,
                    unit="x",
                    floor_name="sizes",
                    runs=tuple(ratios),
                    floor_runs=(large / small,),
                )
            )
    largest = sizes[-1]
    table.append(
        Row(
            f"  young collections after the call, {largest:,}",
            statistics.median(run.collector[(largest, "fsm")]),
            statistics.median(times[(largest, "fsm")]),
            floor_name="the call",
            runs=tuple(run.collector[(largest, "fsm")]),
            floor_runs=tuple(run.collector[(largest, "floor")]),
        )
    )
    for side, name, target in (
        ("fsm", f"peak RSS, fleet of {largest:,} (fsm)", 1.0),
        ("floor", f"  the floor's peak RSS, {largest:,}", None),
    ):
        table.append(
            Row(
                name,
                statistics.median(run.rss[(largest, side)]),
                RSS_BUDGET_MB,
                target=target,
                unit="MB",
                floor_name="budget",
                runs=tuple(run.rss[(largest, side)]),
            )
        )
    every = print_rows(table, show_runs=args.show_runs)
    print("every side agreed on every cluster's phase and verdict")
    sys.exit(0 if every else 1)


if __name__ == "__main__":
    main()
