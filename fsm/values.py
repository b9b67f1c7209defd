"""The plain values of the domain and the one parser for each.

Events, transitions, outcomes and the evaluated state are what the machine
produces and every face renders; each input value (cluster id, account,
billing, phase, region, amount) is parsed here and nowhere else. Nothing here
knows the machine: the phases ahead come from :mod:`fsm.schedule`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .errors import InputError
from .records import Record
from .schedule import timeline
from .table import (
    BILLING_ALIASES,
    BILLING_SPELLINGS,
    PHASE_ALIASES,
    SAME_INSTANT_ORDER,
    Billing,
    EventKind,
    Phase,
)
from .timeutil import TimeInput, format_time, optional_time, parse_time

if TYPE_CHECKING:
    from decimal import Decimal

    from .policy import Policy

# Patterns: re compiles (and caches) each on first use, not every process at import.
_CLUSTER_ID: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_CLUSTER_ID_EXPECTED: Final = (
    "1-128 characters of A-Z a-z 0-9 . _ : -, starting with a letter or digit"
)
_REGION: Final = r"^[a-z0-9][a-z0-9-]{0,63}$"
_AMOUNT_EXPECTED: Final = "a decimal amount such as -11.19"
_RANK: Final = {kind: rank for rank, kind in enumerate(SAME_INSTANT_ORDER)}
_EVENT_KINDS: Final = {str(kind): kind for kind in EventKind}

EventOrder = tuple[datetime, int, datetime]
"""Where an event stands in replay order: its instant, then the same-instant rules."""


class Event(Record):
    """One recorded fact about a cluster: what happened and when."""

    kind: EventKind
    at: datetime
    expires_at: datetime | None = None  # the new expiry, for ``renewed`` only

    @property
    def order(self) -> EventOrder:
        """The replay position: by instant, then ``table.SAME_INSTANT_ORDER``, then expiry.

        Distinct events never share a position, so the replay is a function of
        the set of events, whatever the order they arrived in.
        """
        return (self.at, _RANK[self.kind], self.at if self.expires_at is None else self.expires_at)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": str(self.kind), "at": format_time(self.at)}
        if self.expires_at is not None:
            data["expires_at"] = format_time(self.expires_at)
        return data

    @classmethod
    def create(cls, kind: str, at: TimeInput, expires_at: TimeInput | None = None) -> Event:
        """An event from user input, validated."""
        try:
            event_kind = _EVENT_KINDS[kind]  # EventKind(kind), without its Python-level call
        except (KeyError, TypeError):
            raise InputError("event", kind, "one of " + ", ".join(EventKind)) from None
        when = parse_time(at, "at")
        expiry = optional_time(expires_at, "expires_at")
        if event_kind is EventKind.RENEWED:
            if expiry is None:
                raise InputError("expires_at", None, "the new expiry of the renewed subscription")
            if expiry <= when:
                raise InputError(
                    "expires_at",
                    format_time(expiry),
                    f"an instant after the renewal at {format_time(when)}",
                )
        elif expiry is not None:
            raise InputError(
                "expires_at", format_time(expiry), f"nothing: only renewed carries it, not {kind}"
            )
        return cls(event_kind, when, expiry)


class Transition(Record):
    """A phase change: from ``source`` to ``dest`` at its effective instant."""

    source: Phase
    dest: Phase
    at: datetime
    trigger: str

    def as_dict(self) -> dict[str, str]:
        return {
            "from": str(self.source),
            "to": str(self.dest),
            "at": format_time(self.at),
            "trigger": self.trigger,
        }


class Outcome(Record):
    """What one event or ``advance`` did to a cluster."""

    trigger: str
    changed: bool
    phase_before: Phase
    phase: Phase
    entered: tuple[Phase, ...]
    note: str | None = None  # why nothing changed, when nothing did
    recorded: bool = False  # the event joined the log (every event but an exact repeat)
    applied: bool = True  # replayed; False for an event too late to apply
    late: bool = False  # dated before an event or instant the cluster had already seen

    @property
    def effect(self) -> str:
        """What the event did, in words, as ``history`` shows it."""
        if self.late and self.changed:
            if self.phase != self.phase_before:
                return f"landed late: moved the phase from {self.phase_before} to {self.phase}"
            return f"landed late: rewrote the history; the phase stays {self.phase}"
        if self.entered:
            return "entered " + ", ".join(str(phase) for phase in self.entered)
        if self.changed:
            return f"changed the facts; the phase stays {self.phase}"
        return self.note or "no change"


#: How the note of an event begins when it was refused (it could apply, but not now).
REFUSED: Final = "refused:"
#: How the note of an event begins when it was ignored (it cannot apply: a terminal cluster...).
IGNORED: Final = "ignored:"
#: How the note of an event begins when it was kept but not applied: it came too late.
TOO_LATE: Final = "too late:"


def unheeded(
    outcomes: Iterable[Outcome], kinds: tuple[str, ...] = (REFUSED, IGNORED, TOO_LATE)
) -> list[str]:
    """Why events were refused or ignored: what a person must be told (repeats are not).

    ``kinds``: which notes, by how they begin; a sync, which sees every listed cluster on
    every run, asks for :data:`REFUSED` only.
    """
    return [o.note for o in outcomes if o.note is not None and o.note.startswith(kinds)]


class ClusterState(Record):
    """A cluster evaluated at one instant: everything decisions and reports read."""

    cluster_id: str
    account: str
    billing: Billing
    phase: Phase
    phase_since: datetime | None
    overdue: bool
    overdue_since: datetime | None
    expires_at: datetime | None
    history: tuple[Transition, ...]
    evaluated_at: datetime | None
    policy: Policy
    # The instant of the newest event the cluster has recorded (None: none): a guard
    # asked about an earlier instant is running on a stale clock.
    newest_event_at: datetime | None = None

    def timeline(self) -> list[tuple[Phase, datetime]]:
        """The phases ahead if nothing is recorded: each with when it begins."""
        return timeline(self.billing, self.phase, self.overdue_since, self.expires_at, self.policy)


class Checkpoint(Record):
    """The replayed state of a cluster right after the event at ``position``.

    A store keeps one per cluster so that a write replays only what came after
    it; a late event rebuilds from a checkpoint older than itself.
    """

    position: EventOrder
    phase: Phase
    phase_since: datetime | None
    overdue: bool
    overdue_since: datetime | None
    expires_at: datetime | None
    history: tuple[Transition, ...]

    def as_dict(self) -> dict[str, Any]:
        """The checkpoint as JSON-ready data (a store keeps it so).

        Read on every write, so compact: instants as integer microseconds since
        the epoch, each transition as ``[from, to, at, trigger]``.
        """
        at, rank, expiry = self.position
        return {
            "position": [_micros(at), rank, _micros(expiry)],
            "phase": str(self.phase),
            "phase_since": _opt_micros(self.phase_since),
            "overdue": self.overdue,
            "overdue_since": _opt_micros(self.overdue_since),
            "expires_at": _opt_micros(self.expires_at),
            "history": _encoded_history(self.history),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Checkpoint:
        """A checkpoint from :meth:`as_dict`; anything else raises ValueError."""
        try:
            at, rank, expiry = data["position"]
            return cls(
                (_instant(at), int(rank), _instant(expiry)),
                _PHASE_NAMES[data["phase"]],
                _opt_instant(data["phase_since"]),
                bool(data["overdue"]),
                _opt_instant(data["overdue_since"]),
                _opt_instant(data["expires_at"]),
                tuple(
                    Transition(_PHASE_NAMES[source], _PHASE_NAMES[dest], _instant(when), trigger)
                    for source, dest, when, trigger in data["history"]
                ),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"not a checkpoint: {err!r}") from None


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_PHASE_NAMES: Final = {str(phase): phase for phase in Phase}


@lru_cache(maxsize=1024)
def _encoded_history(history: tuple[Transition, ...]) -> list[list[object]]:
    """The transitions as the checkpoint keeps them; a write re-encodes an unchanged history
    on every observation, so the last ones are remembered (callers only read the list)."""
    return [[str(step.source), str(step.dest), _micros(step.at), step.trigger] for step in history]


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def _opt_micros(value: datetime | None) -> int | None:
    return None if value is None else _micros(value)


def _instant(value: object) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{value!r} is not an instant in microseconds")
    return _EPOCH + timedelta(microseconds=value)


def _opt_instant(value: object) -> datetime | None:
    return None if value is None else _instant(value)


# -- one parser per value ---------------------------------------------------------


def parse_cluster_id(value: object, field: str = "cluster_id") -> str:
    """A cluster id (or, with ``field``, any id of the same grammar, such as an account)."""
    if not isinstance(value, str) or not re.fullmatch(_CLUSTER_ID, value):
        raise InputError(field, value, _CLUSTER_ID_EXPECTED)
    return value


def parse_account(value: object, field: str = "account") -> str:
    """A billing account name: the same grammar as a cluster id."""
    return parse_cluster_id(value, field)


def parse_billing(value: object, field: str = "billing") -> Billing:
    return _parse_name(Billing, BILLING_ALIASES, value, field, BILLING_SPELLINGS)


def parse_phase(value: object, field: str = "phase") -> Phase:
    return _parse_name(Phase, PHASE_ALIASES, value, field, "one of " + ", ".join(Phase))


_Name = TypeVar("_Name", Billing, Phase)


def _parse_name(
    kind: type[_Name], aliases: Mapping[str, _Name], value: object, field: str, expected: str
) -> _Name:
    """A machine name of ``kind``, or one of its input ``aliases``."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        if value in aliases:
            return aliases[value]
        try:
            return kind(value)
        except ValueError:
            pass
    raise InputError(field, value, expected)


def parse_region(value: object, field: str = "region") -> str:
    """A cloud region id such as ``cn-hangzhou``."""
    if not isinstance(value, str) or not re.match(_REGION, value):
        raise InputError(field, value, "a region id such as cn-hangzhou (a-z, 0-9 and -)")
    return value


def parse_amount(value: object, field: str) -> Decimal:
    """A money amount as a Decimal; floats go through their shortest repr."""
    from decimal import Decimal, InvalidOperation  # only where a balance is read

    if isinstance(value, bool) or not isinstance(value, Decimal | str | int | float):
        raise InputError(field, value, _AMOUNT_EXPECTED)
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise InputError(field, value, _AMOUNT_EXPECTED) from None
    if not amount.is_finite():
        raise InputError(field, value, "a finite decimal amount")
    return amount
