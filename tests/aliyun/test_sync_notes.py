"""A sync says why the cloud's news changed nothing: a refused renewal is named, not hidden."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

pytest.importorskip("alibabacloud_emr20210320", reason="needs overdue-fsm[aliyun]")

from tests.aliyun.fake_endpoint import FakeAliyun, make_fleet, to_ms
from tests.aliyun.test_sync import REGION, store_url, sync

__all__ = ["store_url"]  # a fixture, shared with test_sync (``fake`` is the conftest's)


def test_a_renewal_refused_while_overdue_is_in_the_summary(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str
) -> None:
    fleet = make_fleet(20, REGION)
    subscription = next(
        c for c in fleet if c["PaymentType"] == "Subscription" and c["ClusterState"] == "RUNNING"
    )
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    subscription["ExpireTime"] = to_ms(soon)
    fake.set_fleet(REGION, fleet)
    sync(capsys, fake)
    fake.balance = "-5.00"
    subscription["ExpireTime"] = to_ms(soon + timedelta(days=365))
    fake.set_fleet(REGION, fleet)
    code, summary, _ = sync(capsys, fake)
    assert code == 0
    row = next(c for c in summary["clusters"] if c["cluster_id"] == subscription["ClusterId"])  # type: ignore[union-attr]
    assert row["recorded"] == ["balance_negative", "renewed"]  # kept, not applied (SPEC 3)
    [note] = row["notes"]
    assert note.startswith("refused: renewal is fee-generating")
    code, _, _ = sync(capsys, fake)  # the cloud still says so: still refused, still said
    assert code == 0
    from fsm.cli import main

    main(["sync", "--region", REGION, "--endpoint", fake.endpoint, "--protocol", "http"])
    out = capsys.readouterr().out
    assert f"{subscription['ClusterId']}: refused: renewal is fee-generating" in out
