"""Planning an observation needs no store: what it writes and answers, from what was read."""

from __future__ import annotations

from dataclasses import replace

from fsm import Billing, Event, Observation, Phase
from fsm.policy import Policy
from fsm.store.plan import Facts, ObserveRequest, RowChange, plan_observe

from .conftest import at

REQUEST = ObserveRequest(
    cluster_id="c-1",
    observation=Observation.create(at=at(), balance="-3"),
    billing=Billing.PAY_AS_YOU_GO,
    account=None,
    expires_at=None,
    region="cn-hangzhou",
    source="test",
    idempotency_key="k",
    now=at(days=2),
    dry_run=False,
)


def test_a_first_observation_plans_the_row_and_its_events() -> None:
    result, writes = plan_observe(REQUEST, None, [], None, Policy.default())
    assert (result.created, result.changed, result.after.phase) == (True, True, Phase.SUSPENDED)
    assert result.entered == [Phase.OVERDUE_GRACE, Phase.SUSPENDED]
    facts = Facts("default", Billing.PAY_AS_YOU_GO, None, "cn-hangzhou")
    assert writes.row == RowChange(facts, create=True, mark=(Phase.SUSPENDED, at(days=2)))
    assert [(str(event.kind), key) for event, key in writes.events] == [("balance_negative", "k")]
    assert (writes.source, dict(writes.payload)) == (
        "test",
        {"observed_at": "2026-01-01T00:00:00Z", "balance": "-3"},
    )


def test_a_repeated_observation_plans_no_write() -> None:
    stored = Facts(
        "default", Billing.PAY_AS_YOU_GO, None, "cn-hangzhou", Phase.SUSPENDED, at(days=2)
    )
    log = [Event.create("balance_negative", at())]
    again = replace(REQUEST, idempotency_key=None)
    result, writes = plan_observe(again, stored, log, None, Policy.default())
    assert (result.created, result.changed, result.entered) == (False, False, [])
    assert (writes.row, list(writes.events)) == (None, [])


def test_a_stored_idempotency_key_plans_no_event() -> None:
    first, _ = plan_observe(REQUEST, None, [], None, Policy.default())
    stored = Facts("default", Billing.PAY_AS_YOU_GO, None, "cn-hangzhou")
    log = first.recorded
    result, writes = plan_observe(REQUEST, stored, log, log[0], Policy.default())
    assert (result.duplicate, result.recorded, list(writes.events)) == (True, [], [])
