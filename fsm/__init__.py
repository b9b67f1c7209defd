"""overdue-fsm: the overdue lifecycle of Alibaba Cloud E-MapReduce clusters.

>>> import fsm
>>> c = fsm.Cluster("c-1", "pay_as_you_go")
>>> _ = c.balance_negative("2026-01-01T00:00:00Z")
>>> _ = c.advance("2026-01-16T00:00:00Z")
>>> str(c.phase), str(c.decide("submit_task").verdict)
('restricted', 'deny')
"""

from .decisions import (
    Decision,
    Decisions,
    deadline_ahead,
    decide,
    decide_all,
    report,
    undecidable,
)
from .errors import (
    FsmError,
    InputError,
    NotTrackedError,
    PolicyError,
    SourceError,
    StoreError,
)
from .lifecycle import Cluster, evaluate
from .observations import Observation, events_for
from .policy import Policy
from .table import Billing, Category, EventKind, Phase, Verdict
from .values import (
    Checkpoint,
    ClusterState,
    Event,
    Outcome,
    Transition,
    parse_account,
    parse_amount,
    parse_billing,
    parse_cluster_id,
    parse_phase,
    parse_region,
    unheeded,
)
from .warnings import DeadlineWarning, next_due_at, warnings_due

__version__ = "0.1.0"

__all__ = [
    "Billing",
    "Category",
    "Checkpoint",
    "Cluster",
    "ClusterState",
    "DeadlineWarning",
    "Decision",
    "Decisions",
    "Event",
    "EventKind",
    "FsmError",
    "InputError",
    "NotTrackedError",
    "Observation",
    "Outcome",
    "Phase",
    "Policy",
    "PolicyError",
    "SourceError",
    "StoreError",
    "Transition",
    "Verdict",
    "__version__",
    "deadline_ahead",
    "decide",
    "decide_all",
    "evaluate",
    "events_for",
    "next_due_at",
    "parse_account",
    "parse_amount",
    "parse_billing",
    "parse_cluster_id",
    "parse_phase",
    "parse_region",
    "report",
    "undecidable",
    "unheeded",
    "warnings_due",
]
