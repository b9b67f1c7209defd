"""A write to a cluster the store wrote before plans from what that write left.

The store remembers what its own last write to a cluster left and plans the next
write from it without reading, the cluster's token checked under the lock as for a
snapshot. Nothing of it shows but speed: every answer and every row is the one a
store that reads before each write gives, and a change by another writer is seen.
On PostgreSQL a write is one round trip (counted in libpq's trace: each round trip
ends with one ReadyForQuery from the server).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsm import Event, Observation
from fsm.store import open_store

from .conftest import Raw, at

# One step of a writer: (minutes after T0, balance, idempotency key?, expiry days?)
steps = st.lists(
    st.tuples(
        st.integers(0, 600),
        st.sampled_from(["-3", "0", "5"]),
        st.booleans(),
        st.sampled_from([None, None, 10, 40]),
    ),
    min_size=1,
    max_size=25,
)


def observe_step(store: Any, cid: str, step: tuple[int, str, bool, int | None], n: int) -> Any:
    minutes, balance, keyed, expiry = step
    return store.observe(
        cid,
        Observation.create(at=at(minutes=minutes), balance=balance),
        billing="subscription" if expiry is not None or cid.endswith("s") else "pay_as_you_go",
        expires_at=None if expiry is None else at(days=expiry),
        idempotency_key=f"k-{minutes}" if keyed else None,
        now=at(minutes=600 + n),
    )


def answer(result: Any) -> tuple[Any, ...]:
    return (
        result.created,
        result.changed,
        result.duplicate,
        [(str(e.kind), e.at) for e in result.recorded],
        [(o.applied, o.effect) for o in result.outcomes],
        result.after,
        result.entered,
    )


def stored(url: str) -> tuple[Any, ...]:
    raw = Raw(url)
    return (
        raw.query(
            "SELECT cluster_id, account, billing, expires_at, region, last_phase,"
            " last_evaluated_at, checkpoint, newest_at, since_checkpoint FROM clusters"
            " ORDER BY cluster_id"
        ),
        raw.query(
            "SELECT cluster_id, kind, at, expires_at, idempotency_key, payload, applied, effect"
            " FROM events ORDER BY seq"
        ),
        raw.query(
            "SELECT cluster_id, at, rank, expiry, state FROM checkpoints ORDER BY 1, 2, 3, 4"
        ),
    )


@contextmanager
def two_stores() -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite://{tmp}/kept.db", f"sqlite://{tmp}/fresh.db"


@settings(max_examples=30, deadline=None)
@given(plan=st.lists(st.tuples(st.sampled_from(["c-p", "c-s"]), steps), min_size=1, max_size=3))
def test_a_store_that_remembers_answers_and_stores_as_one_that_reads_before_each_write(
    plan: list[tuple[str, list[tuple[int, str, bool, int | None]]]],
) -> None:
    """In order, late, repeated, keyed, with a new expiry: the same answers, the same rows."""
    with two_stores() as (kept_url, fresh_url):
        with open_store(kept_url) as kept:
            n = 0
            for cid, cluster_steps in plan:
                for step in cluster_steps:
                    n += 1
                    mine = outcome(lambda: observe_step(kept, cid, step, n), kept_url)  # noqa: B023
                    with open_store(fresh_url) as fresh:
                        theirs = outcome(lambda: observe_step(fresh, cid, step, n), fresh_url)  # noqa: B023
                    assert mine == theirs
        assert stored(kept_url) == stored(fresh_url)


def outcome(write: Any, url: str) -> tuple[Any, ...]:
    """What a write answered, or how it was refused (the same refusal from both stores)."""
    try:
        return answer(write())
    except Exception as error:
        return (type(error), str(error).replace(url, "?"))


def test_the_rows_a_remembering_store_leaves_are_those_a_reading_store_leaves(
    tmp_path: Path,
) -> None:
    kept_url, fresh_url = f"sqlite://{tmp_path}/kept.db", f"sqlite://{tmp_path}/fresh.db"
    script = [(m, "-3" if m % 3 else "5", m % 7 == 0, None) for m in range(0, 300, 4)]
    script += [(m, "-3", False, None) for m in (150, 151, 299)]  # late ones and a repeat
    script += [(m, "5", False, 30) for m in (310, 320)]  # a new expiry
    with open_store(kept_url) as kept:
        for n, step in enumerate(script):
            observe_step(kept, "c-s", step, n)
            with open_store(fresh_url) as fresh:
                observe_step(fresh, "c-s", step, n)
    kept_rows, fresh_rows = stored(kept_url), stored(fresh_url)
    assert kept_rows == fresh_rows
    assert len(kept_rows[1]) > 70


def test_a_write_by_another_store_between_two_writes_is_seen(store_url: str) -> None:
    with open_store(store_url) as mine, open_store(store_url) as other:
        first = mine.observe(
            "c-1", Observation.create(at=at(), balance="-5"), billing="pay_as_you_go", now=at()
        )
        assert first.after.phase == "overdue_grace"
        other.observe("c-1", Observation.create(at=at(hours=1), balance="5"), now=at(hours=1))
        # mine remembers c-1 as overdue; the recharge the other store recorded counts.
        again = mine.observe(
            "c-1", Observation.create(at=at(hours=2), balance="5"), now=at(hours=2)
        )
        assert again.changed is False  # kept, but it changes nothing: already recharged
        assert again.after.phase == "active"
        assert [str(e.kind) for e in other.history("c-1")] == [
            "balance_negative",
            "recharged",
            "recharged",
        ]


# -- PostgreSQL: round trips ---------------------------------------------------------------


@contextmanager
def counted(store: Any) -> Iterator[list[int]]:
    """The round trips of ``store``'s connection within the block, when it ends."""
    import psycopg

    found: list[int] = []
    conn = store._conn
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield found
        finally:
            conn.pgconn.untrace()
            trace.seek(0)
            found.append(sum("ReadyForQuery" in line for line in trace))


@pytest.fixture
def pg_store(store_url: str) -> Iterator[Any]:
    if store_url.startswith("sqlite:"):
        pytest.skip("round trips are PostgreSQL's")
    with open_store(store_url) as store:
        store.upsert_cluster("setup", "pay_as_you_go")
        yield store


def look(minutes: int, balance: str) -> Observation:
    return Observation.create(at=at(minutes=minutes), balance=balance)


def test_an_observation_of_a_cluster_the_store_wrote_is_one_round_trip(pg_store: Any) -> None:
    pg_store.observe("c-1", look(0, "-5"), billing="pay_as_you_go", now=at(days=1))
    for minutes in range(1, 12):
        balance = "5" if minutes % 2 else "-5"
        with counted(pg_store) as trips:
            result = pg_store.observe("c-1", look(minutes, balance), now=at(days=1))
        assert len(result.recorded) == 1
        assert trips == [1]
    with counted(pg_store) as trips:  # a repeat writes nothing: one read checks the token
        result = pg_store.observe("c-1", look(11, "5"), now=at(days=1))
    assert (result.recorded, trips) == ([], [1])


def test_a_first_look_at_a_cluster_is_a_read_and_a_write(pg_store: Any) -> None:
    with counted(pg_store) as trips:
        pg_store.observe("c-new", look(0, "-5"), billing="pay_as_you_go", now=at(days=1))
    assert trips == [2]
    with counted(pg_store) as trips:  # a late event reads what it replays, then writes
        pg_store.observe("c-new", look(30, "5"), now=at(days=1))
        result = pg_store.record("c-new", Event.create("balance_negative", at(minutes=10)))
    assert result.recorded and trips == [3]


def test_a_write_that_lost_the_race_is_planned_again_under_the_lock(
    pg_store: Any, store_url: str
) -> None:
    pg_store.observe("c-1", look(0, "-5"), billing="pay_as_you_go", now=at(days=1))
    with open_store(store_url) as other:
        other.observe("c-1", look(1, "5"), now=at(days=1))
    # Planned from c-1 as pg_store left it, checked and refused, planned again: stored once.
    result = pg_store.observe("c-1", look(2, "-5"), now=at(days=1))
    assert [str(e.kind) for e in result.recorded] == ["balance_negative"]
    assert [str(e.kind) for e in pg_store.history("c-1")] == [
        "balance_negative",
        "recharged",
        "balance_negative",
    ]
    with counted(pg_store) as trips:  # the next write reads it, the one after remembers it
        pg_store.observe("c-1", look(3, "5"), now=at(days=1))
        pg_store.observe("c-1", look(4, "-5"), now=at(days=1))
    assert trips == [3]


def test_the_planned_write_checks_and_writes_at_the_server(pg_store: Any, raw: Raw) -> None:
    names = {name for (name,) in raw.query("SELECT proname FROM pg_proc WHERE proname LIKE ?",
                                            ("overdue_fsm_%",))}  # fmt: skip
    assert {"overdue_fsm_claim", "overdue_fsm_finish"} <= names
