"""Through the store or in memory, the same observations give the same cluster.

The store keeps facts and events and the core recomputes the phase; whatever
the order observations arrive in, a cluster loaded from the store must be
the cluster the core builds in memory: same log (times exact to the
microsecond, in recording order), same state at any instant.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsm import Cluster, InputError, Observation, events_for
from fsm.store import open_store

from .conftest import T0, Raw

END = T0 + timedelta(days=120)
instants = st.integers(min_value=0, max_value=100 * 24 * 3600 * 10**6).map(
    lambda micros: T0 + timedelta(microseconds=micros)
)


@st.composite
def observations(draw: st.DrawFn) -> Observation:
    at = draw(instants)
    balance = draw(st.sampled_from([None, Decimal("-5.25"), Decimal("0"), Decimal("7")]))
    overdue_since = None
    if balance is None or balance < 0:
        since = draw(st.none() | instants)
        overdue_since = since if since is None or since <= at else at
    renewed_until = None
    if draw(st.booleans()):
        renewed_until = at + timedelta(days=draw(st.integers(1, 400)))
    released = draw(st.integers(0, 9)) == 0
    return Observation(at, balance, overdue_since, renewed_until, released)


ids = itertools.count()
# One store for every example of a test (each its own cluster): the fixture is reused.
replays = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@replays
@given(
    billing=st.sampled_from(["pay_as_you_go", "subscription"]),
    expiry_days=st.integers(1, 90),
    looks=st.lists(observations(), min_size=1, max_size=8),
    instant=instants,
)
def test_a_stored_cluster_is_the_cluster_the_core_builds(
    store_url: str, billing: str, expiry_days: int, looks: list[Observation], instant: datetime
) -> None:
    cid = f"c-{next(ids)}"  # one store for every example: a cluster of its own each
    expires_at = T0 + timedelta(days=expiry_days) if billing == "subscription" else None
    memory = Cluster(cid, billing, expires_at=expires_at)
    accepted = 0
    with open_store(store_url) as store:
        for look in looks:
            if billing == "pay_as_you_go" and look.renewed_until is not None:
                # Refused as an input error, as an expiry is: nothing is recorded.
                with pytest.raises(InputError, match="renewed_until"):
                    store.observe(cid, look, billing=billing, expires_at=expires_at, now=END)
                continue
            accepted += 1
            expected = [e for e in events_for(look) if memory.record(e, now=END).recorded]
            result = store.observe(cid, look, billing=billing, expires_at=expires_at, now=END)
            assert result.recorded == expected
        if not accepted:
            assert store.get(cid) is None  # every look was refused: nothing was created
            return
        loaded = store.load(cid)
        assert loaded.to_events() == memory.to_events()
        assert [e.at for e in store.history(cid)] == [e.at for e in memory.to_events()]
        for when in (instant, END):
            assert loaded.state(when) == memory.state(when)
        (listed,) = [state for state in store.clusters(now=END) if state.cluster_id == cid]
        assert listed == memory.state(END)


@replays
@given(
    billing=st.sampled_from(["pay_as_you_go", "subscription"]),
    looks=st.lists(observations(), min_size=1, max_size=12),
)
def test_the_stored_checkpoint_is_the_one_the_whole_log_replays_to(
    store_url: str, billing: str, looks: list[Observation]
) -> None:
    """Whatever order the looks come in (late ones rewrite the history), the row's checkpoint
    after each write is the state the core replays the whole log to, as ``as_dict`` writes
    it: on SQLite the very text (compact, keys sorted), on PostgreSQL the same JSON."""
    cid = f"t-{next(ids)}"
    expires_at = T0 + timedelta(days=30) if billing == "subscription" else None
    memory = Cluster(cid, billing, expires_at=expires_at)
    raw = Raw(store_url)
    with open_store(store_url) as store:
        for look in looks:
            if billing == "pay_as_you_go" and look.renewed_until is not None:
                continue
            for event in events_for(look):
                memory.record(event, now=END)
            store.observe(cid, look, billing=billing, expires_at=expires_at, now=END)
            ((stored,),) = raw.query("SELECT checkpoint FROM clusters WHERE cluster_id = ?", (cid,))
            tip = memory.checkpoint()
            if tip is None:
                assert stored is None
            elif raw.sqlite:
                assert stored == json.dumps(tip.as_dict(), sort_keys=True, separators=(",", ":"))
            else:
                assert stored == tip.as_dict()
