"""Builders shared by the core tests: clusters put into a known phase at known instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fsm

T0 = datetime(2026, 1, 1, tzinfo=UTC)  # when the balance goes negative in the scenarios
EXPIRY = datetime(2026, 3, 1, tzinfo=UTC)  # when the subscriptions of the scenarios end
# Far enough after every instant of the scenarios that no event is "in the future".
LATER = datetime(2027, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def iso(value: datetime) -> str:
    """The instant as every output of overdue-fsm prints it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def payg(phase: str, **kwargs: object) -> fsm.Cluster:
    """A pay-as-you-go cluster in ``phase``; its overdue clock (if any) starts at T0."""
    c = fsm.Cluster("c-payg", "pay_as_you_go", **kwargs)  # type: ignore[arg-type]
    if phase == "active":
        return c
    if phase == "released":
        c.released(T0, now=LATER)
        return c
    c.balance_negative(T0, now=LATER)
    c.advance(
        {
            "overdue_grace": T0 + HOUR,
            "suspended": T0 + 2 * DAY,
            "restricted": T0 + 20 * DAY,
            "purged": T0 + 61 * DAY,
        }[phase]
    )
    assert str(c.phase) == phase
    return c


def sub(phase: str, *, overdue: bool = False, **kwargs: object) -> fsm.Cluster:
    """A subscription cluster expiring at EXPIRY, in ``phase``.

    ``overdue``: the account went negative at T0 (before the expiry), so the
    cluster passed through overdue_grace and the balance is still negative.
    """
    c = fsm.Cluster("c-sub", "subscription", expires_at=EXPIRY, **kwargs)  # type: ignore[arg-type]
    if overdue or phase == "overdue_grace":
        c.balance_negative(T0, now=LATER)
    if phase == "released":
        c.released(T0 + HOUR, now=LATER)
        return c
    at = {
        "active": T0 + HOUR,
        "overdue_grace": T0 + HOUR,
        "suspended": EXPIRY + DAY,
        "purged": EXPIRY + 16 * DAY,
    }[phase]
    c.advance(at)
    assert str(c.phase) == phase
    return c


def cluster(phase: str, billing: str) -> fsm.Cluster:
    return payg(phase) if billing == "pay_as_you_go" else sub(phase)
