"""Watching the store: each phase a cluster enters, each warning that falls due, once.

Timed transitions write nothing, so a watcher cannot wait for a write: it
evaluates the fleet at ``now`` (:meth:`Store.clusters`), compares each cluster's
transitions with the ones its :class:`Cursor` has already reported, and says
when the next one falls due (:func:`next_due`). The cursor lives in a file
replaced atomically, so a restarted watcher neither repeats nor skips.

Faces render what this returns: the Event-Driven Ansible source
``overdue.emr.phase_events`` puts each :class:`WatchEvent` on its queue.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from .decisions import report
from .errors import InputError
from .table import Phase
from .timeutil import format_duration, format_time, optional_format, parse_duration
from .warnings import DeadlineWarning, next_due_at, warnings_due

if TYPE_CHECKING:
    from .store import Store
    from .values import ClusterState, Transition

EVENT_KEY: Final = "overdue_emr"
CURSOR_VERSION: Final = 1

Kind = Literal["phase", "warning"]


def _transition_key(transition: Transition) -> str:
    return f"phase:{transition.dest}:{format_time(transition.at)}"


def _warning_key(warning: DeadlineWarning) -> str:
    """A warning as the cursor remembers it: once per step, threshold and episode (SPEC 7)."""
    threshold = format_duration(warning.threshold)
    return f"warning:{warning.step}:{threshold}:{format_time(warning.episode)}"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One thing a watcher reports: a cluster entered a phase, or a warning fell due."""

    kind: Kind
    key: str
    cluster_id: str
    phase: Phase
    previous_phase: Phase | None
    entered_at: datetime | None
    report: dict[str, Any]  # the cluster evaluated at the instant of the event
    warning: DeadlineWarning | None = None

    def as_event(self) -> dict[str, Any]:
        """The event as Event-Driven Ansible receives it (``meta.hosts`` limits a playbook)."""
        return {
            EVENT_KEY: {
                "kind": self.kind,
                "cluster_id": self.cluster_id,
                "account": self.report["account"],
                "billing": self.report["billing"],
                "phase": str(self.phase),
                "previous_phase": None if self.previous_phase is None else str(self.previous_phase),
                "entered_at": optional_format(self.entered_at),
                "next_phase": self.report["next_phase"],
                "next_phase_at": self.report["next_phase_at"],
                "data_deletion_at": self.report["data_deletion_at"],
                "warning": None if self.warning is None else self.warning.as_dict(),
            },
            "meta": {"hosts": self.cluster_id},
        }


@dataclass
class Cursor:
    """What a watcher has reported: per cluster, the keys of its events already out.

    A key names a transition by its destination and effective instant, a
    warning by its step, threshold and deadline: a new episode has new
    instants, hence new keys. Keys no longer in a cluster's evaluation are
    dropped, so the cursor stays the size of the fleet.
    """

    path: Path | None
    seen: dict[str, set[str]] = field(default_factory=dict)
    started: bool = False  # False: no cursor was ever saved (a first run)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None) -> Cursor:
        """The cursor saved at ``path`` (a missing file: a first run); None keeps it in memory."""
        if path is None:
            return cls(None)
        where = Path(path).expanduser()
        try:
            data = json.loads(where.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(where)
        except (OSError, ValueError) as error:
            raise InputError("cursor", str(where), f"a readable cursor file ({error})") from None
        if not isinstance(data, dict) or data.get("version") != CURSOR_VERSION:
            raise InputError(
                "cursor", str(where), f"a cursor file of version {CURSOR_VERSION} written by it"
            )
        seen = {str(cid): set(map(str, keys)) for cid, keys in dict(data["seen"]).items()}
        return cls(where, seen, True)

    def save(self) -> None:
        """Replace the file at once (a temporary file beside it, then a rename)."""
        self.started = True
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "version": CURSOR_VERSION,
            "seen": {cid: sorted(keys) for cid, keys in sorted(self.seen.items())},
        }
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class Watcher:
    """Turns the store at ``now`` into the events its cursor has not reported yet."""

    def __init__(
        self,
        store: Store,
        cursor: Cursor,
        *,
        warn_before: Sequence[timedelta] | None = None,
    ) -> None:
        self.store = store
        self.cursor = cursor
        # The policy's warn_before unless the source is told otherwise.
        self.warn_before = None if warn_before is None else tuple(warn_before)

    def poll(self, now: datetime) -> tuple[list[WatchEvent], datetime | None]:
        """The events not reported yet, in event-time order, and when the next one is due.

        On a first run (no cursor saved) each cluster reports where it is: the
        last phase it entered and the warnings due now; its older history is
        taken as reported. Call :meth:`reported` after delivering each event.
        """
        states = [self._with_thresholds(s) for s in self.store.clusters(now=now)]
        first = not self.cursor.started
        events: list[WatchEvent] = []
        tracked = set()
        for state in states:
            tracked.add(state.cluster_id)
            seen = self.cursor.seen.setdefault(state.cluster_id, set())
            new = [t for t in state.history if _transition_key(t) not in seen]
            if first and new:
                seen.update(_transition_key(t) for t in new[:-1])
                new = new[-1:]
            events += self._phase_events(state, new)
            due = warnings_due(state)
            fresh = [warning for warning in due if _warning_key(warning) not in seen]
            if fresh:
                current = report(state)
                events += [self._warning_event(state, w, current) for w in fresh]
            # Keep only what the cluster can still report: its history and the warnings due.
            seen.intersection_update(
                {_transition_key(t) for t in state.history} | {_warning_key(w) for w in due}
            )
        for gone in set(self.cursor.seen) - tracked:
            del self.cursor.seen[gone]
        events.sort(key=_event_time)
        return events, next_due(states)

    def _with_thresholds(self, state: ClusterState) -> ClusterState:
        if self.warn_before is None:
            return state
        return state._replace(policy=replace(state.policy, warn_before=self.warn_before))

    def reported(self, event: WatchEvent) -> None:
        """Remember ``event`` as delivered, in the cursor file too."""
        self.cursor.seen.setdefault(event.cluster_id, set()).add(event.key)
        self.cursor.save()

    def settle(self) -> None:
        """Save the cursor after a poll (a first run then counts as started)."""
        self.cursor.save()

    def _phase_events(
        self, state: ClusterState, transitions: Iterable[Transition]
    ) -> list[WatchEvent]:
        todo = list(transitions)
        if not todo:
            return []
        cluster = self.store.load(state.cluster_id)
        return [
            WatchEvent(
                kind="phase",
                key=_transition_key(t),
                cluster_id=state.cluster_id,
                phase=t.dest,
                previous_phase=t.source,
                entered_at=t.at,
                # What lay ahead when it entered the phase, not at the (later) instant of the poll.
                report=report(cluster.state(t.at)),
            )
            for t in todo
        ]

    def _warning_event(
        self, state: ClusterState, warning: DeadlineWarning, current: dict[str, Any]
    ) -> WatchEvent:
        last = state.history[-1] if state.history else None
        return WatchEvent(
            kind="warning",
            key=_warning_key(warning),
            cluster_id=state.cluster_id,
            phase=state.phase,
            previous_phase=None if last is None else last.source,
            entered_at=state.phase_since,
            report=current,
            warning=warning,
        )


def _event_time(event: WatchEvent) -> datetime:
    if event.warning is not None:
        return event.warning.due_at
    assert event.entered_at is not None
    return event.entered_at


def next_due(states: Iterable[ClusterState]) -> datetime | None:
    """The earliest instant after each state's evaluation at which something falls due:
    its next phase, or its next warning."""
    ahead: list[datetime] = []
    for state in states:
        timeline = state.timeline()
        if timeline:
            ahead.append(timeline[0][1])
        warning_at = next_due_at(state)
        if warning_at is not None:
            ahead.append(warning_at)
    return min(ahead, default=None)


def parse_warn_before(value: object) -> tuple[timedelta, ...]:
    """A list of durations (``[7d, 1d]``) for the ``warn_before`` option."""
    if isinstance(value, str | int | float):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        raise InputError("warn_before", value, "a list of durations such as [7d, 1d]")
    return tuple(parse_duration(item, "warn_before") for item in value)
