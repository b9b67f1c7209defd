"""Properties over random event sequences (SPEC section 3, "Rules that follow").

Events are recorded at random instants within ~120 days, in random order
(so some arrive late), for both billings. Every event is recorded with
``now=END`` so none is beyond the future tolerance.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

import fsm

from ._support import DAY, HOUR, T0, US

WINDOW = 120 * DAY
END = T0 + WINDOW + DAY
PROBE_AFTER = END + 200 * DAY  # after every instant of a run, and every threshold

RANK = {"active": 0, "overdue_grace": 1, "suspended": 2, "restricted": 3, "purged": 4}
TERMINAL = {"purged", "released"}
FEE_GENERATING = [
    "scale_out",
    "upgrade_node_config",
    "purchase",
    "renew",
    "create_cluster",
    "clone_cluster",
]

PROPERTY = settings(max_examples=200, deadline=None)

# Instants: often on whole hours (so they meet the thresholds exactly), else to the microsecond.
offsets = st.one_of(
    st.integers(0, WINDOW // HOUR).map(lambda h: h * HOUR),
    st.integers(0, WINDOW // US).map(lambda n: n * US),
)
instants = offsets.map(lambda o: T0 + o)

Op = tuple[Any, ...]  # (kind, at) or ("renewed", at, expires_at)


def op_strategy(kinds: list[str]) -> st.SearchStrategy[Op]:
    choices = []
    for kind in kinds:
        if kind == "renewed":
            choices.append(
                st.tuples(
                    st.just("renewed"),
                    instants,
                    st.integers(1, 200 * 24).map(lambda h: h * HOUR),
                ).map(lambda t: ("renewed", t[1], t[1] + t[2]))
            )
        else:
            choices.append(st.tuples(st.just(kind), instants))
    return st.one_of(choices)


ALL_KINDS = ["balance_negative", "recharged", "renewed", "released", "advance"]
NO_RECOVERY = ["balance_negative", "released", "advance"]

clusters = st.one_of(
    st.tuples(st.just("pay_as_you_go"), st.none()),
    st.tuples(st.just("subscription"), st.one_of(st.none(), instants)),
)


# Order independence holds for events within the late tolerance: these properties
# take one wider than the window; the bound itself has its own property below.
WIDE = fsm.Policy(late_tolerance=WINDOW + DAY)


def make(spec: tuple[str, datetime | None], policy: fsm.Policy | None = None) -> fsm.Cluster:
    billing, expires_at = spec
    return fsm.Cluster("c-prop", billing, expires_at=expires_at, policy=policy)


def apply(c: fsm.Cluster, op: Op) -> fsm.Outcome:
    kind, at = op[0], op[1]
    if kind == "advance":
        return c.advance(at)
    if kind == "renewed":
        return c.renewed(at, op[2], now=END)
    return getattr(c, kind)(at, now=END)  # type: ignore[no-any-return]


def rank(phase: object) -> int:
    # SPEC orders active < overdue_grace < suspended < restricted < purged and
    # makes released terminal: it ranks with purged (both are the end of the road;
    # a late event may show that the purge came first, at the same instant or earlier).
    return 4 if str(phase) == "released" else RANK[str(phase)]


# -- terminal phases absorb ------------------------------------------------------------------


@PROPERTY
@given(clusters, st.lists(op_strategy(ALL_KINDS), max_size=14))
def test_terminal_phases_absorb_in_time_order(spec: Any, ops: list[Op]) -> None:
    """Recorded in time order, nothing leaves purged or released."""
    c = make(spec)
    terminal = None
    for op in sorted(ops, key=lambda o: o[1]):
        outcome = apply(c, op)
        if terminal is not None:
            assert str(c.phase) == terminal
            assert outcome.changed is False
        elif str(c.phase) in TERMINAL:
            terminal = str(c.phase)


@PROPERTY
@given(clusters, st.lists(op_strategy(ALL_KINDS), max_size=14))
def test_nothing_dated_after_a_terminal_phase_moves_it(spec: Any, ops: list[Op]) -> None:
    """In any recording order: no history step leaves a terminal phase, and an
    event or advance dated at or after the terminal instant changes nothing."""
    c = make(spec)
    for op in ops:
        phase, since = str(c.phase), c.phase_since
        apply(c, op)
        if phase in TERMINAL and since is not None and op[1] >= since:
            assert str(c.phase) == phase
        assert all(str(t.source) not in TERMINAL for t in c.history)
    assert all(str(t.source) not in TERMINAL for t in c.state(PROBE_AFTER).history)


# -- no way back without recharge or renewal --------------------------------------------------


@PROPERTY
@given(clusters, st.lists(op_strategy(NO_RECOVERY), max_size=14))
def test_phase_never_moves_backwards_without_recharge_or_renewal(spec: Any, ops: list[Op]) -> None:
    c = make(spec)
    before = rank(c.phase)
    for op in ops:
        outcome = apply(c, op)
        now = rank(c.phase)
        assert now >= before, (op, outcome)
        assert rank(outcome.phase_before) <= rank(outcome.phase)
        before = now
        for step in c.history:
            assert rank(step.dest) > rank(step.source)
            assert str(step.source) not in TERMINAL
    assert rank(c.state(PROBE_AFTER).phase) >= before


# -- advance: only start and end matter ----------------------------------------------------------


@PROPERTY
@given(
    clusters,
    st.lists(op_strategy(["balance_negative", "recharged", "renewed", "released"]), max_size=10),
    st.lists(instants, max_size=8),
)
def test_advance_does_not_depend_on_how_it_is_split(
    spec: Any, events: list[Op], stops: list[datetime]
) -> None:
    start = max((e[1] for e in events), default=T0)
    stops = sorted(s for s in stops if s >= start)
    split, whole = make(spec), make(spec)
    for event in events:
        apply(split, event)
        apply(whole, event)
    for stop in stops:
        split.advance(stop)
    split.advance(END)
    whole.advance(END)
    assert split.phase == whole.phase
    assert split.phase_since == whole.phase_since
    assert split.history == whole.history
    assert split.report() == whole.report()


@PROPERTY
@given(clusters, st.lists(op_strategy(ALL_KINDS), max_size=14))
def test_interleaved_advances_do_not_change_the_result(spec: Any, ops: list[Op]) -> None:
    """Dropping every intermediate ``advance`` gives the same cluster at END."""
    with_advances, without = make(spec), make(spec)
    for op in ops:
        apply(with_advances, op)
        if op[0] != "advance":
            apply(without, op)
    with_advances.advance(END)
    without.advance(END)
    assert with_advances.report(END) == without.report(END)


# -- the log is the truth --------------------------------------------------------------------


@PROPERTY
@given(clusters, st.lists(op_strategy(ALL_KINDS), max_size=14), instants)
def test_replaying_the_log_gives_the_same_report(spec: Any, ops: list[Op], probe: datetime) -> None:
    c = make(spec)
    for op in ops:
        apply(c, op)
    twin = fsm.Cluster.from_events(c.cluster_id, spec[0], c.to_events(), expires_at=spec[1])
    assert twin.to_events() == c.to_events()
    for now in (PROBE_AFTER, END, probe):
        assert twin.report(now) == c.report(now)
    if c.evaluated_at is not None:
        assert twin.report(c.evaluated_at) == c.report(c.evaluated_at)


def _distinct(ops: list[Op]) -> list[Op]:
    seen: set[datetime] = set()
    kept = []
    for op in ops:
        if op[1] not in seen:
            seen.add(op[1])
            kept.append(op)
    return kept


@PROPERTY
@given(
    clusters,
    st.lists(op_strategy(["balance_negative", "recharged", "renewed", "released"]), max_size=12),
    st.randoms(use_true_random=False),
)
def test_recorded_in_any_order_the_cluster_is_its_log_in_event_time_order(
    spec: Any, events: list[Op], shuffler: random.Random
) -> None:
    events = _distinct(events)
    shuffler.shuffle(events)
    c = make(spec, WIDE)
    for event in events:
        apply(c, event)
    log = c.to_events()
    by_time = fsm.Cluster.from_events(
        c.cluster_id, spec[0], sorted(log, key=lambda e: e.at), expires_at=spec[1], policy=WIDE
    )
    assert by_time.report(END) == c.report(END)
    for earlier, later in zip(c.history, c.history[1:], strict=False):
        assert earlier.at <= later.at
        assert earlier.dest == later.source


@PROPERTY
@given(
    clusters,
    st.lists(op_strategy(["balance_negative", "recharged", "renewed", "released"]), max_size=12),
    st.randoms(use_true_random=False),
)
@example(  # recorded recharged(day 10) first: a no-op then, dropped, lost for good
    ("pay_as_you_go", None),
    [("balance_negative", T0 + 5 * DAY), ("recharged", T0 + 10 * DAY)],
    random.Random(0),
).via("found by hand")
def test_recording_order_does_not_matter(
    spec: Any, events: list[Op], shuffler: random.Random
) -> None:
    """SPEC 3: the log is replayed in event-time order, so a late event lands
    where it belongs; the same events (distinct instants) recorded in any order
    give the same report."""
    in_order, shuffled = make(spec, WIDE), make(spec, WIDE)
    for event in sorted(events, key=lambda e: e[1]):
        apply(in_order, event)
    mixed = list(events)
    shuffler.shuffle(mixed)
    if mixed == sorted(events, key=lambda e: e[1]):
        mixed.reverse()
    for event in mixed:
        apply(shuffled, event)
    assert shuffled.report(END) == in_order.report(END), mixed


@PROPERTY
@given(
    clusters,
    st.lists(op_strategy(["balance_negative", "recharged", "renewed", "released"]), max_size=12),
    st.randoms(use_true_random=False),
)
def test_at_the_default_tolerance_the_phase_is_the_replay_of_what_was_applied(
    spec: Any, events: list[Op], shuffler: random.Random
) -> None:
    """An event dated more than late_tolerance before the newest one seen is kept,
    not applied; everything else lands where it belongs, whatever the order."""
    shuffler.shuffle(events)
    c = make(spec)
    applied: list[Op] = []
    newest: datetime | None = None
    tolerance = fsm.Policy.default().late_tolerance
    seen: set[Op] = set()
    for event in events:
        outcome = apply(c, event)
        if event in seen:  # an exact repeat is stored once
            assert outcome.recorded is False
            continue
        seen.add(event)
        too_late = newest is not None and event[1] < newest - tolerance
        assert outcome.applied is not too_late or not outcome.recorded
        if too_late:
            assert outcome.note is not None
            assert outcome.note.startswith("too late")
        else:
            applied.append(event)
        newest = event[1] if newest is None else max(newest, event[1])
    by_time = make(spec)
    for event in sorted(applied, key=lambda e: e[1]):
        apply(by_time, event)
    assert by_time.report(END)["phase"] == c.report(END)["phase"]
    assert by_time.report(END)["history"] == c.report(END)["history"]


# -- guards ------------------------------------------------------------------------------


@PROPERTY
@given(clusters, st.lists(op_strategy(ALL_KINDS), max_size=14), instants)
def test_guard_never_allows_fee_generating_work_outside_active(
    spec: Any, ops: list[Op], probe: datetime
) -> None:
    c = make(spec)
    for op in ops:
        apply(c, op)
        for now in (None, probe, PROBE_AFTER):
            state_phase = str(c.state(now).phase)
            for operation in FEE_GENERATING:
                for strict in (False, True):
                    decision = c.decide(operation, now=now, strict=strict)
                    if decision.allowed:
                        assert state_phase == "active", (operation, now)
                        assert str(decision.phase) == "active"
            report = c.report(now)
            if report["phase"] != "active":
                assert all(report["operations"][o] == "deny" for o in FEE_GENERATING)


@PROPERTY
@given(
    clusters,
    st.lists(op_strategy(["balance_negative", "recharged", "renewed", "released"]), max_size=12),
    st.integers(0, 12),
    st.randoms(use_true_random=False),
)
def test_a_cluster_resumed_from_its_checkpoint_is_the_cluster(
    spec: Any, events: list[Op], split: int, shuffler: random.Random
) -> None:
    """A store's bounded replay: the checkpoint after the first events (kept as JSON)
    plus the later ones give the same cluster as the whole log, and a late event
    rebuilds from there the same as the whole log does."""
    ordered = sorted(events, key=lambda e: fsm.Event.create(*e).order)  # replay order
    head, tail = ordered[:split], ordered[split:]
    whole, first = make(spec, WIDE), make(spec, WIDE)
    for event in ordered:
        apply(whole, event)
    for event in head:
        apply(first, event)
    checkpoint = first.checkpoint()
    if checkpoint is not None:
        checkpoint = fsm.Checkpoint.from_dict(checkpoint.as_dict())
    resumed = fsm.Cluster.resume(
        "c-prop",
        spec[0],
        checkpoint,
        [],
        newest=None if checkpoint is None else checkpoint.position[0],
        expires_at=spec[1],
        policy=WIDE,
    )
    for event in tail:
        apply(resumed, event)
    assert resumed.report(END) == whole.report(END)
    late = ("balance_negative", T0 + shuffler.randrange(WINDOW // HOUR) * HOUR)
    if checkpoint is None or late[1] > checkpoint.position[0]:
        apply(resumed, late)
        apply(whole, late)
        assert resumed.report(END) == whole.report(END)
