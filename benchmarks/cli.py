"""What ``overdue-fsm check`` costs a guard, against starting the interpreter at all.

Two rows, each the console script of the interpreter running this file (``.venv/bin/
overdue-fsm``) timed as a whole process, alternately with its floor ``python -c pass``
of the same interpreter (wall time, medians over the rounds; target ratio <= 2.5):

1. ``check`` stateless: the facts on the command line (``--billing``, ``--overdue-since``);
2. ``check`` against a store of 10,000 clusters (SQLite, built here in a temp dir first).

It is a benchmark, not a test: it exits 0 unless a run fails.

    .venv/bin/python benchmarks/cli.py [--rounds 11] [--clusters 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rounds import alternate, print_rows

TARGET = 2.5
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
STATELESS = (
    "check",
    "c-1",
    "scale_out",
    "--billing",
    "pay_as_you_go",
    "--overdue-since",
    "2026-01-01T00:00:00Z",
    "--now",
    "2026-01-01T12:00:00Z",
)


def fill(url: str, clusters: int) -> None:
    """A fleet of CLUSTERS: a third subscriptions, the rest pay-as-you-go, half of them overdue."""
    import fsm
    from fsm.store import open_store

    with open_store(url) as store:
        for k in range(clusters):
            cid = f"fleet-{k:05d}"
            if k % 3 == 0:
                seen = fsm.Observation.create(at=T0, balance="10")
                store.observe(
                    cid,
                    seen,
                    billing="subscription",
                    expires_at=T0 + timedelta(days=k % 40),
                    now=NOW,
                )
            else:
                seen = fsm.Observation.create(
                    at=T0 + timedelta(hours=k % 500), balance="-1" if k % 2 else "5"
                )
                store.observe(cid, seen, billing="pay_as_you_go", account=f"a{k % 7}", now=NOW)


def timed(argv: list[str], env: dict[str, str], codes: tuple[int, ...] = (0,)) -> float:
    """Wall time of one process; a run that fails ends the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in codes:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11, help="runs of each side (default 11)")
    parser.add_argument("--clusters", type=int, default=10_000)
    args = parser.parse_args()

    python = sys.executable
    script = str(Path(python).parent / "overdue-fsm")
    # As an installed package runs: its bytecode cached (PYTHONDONTWRITEBYTECODE would make every
    # run compile fsm from source, which no user's install does).
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OVERDUE_FSM_") and key != "PYTHONDONTWRITEBYTECODE"
    }
    floor = [python, "-c", "pass"]
    with tempfile.TemporaryDirectory(prefix="overdue-bench-cli-") as tmp:
        url = f"sqlite://{tmp}/fleet.db"
        started = time.perf_counter()
        fill(url, args.clusters)
        print(
            f"{args.clusters:,} clusters stored in {time.perf_counter() - started:.1f} s; "
            f"{args.rounds} rounds, console script of {python}",
            flush=True,
        )
        stored = ["check", f"fleet-{args.clusters // 2 + 1:05d}", "scale_out", "--store", url]
        stored += ["--now", NOW.strftime("%Y-%m-%dT%H:%M:%SZ")]
        rows = [
            alternate(
                "check stateless",
                floor=lambda: timed(floor, env),
                measured=lambda: timed([script, *STATELESS], env, codes=(0, 1)),
                rounds=args.rounds,
                target=TARGET,
                unit="ms",
                scale=1e3,
                floor_name="python -c pass",
            ),
            alternate(
                f"check against a {args.clusters:,}-cluster store",
                floor=lambda: timed(floor, env),
                # Allowed or denied, both are answers (exit 0 or 1).
                measured=lambda: timed([script, *stored], env, codes=(0, 1)),
                rounds=args.rounds,
                target=TARGET,
                unit="ms",
                scale=1e3,
                floor_name="python -c pass",
            ),
        ]
    print_rows(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
