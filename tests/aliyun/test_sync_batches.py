"""Sync records its clusters in batches, one transaction each, on SQLite and PostgreSQL.

Against the fake endpoint with the real SDK clients: a batch that fails leaves its
clusters as they were and the summary says so; a snapshot applied again writes
nothing at all, not a row.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("alibabacloud_emr20210320", reason="needs overdue-fsm[aliyun]")

import fsm.errors
import fsm.sources.aliyun
import fsm.values
from fsm import Observation
from fsm.cli import main
from fsm.errors import StoreError
from fsm.sources.aliyun import AliyunSource
from fsm.store import Store, open_store
from fsm.store.base import ClusterObservation
from fsm.sync import apply_snapshot
from fsm.timeutil import parse_time
from fsm.warnings import warnings_due
from tests.aliyun.conftest import REGION
from tests.aliyun.fake_endpoint import FakeAliyun, make_fleet

TABLES = ("clusters", "events", "checkpoints", "warnings", "account_syncs")


@pytest.fixture
def batches_of_100(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fsm.sync.BATCH", 100)  # 250 clusters: batches of 100, 100 and 50


def source(fake: FakeAliyun) -> AliyunSource:
    return AliyunSource(endpoint=fake.endpoint, protocol="http", timeout_s=3)


def everything(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: what "nothing was written" compares."""
    return {
        table: sorted(
            store._read(lambda tx, t=table: tx.rows(f"SELECT * FROM {t}")),
            key=repr,
        )
        for table in TABLES
    }


def files(tmp_path: Path) -> dict[str, bytes]:
    """The bytes of the SQLite store and its write-ahead log."""
    return {p.name: p.read_bytes() for p in sorted(tmp_path.glob("clusters.db*"))}


def test_a_snapshot_applied_again_writes_nothing(fake: FakeAliyun, store_url: str) -> None:
    snapshot = source(fake).snapshot([REGION])
    with open_store(store_url) as store:
        first = apply_snapshot(store, snapshot)
        assert first.counts()["recorded"] == 250
        before = everything(store)
        again = apply_snapshot(store, snapshot)
        assert everything(store) == before  # row for row: no event, row, ledger or sync row
    assert again.counts() == {"recorded": 0, "unchanged": 250, "failed": 0, "untouched": 0}
    assert again.changed is False and again.complete is True
    assert again.lines()[1] == (
        "250 cluster(s) in cn-hangzhou: 0 recorded, 250 unchanged, 0 failed, 0 untouched"
    )


def test_a_second_sync_of_an_unchanged_cloud_leaves_the_file_byte_for_byte(
    fake: FakeAliyun,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The cloud says the same thing at the same instant: the source's clock stands still.
    still = parse_time("2026-12-01T00:00:00Z", "now")
    monkeypatch.setattr(fsm.sources.aliyun, "utcnow", lambda: still)
    url = f"sqlite://{tmp_path}/clusters.db"
    argv = ["sync", "--region", REGION, "--endpoint", fake.endpoint, "--protocol", "http"]
    assert main([*argv, "--store", url, "--json"]) == 0
    capsys.readouterr()
    before = files(tmp_path)
    assert main([*argv, "--store", url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert files(tmp_path) == before
    assert summary["changed"] is False
    assert summary["counts"] == {"recorded": 0, "unchanged": 250, "failed": 0, "untouched": 0}


def test_a_later_look_at_an_unchanged_cloud_is_kept_as_one_event_per_cluster(
    fake: FakeAliyun, store_url: str
) -> None:
    # SPEC section 3: every observation is kept, one that changes nothing too.
    cloud = source(fake)
    with open_store(store_url) as store:
        apply_snapshot(store, cloud.snapshot([REGION]))
        before = everything(store)
        later = cloud.snapshot([REGION])
        later = type(later)(
            later.account,
            later.clusters,
            later.regions,
            later.fetched_at + timedelta(minutes=1),
            later.source,
        )
        summary = apply_snapshot(store, later, now=later.fetched_at)
        after = everything(store)
    assert summary.counts()["unchanged"] == 250
    assert len(after["events"]) == len(before["events"]) + 250
    assert len(after["warnings"]) == len(before["warnings"])


def test_a_batch_that_fails_is_left_as_it_was_and_the_summary_says_so(
    fake: FakeAliyun, store_url: str, batches_of_100: None
) -> None:
    fleet = make_fleet(250, REGION)
    # The second batch holds a cluster the store tracks with another billing: refused.
    clash = fleet[150]["ClusterId"]
    assert fleet[150]["PaymentType"] == "PayAsYouGo"
    seen = parse_time("2026-06-01T00:00:00Z", "at")
    with open_store(store_url) as store:
        store.observe(
            clash,
            Observation(seen, balance=fsm.values.parse_amount("5", "b")),
            billing="subscription",
            expires_at=seen + timedelta(days=300),
        )
        summary = apply_snapshot(store, source(fake).snapshot([REGION]))
        tracked = set(store.regions())
        history = store.history(clash)
    statuses = [c.status for c in summary.clusters]
    assert statuses == ["recorded"] * 100 + ["failed"] * 100 + ["untouched"] * 50
    assert tracked == {c["ClusterId"] for c in fleet[:100]} | {clash}  # the batch: rolled back
    assert len(history) == 1  # the clash itself is as it was
    assert summary.complete is False
    failed = summary.clusters[100]
    assert "billing" in str(failed.error) and clash in str(failed.error)
    assert summary.stopped() == (
        f"sync stopped at a batch of 100 cluster(s) from {failed.cluster_id} (cn-hangzhou): "
        f"{failed.error}; 100 cluster(s) recorded and 0 unchanged before it, the 100 of the "
        "batch left as they were, 50 untouched; every cluster is either fully updated or "
        "untouched, sync again to finish"
    )
    assert "100 recorded, 0 unchanged, 100 failed, 50 untouched" in summary.lines()[1]


def test_a_store_error_part_way_stops_the_sync_and_a_second_sync_finishes(
    fake: FakeAliyun, store_url: str, batches_of_100: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = Store.observe_many

    def full_disk(self: Store, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise StoreError("the disk is full")
        return real(self, *args, **kwargs)

    with open_store(store_url) as store:
        monkeypatch.setattr(Store, "observe_many", full_disk)
        stopped = apply_snapshot(store, source(fake).snapshot([REGION]))
        monkeypatch.setattr(Store, "observe_many", real)
        assert len(store.regions()) == 100
        assert store.account_syncs() == []  # a sync that stopped is not a successful one
        again = apply_snapshot(store, source(fake).snapshot([REGION]))
        assert len(store.regions()) == 250
        assert len(store.account_syncs()) == 1
    assert stopped.counts() == {"recorded": 100, "unchanged": 0, "failed": 100, "untouched": 50}
    assert {c.error for c in stopped.clusters if c.status == "failed"} == {"the disk is full"}
    assert again.counts() == {"recorded": 150, "unchanged": 100, "failed": 0, "untouched": 0}


def test_a_batch_and_one_write_at_a_time_say_and_store_the_same(
    fake: FakeAliyun, store_url: str, tmp_path: Path
) -> None:
    snapshot = source(fake).snapshot([REGION])
    now = snapshot.fetched_at + timedelta(seconds=1)
    one_by_one = f"sqlite://{tmp_path}/one-by-one.db"
    with open_store(store_url) as batched, open_store(one_by_one) as single:
        summary = apply_snapshot(batched, snapshot, now=now)
        for cluster in snapshot.clusters:
            result = single.observe(
                cluster.cluster_id,
                Observation(
                    snapshot.fetched_at,
                    balance=snapshot.account.balance,
                    released=cluster.released,
                    released_at=cluster.released_at if cluster.released else None,
                ),
                billing=cluster.billing,
                expires_at=cluster.expires_at,
                region=cluster.region,
                source=f"aliyun:{cluster.region}",
                now=now,
            )
            single.issue_warnings(cluster.cluster_id, warnings_due(result.after, now), now=now)
        assert batched.clusters(now=now) == single.clusters(now=now)
        assert batched.warnings(now=now) == single.warnings(now=now)
    assert summary.counts()["recorded"] == 250


def test_observe_many_refuses_a_cluster_twice_and_writes_nothing(store_url: str) -> None:
    seen = parse_time("2026-06-01T00:00:00Z", "at")
    twice = [
        ClusterObservation("c-twice", Observation(seen), billing="pay_as_you_go"),
        ClusterObservation("c-twice", Observation(seen), billing="pay_as_you_go"),
    ]
    with open_store(store_url) as store:
        with pytest.raises(fsm.errors.InputError, match="each cluster observed once per call"):
            store.observe_many(twice, now=seen)
        dry = store.observe_many(twice[:1], now=seen, dry_run=True)
        assert dry[0].result.created is True
        assert store.regions() == {}
