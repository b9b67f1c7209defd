"""The lifecycle replayed without the ``transitions`` machine: what a reader needs.

A guard in a forked Ansible worker, or ``overdue-fsm check``, answers one phase from
a stored log. Importing ``transitions`` and building the machine costs more than that
answer, so this module reads the same tables the machine is built from
(:data:`fsm.table.EVENT_TRANSITIONS`, :data:`fsm.table.TIMED_TRANSITIONS`) into
steps taken as the machine takes them: for a recorded event, the first transition
from the phase whose ``conditions`` hold and whose ``unless`` do not, then its
effect; for time passing, the one timed step leaving the phase, at its own deadline.
The conditions and effects are the model's own methods (:class:`fsm.run.Run`). A test
holds these steps equal to the machine's (:func:`fsm.machine.steps_of`), and property
tests hold :func:`replay_from` equal to :func:`fsm.machine.replay_from`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Final

from .records import Record
from .run import Run
from .schedule import SCHEDULE, deadline
from .table import EVENT_TRANSITIONS, TERMINAL_PHASES, Phase
from .values import Event

__all__ = ["EVENT_STEPS", "ReplayStep", "advance", "apply_event", "replay_from", "replay_with"]


class ReplayStep(Record):
    """One transition as the machine holds it: its trigger, phases, conditions and effect."""

    trigger: str
    source_phase: Phase
    dest_phase: Phase | None
    # (condition name, the value it must have): ``conditions`` True, then ``unless`` False.
    check_names: tuple[tuple[str, bool], ...]
    effect_names: tuple[str, ...]

    def fire(self, run: Run, at: datetime, expires_at: datetime | None) -> bool:
        """Take this step if its conditions hold (:meth:`fsm.machine.Step.fire`)."""
        for name, target in self.check_names:
            if bool(getattr(run, name)(at, expires_at, self)) != target:
                return False
        if self.dest_phase is not None:
            run.state = self.dest_phase
        for name in self.effect_names:
            getattr(run, name)(at, expires_at, self)
        run.record_transition(at, expires_at, self)  # the machine's after_state_change
        return True


def _event_steps() -> dict[tuple[str, Phase], tuple[ReplayStep, ...]]:
    """The event transitions from each phase, in the order the machine tries them."""
    steps: dict[tuple[str, Phase], list[ReplayStep]] = {}
    for row in EVENT_TRANSITIONS:
        checks = (*((name, True) for name in row.conditions), *((n, False) for n in row.unless))
        for source in row.sources:
            steps.setdefault((str(row.trigger), source), []).append(
                ReplayStep(
                    str(row.trigger),
                    source,
                    row.dest,
                    checks,
                    () if row.after is None else (row.after,),
                )
            )
    return {key: tuple(found) for key, found in steps.items()}


EVENT_STEPS: Final[Mapping[tuple[str, Phase], tuple[ReplayStep, ...]]] = _event_steps()
"""``(event kind, phase)`` -> the transitions the machine tries, in its order."""


def advance(run: Run, now: datetime) -> None:
    """Fire every timed step due by ``now``, each at its own instant (the machine's advance).

    A timed step's conditions are its billing (the schedule is keyed by it) and its
    deadline (it fires at it), so it is taken as it comes.
    """
    while (step := SCHEDULE.get((run.billing, run.state))) is not None:
        at = deadline(step, run.overdue_since, run.expires_at, run.policy)
        if at is None or at > now:
            return
        source = run.state
        run.state = step.dest
        run.record_transition(at, None, _TimedStep(step.trigger, source, step.dest))


class _TimedStep(Record):
    trigger: str
    source_phase: Phase
    dest_phase: Phase | None


def apply_event(run: Run, event: Event) -> bool:
    """Apply one event at its instant; whether it changed anything (the machine's apply_event)."""
    if run.state in TERMINAL_PHASES:
        return False
    for step in EVENT_STEPS.get((str(event.kind), run.state), ()):
        if step.fire(run, event.at, event.expires_at):
            return True
    return False


def replay_from(run: Run, events: Iterable[Event], until: datetime | None) -> Run:
    """Replay ``events`` (already in replay order) on ``run`` in place, then advance to
    ``until`` (:func:`fsm.machine.replay_from`, without the machine)."""
    return replay_with(run, events, until, advance, apply_event)


def replay_with(
    run: Run,
    events: Iterable[Event],
    until: datetime | None,
    advance: Callable[[Run, datetime], object],
    apply: Callable[[Run, Event], object],
) -> Run:
    """The replay, with how time passes and how an event applies (the machine's or the
    table's): before each event up to ``until``, ``advance`` to its instant, then
    ``apply`` it; at last ``advance`` to ``until`` (None: no further than the events)."""
    for event in events:
        if until is not None and event.at > until:
            break
        advance(run, event.at)
        apply(run, event)
    if until is not None:
        advance(run, until)
    return run
