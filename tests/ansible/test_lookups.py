"""The overdue.emr.phase and overdue.emr.allowed lookups, loaded by Ansible's plugin loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import NOW, record


@pytest.fixture
def lookup(common: Any) -> Any:
    from ansible.plugins.loader import lookup_loader

    def run(name: str, *terms: str, **kwargs: Any) -> list[Any]:
        return lookup_loader.get(f"overdue.emr.{name}").run(list(terms), variables={}, **kwargs)

    return run


@pytest.fixture
def fleet(store_url: str) -> str:
    record(store_url, "c-active", billing="pay_as_you_go", balance="120.50")
    record(store_url, "c-grace", billing="pay_as_you_go", overdue_since="2026-01-20T12:00:00Z")
    record(store_url, "c-restricted", billing="pay_as_you_go", overdue_since="2026-01-01T00:00:00Z")
    return store_url


def test_allowed_is_a_real_boolean(lookup: Any, fleet: str) -> None:
    answers = lookup(
        "allowed",
        "c-active",
        "c-grace",
        "c-restricted",
        operation="scale_out",
        store=fleet,
        now=NOW,
    )
    assert answers == [True, False, False]
    assert all(type(a) is bool for a in answers)


def test_strict_treats_warn_as_deny(lookup: Any, fleet: str) -> None:
    lenient = lookup("allowed", "c-grace", operation="submit_task", store=fleet, now=NOW)
    strict = lookup(
        "allowed", "c-grace", operation="submit_task", strict=True, store=fleet, now=NOW
    )
    assert (lenient, strict) == ([True], [False])


def test_phase_returns_the_phase_or_the_whole_report(lookup: Any, fleet: str) -> None:
    assert lookup("phase", "c-active", "c-grace", "c-restricted", store=fleet, now=NOW) == [
        "active",
        "overdue_grace",
        "restricted",
    ]
    [report] = lookup(
        "phase", "c-restricted", store=fleet, now=NOW, details=True, operation="submit_task"
    )
    assert report["phase"] == "restricted"
    assert report["phase_since"] == "2026-01-16T00:00:00Z"
    assert report["data_deletion_at"] == "2026-03-02T00:00:00Z"
    assert report["operations"]["submit_task"] == "deny"
    assert report["decision"]["action"] == "skip"
    assert report["decision"]["reason"].startswith("submit_task (task) is denied: c-restricted")


def test_the_clock_is_now_or_the_now_setting(
    lookup: Any, fleet: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lookup("phase", "c-grace", store=fleet, now="2026-01-22T00:00:00Z") == ["suspended"]
    monkeypatch.setenv("OVERDUE_FSM_NOW", "2026-03-25T00:00:00Z")
    assert lookup("phase", "c-grace", store=fleet) == ["purged"]


def test_the_store_comes_from_the_environment(
    lookup: Any, fleet: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OVERDUE_FSM_STORE", fleet)
    assert lookup("phase", "c-grace", now=NOW) == ["overdue_grace"]


def test_an_untracked_cluster_fails_closed_unless_a_default_is_given(
    lookup: Any, fleet: str
) -> None:
    from ansible.errors import AnsibleLookupError

    with pytest.raises(AnsibleLookupError) as caught:
        lookup("allowed", "c-nobody", operation="scale_out", store=fleet, now=NOW)
    message = caught.value.message
    assert message.startswith("cluster 'c-nobody' is not tracked in the store sqlite://")
    assert "record it with overdue.emr.cluster_phase" in message
    assert lookup(
        "allowed", "c-nobody", "c-active", operation="scale_out", default=False, store=fleet
    ) == [False, True]
    assert lookup("phase", "c-nobody", default="untracked", store=fleet) == ["untracked"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operation": "scale_up"}, "operation: 'scale_up' is not valid; expected one of"),
        ({"operation": "scale_out", "now": "2026-01-21 00:00"}, "now: '2026-01-21 00:00' is not"),
        ({"operation": "scale_out", "balance": -3}, "balance: facts are only evaluated with"),
    ],
)
def test_bad_input_is_a_lookup_error(
    lookup: Any, fleet: str, kwargs: dict[str, Any], message: str
) -> None:
    from ansible.errors import AnsibleLookupError

    with pytest.raises(AnsibleLookupError) as caught:
        lookup("allowed", "c-active", store=fleet, **kwargs)
    assert caught.value.message.startswith(message)


def test_an_unknown_operation_is_an_error_even_for_an_untracked_cluster(
    lookup: Any, fleet: str
) -> None:
    from ansible.errors import AnsibleLookupError

    with pytest.raises(AnsibleLookupError, match="operation: 'bogus' is not valid"):
        lookup("allowed", "c-nobody", operation="bogus", default=True, store=fleet)


def test_reads_never_write_and_never_create_a_store(
    lookup: Any, tmp_path: Path, store_url: str
) -> None:
    from ansible.errors import AnsibleLookupError

    with pytest.raises(AnsibleLookupError, match=r"^no store at sqlite://"):
        lookup("phase", "c-1", store=store_url)
    assert not (tmp_path / "state").exists()

    record(store_url, "c-1", billing="subscription", expires_at="2026-01-10T00:00:00Z")
    database = tmp_path / "state" / "clusters.db"
    before = database.read_bytes()
    assert lookup("phase", "c-1", store=store_url, now=NOW) == ["suspended"]
    assert database.read_bytes() == before


def test_stateless_lookups_evaluate_the_facts_given(lookup: Any, tmp_path: Path) -> None:
    facts = {"store": "none", "billing": "subscription", "expires_at": "2026-02-10T00:00:00Z"}
    assert lookup("phase", "c-1", "c-2", now=NOW, **facts) == ["active", "active"]
    assert lookup("allowed", "c-1", operation="renew", now=NOW, **facts) == [True]
    overdue = dict(facts, balance="-2")
    assert lookup("allowed", "c-1", operation="renew", now=NOW, **overdue) == [False]
    assert list(tmp_path.iterdir()) == []


def test_phase_refuses_an_operation_without_details(lookup: Any, fleet: str) -> None:
    from ansible.errors import AnsibleLookupError

    with pytest.raises(AnsibleLookupError, match="needs details=true"):
        lookup("phase", "c-active", operation="scale_out", store=fleet)


def test_an_empty_environment_variable_counts_as_unset(
    lookup: Any, fleet: str, common: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text(f"[overdue_emr]\nstore = {fleet}\n")
    monkeypatch.setattr(common, "config_file", lambda: str(cfg))
    monkeypatch.setenv("OVERDUE_FSM_STORE", "")
    assert lookup("phase", "c-grace", now=NOW) == ["overdue_grace"]


def test_a_stale_now_from_the_environment_denies_and_is_named(
    lookup: Any,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from datetime import UTC, datetime, timedelta

    from fsm.timeutil import format_time

    today = datetime.now(UTC)
    overdue = format_time(today - timedelta(days=20))
    record(store_url, "c-1", billing="pay_as_you_go", balance="-5", at=overdue, now=overdue)
    # Pinned 30 days back, before the overdue episode was recorded.
    monkeypatch.setenv("OVERDUE_FSM_NOW", format_time(today - timedelta(days=30)))
    assert lookup("allowed", "c-1", operation="scale_out", store=store_url) == [False]
    warned = capfd.readouterr()
    assert "OVERDUE_FSM_NOW" in warned.out + warned.err
    # Other answers are still given for that instant, and still warned about.
    assert lookup("phase", "c-1", store=store_url) == ["active"]
    warned = capfd.readouterr()
    assert "overdue.emr.phase(c-1)" in warned.err and "OVERDUE_FSM_NOW" in warned.err
    # The task's own now is a what-if: no warning.
    lookup("phase", "c-1", store=store_url, now=format_time(today))
    quiet = capfd.readouterr()
    assert "OVERDUE_FSM_NOW" not in quiet.out + quiet.err
