"""Many writers at once, and writers killed mid-write, on each engine.

Ansible runs one process per fork and several pipelines share a store: no
event may be lost, duplicated or applied against a stale view, and a writer
killed with SIGKILL at any instant must leave a sound store that holds every
event whose write returned.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time
from contextlib import closing
from datetime import datetime, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from fsm import Observation
from fsm.store import open_store
from fsm.timeutil import format_time

from .conftest import T0, at

pytestmark = pytest.mark.slow

PROCESSES = 8
OBSERVATIONS = 500
SHARED = 10  # clusters every process observes
OWN = 5  # clusters only one process observes
NOW = at(days=1)


def look(step: int) -> tuple[datetime, Decimal]:
    """The observation of a cluster at ``step``: balances alternate, so each is an event."""
    return T0 + timedelta(minutes=step), Decimal(-1 if step % 2 == 0 else 1)


def plan(process: int) -> list[tuple[str, int]]:
    """Half the observations on shared clusters, in the same order in every process."""
    steps = []
    for j in range(OBSERVATIONS):
        k = j // 2
        if j % 2 == 0:
            steps.append((f"shared-{k % SHARED}", k // SHARED))
        else:
            steps.append((f"own-{process}-{k % OWN}", k // OWN))
    return steps


def writer(url: str, process: int, barrier: Barrier, out: Connection) -> None:
    recorded = 0
    with open_store(url) as store:
        barrier.wait()
        for cid, step in plan(process):
            when, balance = look(step)
            result = store.observe(
                cid, Observation(when, balance), billing="pay_as_you_go", now=NOW
            )
            recorded += len(result.recorded)
    out.send(recorded)


def expected_history() -> dict[str, list[tuple[str, datetime]]]:
    expected: dict[str, list[tuple[str, datetime]]] = {}
    for process in range(PROCESSES):
        for cid, step in plan(process):
            when, balance = look(step)
            kind = "balance_negative" if balance < 0 else "recharged"
            log = expected.setdefault(cid, [])
            if (kind, when) not in log:
                log.append((kind, when))
    return expected


def test_eight_writers_on_overlapping_clusters_store_each_event_exactly_once(
    store_url: str,
) -> None:
    """The store does not exist yet: the writers also race to create it."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    pipes, workers = [], []
    for process in range(PROCESSES):
        receive, send = ctx.Pipe(duplex=False)
        worker = ctx.Process(target=writer, args=(store_url, process, barrier, send))
        worker.start()
        pipes.append(receive)
        workers.append(worker)
    counts = [pipe.recv() for pipe in pipes]
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    expected = expected_history()
    total = sum(len(log) for log in expected.values())
    assert total == SHARED * 25 + PROCESSES * OWN * 50
    assert sum(counts) == total  # each event was reported recorded by exactly one writer
    with open_store(store_url, create=False) as store:
        states = store.clusters(now=NOW)
        assert len(states) == len(expected)
        for cid, log in expected.items():
            stored = [(str(e.kind), e.at) for e in store.history(cid)]
            assert stored == log, cid  # in order, nothing lost, nothing twice


def first_write(url: str, process: int, barrier: Barrier) -> None:
    store = open_store(url)
    barrier.wait()
    store.upsert_cluster(f"c-{process}", "pay_as_you_go")
    store.close()


def test_writers_racing_to_create_the_store_all_succeed(store_url: str) -> None:
    ctx = multiprocessing.get_context("fork")
    for attempt in range(5):
        url = store_url.replace("clusters.db", f"race-{attempt}.db")
        barrier = ctx.Barrier(PROCESSES)
        workers = [
            ctx.Process(target=first_write, args=(url, process, barrier))
            for process in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [worker.exitcode for worker in workers] == [0] * PROCESSES
        with open_store(url, create=False) as store:
            assert len(store.clusters(now=at())) == PROCESSES


# -- kill -9 ----------------------------------------------------------------------------------

REPETITIONS = 50


def doomed_writer(url: str, prefix: str, acks: int) -> None:
    """Write until killed; report each event whose write returned."""
    with open_store(url) as store:
        for step in range(100_000):
            cid = f"{prefix}-{step % 3}"
            when, balance = look(step // 3)
            result = store.observe(
                cid, Observation(when, balance), billing="pay_as_you_go", now=at(days=400)
            )
            for event in result.recorded:
                os.write(acks, f"{cid} {event.kind} {format_time(event.at)}\n".encode())


def run_and_kill(url: str, prefix: str, rng: random.Random) -> list[str]:
    """Fork a writer, kill it after a random number of writes; the acknowledged events."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child dies by SIGKILL
        os.close(read_end)
        try:
            doomed_writer(url, prefix, write_end)
        finally:
            os._exit(3)
    os.close(write_end)
    target = rng.randint(1, 25)
    received = b""
    with os.fdopen(read_end, "rb") as pipe:
        while received.count(b"\n") < target:
            chunk = os.read(pipe.fileno(), 4096)
            if not chunk:
                break
            received += chunk
        time.sleep(rng.uniform(0, 0.003))  # land anywhere in the next write
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        received += pipe.read()
    assert os.WIFSIGNALED(status), "the writer ended before it was killed"
    return received.decode().splitlines()


def test_a_writer_killed_mid_write_leaves_a_sound_store_with_every_acknowledged_event(
    store_url: str,
) -> None:
    rng = random.Random(20260101)
    open_store(store_url).close()
    acknowledged = 0
    for repetition in range(REPETITIONS):
        prefix = f"r{repetition}"
        acks = run_and_kill(store_url, prefix, rng)
        acknowledged += len(acks)
        if store_url.startswith("sqlite:"):
            db = Path(store_url.removeprefix("sqlite://"))
            with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        with open_store(store_url, create=False) as store:
            stored = set()
            for k in range(3):
                cid = f"{prefix}-{k}"
                if store.get(cid) is None:
                    continue
                events = [f"{cid} {e.kind} {format_time(e.at)}" for e in store.history(cid)]
                assert len(events) == len(set(events)), "an event was stored twice"
                stored.update(events)
            missing = [ack for ack in acks if ack not in stored]
            assert not missing, f"repetition {repetition}: lost {missing}"
    assert acknowledged >= REPETITIONS
    with open_store(store_url) as store:  # and the store still takes writes
        result = store.observe(
            "after", Observation(at(), Decimal(-1)), billing="pay_as_you_go", now=at()
        )
        assert result.changed
