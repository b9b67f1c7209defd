"""Planning an observation needs no store: what it writes and answers, from what was read."""

from __future__ import annotations

from fsm import Billing, Event, Observation, Phase
from fsm.policy import Policy
from fsm.store.plan import Facts, Loaded, ObserveRequest, RowChange, plan_observe

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


WANTED = [Event.create("balance_negative", at())]


def loaded(facts: Facts, log: list[Event], keyed: Event | None = None) -> Loaded:
    """What the store reads of a cluster whose log has no checkpoint yet: all of it."""
    return Loaded(
        facts=facts,
        tip=None,
        anchor=None,
        events=log,
        whole=True,
        repeats=frozenset(e for e in log if e.at in {w.at for w in WANTED}),
        keyed=keyed,
        newest=max((e.at for e in log), default=None),
        since=0,
    )


def test_a_first_observation_plans_the_row_and_its_events() -> None:
    result, writes = plan_observe(REQUEST, None, WANTED, Policy.default())
    assert (result.created, result.changed, result.after.phase) == (True, True, Phase.SUSPENDED)
    assert result.entered == [Phase.OVERDUE_GRACE, Phase.SUSPENDED]
    facts = Facts("default", Billing.PAY_AS_YOU_GO, None, "cn-hangzhou")
    assert writes.row == RowChange(facts, create=True, mark=(Phase.SUSPENDED, at(days=2)))
    assert [(str(row.event.kind), row.key, row.applied) for row in writes.events] == [
        ("balance_negative", "k", True)
    ]
    assert (writes.source, dict(writes.payload)) == (
        "test",
        {"observed_at": "2026-01-01T00:00:00Z", "balance": "-3"},
    )


def test_a_repeated_observation_plans_no_write() -> None:
    stored = Facts(
        "default", Billing.PAY_AS_YOU_GO, None, "cn-hangzhou", Phase.SUSPENDED, at(days=2)
    )
    log = [Event.create("balance_negative", at())]
    again = REQUEST._replace(idempotency_key=None)
    result, writes = plan_observe(again, loaded(stored, log), WANTED, Policy.default())
    assert (result.created, result.changed, result.entered) == (False, False, [])
    # The log has no checkpoint yet: the first write after the migration lays it.
    assert list(writes.events) == []
    assert writes.checkpoints is not None and writes.checkpoints.tip is not None
    assert writes.checkpoints.tip.phase is Phase.OVERDUE_GRACE


def test_a_stored_idempotency_key_plans_no_event() -> None:
    first, _ = plan_observe(REQUEST, None, WANTED, Policy.default())
    stored = Facts("default", Billing.PAY_AS_YOU_GO, None, "cn-hangzhou")
    log = first.recorded
    result, writes = plan_observe(REQUEST, loaded(stored, log, log[0]), WANTED, Policy.default())
    assert (result.duplicate, result.recorded, list(writes.events)) == (True, [], [])
