"""Verdicts and reports, computed from the tables for an evaluated cluster.

Every face (CLI, Ansible, Python) renders what these functions return; none of
them derives a phase or a verdict on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from .errors import InputError
from .records import Record
from .schedule import becomes
from .table import PHASES, Billing, Category, Phase, Verdict
from .timeutil import at_most_end, format_time, optional_format

if TYPE_CHECKING:
    from .policy import Policy
    from .values import ClusterState

Action = Literal["run", "skip", "fail"]


class Decision(Record):
    """The answer to "may this operation run on this cluster now?"."""

    cluster_id: str
    operation: str
    category: Category | None
    verdict: Verdict
    allowed: bool
    # run: go ahead; skip: not now, the cluster can still come back;
    # fail: never (the cluster is gone) or nothing could be decided.
    action: Action
    phase: Phase | None
    strict: bool = False
    # The reason is worded on demand: a fleet decides far more often than it prints.
    fixed_reason: str | None = None
    state: ClusterState | None = None

    @property
    def reason(self) -> str:
        if self.fixed_reason is not None or self.state is None or self.category is None:
            return self.fixed_reason or ""
        return _reason(
            self.state, self.operation, self.category, self.verdict, self.allowed, self.strict
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster_id": self.cluster_id,
            "operation": self.operation,
            "category": None if self.category is None else str(self.category),
            "verdict": str(self.verdict),
            "allowed": self.allowed,
            "action": self.action,
            "reason": self.reason,
            "phase": None if self.phase is None else str(self.phase),
            "strict": self.strict,
        }


def decide(state: ClusterState, operation: str, *, strict: bool = False) -> Decision:
    """The verdict for ``operation`` on a cluster in ``state``, with its reason.

    Fee-generating work asked about an instant before the cluster's newest recorded
    event is denied: that clock is stale (a pinned ``now``), and the cluster may have
    moved on since.
    """
    category, verdict, allowed, why = _ruling(state, operation, strict)
    action: Action
    if allowed:
        action = "run"
    elif why is None and PHASES[state.phase].terminal:
        action = "fail"
    else:
        action = "skip"
    return Decision(
        cluster_id=state.cluster_id,
        operation=operation,
        category=category,
        verdict=verdict,
        allowed=allowed,
        action=action,
        phase=state.phase,
        strict=strict,
        fixed_reason=why,
        state=state,
    )


def allowed(state: ClusterState, operation: str, *, strict: bool = False) -> bool:
    """Whether ``operation`` may run on a cluster in ``state``: :func:`decide`'s ``allowed``.

    For a caller that needs the verdict alone (a fleet): no :class:`Decision` is built.
    """
    return _ruling(state, operation, strict)[2]


def _ruling(
    state: ClusterState, operation: str, strict: bool
) -> tuple[Category, Verdict, bool, str | None]:
    """The category, verdict and whether it allows, and the reason when it is fixed."""
    category, verdict, allows = _rule(state.policy, operation, state.phase, state.billing, strict)
    if category is Category.FEE_GENERATING and (stale := stale_clock(state)) is not None:
        return category, Verdict.DENY, False, f"{operation} ({category}) is denied: {stale}"
    return category, verdict, allows, None


def _rule(
    policy: Policy, operation: str, phase: Phase, billing: Billing, strict: bool
) -> tuple[Category, Verdict, bool]:
    """The category, verdict and whether it allows, on a clock that is not stale."""
    category = policy.category(operation)
    verdict = policy.verdict(category, phase, billing)
    return category, verdict, verdict is Verdict.ALLOW or (verdict is Verdict.WARN and not strict)


Allows = Callable[[str, Phase, Billing, "datetime | None"], bool]
"""``allows(operation, phase, billing, newest_event_at)``: see :func:`allowing`."""


def allowing(policy: Policy, at: datetime, *, strict: bool = False) -> Allows:
    """:func:`allowed` for many states evaluated at ``at`` under ``policy`` (a fleet).

    Called with a state's phase, billing and newest event instant instead of the
    state; each (operation, phase, billing) is ruled on once, not once per cluster.
    """
    fresh = fresh_until(at, policy)
    # None: allowed while the clock is not stale (fee-generating work the verdict allows).
    known: dict[tuple[str, Phase, Billing], bool | None] = {}

    def allows(operation: str, phase: Phase, billing: Billing, newest: datetime | None) -> bool:
        key = (operation, phase, billing)
        try:
            ruling = known[key]
        except (KeyError, TypeError):
            category, _, allows = _rule(policy, operation, phase, billing, strict)
            ruling = None if allows and category is Category.FEE_GENERATING else allows
            known[key] = ruling
        if ruling is None:
            return newest is None or newest <= fresh
        return ruling

    return allows


def stale_clock(state: ClusterState) -> str | None:
    """Why ``state`` was evaluated on a stale clock, or None when it was not.

    Stale: earlier than the newest recorded event by more than the future tolerance
    (within it, the event is as good as now, as when it was recorded).
    """
    newest, at = state.newest_event_at, state.evaluated_at
    if newest is None or at is None or newest <= fresh_until(at, state.policy):
        return None
    return (
        f"{state.cluster_id} was evaluated at {format_time(at)}, before its newest recorded "
        f"event ({format_time(newest)}); a pinned clock (a stale now) cannot tell its phase "
        "today: leave now unset, or set it to the present"
    )


def fresh_until(at: datetime, policy: Policy) -> datetime:
    """The newest recorded event an evaluation at ``at`` is not stale for (:func:`stale_clock`)."""
    return at_most_end(at, policy.future_tolerance)


class Decisions(Record):
    """The answers for several operations asked about at once, and the one that counts."""

    decisions: tuple[Decision, ...]

    @property
    def deciding(self) -> Decision:
        """The decision that stands for all: the first denied one, else the first."""
        return next((d for d in self.decisions if not d.allowed), self.decisions[0])

    @property
    def allowed(self) -> bool:
        return all(d.allowed for d in self.decisions)

    @property
    def denied(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if not d.allowed)

    @property
    def warnings(self) -> tuple[Decision, ...]:
        """The allowed decisions that may still fail (verdict warn)."""
        return tuple(d for d in self.decisions if d.allowed and d.verdict is Verdict.WARN)


def decide_all(
    state: ClusterState, operations: Sequence[str], *, strict: bool = False
) -> Decisions:
    """The verdict for each of ``operations`` (at least one), and which of them decides."""
    if not operations:
        raise InputError("operations", [], "at least one operation to decide")
    return Decisions(tuple(decide(state, operation, strict=strict) for operation in operations))


def undecidable(cluster_id: str, operation: str, why: str, *, strict: bool = False) -> Decision:
    """Fail closed: the guard could not determine the phase, so nothing runs."""
    return Decision(
        cluster_id=cluster_id,
        operation=operation,
        category=None,
        verdict=Verdict.DENY,
        allowed=False,
        action="fail",
        phase=None,
        strict=strict,
        fixed_reason=(
            f"{operation} is denied for {cluster_id}: the phase cannot be determined ({why})"
        ),
    )


def deadline_ahead(state: ClusterState) -> str | None:
    """The next thing that happens if nobody acts, in words."""
    info = PHASES[state.phase]
    if info.terminal:
        when = optional_format(state.phase_since)
        return f"data was deleted{'' if when is None else ' on ' + when}"
    timeline = state.timeline()
    deletion = _deletion_ahead(state, timeline)
    if deletion is not None:
        # What saves the data is what the phase right before deletion asks for.
        before, at = deletion
        remedy = PHASES[before].remedy(state.billing)
        unless = f" unless you {remedy}" if remedy else ""
        return f"data is deleted on {format_time(at)}{unless}"
    if timeline:
        return becomes(*timeline[0])
    return None


def report(
    state: ClusterState, *, operation: str | None = None, strict: bool = False
) -> dict[str, Any]:
    """Everything the specification says a report holds, JSON-serialisable."""
    timeline = state.timeline()
    deletion = _data_deletion_at(state, timeline)
    data: dict[str, Any] = {
        "cluster_id": state.cluster_id,
        "account": state.account,
        "billing": str(state.billing),
        "phase": str(state.phase),
        "phase_since": optional_format(state.phase_since),
        "overdue": state.overdue,
        "overdue_since": optional_format(state.overdue_since),
        "expires_at": optional_format(state.expires_at),
        "next_phase": str(timeline[0][0]) if timeline else None,
        "next_phase_at": format_time(timeline[0][1]) if timeline else None,
        "timeline": [{"phase": str(p), "at": format_time(at)} for p, at in timeline],
        "data_deleted": not PHASES[state.phase].data_kept,
        "data_deletion_at": optional_format(deletion),
        "deadline": deadline_ahead(state),
        "operations": {
            name: str(state.policy.verdict(category, state.phase, state.billing))
            for name, category in state.policy.operations.items()
        },
        "history": [t.as_dict() for t in state.history],
        "evaluated_at": optional_format(state.evaluated_at),
    }
    if operation is not None:
        data["decision"] = decide(state, operation, strict=strict).as_dict()
    return data


def data_deletion_at(state: ClusterState) -> datetime | None:
    """When the cluster's data is (or was) deleted if nobody acts; None: nothing scheduled."""
    return _data_deletion_at(state, state.timeline())


def _data_deletion_at(
    state: ClusterState, timeline: list[tuple[Phase, datetime]]
) -> datetime | None:
    if not PHASES[state.phase].data_kept:
        return state.phase_since
    deletion = _deletion_ahead(state, timeline)
    return None if deletion is None else deletion[1]


def _deletion_ahead(
    state: ClusterState, timeline: list[tuple[Phase, datetime]]
) -> tuple[Phase, datetime] | None:
    """When the data is deleted if nobody acts, and the phase it is deleted from."""
    before = state.phase
    for phase, at in timeline:
        if not PHASES[phase].data_kept:
            return before, at
        before = phase
    return None


def _reason(
    state: ClusterState,
    operation: str,
    category: Category,
    verdict: Verdict,
    allowed: bool,
    strict: bool,
) -> str:
    since = optional_format(state.phase_since)
    where = f"{state.cluster_id} is {state.phase}" + (f" since {since}" if since else "")
    if state.phase is not Phase.ACTIVE:
        where += f" ({state.billing})"
    head = f"{operation} ({category}) is {'allowed' if allowed else 'denied'}"
    if verdict is Verdict.WARN:
        head += " under strict mode" if strict else " but may fail"
    parts = [f"{head}: {where}"]
    remedy = PHASES[state.phase].remedy(state.billing)
    if not allowed or verdict is Verdict.WARN:
        if remedy:
            parts.append(f"to change this, {remedy}")
        elif PHASES[state.phase].terminal:
            parts.append("nothing brings it back")
    ahead = deadline_ahead(state)
    if ahead and state.phase is not Phase.ACTIVE:
        parts.append(ahead)
    elif state.phase is Phase.ACTIVE and (timeline := state.timeline()):
        parts.append(becomes(*timeline[0]))
    return "; ".join(parts)
