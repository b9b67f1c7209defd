"""The overdue lifecycle as data.

Everything the rest of the project knows about phases, transitions, operations
and verdicts is written here once, top to bottom in the order of the
specification: the machine in ``lifecycle`` is built from these tables, and the
decisions, reports, diagram, README tables and tests all read them. Nothing
else restates a rule.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal, get_args

from .records import Record

# The records below are NamedTuples (fsm.records.Record), not dataclasses: they are as
# immutable, and a dataclass costs about half a millisecond to create at import, which
# every command and every forked Ansible worker pays.


class Phase(StrEnum):
    """Where a cluster is on the overdue road; the values are the machine names."""

    ACTIVE = "active"
    OVERDUE_GRACE = "overdue_grace"
    SUSPENDED = "suspended"
    RESTRICTED = "restricted"
    PURGED = "purged"
    RELEASED = "released"


class Billing(StrEnum):
    PAY_AS_YOU_GO = "pay_as_you_go"
    SUBSCRIPTION = "subscription"


class Category(StrEnum):
    FEE_GENERATING = "fee_generating"
    OM = "om"
    READ = "read"
    TASK = "task"
    RELEASE = "release"


class Verdict(StrEnum):
    ALLOW = "allow"
    WARN = "warn"  # allowed but may fail; strict mode treats it as deny
    DENY = "deny"


class EventKind(StrEnum):
    """What can be recorded about a cluster; everything else is time passing."""

    BALANCE_NEGATIVE = "balance_negative"
    RECHARGED = "recharged"
    RENEWED = "renewed"
    RELEASED = "released"


SAME_INSTANT_ORDER: Final = (
    EventKind.RELEASED,
    EventKind.RECHARGED,
    EventKind.BALANCE_NEGATIVE,
    EventKind.RENEWED,
)
"""How events dated at the same instant replay (then renewals by their new expiry, earliest first).

A release comes first, as a purge due at that instant does: nothing dated at or after
a terminal instant changes the cluster. A recharge and a negative balance seen at one
instant by two controllers leave the account overdue (fail closed). A renewal comes
after the balance it depends on, as one observation of a balance and a renewal means.
"""


# Spellings accepted on input besides the machine names.
PHASE_ALIASES: Final = MappingProxyType({"overdue-grace": Phase.OVERDUE_GRACE})
BILLING_ALIASES: Final = MappingProxyType(
    {"PayAsYouGo": Billing.PAY_AS_YOU_GO, "Subscription": Billing.SUBSCRIPTION}
)
BILLING_SPELLINGS: Final = f"{' or '.join(Billing)} (or {' / '.join(BILLING_ALIASES)})"
"""Every accepted spelling of a billing, in words, for help texts and errors."""


# -- Phases -------------------------------------------------------------------

Stability = Literal["stable", "timed", "terminal"]


class PhaseInfo(Record):
    phase: Phase
    stability: Stability
    data_kept: bool
    meaning: str
    # What would bring the cluster back, by billing; None: nothing can.
    remedy_pay_as_you_go: str | None
    remedy_subscription: str | None

    @property
    def terminal(self) -> bool:
        return self.stability == "terminal"

    def remedy(self, billing: Billing) -> str | None:
        if billing is Billing.PAY_AS_YOU_GO:
            return self.remedy_pay_as_you_go
        return self.remedy_subscription


PHASES: Final = MappingProxyType(
    {
        info.phase: info
        for info in (
            PhaseInfo(
                Phase.ACTIVE,
                "stable",
                True,
                "balance covers the fees, subscription not expired",
                None,
                None,
            ),
            PhaseInfo(
                Phase.OVERDUE_GRACE,
                "timed",
                True,
                "account balance is negative; the cluster still serves "
                "(pay-as-you-go: fees still deducted, for at most the grace period; "
                "subscription: no time limit, fee-generating work blocked)",
                "recharge the account",
                "recharge the account",
            ),
            PhaseInfo(
                Phase.SUSPENDED,
                "timed",
                True,
                "pay-as-you-go: fee deduction stopped after the grace period; "
                "subscription: expired and not renewed",
                "recharge the account",
                "renew the subscription (recharge first if the account is overdue)",
            ),
            PhaseInfo(
                Phase.RESTRICTED,
                "timed",
                True,
                "pay-as-you-go: task submission blocked",
                "recharge the account",
                "recharge the account",
            ),
            PhaseInfo(
                Phase.PURGED,
                "terminal",
                False,
                "business data, logs, status data and configuration permanently deleted",
                None,
                None,
            ),
            PhaseInfo(
                Phase.RELEASED,
                "terminal",
                False,
                "the owner released the cluster",
                None,
                None,
            ),
        )
    }
)

TERMINAL_PHASES: Final = frozenset(p for p, info in PHASES.items() if info.terminal)
INITIAL_PHASE: Final = Phase.ACTIVE


# -- Transitions ---------------------------------------------------------------
#
# Recorded events. ``dest`` None is an internal transition: the phase stays and
# only the facts change (for example a renewal moving ``expires_at`` later).
# ``conditions`` name predicates of the model in ``lifecycle``; ``after`` names
# the effect on the facts.

Condition = Literal["is_pay_as_you_go", "is_subscription", "is_overdue", "renewal_extends"]
# How the docs say each condition, when it must hold and when it must not.
CONDITION_WORDS: Final = MappingProxyType(
    {
        "is_pay_as_you_go": ("pay-as-you-go", "not pay-as-you-go"),
        "is_subscription": ("subscription", "not subscription"),
        "is_overdue": ("balance negative", "balance not negative"),
        "renewal_extends": ("new expiry later than the current one", "expiry not extended"),
    }
)
Effect = Literal["start_overdue_clock", "mark_overdue", "clear_overdue", "extend_expiry"]


class EventTransition(Record):
    trigger: EventKind
    sources: tuple[Phase, ...]
    dest: Phase | None
    conditions: tuple[Condition, ...] = ()
    unless: tuple[Condition, ...] = ()
    after: Effect | None = None


_NON_TERMINAL: Final = tuple(p for p in Phase if p not in TERMINAL_PHASES)
_OVERDUE: Final = (Phase.OVERDUE_GRACE, Phase.SUSPENDED, Phase.RESTRICTED)

EVENT_TRANSITIONS: Final = (
    # active -> overdue_grace: the clock starts at the event's instant.
    EventTransition(
        EventKind.BALANCE_NEGATIVE,
        (Phase.ACTIVE,),
        Phase.OVERDUE_GRACE,
        after="start_overdue_clock",
    ),
    # An expired subscription can still run up a debt: remember it, so a
    # renewal is refused until the account is recharged.
    EventTransition(
        EventKind.BALANCE_NEGATIVE,
        (Phase.SUSPENDED,),
        None,
        conditions=("is_subscription",),
        unless=("is_overdue",),
        after="mark_overdue",
    ),
    EventTransition(
        EventKind.RECHARGED,
        (Phase.OVERDUE_GRACE, Phase.RESTRICTED),
        Phase.ACTIVE,
        after="clear_overdue",
    ),
    EventTransition(
        EventKind.RECHARGED,
        (Phase.SUSPENDED,),
        Phase.ACTIVE,
        conditions=("is_pay_as_you_go",),
        after="clear_overdue",
    ),
    # A recharge alone does not undo an expiry; it only clears the overdue flag.
    EventTransition(
        EventKind.RECHARGED,
        (Phase.SUSPENDED,),
        None,
        conditions=("is_subscription", "is_overdue"),
        after="clear_overdue",
    ),
    # Renewal is fee-generating: refused while the balance is negative.
    EventTransition(
        EventKind.RENEWED,
        (Phase.ACTIVE,),
        None,
        conditions=("is_subscription", "renewal_extends"),
        unless=("is_overdue",),
        after="extend_expiry",
    ),
    EventTransition(
        EventKind.RENEWED,
        (Phase.SUSPENDED,),
        Phase.ACTIVE,
        conditions=("is_subscription", "renewal_extends"),
        unless=("is_overdue",),
        after="extend_expiry",
    ),
    EventTransition(EventKind.RELEASED, _NON_TERMINAL, Phase.RELEASED),
)


# Time passing. Each step fires when ``now`` reaches ``anchor + policy.<threshold>``
# (``threshold`` None: at the anchor itself), and is recorded at that instant.

Anchor = Literal["overdue_since", "expires_at"]
Threshold = Literal["grace", "restrict_after", "purge_after", "subscription_retention"]
THRESHOLDS: Final[tuple[Threshold, ...]] = get_args(Threshold)
"""The policy durations a timed step can wait for, in the policy file's spelling."""


class TimedTransition(Record):
    trigger: str
    billing: Billing
    sources: tuple[Phase, ...]
    dest: Phase
    anchor: Anchor
    threshold: Threshold | None


TIMED_TRANSITIONS: Final = (
    TimedTransition(
        "grace_elapsed",
        Billing.PAY_AS_YOU_GO,
        (Phase.OVERDUE_GRACE,),
        Phase.SUSPENDED,
        "overdue_since",
        "grace",
    ),
    TimedTransition(
        "restriction_due",
        Billing.PAY_AS_YOU_GO,
        (Phase.SUSPENDED,),
        Phase.RESTRICTED,
        "overdue_since",
        "restrict_after",
    ),
    TimedTransition(
        "purge_due",
        Billing.PAY_AS_YOU_GO,
        (Phase.RESTRICTED,),
        Phase.PURGED,
        "overdue_since",
        "purge_after",
    ),
    TimedTransition(
        "subscription_expired",
        Billing.SUBSCRIPTION,
        (Phase.ACTIVE, Phase.OVERDUE_GRACE),
        Phase.SUSPENDED,
        "expires_at",
        None,
    ),
    TimedTransition(
        "retention_elapsed",
        Billing.SUBSCRIPTION,
        (Phase.SUSPENDED,),
        Phase.PURGED,
        "expires_at",
        "subscription_retention",
    ),
)


# -- Operations and verdicts ----------------------------------------------------

OPERATIONS: Final = MappingProxyType(
    {
        "scale_out": Category.FEE_GENERATING,
        "upgrade_node_config": Category.FEE_GENERATING,
        "purchase": Category.FEE_GENERATING,
        "renew": Category.FEE_GENERATING,
        "create_cluster": Category.FEE_GENERATING,
        "clone_cluster": Category.FEE_GENERATING,
        "scale_in": Category.OM,
        "restart_service": Category.OM,
        "modify_config": Category.OM,
        "om": Category.OM,
        "export_service_config": Category.READ,
        "view_cluster_info": Category.READ,
        "view_operation_history": Category.READ,
        "submit_task": Category.TASK,
        "release": Category.RELEASE,
    }
)


class Column(Record):
    """One column of the verdict table: a phase, split by billing where they differ."""

    name: str
    phase: Phase
    billing: Billing | None  # None: the same for both billings


VERDICT_COLUMNS: Final = (
    Column("active", Phase.ACTIVE, None),
    Column("overdue_grace_pay_as_you_go", Phase.OVERDUE_GRACE, Billing.PAY_AS_YOU_GO),
    Column("overdue_grace_subscription", Phase.OVERDUE_GRACE, Billing.SUBSCRIPTION),
    Column("suspended", Phase.SUSPENDED, None),
    Column("restricted", Phase.RESTRICTED, None),
    Column("purged", Phase.PURGED, None),
    Column("released", Phase.RELEASED, None),
)

_A, _W, _D = Verdict.ALLOW, Verdict.WARN, Verdict.DENY

VERDICTS: Final = MappingProxyType(
    {
        #                                    grace    grace
        #                          active    PAYG     subscr.  suspended restricted purged released
        Category.FEE_GENERATING: (_A,        _D,      _D,      _D,       _D,        _D,    _D),
        Category.OM:             (_A,        _A,      _A,      _D,       _D,        _D,    _D),
        Category.READ:           (_A,        _A,      _A,      _A,       _A,        _D,    _D),
        Category.TASK:           (_A,        _W,      _A,      _W,       _D,        _D,    _D),
        Category.RELEASE:        (_A,        _A,      _A,      _D,       _D,        _D,    _D),
    }
)  # fmt: skip

# Verdicts no policy may loosen: fee-generating work in any phase but active (the
# provider blocks it there, so an allow would only promise what then fails or bills).
LOCKED_CELLS: Final = frozenset(
    (Category.FEE_GENERATING, column.name)
    for column in VERDICT_COLUMNS
    if column.phase is not Phase.ACTIVE
)
LOCKED_CELLS_EXPECTED: Final = (
    "deny: the provider blocks fee-generating work in every phase but active"
)
