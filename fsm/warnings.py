"""Warnings ahead: which deadlines of a cluster are close enough to warn about.

For each scheduled step ahead of a cluster (its suspension, its restriction,
the deletion of its data, the expiry of its subscription) and each threshold
of the policy's ``warn_before``, a warning falls due at ``deadline -
threshold`` and stays due until the deadline (or until it is acknowledged:
that is the store's ledger). A warning belongs to an episode: the overdue
episode of a pay-as-you-go cluster, identified by its ``overdue_since``, or
the period of a subscription, identified by its ``expires_at``. A recharge or
a renewal ends the episode, so its warnings are no longer due, and the next
episode warns afresh. Everything here is pure: the store decides which
warnings were already issued.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple, get_args

from .errors import InputError
from .schedule import steps_ahead
from .table import PHASES, TIMED_TRANSITIONS, Phase
from .timeutil import TimeInput, at_least_start, format_duration, format_time, parse_time
from .values import ClusterState


class Step(StrEnum):
    """A scheduled step a warning is about, in the ledger's spelling."""

    SUSPENSION = "suspension"
    RESTRICTION = "restriction"
    DATA_DELETION = "data_deletion"
    SUBSCRIPTION_EXPIRY = "subscription_expiry"


STEP_OF_TRIGGER: Final[Mapping[str, Step]] = MappingProxyType(
    {
        "grace_elapsed": Step.SUSPENSION,
        "restriction_due": Step.RESTRICTION,
        "purge_due": Step.DATA_DELETION,
        "subscription_expired": Step.SUBSCRIPTION_EXPIRY,
        "retention_elapsed": Step.DATA_DELETION,
    }
)
"""The step each timed transition of :data:`fsm.table.TIMED_TRANSITIONS` stands for."""
assert set(STEP_OF_TRIGGER) == {step.trigger for step in TIMED_TRANSITIONS}

# What happens at each step, as the sentence of a warning says it after the cluster id.
_HAPPENS: Final[Mapping[Step, str]] = MappingProxyType(
    {
        Step.SUSPENSION: "is suspended",
        Step.RESTRICTION: "is restricted (task submission blocked)",
        Step.DATA_DELETION: "has its data deleted",
        Step.SUBSCRIPTION_EXPIRY: "expires (its subscription ends)",
    }
)

Status = Literal["due", "acknowledged", "passed", "ended"]
"""Where a warning of the ledger stands at ``now``.

due: its threshold is crossed and neither its deadline nor an acknowledgement
has come; acknowledged: someone said they know; passed: the deadline came
(the step fired); ended: a recharge or renewal ended its episode.
"""
STATUSES: Final[tuple[Status, ...]] = get_args(Status)


class DeadlineWarning(NamedTuple):
    """One warning: a step of a cluster ``threshold`` or less ahead, in one episode."""

    cluster_id: str
    account: str
    step: Step
    threshold: timedelta
    episode: datetime  # overdue_since (pay-as-you-go steps) or expires_at (subscription steps)
    due_at: datetime  # deadline - threshold: from then on the warning is due
    deadline: datetime  # when the step fires if nobody acts
    message: str

    @property
    def key(self) -> tuple[str, Step, timedelta, datetime]:
        """What the ledger issues once: (cluster, step, threshold, episode)."""
        return (self.cluster_id, self.step, self.threshold, self.episode)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster_id": self.cluster_id,
            "account": self.account,
            "step": str(self.step),
            "threshold": format_duration(self.threshold),
            "episode": format_time(self.episode),
            "due_at": format_time(self.due_at),
            "deadline": format_time(self.deadline),
            "message": self.message,
        }


def warnings_due(state: ClusterState, now: TimeInput | None = None) -> list[DeadlineWarning]:
    """The warnings due for a cluster in ``state`` at ``now`` (default: when it was evaluated).

    A warning is due from ``deadline - threshold`` (inclusive) until the
    deadline (exclusive), in deadline order, the longest threshold first.
    """
    at_now = _instant(state, now)
    due: list[DeadlineWarning] = []
    before = state.phase
    ahead = steps_ahead(
        state.billing, state.phase, state.overdue_since, state.expires_at, state.policy
    )
    for timed, deadline in ahead:
        episode = state.overdue_since if timed.anchor == "overdue_since" else state.expires_at
        step = STEP_OF_TRIGGER[timed.trigger]
        if episode is not None and at_now < deadline:
            for threshold in state.policy.warn_before:
                due_at = at_least_start(deadline, threshold)
                if timed.anchor == "overdue_since":
                    # Nothing is due before its episode began: a suspension 24h after the
                    # balance went negative is less than 7 days away from the first instant.
                    due_at = max(due_at, episode)
                if due_at <= at_now:
                    message = _message(state, step, before, timed.dest, deadline, threshold)
                    due.append(
                        DeadlineWarning(
                            state.cluster_id,
                            state.account,
                            step,
                            threshold,
                            episode,
                            due_at,
                            deadline,
                            message,
                        )
                    )
        before = timed.dest
    return due


def next_due_at(state: ClusterState, now: TimeInput | None = None) -> datetime | None:
    """The first instant after ``now`` at which a warning of ``state`` falls due (None: never).

    Nothing falls due before it unless something is recorded, so a watcher may sleep until
    then (or until the next phase begins, whichever is first).
    """
    at_now = _instant(state, now)
    ahead = steps_ahead(
        state.billing, state.phase, state.overdue_since, state.expires_at, state.policy
    )
    return min(
        (
            due_at
            for _, deadline in ahead
            for threshold in state.policy.warn_before
            if (due_at := at_least_start(deadline, threshold)) > at_now
        ),
        default=None,
    )


def status(warning: DeadlineWarning, *, acknowledged: bool, due: bool, now: datetime) -> Status:
    """Where a warning of the ledger stands, given whether it is among those due at ``now``."""
    if acknowledged:
        return "acknowledged"
    if due:
        return "due"
    return "passed" if warning.deadline <= now else "ended"


def _instant(state: ClusterState, now: TimeInput | None) -> datetime:
    if now is not None:
        return parse_time(now, "now")
    if state.evaluated_at is None:
        raise InputError("now", None, "the instant to warn at (the state was not evaluated)")
    return state.evaluated_at


def _message(
    state: ClusterState,
    step: Step,
    before: Phase,
    dest: Phase,
    deadline: datetime,
    threshold: timedelta,
) -> str:
    # What prevents a step is what the phase it leads to asks for, or, when that
    # phase has no way back (data deletion), what the phase before it asks for.
    remedy = PHASES[dest].remedy(state.billing) or PHASES[before].remedy(state.billing)
    prevent = f"; to prevent it, {remedy}" if remedy else ""
    return (
        f"{state.cluster_id} {_HAPPENS[step]} within {format_duration(threshold)}, "
        f"on {format_time(deadline)}{prevent}"
    )
