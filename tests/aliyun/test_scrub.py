"""A hostile or broken endpoint echoing the caller's key id in data fields (issue 12, item 8),
and odd values in cloud fields that must be input errors, never internal ones (item 9)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fsm.cli import main

pytest.importorskip("alibabacloud_emr20210320", reason="needs overdue-fsm[aliyun]")

from tests.aliyun.fake_endpoint import FakeAliyun, make_fleet

KEY_ID = "LTAI5tScrubDistinctive77"
KEY_SECRET = "scrub-SeCrEt-Distinctive-4242"
REGION = "cn-hangzhou"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeAliyun]:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", KEY_SECRET)
    monkeypatch.setenv("OVERDUE_FSM_STORE", f"sqlite:///{tmp_path}/clusters.db")
    server = FakeAliyun(balance="1,000.00")
    server.set_fleet(REGION, make_fleet(3, REGION))
    server.start()
    yield server
    server.stop()


def sync(capsys: pytest.CaptureFixture[str], fake: FakeAliyun, *extra: str) -> tuple[int, str]:
    argv = ["sync", "--region", REGION, "--endpoint", fake.endpoint, "--protocol", "http"]
    code = main([*argv, "--timeout", "3", *extra])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err
    return code, out + err


def with_field(fake: FakeAliyun, name: str, value: Any) -> None:
    fleet = make_fleet(3, REGION)
    fleet[2][name] = value  # a subscription: its ExpireTime is read
    fake.set_fleet(REGION, fleet)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("ClusterId", f"{KEY_ID} bad"),
        ("ExpireTime", KEY_ID),
        ("AvailableAmount", f"{KEY_ID}"),
        ("ClusterId", f"c-{KEY_SECRET}"),
    ],
)
@pytest.mark.parametrize("json_output", [False, True])
def test_a_key_id_echoed_in_a_data_field_never_reaches_the_output(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, where: str, value: str, json_output: bool
) -> None:
    if where == "AvailableAmount":
        fake.balance = value
    else:
        with_field(fake, where, value)
    code, text = sync(capsys, fake, *(["--json"] if json_output else []))
    assert code == 2
    assert KEY_ID not in text and KEY_SECRET not in text
    assert "***" in text  # said, scrubbed


@pytest.mark.parametrize(("where", "value"), [("ExpireTime", "²"), ("ExpireTime", "١٢٣")])
def test_unicode_digits_in_a_cloud_field_are_an_input_error(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, where: str, value: str
) -> None:
    with_field(fake, where, value)
    code, text = sync(capsys, fake)
    assert code == 2
    assert where in text
