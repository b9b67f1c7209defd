"""Fleet benchmark: build N clusters with 1-3 events each, then advance every one
to a common instant and decide one operation for it.

Each size runs in its own process so that peak RSS is that size's alone.
Targets (issue 2, this 2-core machine): 100,000 clusters advanced and decided in
<= 2 s, <= 300 MB peak RSS, and t(100k) / t(10k) <= 12.

    .venv/bin/python benchmarks/fleet.py            # 10k and 100k
    .venv/bin/python benchmarks/fleet.py --sizes 1000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Runs from a checkout without installing: the repository root holds fsm/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASE = datetime(2026, 1, 1, tzinfo=UTC)
NOW = BASE + timedelta(days=90)
OPERATIONS = ("scale_out", "submit_task", "view_cluster_info", "restart_service")


def build(size: int, seed: int = 7) -> list[object]:
    import fsm

    rnd = random.Random(seed)
    clusters: list[object] = []
    for i in range(size):
        if i % 3:
            cluster = fsm.Cluster(f"c-{i:07d}", "pay_as_you_go")
            cluster.balance_negative(BASE + timedelta(hours=rnd.randrange(24 * 85)), now=NOW)
            if i % 7 == 0:  # some recover, some walk again
                cluster.recharged(BASE + timedelta(days=rnd.randrange(30, 88)), now=NOW)
            if i % 11 == 0:
                cluster.released(BASE + timedelta(days=rnd.randrange(40, 89)), now=NOW)
        else:
            cluster = fsm.Cluster(
                f"s-{i:07d}",
                "subscription",
                expires_at=BASE + timedelta(days=rnd.randrange(0, 100)),
            )
            if i % 2:
                cluster.balance_negative(BASE + timedelta(days=rnd.randrange(0, 40)), now=NOW)
            if i % 5 == 0:
                cluster.renewed(
                    BASE + timedelta(days=rnd.randrange(0, 30)),
                    BASE + timedelta(days=rnd.randrange(120, 400)),
                    now=NOW,
                )
        clusters.append(cluster)
    return clusters


def one_size(size: int) -> dict[str, float]:
    started = time.perf_counter()
    clusters = build(size)
    built = time.perf_counter()
    allowed = 0
    for index, cluster in enumerate(clusters):
        cluster.advance(NOW)  # type: ignore[attr-defined]
        decision = cluster.decide(OPERATIONS[index % len(OPERATIONS)])  # type: ignore[attr-defined]
        allowed += decision.allowed
    evaluated = time.perf_counter()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "size": size,
        "build_s": built - started,
        "evaluate_s": evaluated - built,
        "total_s": evaluated - started,
        "peak_rss_mb": peak_kb / 1024,
        "allowed": allowed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the median is shown")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(one_size(args.worker)))
        return

    results: dict[int, dict[str, float]] = {}
    for size in args.sizes:
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, __file__, "--worker", str(size)],
                check=True,
                capture_output=True,
                text=True,
            )
            runs.append(json.loads(out.stdout))
        results[size] = {
            key: statistics.median(run[key] for run in runs) for key in runs[0] if key != "size"
        }

    print(
        f"{'clusters':>9} {'build s':>8} {'advance+decide s':>17} {'us/cluster':>11} "
        f"{'total s':>8} {'peak RSS MB':>12}"
    )
    for size, r in results.items():
        print(
            f"{size:>9,} {r['build_s']:>8.2f} {r['evaluate_s']:>17.2f} "
            f"{r['evaluate_s'] / size * 1e6:>11.1f} {r['total_s']:>8.2f} {r['peak_rss_mb']:>12.0f}"
        )
    if len(results) >= 2:
        small, large = min(results), max(results)
        ratio = results[large]["evaluate_s"] / results[small]["evaluate_s"]
        total_ratio = results[large]["total_s"] / results[small]["total_s"]
        print(
            f"t({large:,})/t({small:,}): advance+decide {ratio:.1f} "
            f"(size ratio {large / small:.0f}), build+advance+decide {total_ratio:.1f}"
        )


if __name__ == "__main__":
    main()
