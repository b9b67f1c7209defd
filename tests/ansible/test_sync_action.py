"""The overdue.emr.sync action plugin, run in-process against a fake Alibaba Cloud.

The module file is documentation only: the action plugin is the code, it reads
``task.args`` and calls the real SDK clients, pointed at the fake endpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest

from .conftest import KEY_ID, KEY_SECRET, REGION, REPO, history

OTHER_ID = "AKIDexplicitOption7777"
OTHER_SECRET = "explicit-SeCrEt-Option-5151"
OTHER_TOKEN = "explicit-ToKeN-Option-3131"
SUMMARY = (
    "account",
    "regions",
    "fetched_at",
    "balance",
    "currency",
    "overdue",
    "overdue_since",
    "overdue_since_source",
    "dry_run",
    "changed",
    "complete",
    "counts",
    "clusters",
)
CLUSTER = (
    "cluster_id",
    "region",
    "status",
    "phase_before",
    "phase",
    "phase_changed",
    "entered",
    "recorded",
    "next_phase",
    "next_phase_at",
    "error",
)


@pytest.fixture
def run(common: Any, fake_aliyun: Any, store_url: str) -> Any:
    """``run(check_mode=False, **args)``: the action against the fake, into ``store_url``."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import action_loader

    def run(check_mode: bool = False, **args: Any) -> dict[str, Any]:
        task = MagicMock()
        task.args = {
            "regions": [REGION],
            "endpoint": fake_aliyun.endpoint,
            "protocol": "http",
            "timeout": 3,
            "store": store_url,
            **args,
        }
        task.args = {k: v for k, v in task.args.items() if v is not None}
        task.check_mode = check_mode
        task.diff = False
        task.async_val = 0
        task.action = "overdue.emr.sync"
        connection = MagicMock()
        connection._shell.tmpdir = None
        action = action_loader.get(
            "overdue.emr.sync", task, connection, PlayContext(), DataLoader(), None, None
        )
        result = action.run(task_vars={})
        shown = json.dumps(result, default=str)
        for secret in (KEY_ID, KEY_SECRET, OTHER_ID, OTHER_SECRET, OTHER_TOKEN):
            assert secret not in shown
        assert "Traceback" not in shown
        return result

    return run


def _fleet(fake: Any, count: int) -> list[dict[str, Any]]:
    from tests.aliyun.fake_endpoint import make_fleet

    fleet = make_fleet(count, REGION)
    fake.set_fleet(REGION, fleet)
    return fleet


def test_a_first_sync_records_the_fleet_and_a_second_changes_nothing(
    run: Any, fake_aliyun: Any, store_url: str
) -> None:
    first = run()
    assert "failed" not in first, first["msg"]
    assert all(key in first for key in SUMMARY)
    assert all(key in first["clusters"][0] for key in CLUSTER)
    assert first["changed"] is True
    assert first["complete"] is True
    assert first["counts"] == {"recorded": 250, "unchanged": 0, "failed": 0, "untouched": 0}
    assert len(fake_aliyun.calls("ListClusters")) == 3  # 250 clusters over three pages
    assert first["msg"] == (
        "account default: balance 1000.00 CNY; 250 cluster(s) in cn-hangzhou: 250 recorded, "
        "0 unchanged, 0 failed, 0 untouched"
    )
    released = [c for c in first["clusters"] if c["phase"] == "released"]
    assert len(released) == 10  # every 25th, released by its owner
    assert {c["phase_before"] for c in first["clusters"]} == {None}  # all seen for the first time

    again = run()
    assert again["changed"] is False
    assert again["counts"]["unchanged"] == 250


def test_a_negative_balance_moves_the_clusters_and_says_which(
    run: Any, fake_aliyun: Any, store_url: str
) -> None:
    _fleet(fake_aliyun, 9)
    run(account="team-data")
    fake_aliyun.balance = "-11.19"
    result = run(account="team-data")
    assert result["changed"] is True
    assert result["overdue"] is True
    assert result["balance"] == "-11.19"
    moved = [c for c in result["clusters"] if c["phase_changed"]]
    assert moved
    for row in moved:
        assert row["phase_before"] == "active"
        assert row["phase"] == "overdue_grace"
        assert row["entered"] == ["overdue_grace"]
        assert row["recorded"] == ["balance_negative"]
        assert row["next_phase"] == "suspended"
    assert [e.kind for e in history(store_url, moved[0]["cluster_id"])] == [
        "recharged",  # the first run's positive balance, kept (SPEC 3)
        "balance_negative",
    ]


def test_the_message_words_an_overdue_balance_as_the_command_line_does(
    run: Any, fake_aliyun: Any, store_url: str
) -> None:
    _fleet(fake_aliyun, 9)
    run(account="team-data")
    fake_aliyun.balance = "-11.19"
    run(account="team-data")
    result = run(account="team-data")
    assert result["msg"] == (
        f"account team-data: balance -11.19 CNY (overdue, overdue since {result['overdue_since']}, "
        "from first_seen); 9 cluster(s) in cn-hangzhou: 0 recorded, 9 unchanged, 0 failed, "
        "0 untouched"
    )


def test_check_mode_reads_the_cloud_and_writes_nothing(
    run: Any, fake_aliyun: Any, store_url: str, tmp_path: Path
) -> None:
    _fleet(fake_aliyun, 9)
    preview = run(check_mode=True)
    assert preview["changed"] is True
    assert preview["dry_run"] is True
    assert preview["counts"]["recorded"] == 9
    assert preview["msg"].endswith("9 would record, 0 unchanged, 0 failed, 0 untouched")
    assert not (tmp_path / "state").exists()  # not even the file

    run()
    fake_aliyun.balance = "-1.00"
    preview = run(check_mode=True)
    assert preview["changed"] is True
    payg = next(c for c in preview["clusters"] if c["recorded"] == ["balance_negative"])
    # Only the real run wrote: the positive balance it saw (SPEC 3 keeps every observation).
    assert [e.kind for e in history(store_url, payg["cluster_id"])] == ["recharged"]


def test_an_api_error_fails_with_the_api_the_code_and_the_request_and_records_nothing(
    run: Any, fake_aliyun: Any, tmp_path: Path
) -> None:
    fake_aliyun.fail_4xx("Forbidden.RAM", "User not authorized", status=403, action="ListClusters")
    result = run()
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["msg"].startswith("ListClusters failed: Forbidden.RAM: HTTP 403 from 127.0.0.1:")
    assert "User not authorized (RequestId " in result["msg"]
    assert result["msg"].endswith("; nothing was recorded")
    assert result["error"]["api"] == "ListClusters"
    assert result["error"]["code"] == "Forbidden.RAM"
    assert result["error"]["request_id"] in result["msg"]
    assert "clusters" not in result
    assert not (tmp_path / "state").exists()


def test_credentials_given_as_options_never_show_even_when_the_cloud_echoes_them(
    run: Any, fake_aliyun: Any
) -> None:
    fake_aliyun.fail_4xx(
        "SignatureDoesNotMatch",
        "Specified signature is not matched with our calculation for {access_key_id}",
        action="QueryAccountBalance",
    )
    result = run(
        access_key_id=OTHER_ID, access_key_secret=OTHER_SECRET, security_token=OTHER_TOKEN
    )  # run() asserts no credential is anywhere in the result
    assert result["failed"] is True
    assert result["msg"].startswith("QueryAccountBalance failed: SignatureDoesNotMatch")
    [call] = fake_aliyun.calls("QueryAccountBalance")
    assert OTHER_ID in call.headers["authorization"]  # the options, not the environment, were used


def test_no_message_of_any_kind_carries_a_credential(
    run: Any, common: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ansible_collections.overdue.emr.plugins.plugin_utils import cloud

    def leaky(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"a library that prints {KEY_ID}:{KEY_SECRET} and {OTHER_SECRET}")

    monkeypatch.setattr(cloud.fsm_sync, "sync", leaky)
    result = run(access_key_id=OTHER_ID, access_key_secret=OTHER_SECRET)
    assert result["failed"] is True
    assert result["msg"].startswith("internal error in overdue.emr (RuntimeError: a library")
    assert "********:********" in result["msg"]


def test_a_sync_stopped_part_way_fails_and_says_which_clusters_were_untouched(
    run: Any, fake_aliyun: Any, common: Any, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    import fsm.errors

    fleet = _fleet(fake_aliyun, 8)
    monkeypatch.setattr("fsm.sync.BATCH", 3)  # batches of 3, 3 and 2 clusters
    glue = common.plugin_glue  # writer_or_rehearsal opens the writer from there
    real_writer = glue.writer

    class FailingStore:
        """The real store, whose second batch of writes fails."""

        def __init__(self, store: Any) -> None:
            self._store, self._writes = store, 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self._store, name)

        def __enter__(self) -> FailingStore:
            self._store.__enter__()
            return self

        def __exit__(self, *exc: object) -> None:
            self._store.__exit__(*exc)

        def observe_many(self, *args: Any, **kwargs: Any) -> Any:
            self._writes += 1
            if self._writes == 2:
                raise fsm.errors.StoreError("the disk is full")
            return self._store.observe_many(*args, **kwargs)

    monkeypatch.setattr(glue, "writer", lambda settings: FailingStore(real_writer(settings)))
    result = run()
    assert result["failed"] is True
    assert result["changed"] is True  # the first batch was recorded before it stopped
    assert result["complete"] is False
    assert result["counts"] == {"recorded": 3, "unchanged": 0, "failed": 3, "untouched": 2}
    assert [c["status"] for c in result["clusters"]] == ["recorded"] * 3 + ["failed"] * 3 + [
        "untouched"
    ] * 2
    stopped = fleet[3]["ClusterId"]
    assert result["msg"] == (
        f"sync stopped at a batch of 3 cluster(s) from {stopped} (cn-hangzhou): the disk is "
        "full; 3 cluster(s) recorded and 0 unchanged before it, the 3 of the batch left as "
        "they were, 2 untouched; every cluster is either fully updated or untouched, "
        "sync again to finish"
    )

    monkeypatch.setattr(glue, "writer", real_writer)
    again = run()
    assert again["complete"] is True
    assert again["counts"] == {"recorded": 5, "unchanged": 3, "failed": 0, "untouched": 0}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"store": "none"}, "store: none is not accepted: a sync records"),
        ({"regions": ["Hangzhou"]}, "region: 'Hangzhou' is not valid; expected an Alibaba Cloud"),
        ({"regions": []}, "regions: [] is not valid; expected at least one region id"),
        ({"timeout": 0}, "timeout: 0.0 is not valid; expected seconds, more than 0"),
        ({"endpoint": "http://x"}, "endpoint: 'http://x' is not valid; expected host[:port]"),
        ({"protocol": "ftp"}, "value of protocol must be one of: https, http, got: ftp"),
        ({"access_key_id": OTHER_ID}, "parameters are required together: access_key_id, access"),
        ({"colour": "blue"}, "Unsupported parameters for ("),
        ({"now": "tomorrow"}, "now: 'tomorrow' is not valid; expected an ISO 8601 instant"),
    ],
)
def test_bad_input_fails_the_task_with_a_clear_message(
    run: Any, args: dict[str, Any], message: str, tmp_path: Path
) -> None:
    result = run(**args)
    assert result["failed"] is True
    assert result["msg"].startswith(message), result["msg"]
    assert not (tmp_path / "state").exists()


def test_a_missing_sync_says_how_to_get_it(
    run: Any, common: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ansible_collections.overdue.emr.plugins.plugin_utils import cloud

    monkeypatch.setattr(cloud, "HAS_FSM_SYNC", False)
    result = run()
    assert result["failed"] is True
    assert result["msg"].endswith("pip install -U 'overdue-fsm[aliyun]'")


def test_the_action_accepts_exactly_the_documented_options(
    common: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ansible.plugins.loader import fragment_loader
    from ansible.utils.plugin_docs import get_docstring

    from .test_docs import validated_with

    ARGUMENT_SPEC = validated_with(monkeypatch, "overdue.emr.sync", store="none")

    doc = get_docstring(
        str(REPO / "plugins/modules/sync.py"),
        fragment_loader,
        is_module=True,
        collection_name="overdue.emr",
    )[0]
    options = doc["options"]
    assert set(options) == set(ARGUMENT_SPEC)
    for name, spec in ARGUMENT_SPEC.items():
        documented = options[name]
        assert documented["type"] == spec["type"], name
        assert documented.get("required", False) == spec.get("required", False), name
        assert documented.get("default") == spec.get("default"), name
        assert documented.get("elements") == spec.get("elements"), name
        assert documented.get("choices") == spec.get("choices"), name
        secret = name in ("access_key_secret", "security_token")
        assert bool(spec.get("no_log")) is secret, name
