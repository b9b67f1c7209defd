"""The plain model the lifecycle machine drives: one cluster being replayed.

:class:`Run` holds a cluster's phase and facts while it is evaluated, and the
conditions and effects :mod:`fsm.table` names (``is_overdue``,
``start_overdue_clock``...). It knows nothing of ``transitions``, so a caller that
replays without the machine (:mod:`fsm.replay`, a forked Ansible worker answering a
guard) drives the same model: :mod:`fsm.machine` binds the same methods to its steps.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .schedule import TIMED_BY_TRIGGER, deadline
from .table import INITIAL_PHASE, Billing, Phase
from .values import ClusterState, Transition

if TYPE_CHECKING:
    from typing import Protocol

    from .policy import Policy
    from .values import Checkpoint

    # For the type checker only: a Protocol class costs about 0.3 ms to create, which a
    # forked Ansible worker replaying one cluster would pay on every task and host.
    class Step(Protocol):
        """What the model's callbacks read of the step being taken (:class:`fsm.machine.Step`)."""

        @property
        def trigger(self) -> str: ...

        @property
        def source_phase(self) -> Phase: ...

        @property
        def dest_phase(self) -> Phase | None: ...


class Run:
    """The plain model the shared machine drives: one cluster being replayed."""

    __slots__ = (
        "billing",
        "expires_at",
        "history",
        "overdue",
        "overdue_since",
        "phase_since",
        "policy",
        "state",
    )

    def __init__(self, billing: Billing, expires_at: datetime | None, policy: Policy) -> None:
        self.state: Phase = INITIAL_PHASE
        self.billing = billing
        self.policy = policy
        self.overdue = False
        self.overdue_since: datetime | None = None
        self.expires_at = expires_at
        self.phase_since: datetime | None = None
        self.history: list[Transition] = []

    def copy(self) -> Run:
        return self.resumed(self.billing, self.policy, self)

    @classmethod
    def resumed(cls, billing: Billing, policy: Policy, where: Run | Checkpoint) -> Run:
        """A run of ``billing`` under ``policy`` where another run (or a checkpoint) is."""
        run = cls(billing, where.expires_at, policy)
        run.state = where.state if isinstance(where, Run) else where.phase
        run.overdue = where.overdue
        run.overdue_since = where.overdue_since
        run.phase_since = where.phase_since
        run.history = list(where.history)
        return run

    def facts(
        self,
    ) -> tuple[
        Phase, datetime | None, bool, datetime | None, datetime | None, tuple[Transition, ...]
    ]:
        """Where the replay is, as a checkpoint keeps it and a cluster's state reports it
        (their fields in this order): phase, phase_since, overdue, overdue_since,
        expires_at, history."""
        return (
            self.state,
            self.phase_since,
            self.overdue,
            self.overdue_since,
            self.expires_at,
            tuple(self.history),
        )

    def fingerprint(self) -> tuple[object, ...]:
        return (
            self.state,
            self.overdue,
            self.overdue_since,
            self.expires_at,
            len(self.history),
            self.history[-1] if self.history else None,
        )

    # The conditions and effects the table names. The machine calls each as
    # ``(run, at, expires_at, step)``: the instant the step fires at, the new expiry a
    # renewal carries (else None), and the machine's transition being taken.

    def is_pay_as_you_go(self, at: datetime, expires_at: datetime | None, step: Step) -> bool:
        return self.billing is Billing.PAY_AS_YOU_GO

    def is_subscription(self, at: datetime, expires_at: datetime | None, step: Step) -> bool:
        return self.billing is Billing.SUBSCRIPTION

    def is_overdue(self, at: datetime, expires_at: datetime | None, step: Step) -> bool:
        return self.overdue

    def renewal_extends(self, at: datetime, expires_at: datetime | None, step: Step) -> bool:
        return expires_at is not None and (self.expires_at is None or expires_at > self.expires_at)

    def is_due(self, at: datetime, expires_at: datetime | None, step: Step) -> bool:
        timed = TIMED_BY_TRIGGER[step.trigger]
        due = deadline(timed, self.overdue_since, self.expires_at, self.policy)
        return due is not None and at >= due

    def start_overdue_clock(self, at: datetime, expires_at: datetime | None, step: Step) -> None:
        self.overdue = True
        self.overdue_since = at

    # An expired subscription has no overdue clock; the instant is kept for the
    # report and the flag blocks renewal until a recharge. The table names the two
    # effects apart for what they mean; what they do is the same.
    mark_overdue = start_overdue_clock

    def clear_overdue(self, at: datetime, expires_at: datetime | None, step: Step) -> None:
        self.overdue = False
        self.overdue_since = None

    def extend_expiry(self, at: datetime, expires_at: datetime | None, step: Step) -> None:
        self.expires_at = expires_at

    def record_transition(self, at: datetime, expires_at: datetime | None, step: Step) -> None:
        if step.dest_phase is None:
            return  # internal transition: facts changed, the phase did not
        # tuple.__new__: the NamedTuple's own __new__ is one Python call more per step.
        self.history.append(
            tuple.__new__(Transition, (step.source_phase, step.dest_phase, at, step.trigger))
        )
        self.phase_since = at


def state_of(
    run: Run, cluster_id: str, account: str, at: datetime | None, newest: datetime | None
) -> ClusterState:
    """The state a replay left ``run`` in, as evaluated at ``at`` (:meth:`fsm.Cluster.state`).

    ``newest``: the instant of the newest event the cluster's log holds (None: none).
    """
    # tuple.__new__ in ClusterState's field order: a fleet builds one per row.
    return tuple.__new__(
        ClusterState, (cluster_id, account, run.billing, *run.facts(), at, run.policy, newest)
    )
