"""When each timed step of the lifecycle fires, and how that is worded.

Time passing is data (:data:`fsm.table.TIMED_TRANSITIONS`): each step fires at
``anchor + policy.<threshold>``. This module turns that data into instants for
one cluster, so the machine (:mod:`fsm.lifecycle`), the evaluated state
(:mod:`fsm.values`), the decisions and the docs all read one schedule. It knows
nothing of the machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from .table import TIMED_TRANSITIONS, Billing, Phase, TimedTransition
from .timeutil import format_duration, format_time

if TYPE_CHECKING:
    from .policy import Policy

SCHEDULE: Final[Mapping[tuple[Billing, Phase], TimedTransition]] = MappingProxyType(
    {(step.billing, source): step for step in TIMED_TRANSITIONS for source in step.sources}
)
"""The timed step that leaves each (billing, phase), if any."""

_NO_WAIT: Final = timedelta(0)

TIMED_BY_TRIGGER: Final[Mapping[str, TimedTransition]] = MappingProxyType(
    {step.trigger: step for step in TIMED_TRANSITIONS}
)


def deadline(
    step: TimedTransition,
    overdue_since: datetime | None,
    expires_at: datetime | None,
    policy: Policy,
) -> datetime | None:
    """The instant ``step`` fires for a cluster with these facts (None: never)."""
    anchor = overdue_since if step.anchor == "overdue_since" else expires_at
    if anchor is None:
        return None
    return after(anchor, wait(step, policy))


def wait(step: TimedTransition, policy: Policy) -> timedelta:
    """How long after its anchor ``step`` fires under ``policy``."""
    return _NO_WAIT if step.threshold is None else policy.threshold(step.threshold)


def after(anchor: datetime, delay: timedelta) -> datetime | None:
    """``anchor + delay``; None when that is beyond year 9999 (never)."""
    try:
        return anchor + delay
    except OverflowError:
        return None


def timeline(
    billing: Billing,
    phase: Phase,
    overdue_since: datetime | None,
    expires_at: datetime | None,
    policy: Policy,
) -> list[tuple[Phase, datetime]]:
    """The phases ahead of ``phase`` if nothing is recorded: each with when it begins."""
    return [
        (step.dest, at)
        for step, at in steps_ahead(billing, phase, overdue_since, expires_at, policy)
    ]


def steps_ahead(
    billing: Billing,
    phase: Phase,
    overdue_since: datetime | None,
    expires_at: datetime | None,
    policy: Policy,
) -> list[tuple[TimedTransition, datetime]]:
    """The timed steps ahead of ``phase`` if nothing is recorded: each with when it fires."""
    ahead: list[tuple[TimedTransition, datetime]] = []
    while (step := SCHEDULE.get((billing, phase))) is not None:
        at = deadline(step, overdue_since, expires_at, policy)
        if at is None:
            break
        ahead.append((step, at))
        phase = step.dest
    return ahead


def due_at(step: TimedTransition, policy: Policy) -> str:
    """When a timed step fires, in words: ``overdue_since + 24h``, ``expires_at``."""
    if step.threshold is None:
        return step.anchor
    return f"{step.anchor} + {format_duration(policy.threshold(step.threshold))}"


def becomes(phase: Phase, at: datetime) -> str:
    """The next scheduled step, in words: ``becomes suspended on 2026-12-02T10:00:00Z``."""
    return f"becomes {phase} on {format_time(at)}"
