"""What someone saw (a balance, a renewal, a release) turned into events.

The command line's ``observe``, the ``cluster_phase`` module and the cloud sync
all speak in observations; this is the one place that says which events an
observation means. Whether an event changes anything is the cluster's call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .errors import InputError
from .table import Billing, EventKind
from .timeutil import TimeInput, format_time, optional_time, parse_time, utcnow
from .values import Event, parse_amount

if TYPE_CHECKING:
    from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Observation:
    """One look at a cluster's account and subscription at instant ``at``."""

    at: datetime
    balance: Decimal | None = None
    overdue_since: datetime | None = None  # when the balance went negative, if known
    renewed_until: datetime | None = None
    released: bool = False
    released_at: datetime | None = None  # when the owner released it, if known (default: at)

    @classmethod
    def create(
        cls,
        *,
        at: TimeInput | None = None,
        balance: Decimal | str | int | float | None = None,
        overdue_since: TimeInput | None = None,
        renewed_until: TimeInput | None = None,
        released: bool = False,
        released_at: TimeInput | None = None,
    ) -> Observation:
        """An observation from user input, validated (``at`` defaults to now)."""
        observed_at = utcnow() if at is None else parse_time(at, "observed_at")
        amount = None if balance is None else parse_amount(balance, "balance")
        since = optional_time(overdue_since, "overdue_since")
        if since is not None and amount is not None and amount >= 0:
            raise InputError(
                "overdue_since",
                _as_given(overdue_since, since),
                f"nothing while the balance is {amount} "
                "(an overdue episode needs a negative balance)",
            )
        if since is not None and since > observed_at:
            raise InputError(
                "overdue_since",
                _as_given(overdue_since, since),
                f"an instant no later than the observation ({format_time(observed_at)})",
            )
        if not isinstance(released, bool):
            raise InputError("released", released, "true or false")
        released_when = optional_time(released_at, "released_at")
        if released_when is not None and released_when > observed_at:
            raise InputError(
                "released_at",
                _as_given(released_at, released_when),
                f"an instant no later than the observation ({format_time(observed_at)})",
            )
        return cls(
            observed_at,
            amount,
            since,
            optional_time(renewed_until, "renewed_until"),
            released or released_when is not None,
            released_when,
        )


def _as_given(value: TimeInput | None, parsed: datetime) -> str:
    """An instant as the user wrote it (a YAML timestamp arrives as a datetime: printed as ours)."""
    return value if isinstance(value, str) else format_time(parsed)


def check_fits(observation: Observation, billing: Billing) -> None:
    """Refuse what cannot be observed of a cluster of ``billing``, as its facts are refused."""
    if billing is Billing.PAY_AS_YOU_GO and observation.renewed_until is not None:
        raise InputError(
            "renewed_until",
            format_time(observation.renewed_until),
            "nothing for a pay_as_you_go cluster (only subscriptions are renewed)",
        )


def events_for(observation: Observation) -> list[Event]:
    """The events an observation stands for, in the order they happened."""
    events: list[Event] = []
    negative = observation.balance is not None and observation.balance < 0
    if negative or (observation.balance is None and observation.overdue_since is not None):
        events.append(
            Event(EventKind.BALANCE_NEGATIVE, observation.overdue_since or observation.at)
        )
    elif observation.balance is not None:
        events.append(Event(EventKind.RECHARGED, observation.at))
    if observation.renewed_until is not None:
        events.append(Event.create(EventKind.RENEWED, observation.at, observation.renewed_until))
    if observation.released:
        events.append(Event(EventKind.RELEASED, observation.released_at or observation.at))
    return events
