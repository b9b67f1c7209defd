"""The lifecycle tables as Markdown, for the README and ``overdue-fsm tables``.

Rendered from :mod:`fsm.table` and the policy in force, so the docs cannot
drift from what the engine decides.
"""

from __future__ import annotations

from .policy import Policy
from .schedule import due_at
from .table import (
    CONDITION_WORDS,
    EVENT_TRANSITIONS,
    OPERATIONS,
    PHASES,
    TIMED_TRANSITIONS,
    VERDICT_COLUMNS,
    Billing,
    Category,
)


def phase_table() -> str:
    rows = ["| phase | kind | data | what holds |", "|---|---|---|---|"]
    for info in PHASES.values():
        data = "kept" if info.data_kept else "deleted"
        rows.append(f"| `{info.phase}` | {info.stability} | {data} | {info.meaning} |")
    return "\n".join(rows) + "\n"


def transition_table(policy: Policy | None = None) -> str:
    policy = Policy.default() if policy is None else policy
    rows = ["| trigger | from | to | when |", "|---|---|---|---|"]
    for row in EVENT_TRANSITIONS:
        sources = ", ".join(f"`{p}`" for p in row.sources)
        dest = f"`{row.dest}`" if row.dest is not None else "(stays; facts change)"
        when = ", ".join(
            [CONDITION_WORDS[c][0] for c in row.conditions]
            + [CONDITION_WORDS[c][1] for c in row.unless]
        )
        rows.append(f"| `{row.trigger}` | {sources} | {dest} | {when or 'always'} |")
    for step in TIMED_TRANSITIONS:
        sources = ", ".join(f"`{p}`" for p in step.sources)
        billing = "pay-as-you-go" if step.billing is Billing.PAY_AS_YOU_GO else "subscription"
        rows.append(
            f"| `advance` ({step.trigger}) | {sources} | `{step.dest}` "
            f"| {billing}, now >= {due_at(step, policy)} |"
        )
    return "\n".join(rows) + "\n"


def verdict_table(policy: Policy | None = None) -> str:
    policy = Policy.default() if policy is None else policy
    titles = [
        column.name.replace("_pay_as_you_go", " PAYG").replace("_subscription", " subscription")
        for column in VERDICT_COLUMNS
    ]
    rows = ["| category | " + " | ".join(titles) + " |", "|---" * (len(titles) + 1) + "|"]
    for category in Category:
        cells = [str(policy.cell(category, column)) for column in VERDICT_COLUMNS]
        rows.append(f"| {category} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def operation_table(policy: Policy | None = None) -> str:
    policy = Policy.default() if policy is None else policy
    rows = ["| category | operations |", "|---|---|"]
    for category in Category:
        names = [
            f"`{name}`" + ("" if name in OPERATIONS else " (declared)")
            for name, of in policy.operations.items()
            if of is category
        ]
        rows.append(f"| {category} | {', '.join(names)} |")
    return "\n".join(rows) + "\n"


def all_tables(policy: Policy | None = None) -> dict[str, str]:
    """Every table by the name of its README block."""
    return {
        "phases": phase_table(),
        "transitions": transition_table(policy),
        "operations": operation_table(policy),
        "verdicts": verdict_table(policy),
    }
