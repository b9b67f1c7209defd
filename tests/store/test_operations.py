"""Every store operation, on each engine, as the CLI and the Ansible module use it."""

from __future__ import annotations

from typing import Any

import pytest

from fsm import Event, InputError, NotTrackedError, Observation, Phase, StoreError
from fsm.store import open_store
from fsm.timeutil import format_time as iso

from .conftest import Raw, at


def observe(store: Any, cid: str, now: Any, **fields: Any) -> Any:
    """Observe at ``now`` with the observation's fields; the rest are store arguments."""
    options = {k: fields.pop(k) for k in list(fields) if k not in _OBSERVATION_FIELDS}
    return store.observe(cid, Observation.create(at=now, **fields), now=now, **options)


_OBSERVATION_FIELDS = {"balance", "overdue_since", "renewed_until", "released"}


# -- an empty store ----------------------------------------------------------------------


def test_a_new_store_tracks_nothing(store: Any) -> None:
    assert store.clusters(now=at()) == []
    assert store.get("c-1") is None
    with pytest.raises(NotTrackedError, match="c-1"):
        store.load("c-1")
    with pytest.raises(NotTrackedError):
        store.history("c-1")


def test_an_invalid_cluster_id_is_an_input_error_and_reaches_no_sql(store: Any) -> None:
    observation = Observation.create(at=at(), balance="-1")
    for bad in ["c-1'; DROP TABLE events; --", "", "-leading-dash", "x" * 129]:
        with pytest.raises(InputError, match="cluster_id"):
            store.observe(bad, observation, billing="pay_as_you_go", now=at())
        with pytest.raises(InputError, match="cluster_id"):
            store.get(bad)
    store.upsert_cluster("c:1.a_b-2", "pay_as_you_go")
    assert [s.cluster_id for s in store.clusters(now=at())] == ["c:1.a_b-2"]


# -- upsert_cluster ---------------------------------------------------------------------------


def test_upsert_creates_then_reports_only_real_changes(store: Any) -> None:
    assert store.upsert_cluster("c-1", "Subscription", expires_at="2026-02-01T00:00:00Z") is True
    assert store.history("c-1") == []
    assert store.upsert_cluster("c-1", "subscription", expires_at=at(days=31)) is False
    assert store.upsert_cluster("c-1", "subscription", account="acme", expires_at=at(31)) is True
    cluster = store.load("c-1")
    assert (cluster.account, str(cluster.billing), cluster.expires_at) == (
        "acme",
        "subscription",
        at(days=31),
    )


def test_upsert_refuses_a_billing_change_and_a_payg_expiry(store: Any) -> None:
    store.upsert_cluster("c-1", "pay_as_you_go")
    with pytest.raises(InputError, match=r"billing.*cannot change"):
        store.upsert_cluster("c-1", "subscription")
    with pytest.raises(InputError, match="expires_at"):
        store.upsert_cluster("c-2", "pay_as_you_go", expires_at=at())
    assert store.get("c-2") is None


# -- record -----------------------------------------------------------------------------------


def test_record_needs_a_tracked_cluster(store: Any) -> None:
    with pytest.raises(NotTrackedError, match="c-9"):
        store.record("c-9", Event.create("balance_negative", at()), now=at())


def test_record_keeps_every_event_and_says_what_it_did(store: Any, raw: Raw) -> None:
    store.upsert_cluster("c-1", "pay_as_you_go")
    first = store.record("c-1", Event.create("balance_negative", at()), now=at())
    assert first.changed is True
    assert first.duplicate is False
    assert first.outcome.phase is Phase.OVERDUE_GRACE
    assert first.cluster.phase is Phase.OVERDUE_GRACE
    repeat = store.record("c-1", Event.create("balance_negative", at(hours=2)), now=at(hours=2))
    assert repeat.changed is False
    assert repeat.recorded is True  # SPEC 3: kept, a late recharge may give it its effect
    assert "already overdue" in (repeat.outcome.note or "")
    assert raw.count("events") == 2
    assert store.load("c-1").overdue_since == at()
    exact = store.record("c-1", Event.create("balance_negative", at(hours=2)), now=at(hours=2))
    assert (exact.changed, exact.recorded) == (False, False)  # an exact repeat: stored once
    assert raw.count("events") == 2
    assert [e.effect for e in store.history("c-1")] == [
        "entered overdue_grace",
        f"unchanged: already overdue since {iso(at())}; the original clock is kept",
    ]


def test_a_retried_record_with_the_same_key_is_stored_once(store: Any, raw: Raw) -> None:
    store.upsert_cluster("c-1", "pay_as_you_go")
    event = Event.create("balance_negative", at())
    assert store.record("c-1", event, "job-42", now=at()).changed is True
    retry = store.record("c-1", event, "job-42", now=at())
    assert (retry.changed, retry.duplicate) == (False, True)
    assert raw.count("events") == 1
    assert store.history("c-1")[0].idempotency_key == "job-42"
    with pytest.raises(InputError, match="idempotency_key"):
        store.record("c-1", Event.create("recharged", at(hours=1)), "job-42", now=at(hours=1))
    assert raw.count("events") == 1


def test_an_event_from_the_future_is_refused_and_nothing_is_written(store: Any, raw: Raw) -> None:
    store.upsert_cluster("c-1", "pay_as_you_go")
    with pytest.raises(InputError, match="future tolerance"):
        store.record("c-1", Event.create("balance_negative", at(hours=1)), now=at())
    with pytest.raises(InputError, match="future tolerance"):
        store.observe(
            "c-1", Observation.create(at=at(hours=1), balance="-1"), now=at(), source="test"
        )
    assert raw.count("events") == 0


def test_a_late_event_lands_where_it_belongs(store: Any) -> None:
    store.upsert_cluster("c-1", "pay_as_you_go")
    store.record("c-1", Event.create("recharged", at(days=3)), now=at(days=3))  # no effect yet
    store.record("c-1", Event.create("balance_negative", at(days=2)), now=at(days=3))
    # The recharge on day 3, kept though it changed nothing then, closes the episode.
    assert store.load("c-1").state(at(days=2, hours=23)).phase is Phase.OVERDUE_GRACE
    assert store.load("c-1").state(at(days=3)).phase is Phase.ACTIVE
    late = store.record("c-1", Event.create("recharged", at(days=2, hours=12)), now=at(days=3))
    assert late.changed is True
    assert late.outcome.late is True
    assert store.load("c-1").state(at(days=2, hours=23)).phase is Phase.ACTIVE
    assert (
        store.history("c-1")[-1].effect
        == "landed late: rewrote the history; the phase stays active"
    )


# -- observe ---------------------------------------------------------------------------------


def test_observe_an_unknown_cluster_needs_its_billing(store: Any, raw: Raw) -> None:
    with pytest.raises(InputError, match=r"billing.*not tracked"):
        observe(store, "c-1", at(), balance="-1")
    assert store.get("c-1") is None


def test_observe_creates_records_and_evaluates(store: Any) -> None:
    result = observe(store, "c-1", at(), balance="-11.19", billing="PayAsYouGo")
    assert result.created is True
    assert result.changed is True
    assert [e.kind for e in result.recorded] == ["balance_negative"]
    assert result.before is None
    assert result.after.phase is Phase.OVERDUE_GRACE
    assert result.entered == [Phase.OVERDUE_GRACE]
    assert result.dry_run is False
    assert result.after.account == "default"
    (event,) = store.history("c-1")
    assert event.payload["balance"] == "-11.19"
    assert event.source == "api"


def test_a_repeated_observation_changes_nothing_and_writes_nothing(store: Any, raw: Raw) -> None:
    observe(store, "c-1", at(), balance="-1", billing="pay_as_you_go")
    stored = raw.snapshot()
    exact = observe(store, "c-1", at(), balance="-1", billing="pay_as_you_go")
    assert (exact.created, exact.changed, exact.recorded, exact.entered) == (
        False,
        False,
        [],
        [],
    )
    assert exact.before is not None and exact.before.phase is Phase.OVERDUE_GRACE
    assert raw.snapshot() == stored
    # Seen again later, the negative balance changes nothing but joins the log (SPEC 3).
    again = observe(store, "c-1", at(minutes=5), balance="-2", billing="pay_as_you_go")
    assert (again.changed, again.entered) == (False, [])
    assert [str(e.kind) for e in again.recorded] == ["balance_negative"]


def test_observe_reports_the_phases_entered_since_the_last_write(store: Any, raw: Raw) -> None:
    observe(store, "c-1", at(), balance="-1", billing="pay_as_you_go")
    later = observe(store, "c-1", at(days=20), balance="-1")
    assert later.changed is False  # the event changes nothing: time passed
    assert later.before is not None and later.before.phase is Phase.OVERDUE_GRACE
    assert later.after.phase is Phase.RESTRICTED
    assert later.entered == [Phase.SUSPENDED, Phase.RESTRICTED]
    # The cache moved, so the same look again has nothing new to report and writes nothing.
    stored = raw.snapshot()
    again = observe(store, "c-1", at(days=20), balance="-1")
    assert again.entered == []
    assert raw.snapshot() == stored
    back = observe(store, "c-1", at(days=21), balance="100")
    assert back.changed is True
    assert back.entered == [Phase.ACTIVE]
    assert [e.kind for e in store.history("c-1")] == [
        "balance_negative",
        "balance_negative",
        "recharged",
    ]


def test_observe_a_new_cluster_already_deep_overdue(store: Any) -> None:
    result = observe(
        store, "c-1", at(days=20), balance="-5", overdue_since=at(), billing="pay_as_you_go"
    )
    assert result.entered == [Phase.OVERDUE_GRACE, Phase.SUSPENDED, Phase.RESTRICTED]
    assert result.recorded[0].at == at()


def test_observe_updates_facts_but_never_the_billing(store: Any) -> None:
    observe(store, "c-1", at(), balance="5", billing="subscription", expires_at=at(days=30))
    with pytest.raises(InputError, match="billing"):
        observe(store, "c-1", at(), balance="5", billing="pay_as_you_go")
    moved = observe(store, "c-1", at(), balance="5", account="acme", expires_at=at(days=60))
    assert (moved.changed, moved.facts_changed, moved.recorded) == (True, True, [])
    assert moved.after.account == "acme"
    assert moved.after.expires_at == at(days=60)
    same = observe(store, "c-1", at(hours=1), balance="5", billing="Subscription")
    assert same.changed is False


def test_the_region_of_a_cluster_is_a_fact_kept_until_changed(store: Any) -> None:
    observe(store, "c-1", at(), balance="1", billing="pay_as_you_go", region="cn-hangzhou")
    observe(store, "c-2", at(), balance="1", billing="pay_as_you_go", account="acme")
    assert store.regions() == {"c-1": "cn-hangzhou", "c-2": None}
    assert store.regions(account="acme") == {"c-2": None}
    assert observe(store, "c-1", at(hours=1), balance="1").changed is False  # None keeps it
    moved = observe(store, "c-1", at(hours=2), balance="1", region="cn-shanghai")
    assert (moved.changed, moved.facts_changed) == (True, True)
    assert store.upsert_cluster("c-1", "pay_as_you_go") is False  # region None: kept
    assert store.upsert_cluster("c-2", "pay_as_you_go", account="acme", region="eu-central-1")
    assert store.regions() == {"c-1": "cn-shanghai", "c-2": "eu-central-1"}
    with pytest.raises(InputError, match="region"):
        observe(store, "c-1", at(hours=3), balance="1", region="Hangzhou City")


def test_observe_a_renewal_stores_the_new_expiry(store: Any) -> None:
    observe(store, "c-1", at(), balance="5", billing="subscription", expires_at=at(days=10))
    expired = observe(store, "c-1", at(days=11), balance="5")
    assert expired.entered == [Phase.SUSPENDED]
    renewed = observe(store, "c-1", at(days=12), balance="5", renewed_until=at(days=400))
    assert renewed.entered == [Phase.ACTIVE]
    event = store.history("c-1")[-1]
    assert event.kind == "renewed"
    assert event.payload["expires_at"] == "2027-02-05T00:00:00Z"
    assert store.load("c-1").expires_at == at(days=400)


def test_observe_suffixes_the_key_for_each_further_event_and_stores_a_retry_once(
    store: Any, raw: Raw
) -> None:
    first = observe(
        store, "c-1", at(), balance="-1", released=True, billing="pay_as_you_go",
        idempotency_key="run-7", source="ansible",
    )  # fmt: skip
    assert [e.kind for e in first.recorded] == ["balance_negative", "released"]
    history = store.history("c-1")
    assert [e.idempotency_key for e in history] == ["run-7", "run-7#1"]
    assert {e.source for e in history} == {"ansible"}
    retry = observe(store, "c-1", at(), balance="-1", released=True, idempotency_key="run-7")
    assert (retry.changed, retry.duplicate, retry.recorded) == (False, True, [])
    assert raw.count("events") == 2


def test_dry_run_computes_the_same_result_and_writes_nothing(store: Any, raw: Raw) -> None:
    observe(store, "c-0", at(), balance="1", billing="pay_as_you_go")  # the store exists
    stored = raw.snapshot()
    dry = observe(store, "c-1", at(), balance="-1", billing="pay_as_you_go", dry_run=True)
    assert raw.snapshot() == stored
    assert store.get("c-1") is None
    real = observe(store, "c-1", at(), balance="-1", billing="pay_as_you_go")
    assert dry.dry_run is True
    for name in ("created", "changed", "recorded", "before", "after", "entered"):
        assert getattr(dry, name) == getattr(real, name), name
    stored = raw.snapshot()
    later_dry = observe(store, "c-1", at(days=2), balance="5", dry_run=True)
    assert raw.snapshot() == stored
    later = observe(store, "c-1", at(days=2), balance="5")
    assert (later_dry.entered, later_dry.recorded) == (later.entered, later.recorded)
    assert later.entered == [Phase.SUSPENDED, Phase.ACTIVE]


def test_terminal_clusters_ignore_observations(store: Any, raw: Raw) -> None:
    observe(store, "c-1", at(), released=True, billing="pay_as_you_go")
    result = observe(store, "c-1", at(hours=1), balance="-1")
    assert result.changed is False
    assert result.outcomes[0].note is not None and "terminal" in result.outcomes[0].note
    assert raw.count("events") == 2  # kept, never resurrecting the cluster
    assert store.load("c-1").phase is Phase.RELEASED


# -- reads -----------------------------------------------------------------------------------


def test_list_evaluates_every_cluster_at_now_sorted_and_filtered(store: Any) -> None:
    observe(store, "c-b", at(), balance="-1", billing="pay_as_you_go", account="acme")
    observe(store, "c-a", at(), balance="3", billing="pay_as_you_go", account="acme")
    observe(store, "c-c", at(), balance="3", billing="subscription", expires_at=at(days=5))
    everything = store.clusters(now=at(days=2))
    assert [s.cluster_id for s in everything] == ["c-a", "c-b", "c-c"]
    assert [str(s.phase) for s in everything] == ["active", "suspended", "active"]
    assert all(s.evaluated_at == at(days=2) for s in everything)
    assert [s.cluster_id for s in store.clusters(account="acme", now=at(days=2))] == ["c-a", "c-b"]
    assert [s.cluster_id for s in store.clusters(phase="suspended", now=at(days=2))] == ["c-b"]
    assert [s.cluster_id for s in store.clusters(phase="overdue-grace", now=at(hours=1))] == ["c-b"]
    later = store.clusters(phase=Phase.SUSPENDED, now=at(days=6))
    assert [s.cluster_id for s in later] == ["c-b", "c-c"]
    with pytest.raises(InputError, match="phase"):
        store.clusters(phase="bankrupt")
    with pytest.raises(InputError, match="account"):
        store.clusters(account="no spaces")


def test_list_still_lists_but_warns_that_it_is_now_clusters(store: Any) -> None:
    observe(store, "c-1", at(), balance="-1", billing="pay_as_you_go")
    with pytest.warns(DeprecationWarning, match=r"use Store\.clusters\(\)"):
        listed = store.list(phase="overdue_grace", now=at(hours=1))
    assert listed == store.clusters(phase="overdue_grace", now=at(hours=1))
    assert [s.cluster_id for s in listed] == ["c-1"]


def test_load_rebuilds_the_same_cluster_the_core_would(store: Any) -> None:
    observe(store, "c-1", at(), balance="-1", billing="pay_as_you_go")
    observe(store, "c-1", at(days=3), balance="1")
    cluster = store.load("c-1")
    assert [str(e.kind) for e in cluster.to_events()] == ["balance_negative", "recharged"]
    state = cluster.state(at(days=4))
    listed = store.clusters(now=at(days=4))[0]
    assert (state.phase, state.history) == (listed.phase, listed.history)
    assert [t.dest for t in state.history] == [
        Phase.OVERDUE_GRACE,
        Phase.SUSPENDED,
        Phase.ACTIVE,
    ]


def test_history_is_in_recording_order_with_iso_times(store: Any) -> None:
    store.upsert_cluster("c-1", "pay_as_you_go")
    store.record("c-1", Event.create("balance_negative", at(days=2)), now=at(days=2))
    store.record("c-1", Event.create("balance_negative", at(hours=12)), now=at(days=2))
    store.record("c-1", Event.create("recharged", at(days=1)), "k", now=at(days=2))
    history = store.history("c-1")
    assert [e.at for e in history] == [at(days=2), at(hours=12), at(days=1)]
    assert [e.seq for e in history] == sorted(e.seq for e in history)
    record = history[2].as_dict()
    assert record["kind"] == "recharged"
    assert record["at"] == "2026-01-02T00:00:00Z"
    assert record["recorded_at"].endswith("Z")
    assert record["idempotency_key"] == "k"
    assert record["cluster_id"] == "c-1"


def test_mark_evaluated_writes_only_when_the_phase_moved(store: Any, raw: Raw) -> None:
    observe(store, "c-1", at(), balance="-1", billing="pay_as_you_go")
    assert store.mark_evaluated("c-1", now=at(hours=1)) is False
    assert store.mark_evaluated("c-1", now=at(days=2)) is True
    assert raw.query("SELECT last_phase FROM clusters") == [("suspended",)]
    assert observe(store, "c-1", at(days=2, hours=1), balance="-1").entered == []


# -- the event log is append-only -------------------------------------------------------------


def test_the_event_log_refuses_updates_and_deletes(store: Any, raw: Raw) -> None:
    observe(store, "c-1", at(), balance="-1", billing="pay_as_you_go")
    for statement in ("UPDATE events SET kind = 'recharged'", "DELETE FROM events"):
        with pytest.raises(Exception, match="append-only"):
            raw.execute(statement)
    assert raw.count("events") == 1


# -- readers and writers -----------------------------------------------------------------------


def test_a_reader_cannot_write(store_url: str) -> None:
    with open_store(store_url) as writer:
        observe(writer, "c-1", at(), balance="-1", billing="pay_as_you_go")
    with open_store(store_url, create=False) as reader:
        assert reader.load("c-1").phase is Phase.OVERDUE_GRACE
        with pytest.raises(StoreError, match="reading"):
            observe(reader, "c-1", at(days=1), balance="1")
        with pytest.raises(StoreError, match="reading"):
            reader.upsert_cluster("c-2", "pay_as_you_go")


def test_the_store_url_is_printed_without_its_password(store_url: str) -> None:
    with open_store(store_url) as store:
        assert store.url == store_url
        assert repr(store) == f"<{type(store).__name__} {store_url}>"


def test_a_closed_store_says_so(store_url: str) -> None:
    store = open_store(store_url)
    store.upsert_cluster("c-1", "pay_as_you_go")
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.get("c-1")
    with pytest.raises(StoreError, match="closed"):
        store.upsert_cluster("c-2", "pay_as_you_go")


def test_a_store_does_not_cross_a_fork(store_url: str) -> None:
    """A forked child must open its own store; closing the inherited one harms no one."""
    import os

    store = open_store(store_url)
    observe(store, "c-1", at(), balance="-1", billing="pay_as_you_go")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports by its exit code
        code = 1
        try:
            store.get("c-1")
        except StoreError as error:
            code = 0 if "fork" in str(error) else 2
        store.close()
        with open_store(store_url, create=False) as own:
            code = code or (0 if own.get("c-1") is not None else 3)
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert observe(store, "c-1", at(days=1), balance="1").changed  # the parent's still works
    store.close()


def test_the_last_successful_sync_of_each_account_is_kept(store: Any, store_url: str) -> None:
    assert store.account_syncs() == []
    assert store.record_sync("acme", synced_at=at(hours=1), balance="-11.19", currency="CNY")
    assert store.record_sync("beta", synced_at=at(hours=1), balance=40, currency="USD")
    assert store.record_sync("acme", synced_at=at(hours=2), balance="5.00", currency="CNY")
    # A sync that finished earlier but reports later (a slow parallel run) does not win.
    assert not store.record_sync("acme", synced_at=at(minutes=90), balance="-1", currency="CNY")
    with open_store(store_url, create=False) as reader:
        syncs = reader.account_syncs()
    assert [(s.account, s.synced_at, s.balance, s.currency) for s in syncs] == [
        ("acme", at(hours=2), "5.00", "CNY"),
        ("beta", at(hours=1), "40", "USD"),
    ]
    with pytest.raises(InputError, match="balance: 'lots' is not valid"):
        store.record_sync("acme", synced_at=at(hours=3), balance="lots")
