"""The lifecycle as a Mermaid state diagram, drawn from the machine itself.

``transitions``' mermaid engine renders the states and edges of the very
definition the engine runs; this module only labels the timed edges with their
thresholds and marks timed and terminal phases, from the table.
"""

from __future__ import annotations

import re
from typing import Any

from transitions.extensions import GraphMachine

from .machine import machine_definition
from .policy import Policy
from .schedule import due_at
from .table import PHASES, TIMED_TRANSITIONS, Billing, TimedTransition

_TRANSITIONS_STYLE = re.compile(r"^\s*(classDef s_\w+|Class \w+ s_\w+)\b.*$")


class _Model:
    """A throwaway model: GraphMachine draws through a model's ``get_graph``."""


def mermaid(policy: Policy | None = None, title: str = "EMR cluster overdue lifecycle") -> str:
    """The state diagram as Mermaid source (``stateDiagram-v2``)."""
    policy = Policy.default() if policy is None else policy
    definition: dict[str, Any] = {
        key: value
        for key, value in machine_definition().items()
        if key not in ("after_state_change", "send_event")
    }
    model = _Model()
    GraphMachine(model=model, graph_engine="mermaid", title=title, **definition)
    source: str = model.get_graph().draw(None)  # type: ignore[attr-defined]

    labels = {step.trigger: _timed_label(step, policy) for step in TIMED_TRANSITIONS}
    lines = []
    for line in source.splitlines():
        if line.strip() == title:
            line = f"title: {title}"  # Mermaid's front matter is YAML
        if _TRANSITIONS_STYLE.match(line):
            continue  # transitions highlights a "current" state; a reference diagram has none
        if "-->" in line and ": " in line:
            edge, triggers = line.split(": ", 1)
            named = [labels.get(t.strip(), t.strip()) for t in triggers.split("|")]
            line = f"{edge}: {' | '.join(named)}"
        lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    timed = [str(p) for p, info in PHASES.items() if info.stability == "timed"]
    terminal = [str(p) for p, info in PHASES.items() if info.terminal]
    lines += [f"  {phase} --> [*]" for phase in terminal]
    lines += [
        "  classDef timed fill:#fff4d6,color:black",
        "  classDef terminal fill:#f8d7da,color:black,font-weight:bold",
        f"  class {','.join(timed)} timed",
        f"  class {','.join(terminal)} terminal",
    ]
    return "\n".join(lines) + "\n"


def _timed_label(step: TimedTransition, policy: Policy) -> str:
    billing = "PAYG" if step.billing is Billing.PAY_AS_YOU_GO else "subscription"
    return f"{step.trigger} ({billing}, at {due_at(step, policy)})"
