"""overdue-fsm: the overdue lifecycle of Alibaba Cloud E-MapReduce clusters.

>>> import fsm
>>> c = fsm.Cluster("c-1", "pay_as_you_go")
>>> _ = c.balance_negative("2026-01-01T00:00:00Z")
>>> _ = c.advance("2026-01-16T00:00:00Z")
>>> str(c.phase), str(c.decide("submit_task").verdict)
('restricted', 'deny')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Where each public name lives. ``import fsm`` imports none of these modules: a name
#: is imported from its module the first time it is used (``fsm.Cluster``,
#: ``from fsm import Cluster``), so a command or a forked Ansible worker pays only for
#: what it uses.
_HOMES: dict[str, tuple[str, ...]] = {
    "decisions": (
        "Decision",
        "Decisions",
        "deadline_ahead",
        "decide",
        "decide_all",
        "report",
        "undecidable",
    ),
    "errors": (
        "FsmError",
        "InputError",
        "NotTrackedError",
        "PolicyError",
        "SourceError",
        "StoreError",
    ),
    "lifecycle": ("Cluster", "evaluate"),
    "observations": ("Observation", "events_for"),
    "policy": ("Policy",),
    "steps": ("FleetRow", "FleetVerdict", "decide_fleet", "evaluate_fleet"),
    "table": ("Billing", "Category", "EventKind", "Phase", "Verdict"),
    "values": (
        "Checkpoint",
        "ClusterState",
        "Event",
        "Outcome",
        "Transition",
        "parse_account",
        "parse_amount",
        "parse_billing",
        "parse_cluster_id",
        "parse_phase",
        "parse_region",
        "unheeded",
    ),
    "warnings": ("DeadlineWarning", "next_due_at", "warnings_due"),
}
_HOME_OF: dict[str, str] = {name: module for module, names in _HOMES.items() for name in names}

#: Every public name: each one in _HOMES, and the version.
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
    "FleetRow",
    "FleetVerdict",
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
    "decide_fleet",
    "evaluate",
    "evaluate_fleet",
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


#: The modules an eager ``import fsm`` used to import, so ``fsm.lifecycle`` still works.
_SUBMODULES = frozenset((*_HOMES, "machine", "schedule", "timeutil"))


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (and kept here after)."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what a type checker sees: every public name, as if imported eagerly
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
    from .steps import FleetRow, FleetVerdict, decide_fleet, evaluate_fleet
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
