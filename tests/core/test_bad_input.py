"""Malformed input is an ``fsm.InputError`` whose message names the field (SPEC 1, 3, 4)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import fsm
from fsm.observations import Observation
from fsm.timeutil import parse_duration

from ._support import LATER, T0, US, payg, sub

NAIVE = datetime(2026, 1, 1)  # no tzinfo


def new(cluster_id: Any = "c-1", billing: Any = "pay_as_you_go", **kw: Any) -> fsm.Cluster:
    return fsm.Cluster(cluster_id, billing, **kw)


def policy(document: Any) -> fsm.Policy:
    return fsm.Policy.from_mapping(document)


# (what is wrong, how to trigger it, the field its message must name)
CASES: list[tuple[str, Callable[[], object], str]] = [
    # cluster ids and accounts
    ("cluster_id-empty", lambda: new(""), "cluster_id"),
    ("cluster_id-leading-dash", lambda: new("-c1"), "cluster_id"),
    ("cluster_id-129-chars", lambda: new("c" * 129), "cluster_id"),
    ("cluster_id-space", lambda: new("c 1"), "cluster_id"),
    ("cluster_id-slash", lambda: new("c/1"), "cluster_id"),
    ("cluster_id-non-ascii", lambda: new("c-é"), "cluster_id"),
    ("cluster_id-int", lambda: new(123), "cluster_id"),
    ("cluster_id-none", lambda: new(None), "cluster_id"),
    ("account-space", lambda: new(account="my account"), "account"),
    # billing
    ("billing-unknown", lambda: new(billing="prepaid"), "billing"),
    ("billing-abbreviation", lambda: new(billing="PAYG"), "billing"),
    ("billing-none", lambda: new(billing=None), "billing"),
    # instants
    ("at-naive-datetime", lambda: new().balance_negative(NAIVE, now=LATER), "at"),
    ("at-naive-string", lambda: new().balance_negative("2026-01-01T00:00:00", now=LATER), "at"),
    ("at-unparsable", lambda: new().balance_negative("yesterday", now=LATER), "at"),
    ("at-month-13", lambda: new().recharged("2026-13-01T00:00:00Z", now=LATER), "at"),
    ("at-empty", lambda: new().released("", now=LATER), "at"),
    ("at-negative-epoch", lambda: new().balance_negative(-1, now=LATER), "at"),
    ("at-epoch-ms-in-seconds", lambda: new().balance_negative(1767225600000, now=LATER), "at"),
    ("at-nan", lambda: new().balance_negative(float("nan"), now=LATER), "at"),
    ("at-bool", lambda: new().balance_negative(True, now=LATER), "at"),
    ("at-none", lambda: new().balance_negative(None, now=LATER), "at"),
    ("at-beyond-tolerance", lambda: new().balance_negative(T0 + timedelta(minutes=5) + US, now=T0),
     "at"),
    ("now-naive", lambda: new().advance(NAIVE), "now"),
    ("now-unparsable", lambda: new().advance("soon"), "now"),
    ("now-of-record-naive", lambda: new().balance_negative(T0, now=NAIVE), "now"),
    ("now-of-decide-naive", lambda: new().decide("scale_out", now=NAIVE), "now"),
    ("now-of-report-out-of-range", lambda: new().report(now=1e20), "now"),
    ("expires_at-naive", lambda: new(billing="subscription", expires_at=NAIVE), "expires_at"),
    ("expires_at-on-payg", lambda: new(expires_at=LATER), "expires_at"),
    ("expires_at-missing-on-renewal", lambda: sub("active").renewed(T0, None, now=LATER),
     "expires_at"),
    ("expires_at-before-renewal", lambda: sub("active").renewed(T0, T0 - US, now=LATER),
     "expires_at"),
    ("event-unknown-kind", lambda: fsm.Event.create("overdue", T0), "event"),
    ("expires_at-on-non-renewal", lambda: fsm.Event.create("recharged", T0, LATER), "expires_at"),
    # durations
    ("duration-word", lambda: policy({"grace": "one day"}), "grace"),
    ("duration-negative", lambda: policy({"grace": "-1d"}), "grace"),
    ("duration-unknown-unit", lambda: policy({"grace": "1x"}), "grace"),
    ("duration-zero", lambda: policy({"restrict_after": 0}), "restrict_after"),
    ("duration-negative-number", lambda: policy({"purge_after": -5}), "purge_after"),
    ("duration-bool", lambda: policy({"subscription_retention": True}), "subscription_retention"),
    ("duration-list", lambda: policy({"grace": [1, 2]}), "grace"),
    ("duration-nan", lambda: policy({"grace": float("nan")}), "grace"),
    ("duration-zero-tolerance", lambda: policy({"future_tolerance": "0s"}), "future_tolerance"),
    ("duration-direct-parse", lambda: parse_duration("15 days", "retention"), "retention"),
    # policies
    ("policy-unknown-key", lambda: policy({"graec": "24h"}), "graec"),
    ("policy-not-a-mapping", lambda: policy(["grace", "24h"]), "policy"),
    ("policy-grace-not-below-restrict", lambda: policy({"grace": "15d"}), "restrict_after"),
    ("policy-restrict-not-below-purge", lambda: policy({"restrict_after": "60d"}), "purge_after"),
    ("policy-purge-before-grace", lambda: policy({"purge_after": "12h"}), "purge_after"),
    ("policy-unknown-category", lambda: policy({"operations": {"run_backup": "money"}}),
     "run_backup"),
    ("policy-canonical-redeclared", lambda: policy({"operations": {"scale_out": "read"}}),
     "scale_out"),
    ("policy-bad-operation-name", lambda: policy({"operations": {"Run-Backup": "task"}}),
     "operations"),
    ("policy-operations-not-a-mapping", lambda: policy({"operations": ["run_backup"]}),
     "operations"),
    ("policy-verdict-unknown-category",
     lambda: policy({"verdicts": {"billing": {"active": "deny"}}}), "verdicts"),
    ("policy-verdict-unknown-phase", lambda: policy({"verdicts": {"om": {"dormant": "deny"}}}),
     "verdicts"),
    ("policy-verdict-unknown-verdict", lambda: policy({"verdicts": {"om": {"active": "maybe"}}}),
     "active"),
    ("policy-fee-generating-in-purged",
     lambda: policy({"verdicts": {"fee_generating": {"purged": "allow"}}}), "purged"),
    ("policy-fee-generating-in-released",
     lambda: policy({"verdicts": {"fee_generating": {"released": "warn"}}}), "released"),
    ("policy-direct-zero-grace", lambda: fsm.Policy(grace=timedelta(0)), "grace"),
    # operations
    ("operation-unknown", lambda: payg("active").decide("delete_everything"), "operation"),
    ("operation-typo", lambda: payg("overdue_grace").decide("scale-out"), "operation"),
    ("operation-unknown-in-report", lambda: payg("active").report(operation="nuke"), "operation"),
    # phases and observations
    ("phase-unknown", lambda: fsm.parse_phase("grace"), "phase"),
    ("balance-not-a-number", lambda: Observation.create(at=T0, balance="lots"), "balance"),
    ("overdue_since-with-positive-balance",
     lambda: Observation.create(at=T0, balance="5", overdue_since=T0), "overdue_since"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "field"), [pytest.param(c, f, id=i) for i, c, f in CASES])
def test_bad_input_names_the_field(call: Callable[[], object], field: str) -> None:
    with pytest.raises(fsm.InputError) as caught:
        call()
    assert field in str(caught.value)


# Inputs at the edges: a trailing newline (``$`` would match before it) and
# values whose arithmetic overflows must still be InputErrors naming the field.
EDGE_CASES: list[tuple[str, Callable[[], object], str]] = [
    ("cluster_id-trailing-newline", lambda: new("c-1\n"), "cluster_id"),
    ("account-trailing-newline", lambda: new(account="acct\n"), "account"),
    ("duration-too-large", lambda: policy({"grace": "100000000000000d"}), "grace"),
    ("duration-too-large-number", lambda: policy({"grace": 1e20}), "grace"),
    (
        "expires_at-overflows-utc",
        lambda: new(billing="subscription", expires_at="9999-12-31T23:59:59-01:00"),
        "expires_at",
    ),
]


@pytest.mark.parametrize(("call", "field"), [pytest.param(c, f, id=i) for i, c, f in EDGE_CASES])
def test_bad_input_at_the_edges_names_the_field(call: Callable[[], object], field: str) -> None:
    with pytest.raises(fsm.InputError) as caught:
        call()
    assert field in str(caught.value)


def test_an_expiry_at_the_end_of_the_accepted_range_is_reported() -> None:
    """SPEC 1 accepts instants up to year 9999; a purge beyond it is simply never."""
    c = new(billing="subscription", expires_at="9999-12-31T00:00:00Z")
    report = c.report()
    assert report["phase"] == "active"
    assert report["timeline"] == [{"phase": "suspended", "at": "9999-12-31T00:00:00Z"}]


def test_there_are_at_least_25_distinct_cases() -> None:
    assert len({name for name, _, _ in CASES}) == len(CASES) >= 25


POLICY_CASES = [name for name, _, _ in CASES if name.startswith(("policy-", "duration-"))]


@pytest.mark.parametrize("name", [n for n in POLICY_CASES if n != "duration-direct-parse"])
def test_bad_policy_is_a_policy_error(name: str) -> None:
    call = next(c for n, c, _ in CASES if n == name)
    with pytest.raises(fsm.PolicyError):
        call()


def test_epoch_milliseconds_in_a_seconds_field_says_so() -> None:
    with pytest.raises(fsm.InputError, match="_ms"):
        new().balance_negative(1767225600000, now=LATER)


def test_event_beyond_the_tolerance_changes_nothing() -> None:
    c = payg("active")
    with pytest.raises(fsm.InputError):
        c.balance_negative(T0 + timedelta(minutes=6), now=T0)
    assert c.to_events() == []
    assert str(c.phase) == "active"


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("not-yaml", "grace: [24h\n", "policy"),
        ("tab-indented", "grace:\n\t- 24h\n", "policy"),
        ("a-list", "- grace\n- 24h\n", "policy"),
        ("unknown-key", "grace: 24h\npurgeafter: 60d\n", "purgeafter"),
        ("fee-generating-in-purged", "verdicts:\n  fee_generating:\n    purged: allow\n", "purged"),
    ],
)
def test_bad_policy_file(tmp_path: Path, name: str, text: str, field: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(fsm.PolicyError) as caught:
        fsm.Policy.load(path)
    assert field in str(caught.value)


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(fsm.PolicyError) as caught:
        fsm.Policy.load(tmp_path / "absent.yaml")
    assert "policy" in str(caught.value)


def test_undeclared_operation_is_never_a_silent_allow() -> None:
    c = payg("active")
    with pytest.raises(fsm.InputError):
        c.decide("my_custom_job")
