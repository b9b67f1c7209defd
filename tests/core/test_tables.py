"""The verdict table and the operation list of SPEC section 4, cell by cell.

The expected values are written out here from SPEC.md, never read back from
``fsm.table``: a test that reads its expectation from the code under test
cannot fail.
"""

from __future__ import annotations

import pytest
from transitions import Machine

import fsm
from fsm import table
from fsm.lifecycle import machine_definition

from ._support import cluster

# SPEC section 4, first table: operation -> category.
SPEC_OPERATIONS = {
    "scale_out": "fee_generating",
    "upgrade_node_config": "fee_generating",
    "purchase": "fee_generating",
    "renew": "fee_generating",
    "create_cluster": "fee_generating",
    "clone_cluster": "fee_generating",
    "scale_in": "om",
    "restart_service": "om",
    "modify_config": "om",
    "om": "om",
    "export_service_config": "read",
    "view_cluster_info": "read",
    "view_operation_history": "read",
    "submit_task": "task",
    "release": "release",
}

# SPEC section 4, second table, column by column as printed.
SPEC_COLUMNS = (
    "active",
    "overdue_grace PAYG",
    "overdue_grace subscription",
    "suspended",
    "restricted",
    "purged",
    "released",
)
SPEC_VERDICTS = {
    #                  active   grace PAYG grace sub. suspended restricted purged  released
    "fee_generating": ("allow", "deny",  "deny",  "deny",  "deny",  "deny", "deny"),
    "om":             ("allow", "allow", "allow", "deny",  "deny",  "deny", "deny"),
    "read":           ("allow", "allow", "allow", "allow", "allow", "deny", "deny"),
    "task":           ("allow", "warn",  "allow", "warn",  "deny",  "deny", "deny"),
    "release":        ("allow", "allow", "allow", "deny",  "deny",  "deny", "deny"),
}  # fmt: skip

# Which clusters each spec column speaks about: (phase, billing). Restricted is
# a pay-as-you-go phase only (a subscription goes from suspended to purged).
COLUMN_CLUSTERS = {
    "active": [("active", "pay_as_you_go"), ("active", "subscription")],
    "overdue_grace PAYG": [("overdue_grace", "pay_as_you_go")],
    "overdue_grace subscription": [("overdue_grace", "subscription")],
    "suspended": [("suspended", "pay_as_you_go"), ("suspended", "subscription")],
    "restricted": [("restricted", "pay_as_you_go")],
    "purged": [("purged", "pay_as_you_go"), ("purged", "subscription")],
    "released": [("released", "pay_as_you_go"), ("released", "subscription")],
}

CELLS = [
    pytest.param(
        category, column, phase, billing, verdicts[index], id=f"{category}-{phase}-{billing}"
    )
    for category, verdicts in SPEC_VERDICTS.items()
    for index, column in enumerate(SPEC_COLUMNS)
    for phase, billing in COLUMN_CLUSTERS[column]
]


@pytest.mark.parametrize(("category", "column", "phase", "billing", "expected"), CELLS)
def test_verdict_cell(category: str, column: str, phase: str, billing: str, expected: str) -> None:
    c = cluster(phase, billing)
    operations = [op for op, cat in SPEC_OPERATIONS.items() if cat == category]
    report = c.report()
    for operation in operations:
        decision = c.decide(operation)
        assert str(decision.verdict) == expected, (operation, column)
        assert str(decision.category) == category
        assert decision.allowed is (expected != "deny")
        assert decision.action in (("run",) if expected != "deny" else ("skip", "fail"))
        assert report["operations"][operation] == expected


def test_spec_columns_cover_every_phase_and_billing() -> None:
    covered = {pair for pairs in COLUMN_CLUSTERS.values() for pair in pairs}
    every = {(str(p), str(b)) for p in fsm.Phase for b in fsm.Billing}
    # The only pair no cluster can reach: a subscription is never restricted.
    assert every - covered == {("restricted", "subscription")}


def test_table_verdicts_equal_the_spec() -> None:
    """The other direction: the code's table holds exactly the spec's cells."""
    names = [column.name for column in table.VERDICT_COLUMNS]
    assert names == [
        "active",
        "overdue_grace_pay_as_you_go",
        "overdue_grace_subscription",
        "suspended",
        "restricted",
        "purged",
        "released",
    ]
    as_printed = {
        str(category): tuple(str(v) for v in row) for category, row in table.VERDICTS.items()
    }
    assert as_printed == SPEC_VERDICTS


def test_table_operations_equal_the_spec() -> None:
    assert {op: str(cat) for op, cat in table.OPERATIONS.items()} == SPEC_OPERATIONS
    assert set(fsm.Policy.default().operations) == set(SPEC_OPERATIONS)


def test_phase_and_billing_machine_names() -> None:
    assert [str(p) for p in fsm.Phase] == [
        "active",
        "overdue_grace",
        "suspended",
        "restricted",
        "purged",
        "released",
    ]
    assert fsm.parse_phase("overdue-grace") is fsm.Phase.OVERDUE_GRACE
    assert fsm.parse_billing("PayAsYouGo") is fsm.Billing.PAY_AS_YOU_GO
    assert fsm.parse_billing("Subscription") is fsm.Billing.SUBSCRIPTION
    c = fsm.Cluster("c-1", "PayAsYouGo")
    assert c.report()["billing"] == "pay_as_you_go"


# -- the machine cannot jump phases ---------------------------------------------------


def test_machine_definition_has_no_auto_transitions() -> None:
    definition = machine_definition()
    assert definition["auto_transitions"] is False


def test_no_phase_jump_is_possible() -> None:
    """A machine built from the definition offers no ``to_<phase>`` trigger."""

    class Model:
        pass

    model = Model()
    machine = Machine(model=model, **machine_definition())
    for phase in fsm.Phase:
        assert f"to_{phase}" not in machine.events
        assert not hasattr(model, f"to_{phase}")
    assert not [name for name in machine.events if name.startswith("to_")]
    assert {"balance_negative", "recharged", "renewed", "released"} <= set(machine.events)
    c = fsm.Cluster("c-1", "pay_as_you_go")
    assert not any(hasattr(c, f"to_{phase}") for phase in fsm.Phase)
