"""Warnings ahead (SPEC section 7): which are due when, per episode; policy ``warn_before``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fsm
from fsm.timeutil import format_duration
from fsm.warnings import STEP_OF_TRIGGER, Step, status

from ._support import DAY, EXPIRY, HOUR, T0, US, iso

PROPERTY = settings(max_examples=200, deadline=None)


def _due(
    cluster: fsm.Cluster, now: object, policy: fsm.Policy | None = None
) -> set[tuple[str, str]]:
    state = cluster.state(now)  # type: ignore[arg-type]
    if policy is not None:
        state = state._replace(policy=policy)
    return {(str(w.step), format_duration(w.threshold)) for w in fsm.warnings_due(state)}


def _overdue(at: object = T0, policy: fsm.Policy | None = None) -> fsm.Cluster:
    c = fsm.Cluster("c-1", "pay_as_you_go", policy=policy)
    c.balance_negative(at, now=at)
    return c


def test_the_default_thresholds_are_seven_days_and_one_day() -> None:
    assert fsm.Policy.default().warn_before == (7 * DAY, DAY)
    assert fsm.Policy.default().as_dict()["warn_before"] == ["7d", "24h"]


def test_every_timed_step_is_a_warned_step() -> None:
    assert {step.trigger for step in fsm.table.TIMED_TRANSITIONS} == set(STEP_OF_TRIGGER)
    assert set(STEP_OF_TRIGGER.values()) == set(Step)


def test_a_payg_episode_warns_before_each_step_at_its_thresholds() -> None:
    c = _overdue()
    # At the start, the suspension 24h ahead has crossed both thresholds.
    assert _due(c, T0) == {("suspension", "7d"), ("suspension", "24h")}
    assert _due(c, T0 + 8 * DAY - US) == set()
    assert _due(c, T0 + 8 * DAY) == {("restriction", "7d")}
    assert _due(c, T0 + 14 * DAY) == {("restriction", "7d"), ("restriction", "24h")}
    assert _due(c, T0 + 15 * DAY) == set()  # restricted now: the step is behind
    assert _due(c, T0 + 53 * DAY) == {("data_deletion", "7d")}
    assert _due(c, T0 + 60 * DAY - US) == {("data_deletion", "7d"), ("data_deletion", "24h")}
    assert _due(c, T0 + 60 * DAY) == set()  # purged: nothing ahead


def test_a_subscription_warns_before_its_expiry_and_its_data_deletion() -> None:
    c = fsm.Cluster("s-1", "subscription", expires_at=EXPIRY)
    assert _due(c, EXPIRY - 7 * DAY - US) == set()
    assert _due(c, EXPIRY - 7 * DAY) == {("subscription_expiry", "7d")}
    assert _due(c, EXPIRY + 8 * DAY) == {("data_deletion", "7d")}
    [warning] = fsm.warnings_due(c.state(EXPIRY - DAY))[1:]
    assert warning.episode == EXPIRY  # a subscription period is named by its expiry
    assert warning.message == (
        f"s-1 expires (its subscription ends) within 24h, on {iso(EXPIRY)}; "
        "to prevent it, renew the subscription (recharge first if the account is overdue)"
    )


def test_a_warning_says_what_happens_when_and_what_prevents_it() -> None:
    [seven, one] = fsm.warnings_due(_overdue().state(T0 + 59 * DAY))
    assert seven.as_dict() == {
        "cluster_id": "c-1",
        "account": "default",
        "step": "data_deletion",
        "threshold": "7d",
        "episode": iso(T0),
        "due_at": iso(T0 + 53 * DAY),
        "deadline": iso(T0 + 60 * DAY),
        "message": f"c-1 has its data deleted within 7d, on {iso(T0 + 60 * DAY)}; "
        "to prevent it, recharge the account",
    }
    assert one.threshold == DAY and one.due_at == T0 + 59 * DAY


@PROPERTY
@given(
    before=st.lists(
        st.integers(min_value=1, max_value=70 * 86400 * 10**6).map(
            lambda us: timedelta(microseconds=us)
        ),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    start=st.integers(min_value=0, max_value=10**12).map(
        lambda us: T0 + timedelta(microseconds=us)
    ),
)
def test_each_threshold_is_due_exactly_from_its_instant_to_the_deadline(
    before: list[timedelta], start: object
) -> None:
    policy = fsm.Policy(warn_before=tuple(sorted(before, reverse=True)))
    c = _overdue(start, policy)
    for threshold in before:
        for step, after in (("suspension", policy.grace), ("data_deletion", policy.purge_after)):
            deadline = start + after  # type: ignore[operator]
            due_at = deadline - threshold
            key = (step, format_duration(threshold))
            if due_at > start:  # type: ignore[operator]
                assert key not in _due(c, due_at - US)
            if due_at >= start:  # type: ignore[operator]
                assert key in _due(c, due_at)
            assert key in _due(c, deadline - US)


def test_a_recharge_ends_the_episode_and_a_new_one_warns_afresh() -> None:
    c = _overdue()
    first = fsm.warnings_due(c.state(T0 + 59 * DAY))
    c.recharged(T0 + 59 * DAY + HOUR, now=T0 + 59 * DAY + HOUR)
    assert fsm.warnings_due(c.state(T0 + 59 * DAY + HOUR)) == []
    again = T0 + 70 * DAY
    c.balance_negative(again, now=again)
    second = fsm.warnings_due(c.state(again))
    assert {w.episode for w in first} == {T0}
    assert {w.episode for w in second} == {again}
    assert {w.key for w in first}.isdisjoint({w.key for w in second})


def test_a_renewal_ends_the_subscription_period() -> None:
    c = fsm.Cluster("s-1", "subscription", expires_at=EXPIRY)
    assert {w.episode for w in fsm.warnings_due(c.state(EXPIRY - DAY))} == {EXPIRY}
    c.renewed(EXPIRY - DAY, EXPIRY + 365 * DAY, now=EXPIRY - DAY)
    assert fsm.warnings_due(c.state(EXPIRY - DAY)) == []


def test_terminal_and_active_payg_clusters_warn_of_nothing() -> None:
    assert fsm.warnings_due(fsm.Cluster("c-1", "pay_as_you_go").state(T0)) == []
    released = fsm.Cluster("c-2", "pay_as_you_go")
    released.released(T0, now=T0)
    assert fsm.warnings_due(released.state(T0 + DAY)) == []


def test_an_empty_warn_before_warns_of_nothing() -> None:
    policy = fsm.Policy.from_mapping({"warn_before": []})
    assert _due(_overdue(policy=policy), T0 + 59 * DAY) == set()


def test_the_ledger_status_of_a_warning() -> None:
    [warning, _] = fsm.warnings_due(_overdue().state(T0))
    assert status(warning, acknowledged=True, due=True, now=T0) == "acknowledged"
    assert status(warning, acknowledged=False, due=True, now=T0) == "due"
    assert status(warning, acknowledged=False, due=False, now=T0 + HOUR) == "ended"
    assert status(warning, acknowledged=False, due=False, now=T0 + DAY) == "passed"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("7d", "warn_before: '7d' is not valid; expected a list of durations such as [7d, 1d]"),
        (["7d", "168h"], "warn_before[1]: '168h' is not valid; expected a duration not already"),
        (["soon"], "warn_before[0]: 'soon' is not valid; expected a duration"),
        (["-1d"], "warn_before[0]: '-1d' is not valid; expected a"),
        ([True], "warn_before[0]: True is not valid; expected a duration"),
    ],
)
def test_warn_before_is_a_list_of_distinct_durations(value: object, message: str) -> None:
    with pytest.raises(fsm.PolicyError, match=message.replace("[", r"\[")):
        fsm.Policy.from_mapping({"warn_before": value})


def test_warn_before_is_kept_longest_first_and_printed_as_written() -> None:
    policy = fsm.Policy.from_mapping({"warn_before": ["1d", "14d", "3h"]})
    assert policy.warn_before == (14 * DAY, DAY, 3 * HOUR)
    assert policy.as_dict()["warn_before"] == ["14d", "24h", "3h"]
    again = {"warn_before": policy.as_dict()["warn_before"]}
    assert fsm.Policy.from_mapping(again).warn_before == policy.warn_before


def test_next_due_at_is_when_the_next_warning_falls_due() -> None:
    c = _overdue()
    assert fsm.next_due_at(c.state(T0)) == T0 + 8 * DAY  # restriction, 7d ahead
    assert fsm.next_due_at(c.state(T0 + 8 * DAY)) == T0 + 14 * DAY
    assert fsm.next_due_at(c.state(T0 + 59 * DAY)) is None  # both deletion warnings are due
    assert fsm.warnings_due(c.state(fsm.next_due_at(c.state(T0 + 20 * DAY)))) != []
    assert fsm.next_due_at(fsm.Cluster("c-2", "pay_as_you_go").state(T0)) is None
