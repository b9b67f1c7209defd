"""Fixtures of the Alibaba Cloud suite: the fake endpoint of a sync, the store on each engine.

``fake`` serves 250 clusters with distinctive credentials in the environment (a module
may define a ``fake`` of its own); ``store_url`` is the store suite's, SQLite and, when
enabled, PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.aliyun.fake_endpoint import FakeAliyun, make_fleet
from tests.store.conftest import store_url  # noqa: F401

KEY_ID = "AKIDsyncDistinctive0042"
KEY_SECRET = "sync-SeCrEt-Distinctive-9191"
REGION = "cn-hangzhou"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAliyun]:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", KEY_SECRET)
    server = FakeAliyun(balance="1,000.00")
    server.set_fleet(REGION, make_fleet(250, REGION))
    server.start()
    yield server
    server.stop()
