"""Credentials as alibaba.alicloud users give them: its env names, a profile, assume-role (STS)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fsm.errors import InputError, SourceError

pytest.importorskip("alibabacloud_emr20210320", reason="needs overdue-fsm[aliyun]")
pytest.importorskip("alibabacloud_sts20150401", reason="needs overdue-fsm[aliyun]")

from fsm.sources.aliyun import AliyunSource, default_region
from tests.aliyun.fake_endpoint import (
    STS_KEY_ID,
    STS_KEY_SECRET,
    STS_TOKEN,
    FakeAliyun,
    make_fleet,
)

REGION = "cn-hangzhou"
SDK_ID, SDK_SECRET = "AKIDsdkNames00001111", "sdk-SeCrEt-names-2222"
ALI_ID, ALI_SECRET, ALI_TOKEN = "AKIDalicloudNames3333", "alicloud-SeCrEt-4444", "ali-ToKeN-5555"
ROLE = "acs:ram::1234567890123456:role/emr-rescue"
ALL_ENV = (
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "ALIBABA_CLOUD_REGION_ID",
    "ALIBABA_CLOUD_PROFILE",
    "ALICLOUD_ACCESS_KEY",
    "ALICLOUD_SECRET_KEY",
    "ALICLOUD_SECURITY_TOKEN",
    "ALICLOUD_REGION",
    "ALICLOUD_PROFILE",
    "ALICLOUD_ASSUME_ROLE_ARN",
    "ALICLOUD_ASSUME_ROLE_SESSION_NAME",
    "ALICLOUD_ASSUME_ROLE_SESSION_EXPIRATION",
    "ALICLOUD_ECS_ROLE_NAME",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "DEBUG",
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAliyun]:
    for name in ALL_ENV:
        monkeypatch.delenv(name, raising=False)
    auth_util = pytest.importorskip("alibabacloud_credentials.utils.auth_util")
    monkeypatch.setattr(auth_util, "environment_ecs_metadata_disabled", "true", raising=False)
    server = FakeAliyun()
    server.set_fleet(REGION, make_fleet(3, REGION))
    server.start()
    yield server
    server.stop()


def signed_by(fake: FakeAliyun, action: str) -> list[str]:
    return [
        r.headers["authorization"].split("Credential=", 1)[1].split(",", 1)[0]
        for r in fake.calls(action)
    ]


def source(fake: FakeAliyun, **kwargs: object) -> AliyunSource:
    return AliyunSource(endpoint=fake.endpoint, protocol="http", timeout_s=3, **kwargs)


def test_alicloud_names_are_read_when_the_sdk_names_are_not_set(
    fake: FakeAliyun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALICLOUD_ACCESS_KEY", ALI_ID)
    monkeypatch.setenv("ALICLOUD_SECRET_KEY", ALI_SECRET)
    monkeypatch.setenv("ALICLOUD_SECURITY_TOKEN", ALI_TOKEN)
    source(fake).clusters(REGION)
    assert signed_by(fake, "ListClusters") == [ALI_ID]
    assert fake.calls("ListClusters")[0].headers["x-acs-security-token"] == ALI_TOKEN


def test_the_sdk_names_come_first(fake: FakeAliyun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICLOUD_ACCESS_KEY", ALI_ID)
    monkeypatch.setenv("ALICLOUD_SECRET_KEY", ALI_SECRET)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", SDK_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SDK_SECRET)
    source(fake).clusters(REGION)
    assert signed_by(fake, "ListClusters") == [SDK_ID]


def test_the_region_of_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ALIBABA_CLOUD_REGION_ID", "ALICLOUD_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert default_region() is None
    monkeypatch.setenv("ALICLOUD_REGION", "cn-shanghai")
    assert default_region() == "cn-shanghai"
    monkeypatch.setenv("ALIBABA_CLOUD_REGION_ID", "cn-beijing")
    assert default_region() == "cn-beijing"


def test_assume_role_through_sts_then_every_call_uses_the_role(fake: FakeAliyun) -> None:
    made = source(
        fake,
        access_key_id=ALI_ID,
        access_key_secret=ALI_SECRET,
        assume_role={"role_arn": ROLE, "session_name": "rescue-run", "session_expiration": 900},
        sts_endpoint=fake.endpoint,
    )
    assert fake.calls() == []  # nothing is called before it is needed
    made.clusters(REGION)
    made.cluster_shape(REGION, fake.fleet[REGION][0]["ClusterId"])
    [assumed] = fake.calls("AssumeRole")
    assert assumed.params["RoleArn"] == ROLE
    assert assumed.params["RoleSessionName"] == "rescue-run"
    assert assumed.params["DurationSeconds"] == "900"
    assert signed_by(fake, "AssumeRole") == [ALI_ID]
    emr = [r for r in fake.calls() if r.action != "AssumeRole"]
    assert emr and all(STS_KEY_ID in r.headers["authorization"] for r in emr)
    assert all(r.headers["x-acs-security-token"] == STS_TOKEN for r in emr)
    assert STS_KEY_SECRET not in repr(made)


def test_assume_role_from_the_alicloud_environment(
    fake: FakeAliyun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", SDK_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SDK_SECRET)
    monkeypatch.setenv("ALICLOUD_ASSUME_ROLE_ARN", ROLE)
    monkeypatch.setenv("ALICLOUD_ASSUME_ROLE_SESSION_NAME", "from-env")
    source(fake, sts_endpoint=fake.endpoint).clusters(REGION)
    [assumed] = fake.calls("AssumeRole")
    assert assumed.params["RoleSessionName"] == "from-env"
    assert signed_by(fake, "AssumeRole") == [SDK_ID]
    assert signed_by(fake, "ListClusters") == [STS_KEY_ID]


def test_a_role_sts_refuses_is_an_error_naming_assume_role(fake: FakeAliyun) -> None:
    fake.fail_4xx("NoPermission", "You are not authorized to assume {access_key_id}", status=403)
    made = source(
        fake,
        access_key_id=ALI_ID,
        access_key_secret=ALI_SECRET,
        assume_role=ROLE,
        sts_endpoint=fake.endpoint,
    )
    with pytest.raises(SourceError) as caught:
        made.clusters(REGION)
    assert caught.value.api == "AssumeRole"
    assert caught.value.code == "NoPermission"
    assert ALI_ID not in str(caught.value) and ALI_SECRET not in str(caught.value)
    assert fake.calls("ListClusters") == []


@pytest.mark.parametrize(
    ("role", "field"),
    [
        ("arn:aws:iam::1:role/x", "assume_role.role_arn"),
        ({"role_arn": ROLE, "session_expiration": 60}, "assume_role.session_expiration"),
        ({"role_arn": ROLE, "session_name": "a b"}, "assume_role.session_name"),
    ],
)
def test_a_bad_role_is_an_input_error(fake: FakeAliyun, role: object, field: str) -> None:
    with pytest.raises(InputError) as caught:
        source(fake, assume_role=role)
    assert caught.value.field == field


def test_a_profile_of_the_aliyun_cli_config(
    fake: FakeAliyun, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = {
        "current": "default",
        "profiles": [
            {"name": "default", "mode": "AK", "access_key_id": SDK_ID, "access_key_secret": "x1"},
            {"name": "rescue", "mode": "AK", "access_key_id": ALI_ID, "access_key_secret": "x2"},
        ],
    }
    (tmp_path / ".aliyun").mkdir()
    (tmp_path / ".aliyun" / "config.json").write_text(json.dumps(config))
    constants = pytest.importorskip("alibabacloud_credentials.utils.auth_constant")
    monkeypatch.setattr(constants, "HOME", str(tmp_path))
    monkeypatch.setenv("ALICLOUD_PROFILE", "rescue")
    source(fake).clusters(REGION)
    assert signed_by(fake, "ListClusters") == [ALI_ID]
