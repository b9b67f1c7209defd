"""`overdue-fsm sync` of 5,000 clusters against the fake Alibaba Cloud endpoint.

    python benchmarks/sync.py [--clusters 5000] [--rounds 5] [--engine sqlite|postgresql|both]

The fake endpoint (tests/aliyun/fake_endpoint.py) runs in a process of its own on
127.0.0.1, so serving the pages never competes with the sync for this interpreter.
The SDK is imported once before anything is timed; its import is a row of its own
(``python -c 'import <the SDK modules>'`` against ``python -c pass``).

Rows, each the median of alternating rounds against its floor in the same run:

- first run: a sync into a new store (read the balance and every page of
  ListClusters, decode, record every cluster in batches, remember the sync),
  against the floor of listing the same clusters with the SDK alone (its
  ``list_clusters_with_options`` page by page: the source's own cost). Target:
  at most 1.2 s (issue 10), printed beside the ratio.
- second run, nothing changed: the same sync again with the cloud saying the same
  at the same instant (the source's clock held still); it must write nothing, and
  the line says whether the store's file (SQLite) or rows (PostgreSQL) stayed as
  they were.
- a later look, nothing changed: the same sync a minute later. SPEC section 3
  keeps every observation, one that changes nothing too, so this one appends one
  event per cluster; printed for comparison, no target.

PostgreSQL: ``OVERDUE_FSM_BENCH_PG`` or ``OVERDUE_FSM_TEST_PG``, else
postgresql://postgres@127.0.0.1:5432/test; each round uses its own schema.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rounds import Row, alternate, print_rows  # noqa: E402

REGION = "cn-hangzhou"
TARGET_FIRST_S = 1.2  # issue 10: first run after the SDK import
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
SDK_MODULES = (
    "alibabacloud_tea_openapi.models",
    "alibabacloud_emr20210320.client",
    "alibabacloud_emr20210320.models",
    "alibabacloud_bssopenapi20171214.client",
    "alibabacloud_bssopenapi20171214.models",
    "alibabacloud_credentials.client",
)
TABLES = ("clusters", "events", "checkpoints", "warnings", "account_syncs")


@contextmanager
def fake_endpoint(clusters: int) -> Iterator[str]:
    """The fake endpoint in its own process; yields ``127.0.0.1:PORT``."""
    from tests.aliyun.fake_endpoint import standalone

    with standalone(clusters, REGION) as process:
        yield f"127.0.0.1:{process.port}"  # type: ignore[attr-defined]


def python_wall(code: str) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
        return time.perf_counter() - started

    return run


class Stores:
    """A new, empty store for each round, on one engine."""

    def __init__(self, engine: str, workdir: Path) -> None:
        self.engine = engine
        self.workdir = workdir
        self.base = (
            os.environ.get("OVERDUE_FSM_BENCH_PG")
            or os.environ.get("OVERDUE_FSM_TEST_PG")
            or PG_DEFAULT
        )
        self.schemas: list[str] = []

    def new(self) -> str:
        if self.engine == "sqlite":
            return f"sqlite://{tempfile.mkdtemp(dir=self.workdir)}/clusters.db"
        schema = f"bench_sync_{uuid.uuid4().hex[:10]}"
        self.schemas.append(schema)
        separator = "&" if "?" in self.base else "?"
        return f"{self.base}{separator}schema={schema}"

    def drop(self) -> None:
        if not self.schemas:
            return
        import psycopg

        with closing(psycopg.connect(self.base, autocommit=True)) as conn:
            for schema in self.schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.schemas.clear()


def content(url: str) -> object:
    """What "wrote nothing" compares: the SQLite files' bytes, or every row of every table."""
    if url.startswith("sqlite://"):
        path = Path(url.removeprefix("sqlite://"))
        return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}
    from fsm.store import open_store

    with open_store(url, create=False) as store:
        return {
            table: sorted(
                store._read(lambda tx, t=table: tx.rows(f"SELECT * FROM {t}")),  # type: ignore[misc]
                key=repr,
            )
            for table in TABLES
        }


def sdk_listing(source: Any, clusters: int) -> Callable[[], float]:
    """Every page of ListClusters through the SDK alone: the source's own cost."""

    def run() -> float:
        client, _ = source._emr_client(REGION, "ListClusters")
        models = source._sdk.emr_models
        began = time.perf_counter()
        token, listed = None, 0
        while True:
            request = models.ListClustersRequest(
                region_id=REGION, max_results=100, next_token=token
            )
            body = client.list_clusters_with_options(request, source._runtime()).body
            listed += len(body.clusters)
            token = body.next_token
            if not token:
                break
        took = time.perf_counter() - began
        assert listed == clusters, listed
        return took

    return run


def run_sync(url: str, source: Any) -> float:
    from fsm.store import open_store
    from fsm.sync import sync

    began = time.perf_counter()
    with open_store(url) as store:
        summary = sync(store, source, [REGION])
    took = time.perf_counter() - began
    assert summary.complete, summary.stopped()
    return took


def source_at(endpoint: str, instant: datetime | None = None) -> Any:
    """A source of the fake; with ``instant``, one whose clock stands still there."""
    from fsm.sources.aliyun import AliyunSource

    source = AliyunSource(endpoint=endpoint, protocol="http", timeout_s=30)
    if instant is not None:
        source._clock = lambda: instant  # the cloud says the same at the same instant
    return source


def engine_rows(
    engine: str, endpoint: str, workdir: Path, clusters: int, rounds: int
) -> tuple[list[Row], list[str]]:
    stores = Stores(engine, workdir)
    source = source_at(endpoint)
    floor = sdk_listing(source, clusters)
    still = source._clock()
    held = source_at(endpoint, still)
    moved = source_at(endpoint, still + timedelta(minutes=1))
    wrote: list[bool] = []

    def first() -> float:
        return run_sync(stores.new(), source)

    def second() -> float:
        url = stores.new()
        run_sync(url, held)
        before = content(url)
        took = run_sync(url, held)
        wrote.append(content(url) != before)
        return took

    def later() -> float:
        url = stores.new()
        run_sync(url, held)
        return run_sync(url, moved)

    rows, notes = [], []
    try:
        for name, measured in (
            (f"sync {clusters:,} first run ({engine})", first),
            (f"sync {clusters:,} second run, unchanged ({engine})", second),
            (f"sync {clusters:,} a later look, unchanged ({engine})", later),
        ):
            row = alternate(
                name, floor=floor, measured=measured, rounds=rounds, floor_name="SDK listing"
            )
            rows.append(row)
            print(row.line(), flush=True)
    finally:
        stores.drop()
    verdict = "met" if rows[0].measured <= TARGET_FIRST_S else "MISSED"
    notes.append(
        f"first run ({engine}): {rows[0].measured:.3f} s after the SDK import "
        f"(target <= {TARGET_FIRST_S} s) {verdict}"
    )
    notes.append(
        f"second run ({engine}) wrote nothing: "
        f"{'no, it WROTE' if any(wrote) else 'yes'} (checked after {len(wrote)} runs)"
    )
    return rows, notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="sqlite")
    args = parser.parse_args()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        os.environ.pop(name, None)
    os.environ.setdefault("ALIBABA_CLOUD_ACCESS_KEY_ID", "fake-key-id")
    os.environ.setdefault("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "fake-secret")

    rows: list[Row] = [
        alternate(
            "SDK import (python -c 'import ...')",
            floor=python_wall("pass"),
            measured=python_wall("; ".join(f"import {m}" for m in SDK_MODULES)),
            rounds=args.rounds,
            unit="ms",
            scale=1e3,
            floor_name="python -c pass",
        )
    ]
    print(rows[0].line(), flush=True)
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    notes: list[str] = []
    with fake_endpoint(args.clusters) as endpoint, tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        source_at(endpoint).snapshot([REGION])  # the SDK imported: nothing below counts it
        print(
            f"SDK import and a first listing in this process: {time.perf_counter() - started:.2f} s"
        )
        for engine in engines:
            more, said = engine_rows(engine, endpoint, Path(tmp), args.clusters, args.rounds)
            rows += more
            notes += said
    print()
    every = print_rows(rows)
    for note in notes:
        print(note)
        every = every and "MISSED" not in note and "WROTE" not in note
    return 0 if every else 1


if __name__ == "__main__":
    sys.exit(main())
