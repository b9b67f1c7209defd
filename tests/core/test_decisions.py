"""Decisions and reports as a user reads them (SPEC sections 4 and 5)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

import fsm
from fsm.timeutil import parse_duration

from ._support import DAY, EXPIRY, HOUR, LATER, T0, iso, payg, sub

# SPEC section 5, in the order it lists them.
REPORT_FIELDS = [
    "cluster_id",
    "account",
    "billing",
    "phase",
    "phase_since",
    "overdue_since",
    "expires_at",
    "next_phase",
    "next_phase_at",
    "timeline",
    "data_deleted",
    "data_deletion_at",
    "operations",
    "history",
]
DECISION_FIELDS = ["operation", "verdict", "allowed", "action", "reason"]
CANONICAL_OPERATIONS = {
    "scale_out",
    "upgrade_node_config",
    "purchase",
    "renew",
    "create_cluster",
    "clone_cluster",
    "scale_in",
    "restart_service",
    "modify_config",
    "om",
    "export_service_config",
    "view_cluster_info",
    "view_operation_history",
    "submit_task",
    "release",
}


@pytest.mark.parametrize(
    "make",
    [
        lambda: payg("active"),
        lambda: payg("overdue_grace"),
        lambda: payg("restricted"),
        lambda: payg("purged"),
        lambda: sub("active"),
        lambda: sub("suspended", overdue=True),
        lambda: sub("released"),
    ],
    ids=["payg-active", "payg-grace", "payg-restricted", "payg-purged", "sub-active",
         "sub-suspended", "sub-released"],
)  # fmt: skip
def test_report_holds_every_field_and_is_json(make: object) -> None:
    c = make()  # type: ignore[operator]
    report = c.report(LATER, operation="submit_task")
    for name in REPORT_FIELDS:
        assert name in report, name
    assert set(report["operations"]) == CANONICAL_OPERATIONS
    assert set(report["operations"].values()) <= {"allow", "warn", "deny"}
    for entry in report["history"]:
        assert set(entry) >= {"from", "to", "at", "trigger"}
    for step in report["timeline"]:
        assert set(step) >= {"phase", "at"}
    for name in DECISION_FIELDS:
        assert name in report["decision"], name
    assert report["decision"]["operation"] == "submit_task"
    assert isinstance(report["data_deleted"], bool)
    assert json.loads(json.dumps(report)) == report


def test_report_of_a_restricted_payg_cluster() -> None:
    c = payg("overdue_grace")
    c.advance(T0 + 20 * DAY)
    report = c.report()
    expected = {
        "cluster_id": "c-payg",
        "account": "default",
        "billing": "pay_as_you_go",
        "phase": "restricted",
        "phase_since": "2026-01-16T00:00:00Z",
        "overdue_since": "2026-01-01T00:00:00Z",
        "expires_at": None,
        "next_phase": "purged",
        "next_phase_at": "2026-03-02T00:00:00Z",
        "timeline": [{"phase": "purged", "at": "2026-03-02T00:00:00Z"}],
        "data_deleted": False,
        "data_deletion_at": "2026-03-02T00:00:00Z",
    }
    assert {k: report[k] for k in expected} == expected
    assert [(h["from"], h["to"], h["at"]) for h in report["history"]] == [
        ("active", "overdue_grace", "2026-01-01T00:00:00Z"),
        ("overdue_grace", "suspended", "2026-01-02T00:00:00Z"),
        ("suspended", "restricted", "2026-01-16T00:00:00Z"),
    ]
    assert report["history"][0]["trigger"] == "balance_negative"


def test_report_timeline_of_a_fresh_overdue_payg_cluster() -> None:
    report = payg("overdue_grace").report()
    assert report["timeline"] == [
        {"phase": "suspended", "at": "2026-01-02T00:00:00Z"},
        {"phase": "restricted", "at": "2026-01-16T00:00:00Z"},
        {"phase": "purged", "at": "2026-03-02T00:00:00Z"},
    ]
    assert report["next_phase"] == "suspended"
    assert report["next_phase_at"] == "2026-01-02T00:00:00Z"


def test_report_of_an_active_payg_cluster_schedules_nothing() -> None:
    report = payg("active").report(T0)
    assert report["phase"] == "active"
    assert report["overdue_since"] is None
    assert report["expires_at"] is None
    assert report["next_phase"] is None
    assert report["next_phase_at"] is None
    assert report["timeline"] == []
    assert report["data_deleted"] is False
    assert report["data_deletion_at"] is None
    assert report["history"] == []
    assert "decision" not in report


def test_report_of_a_subscription() -> None:
    report = sub("active").report(T0 + HOUR)
    assert report["billing"] == "subscription"
    assert report["expires_at"] == iso(EXPIRY)
    assert report["timeline"] == [
        {"phase": "suspended", "at": iso(EXPIRY)},
        {"phase": "purged", "at": iso(EXPIRY + 15 * DAY)},
    ]
    assert report["data_deletion_at"] == iso(EXPIRY + 15 * DAY)


@pytest.mark.parametrize("billing", ["pay_as_you_go", "subscription"])
def test_report_of_a_purged_cluster(billing: str) -> None:
    c = payg("purged") if billing == "pay_as_you_go" else sub("purged")
    deleted_at = T0 + 60 * DAY if billing == "pay_as_you_go" else EXPIRY + 15 * DAY
    report = c.report()
    assert report["phase"] == "purged"
    assert report["data_deleted"] is True
    assert report["data_deletion_at"] == iso(deleted_at)
    assert report["phase_since"] == iso(deleted_at)
    assert report["next_phase"] is None
    assert report["timeline"] == []
    assert set(report["operations"].values()) == {"deny"}


def test_report_of_a_released_cluster() -> None:
    report = payg("released").report(LATER, operation="release")
    assert report["phase"] == "released"
    assert report["data_deleted"] is True
    assert report["next_phase"] is None
    assert report["decision"]["allowed"] is False
    assert report["decision"]["action"] == "fail"


# -- decisions and reasons ------------------------------------------------------------------


def test_reason_names_operation_category_phase_since_remedy_and_deadline() -> None:
    c = payg("suspended")
    decision = c.decide("scale_out")
    assert str(decision.verdict) == "deny"
    assert decision.allowed is False
    assert decision.action == "skip"
    reason = decision.reason
    for part in (
        "scale_out",
        "fee_generating",
        "suspended",
        iso(T0 + DAY),  # since when
        "recharge the account",  # what would change it
        "data is deleted on " + iso(T0 + 60 * DAY),  # the deadline ahead
    ):
        assert part in reason, (part, reason)


def test_reason_for_an_expired_subscription_says_renew_after_recharging() -> None:
    c = sub("suspended", overdue=True)
    reason = c.decide("submit_task", strict=True).reason
    assert "submit_task" in reason
    assert "task" in reason
    assert "suspended" in reason
    assert iso(EXPIRY) in reason
    assert "renew" in reason
    assert "recharge" in reason
    assert iso(EXPIRY + 15 * DAY) in reason


def test_reason_in_a_terminal_phase_says_nothing_brings_it_back() -> None:
    decision = payg("purged").decide("view_cluster_info")
    assert decision.allowed is False
    assert decision.action == "fail"
    assert "purged" in decision.reason
    assert iso(T0 + 60 * DAY) in decision.reason


def test_reason_of_an_allowed_operation_names_it() -> None:
    decision = payg("overdue_grace").decide("view_cluster_info")
    assert decision.allowed is True
    assert decision.action == "run"
    assert "view_cluster_info" in decision.reason
    assert "allowed" in decision.reason


def test_decision_in_the_report_matches_decide() -> None:
    c = payg("overdue_grace")
    report = c.report(operation="submit_task")
    decision = c.decide("submit_task")
    assert report["decision"]["verdict"] == str(decision.verdict) == "warn"
    assert report["decision"]["allowed"] is decision.allowed is True
    assert report["decision"]["action"] == decision.action == "run"
    assert report["decision"]["reason"] == decision.reason
    assert "may fail" in decision.reason


@pytest.mark.parametrize(
    ("make", "operation"),
    [
        (lambda: payg("overdue_grace"), "submit_task"),
        (lambda: payg("suspended"), "submit_task"),
        (lambda: sub("suspended"), "submit_task"),
    ],
)
def test_strict_mode_turns_warn_into_deny(make: object, operation: str) -> None:
    c = make()  # type: ignore[operator]
    lenient = c.decide(operation)
    strict = c.decide(operation, strict=True)
    assert str(lenient.verdict) == "warn"
    assert lenient.allowed is True
    assert lenient.action == "run"
    assert strict.allowed is False
    assert strict.action in ("skip", "fail")
    assert strict.action == "skip"  # the cluster can still come back
    report = c.report(operation=operation, strict=True)
    assert report["decision"]["allowed"] is False
    assert "strict" in strict.reason


def test_strict_mode_does_not_touch_allow_or_deny() -> None:
    c = payg("overdue_grace")
    assert c.decide("view_cluster_info", strict=True).allowed is True
    assert c.decide("scale_out", strict=True).allowed is False
    assert payg("active").decide("submit_task", strict=True).allowed is True


def test_undecidable_fails_closed() -> None:
    decision = fsm.undecidable("c-1", "scale_out", "store unreadable")
    assert decision.allowed is False
    assert str(decision.verdict) == "deny"
    assert decision.action == "fail"
    assert "store unreadable" in decision.reason
    assert "scale_out" in decision.reason


def test_several_operations_the_first_denied_one_decides() -> None:
    state = payg("suspended").state()
    asked = fsm.decide_all(state, ["view_cluster_info", "submit_task", "scale_out", "om"])
    assert [d.operation for d in asked.decisions] == [
        "view_cluster_info",
        "submit_task",
        "scale_out",
        "om",
    ]
    assert asked.deciding.operation == "scale_out"
    assert asked.allowed is False
    assert [d.operation for d in asked.denied] == ["scale_out", "om"]
    assert [d.operation for d in asked.warnings] == ["submit_task"]


def test_several_operations_all_allowed_the_first_decides() -> None:
    asked = fsm.decide_all(payg("active").state(), ["scale_out", "submit_task"])
    assert asked.deciding.operation == "scale_out"
    assert asked.allowed is True and asked.denied == () and asked.warnings == ()


def test_several_operations_strict_turns_the_warning_into_the_denial() -> None:
    asked = fsm.decide_all(
        payg("suspended").state(), ["view_cluster_info", "submit_task"], strict=True
    )
    assert asked.deciding.operation == "submit_task" and asked.deciding.allowed is False
    assert asked.warnings == ()


def test_several_operations_needs_at_least_one() -> None:
    with pytest.raises(fsm.InputError, match="at least one operation"):
        fsm.decide_all(payg("active").state(), [])


def test_stateless_evaluation_is_the_stored_cluster_at_now() -> None:
    seen = fsm.Observation.create(at=T0 + 20 * DAY, balance="-3", overdue_since=T0)
    state = fsm.evaluate("c-payg", "PayAsYouGo", observation=seen, now=T0 + 20 * DAY)
    assert state == payg("restricted").state(T0 + 20 * DAY)
    assert state.account == "default" and str(state.phase) == "restricted"
    assert fsm.evaluate("c-1", "subscription", expires_at=EXPIRY, now=EXPIRY).phase == "suspended"


# -- policies: declared operations, overrides, thresholds ------------------------------------


def test_user_declared_operations_from_a_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "operations:\n  run_backup: task\n  resize_disk: fee_generating\n",
        encoding="utf-8",
    )
    policy = fsm.Policy.load(path)
    c = fsm.Cluster("c-1", "pay_as_you_go", policy=policy)
    c.balance_negative(T0, now=LATER)
    c.advance(T0 + HOUR)
    assert str(c.decide("run_backup").verdict) == "warn"
    assert str(c.decide("resize_disk").verdict) == "deny"
    assert str(c.decide("resize_disk").category) == "fee_generating"
    report = c.report()
    assert report["operations"]["run_backup"] == "warn"
    assert report["operations"]["resize_disk"] == "deny"
    assert set(report["operations"]) >= CANONICAL_OPERATIONS
    # Declared operations belong to that policy only.
    with pytest.raises(fsm.InputError):
        payg("overdue_grace").decide("run_backup")


def test_verdict_override_from_a_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "verdicts:\n  task:\n    overdue_grace: deny\n  read:\n    restricted: deny\n",
        encoding="utf-8",
    )
    policy = fsm.Policy.load(path)
    grace = payg("overdue_grace", policy=policy)
    assert str(grace.decide("submit_task").verdict) == "deny"
    sub_grace = sub("overdue_grace", policy=policy)
    assert str(sub_grace.decide("submit_task").verdict) == "deny"
    restricted = payg("restricted", policy=policy)
    assert str(restricted.decide("view_cluster_info").verdict) == "deny"
    # Untouched cells keep the spec's verdict.
    assert str(restricted.decide("scale_out").verdict) == "deny"
    assert str(payg("suspended", policy=policy).decide("submit_task").verdict) == "warn"


def test_verdict_override_of_one_billing_column() -> None:
    policy = fsm.Policy.from_mapping({"verdicts": {"task": {"overdue_grace_subscription": "warn"}}})
    assert str(sub("overdue_grace", policy=policy).decide("submit_task").verdict) == "warn"
    assert str(payg("overdue_grace", policy=policy).decide("submit_task").verdict) == "warn"
    assert str(payg("active", policy=policy).decide("submit_task").verdict) == "allow"


def test_override_may_tighten_fee_generating_in_purged() -> None:
    policy = fsm.Policy.from_mapping({"verdicts": {"fee_generating": {"purged": "deny"}}})
    assert str(payg("purged", policy=policy).decide("scale_out").verdict) == "deny"


def test_thresholds_from_a_policy() -> None:
    policy = fsm.Policy.from_mapping(
        {
            "grace": "12h",
            "restrict_after": "10d",
            "purge_after": "30d",
            "subscription_retention": "7d",
        }
    )
    c = fsm.Cluster("c-1", "pay_as_you_go", policy=policy)
    c.balance_negative(T0, now=LATER)
    assert str(c.state(T0 + 12 * HOUR).phase) == "suspended"
    assert str(c.state(T0 + 12 * HOUR - HOUR).phase) == "overdue_grace"
    assert str(c.state(T0 + 10 * DAY).phase) == "restricted"
    assert str(c.state(T0 + 30 * DAY).phase) == "purged"
    s = fsm.Cluster("c-2", "subscription", expires_at=EXPIRY, policy=policy)
    assert str(s.state(EXPIRY + 7 * DAY).phase) == "purged"
    assert str(s.state(EXPIRY + 7 * DAY - HOUR).phase) == "suspended"


def test_future_tolerance_from_a_policy() -> None:
    policy = fsm.Policy.from_mapping({"future_tolerance": "1h"})
    c = fsm.Cluster("c-1", "pay_as_you_go", policy=policy)
    assert c.balance_negative(T0 + HOUR, now=T0).changed is True
    d = fsm.Cluster("c-1", "pay_as_you_go", policy=policy)
    with pytest.raises(fsm.InputError, match="at"):
        d.balance_negative(T0 + HOUR + HOUR, now=T0)


def test_empty_policy_file_is_the_default(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    policy = fsm.Policy.load(path)
    assert policy.as_dict() == fsm.Policy.default().as_dict()
    durations = {
        key: parse_duration(policy.as_dict()[key], key)
        for key in ("grace", "restrict_after", "purge_after", "subscription_retention",
                    "future_tolerance")
    }  # fmt: skip
    assert durations == {
        "grace": timedelta(hours=24),
        "restrict_after": timedelta(days=15),
        "purge_after": timedelta(days=60),
        "subscription_retention": timedelta(days=15),
        "future_tolerance": timedelta(minutes=5),
    }


def test_verdict_override_accepts_the_overdue_grace_alias() -> None:
    policy = fsm.Policy.from_mapping({"verdicts": {"task": {"overdue-grace": "deny"}}})
    assert str(payg("overdue_grace", policy=policy).decide("submit_task").verdict) == "deny"
