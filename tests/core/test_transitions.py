"""SPEC section 3, row by row, and the boundaries of section 2.

Every expectation (phase, effective instant, facts) is written out from the
spec; nothing is read back from ``fsm.table``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

import fsm

from ._support import DAY, EXPIRY, HOUR, LATER, T0, US, iso, payg, sub

YEAR_LATER = EXPIRY + 365 * DAY


def last(c: fsm.Cluster) -> tuple[str, str, datetime, str]:
    t = c.history[-1]
    return (str(t.source), str(t.dest), t.at, t.trigger)


# -- one test per row of the transition table ----------------------------------------------
#
# (make the cluster, act on it, expected phase, expected new history entry
#  (from, to, effective instant, trigger or None for a timed step) or None: unchanged)

Row = tuple[
    Callable[[], fsm.Cluster],
    Callable[[fsm.Cluster], fsm.Outcome],
    str,
    tuple[str, str, datetime, str | None] | None,
]

ROWS: dict[str, Row] = {
    # active --balance_negative(at)--> overdue_grace, the clock starts at ``at``
    "active-balance_negative-payg": (
        lambda: payg("active"),
        lambda c: c.balance_negative(T0 + 5 * HOUR, now=LATER),
        "overdue_grace",
        ("active", "overdue_grace", T0 + 5 * HOUR, "balance_negative"),
    ),
    "active-balance_negative-subscription": (
        lambda: sub("active"),
        lambda c: c.balance_negative(T0 + 5 * HOUR, now=LATER),
        "overdue_grace",
        ("active", "overdue_grace", T0 + 5 * HOUR, "balance_negative"),
    ),
    # overdue_grace, suspended (PAYG), restricted --recharged--> active
    "overdue_grace-recharged-payg": (
        lambda: payg("overdue_grace"),
        lambda c: c.recharged(T0 + 2 * HOUR, now=LATER),
        "active",
        ("overdue_grace", "active", T0 + 2 * HOUR, "recharged"),
    ),
    "overdue_grace-recharged-subscription": (
        lambda: sub("overdue_grace"),
        lambda c: c.recharged(T0 + 2 * HOUR, now=LATER),
        "active",
        ("overdue_grace", "active", T0 + 2 * HOUR, "recharged"),
    ),
    "suspended-recharged-payg": (
        lambda: payg("suspended"),
        lambda c: c.recharged(T0 + 3 * DAY, now=LATER),
        "active",
        ("suspended", "active", T0 + 3 * DAY, "recharged"),
    ),
    "restricted-recharged-payg": (
        lambda: payg("restricted"),
        lambda c: c.recharged(T0 + 59 * DAY, now=LATER),
        "active",
        ("restricted", "active", T0 + 59 * DAY, "recharged"),
    ),
    # PAYG clock: effective at the threshold, not at ``now``
    "overdue_grace-advance-payg": (
        lambda: payg("overdue_grace"),
        lambda c: c.advance(T0 + DAY + 5 * HOUR),
        "suspended",
        ("overdue_grace", "suspended", T0 + DAY, None),
    ),
    "suspended-advance-payg": (
        lambda: payg("suspended"),
        lambda c: c.advance(T0 + 15 * DAY + 3 * HOUR),
        "restricted",
        ("suspended", "restricted", T0 + 15 * DAY, None),
    ),
    "restricted-advance-payg": (
        lambda: payg("restricted"),
        lambda c: c.advance(T0 + 60 * DAY + 3 * HOUR),
        "purged",
        ("restricted", "purged", T0 + 60 * DAY, None),
    ),
    # subscription expiry: effective at expires_at
    "active-advance-subscription": (
        lambda: sub("active"),
        lambda c: c.advance(EXPIRY + 2 * HOUR),
        "suspended",
        ("active", "suspended", EXPIRY, None),
    ),
    "overdue_grace-advance-subscription": (
        lambda: sub("overdue_grace"),
        lambda c: c.advance(EXPIRY + 2 * HOUR),
        "suspended",
        ("overdue_grace", "suspended", EXPIRY, None),
    ),
    # active (subscription) --renewed--> active: expires_at later, no phase change
    "active-renewed-subscription": (
        lambda: sub("active"),
        lambda c: c.renewed(T0 + 2 * HOUR, YEAR_LATER, now=LATER),
        "active",
        None,
    ),
    # suspended (subscription) --renewed--> active when the account is not overdue
    "suspended-renewed-subscription": (
        lambda: sub("suspended"),
        lambda c: c.renewed(EXPIRY + 2 * DAY, YEAR_LATER, now=LATER),
        "active",
        ("suspended", "active", EXPIRY + 2 * DAY, "renewed"),
    ),
    # suspended (subscription) --recharged--> suspended (only clears the overdue flag)
    "suspended-recharged-subscription": (
        lambda: sub("suspended", overdue=True),
        lambda c: c.recharged(EXPIRY + 2 * DAY, now=LATER),
        "suspended",
        None,
    ),
    # suspended (subscription) --advance--> purged at expires_at + 15d
    "suspended-advance-subscription": (
        lambda: sub("suspended"),
        lambda c: c.advance(EXPIRY + 15 * DAY + HOUR),
        "purged",
        ("suspended", "purged", EXPIRY + 15 * DAY, None),
    ),
    # any non-terminal --released--> released
    # (each released while still in the phase: before its next threshold)
    **{
        f"{phase}-released-payg": (
            (lambda phase=phase: payg(phase)),
            (lambda c, at=at: c.released(at, now=LATER)),
            "released",
            (phase, "released", at, "released"),
        )
        for phase, at in (
            ("active", T0),
            ("overdue_grace", T0 + 2 * HOUR),
            ("suspended", T0 + 3 * DAY),
            ("restricted", T0 + 21 * DAY),
        )
    },
    **{
        f"{phase}-released-subscription": (
            (lambda phase=phase: sub(phase)),
            (lambda c, at=at: c.released(at, now=LATER)),
            "released",
            (phase, "released", at, "released"),
        )
        for phase, at in (
            ("active", T0 + 2 * HOUR),
            ("overdue_grace", T0 + 2 * HOUR),
            ("suspended", EXPIRY + 5 * DAY),
        )
    },
}


@pytest.mark.parametrize("name", list(ROWS))
def test_transition_row(name: str) -> None:
    make, act, expected, entry = ROWS[name]
    c = make()
    before = len(c.history)
    outcome = act(c)
    assert str(c.phase) == expected
    assert str(outcome.phase) == expected
    if entry is None:
        assert len(c.history) == before
        assert outcome.entered == ()
    else:
        source, dest, at, trigger = entry
        got = last(c)
        assert got[:3] == (source, dest, at)
        if trigger is not None:
            assert got[3] == trigger
        assert outcome.changed is True
        assert str(outcome.entered[-1]) == dest
        assert c.phase_since == at
        assert c.report()["history"][-1]["at"] == iso(at)


def test_balance_negative_starts_the_clock_at_its_instant() -> None:
    c = payg("active")
    c.balance_negative("2026-01-01T05:00:00+08:00", now=LATER)
    assert c.overdue_since == T0 - 3 * HOUR
    assert c.report()["overdue_since"] == "2025-12-31T21:00:00Z"
    c.advance(T0 - 3 * HOUR + DAY)
    assert str(c.phase) == "suspended"


def test_recharge_before_purge_clears_the_clock() -> None:
    c = payg("restricted")
    c.recharged(T0 + 30 * DAY, now=LATER)
    report = c.report(LATER)
    assert report["phase"] == "active"
    assert report["overdue_since"] is None
    assert report["next_phase"] is None
    assert report["data_deletion_at"] is None
    # A new episode starts a new clock.
    c.balance_negative(T0 + 40 * DAY, now=LATER)
    c.advance(T0 + 41 * DAY)
    assert str(c.phase) == "suspended"
    assert c.phase_since == T0 + 41 * DAY


def test_renewal_in_active_moves_expiry_later() -> None:
    c = sub("active")
    outcome = c.renewed(T0 + 2 * HOUR, YEAR_LATER, now=LATER)
    assert outcome.changed is True
    assert c.expires_at == YEAR_LATER
    assert c.to_events()[-1].kind is fsm.EventKind.RENEWED
    c.advance(EXPIRY + 20 * DAY)  # the old expiry no longer applies
    assert str(c.phase) == "active"
    report = c.report()
    assert report["expires_at"] == iso(YEAR_LATER)
    assert report["next_phase"] == "suspended"
    assert report["next_phase_at"] == iso(YEAR_LATER)


@pytest.mark.parametrize("phase", ["overdue_grace", "suspended"])
def test_renewal_refused_while_overdue(phase: str) -> None:
    c = sub(phase, overdue=True)
    outcome = c.renewed(c.evaluated_at + HOUR, YEAR_LATER, now=LATER)
    assert outcome.changed is False
    assert str(c.phase) == phase
    assert c.expires_at == EXPIRY
    # SPEC 3: kept in the log (a late recharge could still give it its effect), not applied.
    assert outcome.recorded is True
    assert c.to_events()[-1].kind is fsm.EventKind.RENEWED
    assert outcome.note is not None
    assert "refused" in outcome.note
    assert "recharge" in outcome.note
    assert str(c.decide("renew").verdict) == "deny"


def test_subscription_recharge_in_suspended_allows_the_following_renewal() -> None:
    c = sub("suspended", overdue=True)
    assert c.overdue is True
    refused = c.renewed(EXPIRY + DAY + HOUR, YEAR_LATER, now=LATER)
    assert refused.changed is False
    recharge = c.recharged(EXPIRY + 2 * DAY, now=LATER)
    assert recharge.changed is True
    assert str(c.phase) == "suspended"
    assert c.overdue is False
    assert c.report()["overdue_since"] is None
    renewal = c.renewed(EXPIRY + 2 * DAY + HOUR, YEAR_LATER, now=LATER)
    assert renewal.changed is True
    assert str(c.phase) == "active"
    assert last(c) == ("suspended", "active", EXPIRY + 2 * DAY + HOUR, "renewed")
    assert c.expires_at == YEAR_LATER


def test_renewal_on_pay_as_you_go_is_refused() -> None:
    c = payg("active")
    outcome = c.renewed(T0, YEAR_LATER, now=LATER)
    assert outcome.changed is False
    assert outcome.recorded is True
    assert [e.kind for e in c.to_events()] == [fsm.EventKind.RENEWED]
    assert c.expires_at is None
    assert outcome.note is not None
    assert "pay-as-you-go" in outcome.note


def test_subscription_runs_no_overdue_clock() -> None:
    """Overdue subscriptions stay in overdue_grace until they expire, however long."""
    c = fsm.Cluster("c-sub", "subscription", expires_at=YEAR_LATER)
    c.balance_negative(T0, now=LATER)
    c.advance(T0 + 100 * DAY)
    assert str(c.phase) == "overdue_grace"
    report = c.report()
    assert report["next_phase"] == "suspended"
    assert report["next_phase_at"] == iso(YEAR_LATER)
    assert report["timeline"] == [
        {"phase": "suspended", "at": iso(YEAR_LATER)},
        {"phase": "purged", "at": iso(YEAR_LATER + 15 * DAY)},
    ]
    assert str(c.decide("renew").verdict) == "deny"
    assert str(c.decide("submit_task").verdict) == "allow"


# -- terminal phases: every event is ignored -------------------------------------------

TERMINAL_EVENTS: dict[str, Callable[[fsm.Cluster, datetime], fsm.Outcome]] = {
    "balance_negative": lambda c, at: c.balance_negative(at, now=LATER),
    "recharged": lambda c, at: c.recharged(at, now=LATER),
    "renewed": lambda c, at: c.renewed(at, at + 365 * DAY, now=LATER),
    "released": lambda c, at: c.released(at, now=LATER),
}


@pytest.mark.parametrize("event", list(TERMINAL_EVENTS))
@pytest.mark.parametrize("billing", ["pay_as_you_go", "subscription"])
@pytest.mark.parametrize("phase", ["purged", "released"])
def test_terminal_phase_ignores_events(phase: str, billing: str, event: str) -> None:
    c = payg(phase) if billing == "pay_as_you_go" else sub(phase)
    log, history = c.to_events(), c.history
    at = c.evaluated_at + DAY
    outcome = TERMINAL_EVENTS[event](c, at)
    assert outcome.changed is False
    assert outcome.note is not None
    assert outcome.note.startswith("ignored")
    assert phase in outcome.note
    assert str(c.phase) == phase
    assert c.to_events()[:-1] == log  # kept (SPEC 3), never resurrecting the cluster
    assert outcome.recorded is True
    assert c.history == history
    assert c.advance(at + 400 * DAY).changed is False
    assert str(c.phase) == phase


# -- boundaries: closed at the start, open at the end -----------------------------------

PAYG_BOUNDARIES = [
    ("24h", DAY, "suspended"),
    ("24h-1us", DAY - US, "overdue_grace"),
    ("15d", 15 * DAY, "restricted"),
    ("15d-1us", 15 * DAY - US, "suspended"),
    ("60d", 60 * DAY, "purged"),
    ("60d-1us", 60 * DAY - US, "restricted"),
]


@pytest.mark.parametrize(
    ("offset", "expected"), [pytest.param(o, e, id=i) for i, o, e in PAYG_BOUNDARIES]
)
def test_payg_boundary(offset: Any, expected: str) -> None:
    now = T0 + offset
    advanced = payg("overdue_grace")
    advanced.advance(now)
    assert str(advanced.phase) == expected
    looked = payg("overdue_grace")
    assert str(looked.state(now).phase) == expected  # read without advancing
    assert looked.report(now)["phase"] == expected
    if offset in (DAY, 15 * DAY, 60 * DAY):
        assert advanced.phase_since == now


SUBSCRIPTION_BOUNDARIES = [
    ("expiry", 0 * DAY, "suspended"),
    ("expiry-1us", -US, "active"),
    ("expiry+15d", 15 * DAY, "purged"),
    ("expiry+15d-1us", 15 * DAY - US, "suspended"),
]


@pytest.mark.parametrize(
    ("offset", "expected"), [pytest.param(o, e, id=i) for i, o, e in SUBSCRIPTION_BOUNDARIES]
)
def test_subscription_boundary(offset: Any, expected: str) -> None:
    now = EXPIRY + offset
    advanced = sub("active")
    advanced.advance(now)
    assert str(advanced.phase) == expected
    looked = sub("active")
    assert str(looked.state(now).phase) == expected
    if offset in (0 * DAY, 15 * DAY):
        assert advanced.phase_since == now


def test_boundaries_change_verdicts() -> None:
    c = payg("overdue_grace")
    assert str(c.decide("submit_task", now=T0 + 15 * DAY - US).verdict) == "warn"
    assert str(c.decide("submit_task", now=T0 + 15 * DAY).verdict) == "deny"
    assert str(c.decide("restart_service", now=T0 + DAY - US).verdict) == "allow"
    assert str(c.decide("restart_service", now=T0 + DAY).verdict) == "deny"
    assert str(c.decide("view_cluster_info", now=T0 + 60 * DAY - US).verdict) == "allow"
    assert str(c.decide("view_cluster_info", now=T0 + 60 * DAY).verdict) == "deny"


# -- the scenarios of the issue ------------------------------------------------------------


def test_acceptance_one_liner() -> None:
    c = fsm.Cluster("c-1", "pay_as_you_go")
    c.balance_negative("2026-01-01T00:00:00Z")
    c.advance("2026-01-16T00:00:00Z")
    assert c.phase == "restricted"
    assert c.decide("submit_task").verdict == "deny"


def test_advance_on_day_20_records_each_step_at_its_own_instant() -> None:
    c = payg("overdue_grace")
    outcome = c.advance(T0 + 20 * DAY)
    assert [str(p) for p in outcome.entered] == ["suspended", "restricted"]
    assert outcome.changed is True
    steps = [(t["from"], t["to"], t["at"]) for t in c.report()["history"]]
    assert steps == [
        ("active", "overdue_grace", "2026-01-01T00:00:00Z"),
        ("overdue_grace", "suspended", "2026-01-02T00:00:00Z"),
        ("suspended", "restricted", "2026-01-16T00:00:00Z"),
    ]
    assert c.phase_since == T0 + 15 * DAY


def test_advance_crosses_every_threshold_to_purged() -> None:
    c = payg("overdue_grace")
    c.advance(T0 + 200 * DAY)
    assert [(str(t.dest), t.at) for t in c.history] == [
        ("overdue_grace", T0),
        ("suspended", T0 + DAY),
        ("restricted", T0 + 15 * DAY),
        ("purged", T0 + 60 * DAY),
    ]


def test_late_balance_negative_lands_where_it_belongs() -> None:
    c = payg("active")
    c.advance(T0 + 3 * DAY)
    outcome = c.balance_negative(T0, now=T0 + 3 * DAY)
    assert outcome.changed is True
    assert str(c.phase) == "suspended"
    assert [(str(t.dest), t.at) for t in c.history] == [
        ("overdue_grace", T0),
        ("suspended", T0 + DAY),
    ]
    assert c.overdue_since == T0


def test_late_recharge_lands_before_the_thresholds_it_prevents() -> None:
    c = payg("restricted")  # evaluated on day 20
    outcome = c.recharged(T0 + 10 * HOUR, now=T0 + 20 * DAY)
    assert outcome.changed is True
    assert str(c.phase) == "active"
    assert [(str(t.source), str(t.dest), t.at) for t in c.history] == [
        ("active", "overdue_grace", T0),
        ("overdue_grace", "active", T0 + 10 * HOUR),
    ]
    assert [e.kind for e in c.to_events()] == [
        fsm.EventKind.BALANCE_NEGATIVE,
        fsm.EventKind.RECHARGED,
    ]


def test_late_release_is_effective_at_its_own_instant() -> None:
    c = payg("restricted")
    c.released(T0 + 5 * HOUR, now=LATER)
    assert str(c.phase) == "released"
    assert last(c) == ("overdue_grace", "released", T0 + 5 * HOUR, "released")


def test_late_events_recorded_out_of_order_are_replayed_in_event_time() -> None:
    c = payg("active")
    c.advance(T0 + 20 * DAY)
    c.balance_negative(T0 + 2 * DAY, now=LATER)  # late
    assert str(c.phase) == "restricted"
    c.released(T0 + DAY, now=LATER)  # later still, and before the balance went negative
    assert str(c.phase) == "released"
    assert [(str(t.source), str(t.dest), t.at) for t in c.history] == [
        ("active", "released", T0 + DAY),
    ]
    assert c.report()["overdue_since"] is None
    assert c.phase_since == T0 + DAY


def test_late_event_before_an_earlier_recorded_recharge() -> None:
    """Recorded: recharged(day 10), then late balance_negative(day 5).

    In event time the balance went negative on day 5 and was recharged on day
    10, so on day 20 the cluster is active (SPEC 3: the log is replayed in
    event-time order and a late event lands where it belongs).
    """
    c = payg("active")
    c.recharged(T0 + 10 * DAY, now=LATER)
    c.balance_negative(T0 + 5 * DAY, now=LATER)
    assert c.report(T0 + 20 * DAY)["phase"] == "active"


def test_balance_negative_on_an_expired_subscription_blocks_renewal() -> None:
    c = sub("suspended")
    assert c.overdue is False
    c.balance_negative(EXPIRY + 2 * DAY, now=LATER)
    assert str(c.phase) == "suspended"
    assert c.overdue is True
    refused = c.renewed(EXPIRY + 3 * DAY, YEAR_LATER, now=LATER)
    assert refused.changed is False
    c.recharged(EXPIRY + 4 * DAY, now=LATER)
    c.renewed(EXPIRY + 5 * DAY, YEAR_LATER, now=LATER)
    assert str(c.phase) == "active"


# -- idempotence ---------------------------------------------------------------------------


def test_repeated_balance_negative_keeps_the_original_clock() -> None:
    c = payg("overdue_grace")
    outcome = c.balance_negative(T0 + 5 * HOUR, now=LATER)
    assert outcome.changed is False
    assert outcome.note is not None
    assert c.overdue_since == T0
    assert len(c.to_events()) == 2  # kept: the first one stays the clock
    c.advance(T0 + DAY)
    assert str(c.phase) == "suspended"


def test_repeated_balance_negative_recorded_late_keeps_the_clock() -> None:
    c = payg("overdue_grace")
    c.advance(T0 + 2 * DAY)
    outcome = c.balance_negative(T0 + 5 * HOUR, now=LATER)
    assert outcome.changed is False
    assert outcome.late is True
    assert len(c.to_events()) == 2
    assert c.overdue_since == T0


def test_recharge_while_active_changes_nothing() -> None:
    c = payg("active")
    outcome = c.recharged(T0, now=LATER)
    assert outcome.changed is False
    assert outcome.note is not None
    assert outcome.recorded is True
    assert c.history == []


def test_same_event_twice_is_recorded_once() -> None:
    c = payg("active")
    assert c.balance_negative(T0, now=LATER).changed is True
    assert c.balance_negative(T0, now=LATER).changed is False
    assert c.released(T0 + DAY, now=LATER).changed is True
    assert c.released(T0 + DAY, now=LATER).changed is False
    assert [e.kind for e in c.to_events()] == [
        fsm.EventKind.BALANCE_NEGATIVE,
        fsm.EventKind.RELEASED,
    ]


def test_renewal_to_the_same_expiry_changes_nothing() -> None:
    c = sub("active")
    assert c.renewed(T0 + HOUR, YEAR_LATER, now=LATER).changed is True
    again = c.renewed(T0 + 2 * HOUR, YEAR_LATER, now=LATER)
    assert again.changed is False
    assert c.expires_at == YEAR_LATER
    assert len(c.to_events()) == 2


def test_advance_backwards_changes_nothing() -> None:
    c = payg("restricted")
    outcome = c.advance(T0 + 2 * DAY)
    assert outcome.changed is False
    assert str(c.phase) == "restricted"


# -- reads never write; clusters are independent ----------------------------------------


def test_reading_a_later_instant_does_not_move_the_cluster() -> None:
    c = payg("overdue_grace")
    assert c.report(T0 + 100 * DAY)["phase"] == "purged"
    assert str(c.decide("submit_task", now=T0 + 100 * DAY).verdict) == "deny"
    assert str(c.phase) == "overdue_grace"
    assert c.evaluated_at == T0 + HOUR
    assert len(c.history) == 1


def test_reading_an_earlier_instant_replays_the_log() -> None:
    c = payg("restricted")
    assert c.report(T0 + 5 * HOUR)["phase"] == "overdue_grace"
    assert c.report(T0 - HOUR)["phase"] == "active"
    assert str(c.phase) == "restricted"


def test_overdue_on_one_cluster_never_changes_another() -> None:
    a = fsm.Cluster("c-a", "pay_as_you_go", account="acct-1")
    b = fsm.Cluster("c-b", "pay_as_you_go", account="acct-1")
    a.balance_negative(T0, now=LATER)
    a.advance(T0 + 70 * DAY)
    b.advance(T0 + 70 * DAY)
    assert str(a.phase) == "purged"
    assert str(b.phase) == "active"
    assert b.report()["account"] == "acct-1"


def test_rebuilt_cluster_has_the_same_phase() -> None:
    c = payg("active")
    c.balance_negative(T0, now=LATER)
    c.recharged(T0 + 3 * DAY, now=LATER)
    c.balance_negative(T0 + 10 * DAY, now=LATER)
    twin = fsm.Cluster.from_events("c-payg", "pay_as_you_go", c.to_events())
    assert twin.report(T0 + 30 * DAY) == c.report(T0 + 30 * DAY)
    assert twin.report(T0 + 30 * DAY)["phase"] == "restricted"


# -- accepted spellings of instants -------------------------------------------------------


def test_epoch_seconds_and_offsets_are_accepted() -> None:
    c = payg("active")
    c.balance_negative(1767225600, now=LATER)  # 2026-01-01T00:00:00Z
    assert c.overdue_since == T0
    d = payg("active")
    d.balance_negative("1767225600", now=LATER)
    assert d.overdue_since == T0


def test_epoch_milliseconds_in_ms_fields() -> None:
    from fsm.timeutil import parse_time_ms

    assert parse_time_ms(1767225600000, "expires_at_ms") == T0
    assert parse_time_ms("1767225600123", "expires_at_ms") == T0 + 123_000 * US


def test_future_tolerance_is_five_minutes_inclusive() -> None:
    c = payg("active")
    now = T0 - 5 * 60 * 1_000_000 * US
    assert c.balance_negative(T0, now=now).changed is True
