"""Saving a cluster before its data is deleted: the real SDK against the fake, the real store."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fsm.cli import main
from fsm.errors import DeniedError, InputError, SourceError

pytest.importorskip("alibabacloud_emr20210320", reason="needs overdue-fsm[aliyun]")

import fsm
from fsm.export import AT_RISK, export
from fsm.sources.aliyun import AliyunSource, ClusterNotFoundError
from fsm.store import open_store
from tests.aliyun.fake_endpoint import FakeAliyun, make_fleet

KEY_ID = "AKIDexportDistinctive0077"
KEY_SECRET = "export-SeCrEt-Distinctive-6262"
REGION = "cn-hangzhou"
FLEET = make_fleet(30, REGION)
RUNNING = FLEET[0]["ClusterId"]  # pay-as-you-go
OTHER = FLEET[1]["ClusterId"]
NOW = datetime.now(UTC).replace(microsecond=0)
APP_FILES = ["applications/HDFS.json", "applications/SPARK3.json", "applications/YARN.json"]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAliyun]:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", KEY_SECRET)
    server = FakeAliyun(real_codes=True)
    server.set_fleet(REGION, FLEET)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/clusters.db"
    monkeypatch.setenv("OVERDUE_FSM_STORE", url)
    return url


@pytest.fixture
def source(fake: FakeAliyun) -> AliyunSource:
    made = AliyunSource(endpoint=fake.endpoint, protocol="http", timeout_s=3, backoff_s=0.001)
    made._sleep = lambda seconds: None
    return made


def track(url: str, cluster_id: str, *, overdue_days: float | None = None, **facts: Any) -> None:
    """Record the cluster in the store, overdue since ``overdue_days`` ago if given."""
    seen: dict[str, Any] = {}
    if overdue_days is not None:
        seen = {"balance": "-1.00", "overdue_since": NOW - timedelta(days=overdue_days)}
    facts.setdefault("billing", "pay_as_you_go")
    facts.setdefault("region", REGION)
    with open_store(url) as store:
        store.observe(cluster_id, fsm.Observation.create(at=NOW, **seen), now=NOW, **facts)


def run_export(url: str, source: AliyunSource, dest: Path, cluster_id: str = RUNNING, **kw: Any):
    with open_store(url, create=False) as store:
        return export(store, source, cluster_id, dest, now=NOW, **kw)


def test_export_writes_one_file_per_application_the_shape_and_a_manifest(
    fake: FakeAliyun, source: AliyunSource, store_url: str, tmp_path: Path
) -> None:
    track(store_url, RUNNING, overdue_days=20)  # restricted: export is still allowed
    dest = tmp_path / "rescue" / RUNNING
    result = run_export(store_url, source, dest)

    assert result.changed
    assert result.decision.allowed and result.decision.phase == "restricted"
    assert sorted(f.path for f in result.files) == sorted(
        ["cluster.json", "manifest.json", *APP_FILES]
    )
    assert {f.status for f in result.files} == {"added"}
    assert result.applications == ["HDFS", "SPARK3", "YARN"]
    yarn = json.loads((dest / "applications/YARN.json").read_text())
    assert [f["name"] for f in yarn["files"]] == ["yarn-env.sh", "yarn-site.xml"]
    site = json.loads(yarn["files"][1]["content"])
    assert site == {"yarn.nodemanager.resource.memory-mb": "12288"}
    shape = json.loads((dest / "cluster.json").read_text())
    assert shape["cluster"]["ReleaseVersion"] == "EMR-5.16.0"
    assert [g["NodeGroupType"] for g in shape["node_groups"]] == ["MASTER", "CORE", "TASK"]
    assert shape["node_groups"][0]["InstanceTypes"] == ["ecs.g7.xlarge"]
    assert "RunningNodeCount" in shape["node_groups"][1]
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["cluster_id"] == RUNNING and manifest["region"] == REGION
    for entry in manifest["files"]:
        data = (dest / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["size"]
    assert result.data_deletion_at == NOW - timedelta(days=20) + timedelta(days=60)
    # Configuration often holds passwords: only the owner reads it.
    assert stat.S_IMODE((dest / "applications/HDFS.json").stat().st_mode) == 0o600
    # The files asked for are those ListApplicationConfigs named.
    asked = fake.calls("ExportApplicationConfigs")[0].params
    assert asked["ApplicationConfigFiles.1.ApplicationName"] == "HDFS"
    assert asked["ExportMode"] == "ALL" and asked["FileFormat"] == "JSON"
    assert all(r.signed for r in fake.calls())


def test_a_second_export_of_an_unchanged_cluster_changes_nothing(
    fake: FakeAliyun, source: AliyunSource, store_url: str, tmp_path: Path
) -> None:
    track(store_url, RUNNING)
    dest = tmp_path / RUNNING
    run_export(store_url, source, dest)
    before = {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()}
    again = run_export(store_url, source, dest)
    assert not again.changed
    assert {f.status for f in again.files} == {"unchanged"}
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()} == before


def test_changed_only_where_the_content_differs(
    fake: FakeAliyun, source: AliyunSource, store_url: str, tmp_path: Path
) -> None:
    track(store_url, RUNNING)
    dest = tmp_path / RUNNING
    run_export(store_url, source, dest)
    details = fake.cluster_details(REGION, RUNNING)
    for item in details["configs"]:
        if item["ConfigItemKey"] == "dfs.replication":
            item["ConfigItemValue"] = "2"
    fake.set_details(RUNNING, details)
    result = run_export(store_url, source, dest)
    statuses = {f.path: f.status for f in result.files}
    assert statuses == {
        "cluster.json": "unchanged",
        "applications/HDFS.json": "changed",
        "applications/SPARK3.json": "unchanged",
        "applications/YARN.json": "unchanged",
        "manifest.json": "changed",
    }
    hdfs = next(f for f in result.files if f.path == "applications/HDFS.json")
    assert '\\"3\\"' in (hdfs.before or "") and '\\"2\\"' in hdfs.after


def test_a_dry_run_reads_the_cloud_and_writes_nothing(
    fake: FakeAliyun, source: AliyunSource, store_url: str, tmp_path: Path
) -> None:
    track(store_url, RUNNING)
    dest = tmp_path / RUNNING
    result = run_export(store_url, source, dest, dry_run=True)
    assert result.changed and result.dry_run
    assert {f.status for f in result.files} == {"added"}
    assert not dest.exists()
    assert fake.calls("ExportApplicationConfigs")


@pytest.mark.parametrize(
    ("facts", "phase"),
    [({"overdue_days": 61}, "purged"), ({"released": True}, "released")],
)
def test_refuses_a_cluster_whose_data_is_gone_before_asking_the_cloud(
    fake: FakeAliyun,
    source: AliyunSource,
    store_url: str,
    tmp_path: Path,
    facts: dict[str, Any],
    phase: str,
) -> None:
    released = facts.pop("released", False)
    if released:
        with open_store(store_url) as store:
            seen = fsm.Observation.create(at=NOW, released=True)
            store.observe(RUNNING, seen, billing="pay_as_you_go", region=REGION, now=NOW)
    else:
        track(store_url, RUNNING, **facts)
    with pytest.raises(DeniedError) as caught:
        run_export(store_url, source, tmp_path / RUNNING)
    assert caught.value.operation == "export_service_config"
    assert f"is {phase}" in str(caught.value)
    assert "denied" in str(caught.value)
    assert not (tmp_path / RUNNING).exists()
    assert fake.calls() == []


def test_an_untracked_cluster_fails_closed(
    fake: FakeAliyun, source: AliyunSource, store_url: str, tmp_path: Path
) -> None:
    track(store_url, OTHER)
    with pytest.raises(DeniedError) as caught:
        run_export(store_url, source, tmp_path / RUNNING)
    assert "cannot be determined" in str(caught.value)
    assert RUNNING in str(caught.value)
    assert fake.calls() == []


def test_a_cluster_the_cloud_does_not_know_is_resource_not_found(
    fake: FakeAliyun, source: AliyunSource, store_url: str, tmp_path: Path
) -> None:
    track(store_url, "c-0000000000000000")
    with pytest.raises(ClusterNotFoundError) as caught:
        run_export(store_url, source, tmp_path / "gone", cluster_id="c-0000000000000000")
    assert caught.value.code == "ResourceNotFound"  # as the real service spells it
    assert caught.value.cluster_id == "c-0000000000000000"
    assert not (tmp_path / "gone").exists()


def test_throttling_and_internal_errors_are_retried_with_the_real_codes(
    fake: FakeAliyun, source: AliyunSource, store_url: str, tmp_path: Path
) -> None:
    track(store_url, RUNNING)
    fake.throttle(2, action="ExportApplicationConfigs")
    fake.fail_5xx(1, action="ListNodeGroups", status=500)
    result = run_export(store_url, source, tmp_path / RUNNING)
    assert result.changed
    faults = [(r.action, r.fault) for r in fake.calls() if r.fault]
    assert faults == [
        ("ListNodeGroups", "server_error"),
        ("ExportApplicationConfigs", "throttle"),
        ("ExportApplicationConfigs", "throttle"),
    ]


def test_a_throttled_export_that_never_recovers_fails_and_writes_nothing(
    fake: FakeAliyun, source: AliyunSource, store_url: str, tmp_path: Path
) -> None:
    track(store_url, RUNNING)
    fake.throttle(100, action="ExportApplicationConfigs")
    with pytest.raises(SourceError) as caught:
        run_export(store_url, source, tmp_path / RUNNING)
    assert caught.value.code == "ThrottlingException"
    assert "gave up after" in str(caught.value)
    assert not (tmp_path / RUNNING).exists()


def test_an_unknown_action_is_not_a_missing_cluster(fake: FakeAliyun, source: AliyunSource) -> None:
    fake.fail_4xx("InvalidAction.NotFound", "Specified api is not found", status=404)
    with pytest.raises(SourceError) as caught:
        source.nodes(REGION, RUNNING)
    assert not isinstance(caught.value, ClusterNotFoundError)


def test_the_old_not_found_spelling_is_still_recognised(
    fake: FakeAliyun, source: AliyunSource
) -> None:
    fake.real_codes = False
    with pytest.raises(ClusterNotFoundError) as caught:
        source.node_groups(REGION, "c-0000000000000000")
    assert caught.value.code == "NotFound.Cluster"


def test_modification_mode_in_xml_keeps_only_what_was_changed(
    fake: FakeAliyun, source: AliyunSource
) -> None:
    files = source.application_configs(
        REGION, RUNNING, export_mode="modification", file_format="xml"
    )
    hdfs = next(f for f in files if f.name == "hdfs-site.xml")
    assert hdfs.content == (
        b"<configuration><property><name>dfs.replication</name><value>3</value>"
        b"</property></configuration>"
    )
    with pytest.raises(InputError, match="export_mode"):
        source.application_configs(REGION, RUNNING, export_mode="SOME")


def test_content_that_is_not_base64_is_an_unexpected_response(
    fake: FakeAliyun, source: AliyunSource
) -> None:
    body = {
        "ApplicationConfigs": [{"ApplicationName": "HDFS", "ConfigFileName": "a", "Content": "%%"}]
    }
    fake.raw(
        200,
        json.dumps(body).encode(),
        content_type="application/json",
        action="ExportApplicationConfigs",
    )
    with pytest.raises(SourceError) as caught:
        source.application_configs(REGION, RUNNING)
    assert caught.value.code == "UnexpectedResponse"
    assert "HDFS/a.Content" in str(caught.value)


def test_binary_content_is_kept_as_base64(
    fake: FakeAliyun, source: AliyunSource, store_url: str, tmp_path: Path
) -> None:
    raw = b"\xff\xfe binary"
    body = {
        "ApplicationConfigs": [
            {
                "ApplicationName": "HDFS",
                "ConfigFileName": "keytab",
                "Content": base64.b64encode(raw).decode(),
            }
        ]
    }
    fake.raw(
        200,
        json.dumps(body).encode(),
        content_type="application/json",
        action="ExportApplicationConfigs",
    )
    track(store_url, RUNNING)
    run_export(store_url, source, tmp_path / RUNNING)
    hdfs = json.loads((tmp_path / RUNNING / "applications/HDFS.json").read_text())
    assert base64.b64decode(hdfs["files"][0]["content_base64"]) == raw


def test_a_directory_holding_another_clusters_export_is_refused(
    fake: FakeAliyun, source: AliyunSource, store_url: str, tmp_path: Path
) -> None:
    track(store_url, RUNNING)
    track(store_url, OTHER)
    run_export(store_url, source, tmp_path / "shared")
    with pytest.raises(InputError, match="holds the export of"):
        run_export(store_url, source, tmp_path / "shared", cluster_id=OTHER)


def test_the_region_comes_from_the_store_or_must_be_given(
    fake: FakeAliyun, source: AliyunSource, store_url: str, tmp_path: Path
) -> None:
    with open_store(store_url) as store:
        store.observe(RUNNING, fsm.Observation.create(at=NOW), billing="pay_as_you_go", now=NOW)
    with pytest.raises(InputError, match="region"):
        run_export(store_url, source, tmp_path / RUNNING)
    assert run_export(store_url, source, tmp_path / RUNNING, region=REGION).changed


# -- the command line ---------------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], fake: FakeAliyun, *args: str) -> tuple[int, str, str]:
    argv = ["export", *args, "--endpoint", fake.endpoint, "--protocol", "http", "--timeout", "3"]
    code = main(argv)
    out, err = capsys.readouterr()
    for secret in (KEY_ID, KEY_SECRET):
        assert secret not in out + err
    return code, out, err


def test_cli_export_then_again_unchanged(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str, tmp_path: Path
) -> None:
    track(store_url, RUNNING, overdue_days=3)
    dest = str(tmp_path / RUNNING)
    code, out, err = cli(capsys, fake, RUNNING, "--dest", dest)
    assert code == 0, err
    assert "5 file(s): 5 added, 0 changed, 0 unchanged" in out
    assert "added     applications/HDFS.json" in out
    assert "business data" in out  # what is still the user's to copy
    code, out, err = cli(capsys, fake, RUNNING, "--dest", dest, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["changed"] is False
    assert data["counts"] == {"added": 0, "changed": 0, "unchanged": 5}
    assert data["at_risk"] == AT_RISK


def test_cli_refuses_a_purged_cluster_with_exit_1(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str, tmp_path: Path
) -> None:
    track(store_url, RUNNING, overdue_days=70)
    code, _, err = cli(capsys, fake, RUNNING, "--dest", str(tmp_path / "x"))
    assert code == 1
    assert "not exported" in err and "purged" in err and "export_service_config" in err
    assert not (tmp_path / "x").exists()


def test_cli_untracked_cluster_exit_1_and_dry_run_writes_nothing(
    capsys: pytest.CaptureFixture[str], fake: FakeAliyun, store_url: str, tmp_path: Path
) -> None:
    track(store_url, OTHER)
    code, _, err = cli(capsys, fake, RUNNING, "--dest", str(tmp_path / "x"))
    assert code == 1 and "cannot be determined" in err
    code, out, err = cli(capsys, fake, OTHER, "--dest", str(tmp_path / "y"), "--dry-run")
    assert code == 0, err
    assert "would write 5" in out
    assert not (tmp_path / "y").exists()
