"""Parsing and printing of instants and durations.

Every instant inside overdue-fsm is a timezone-aware UTC ``datetime``. A naive
datetime is an error, never silently local time.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Final

from .errors import InputError

TimeInput = datetime | str | int | float

_EXPECTED_TIME: Final = (
    "an ISO 8601 instant with an offset or Z (2026-01-01T00:00:00Z) or epoch seconds"
)
_EXPECTED_TIME_MS: Final = "epoch milliseconds (as the EMR API returns them) or an ISO 8601 instant"
_EXPECTED_DURATION: Final = (
    "a duration such as 24h, 15d, 90m, 3600s, 2w or 1d12h (a bare number is seconds)"
)
# Epochs outside these years are typos (or milliseconds where seconds were meant).
_EPOCH_MIN: Final = datetime(1970, 1, 1, tzinfo=UTC).timestamp()
_EPOCH_MAX: Final = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
# Milliseconds before this are seconds typed into a milliseconds field.
MS_FLOOR: Final = datetime(2000, 1, 1, tzinfo=UTC)
# Patterns, not compiled ones: re compiles (and caches) each on first use, so a process
# that never parses one (a forked Ansible worker) does not pay for it at import.
_NUMBER: Final = r"^[+-]?[0-9]+(\.[0-9]+)?$"
_DURATION_PART: Final = r"([0-9]+(?:\.[0-9]+)?)\s*([wdhms])"
_DURATION_UNITS: Final = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def utcnow() -> datetime:
    """The wall clock, to the microsecond.

    Printed to the second (:func:`format_time`), but recorded whole: two looks a moment
    apart stay two instants in event-time order, not one instant with two events.
    """
    return datetime.now(UTC)


def parse_time(value: TimeInput, field: str) -> datetime:
    """An instant from a datetime, an ISO 8601 string or epoch seconds."""
    if isinstance(value, bool):
        raise InputError(field, value, _EXPECTED_TIME)
    if isinstance(value, datetime):
        return _aware(value, field, value)
    if isinstance(value, int | float):
        return _from_epoch(float(value), field, value)
    if isinstance(value, str):
        text = value.strip()
        if re.match(_NUMBER, text):
            return _from_epoch(float(text), field, value)
        if not text:
            raise InputError(field, value, _EXPECTED_TIME)
        if text[-1] in "zZ":
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(field, value, _EXPECTED_TIME) from None
        return _aware(parsed, field, value)
    raise InputError(field, value, _EXPECTED_TIME)


def parse_time_ms(value: TimeInput, field: str, seconds_field: str | None = None) -> datetime:
    """An instant from epoch milliseconds (fields named ``*_ms``) or ISO 8601.

    Milliseconds before 2000 are refused: they are seconds given in the wrong field
    (1767225600 ms is 1970-01-21), and ``seconds_field`` names the right one.
    """
    if isinstance(value, bool):
        raise InputError(field, value, _EXPECTED_TIME_MS)
    if isinstance(value, int | float) or (
        isinstance(value, str) and re.match(_NUMBER, value.strip())
    ):
        try:
            seconds = float(value) / 1000.0
        except OverflowError:
            raise InputError(field, value, f"{_EXPECTED_TIME_MS}, between 1970 and 9999") from None
        instant = _from_epoch(seconds, field, value, _EXPECTED_TIME_MS)
        if instant < MS_FLOOR:
            where = "a field for seconds" if seconds_field is None else seconds_field
            raise InputError(
                field,
                value,
                f"epoch milliseconds after {format_time(MS_FLOOR)} "
                f"({value} ms is {format_time(instant)}: probably seconds, "
                f"which belong in {where})",
            )
        return instant
    return parse_time(value, field)


def at_most_end(value: datetime, delta: timedelta) -> datetime:
    """``value + delta``, or the last representable instant when that is past year 9999."""
    try:
        return value + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def at_least_start(value: datetime, delta: timedelta) -> datetime:
    """``value - delta``, or the first representable instant when that is before year 1."""
    try:
        return value - delta
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def optional_time(value: TimeInput | None, field: str) -> datetime | None:
    return None if value is None else parse_time(value, field)


#: How every instant is printed: ISO 8601 in UTC, to the second, with a Z.
TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"


def format_time(value: datetime) -> str:
    """The instant as every output of overdue-fsm prints it (:data:`TIME_FORMAT`).

    One precision everywhere, so a consumer can parse every instant with one format
    (Ansible's ``to_datetime('%Y-%m-%dT%H:%M:%SZ')``). A fraction of a second given as
    input is kept for ordering, and dropped (floored) when printed.
    """
    return value.astimezone(UTC).strftime(TIME_FORMAT)


def optional_format(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


def parse_duration(value: str | int | float | timedelta, field: str) -> timedelta:
    """A duration from ``24h``, ``15d``, ``90m``, ``3600s``, ``1d12h`` or seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise InputError(field, value, _EXPECTED_DURATION)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise InputError(field, value, _EXPECTED_DURATION)
        return _seconds(value, field, value)
    if not isinstance(value, str):
        raise InputError(field, value, _EXPECTED_DURATION)
    text = value.strip().lower()
    if re.match(_NUMBER, text):
        return _seconds(float(text), field, value)
    position, seconds = 0, 0.0
    for match in re.finditer(_DURATION_PART, text):
        if text[position : match.start()].strip():
            raise InputError(field, value, _EXPECTED_DURATION)
        seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position == 0 or text[position:].strip():
        raise InputError(field, value, _EXPECTED_DURATION)
    return _seconds(seconds, field, value)


def _seconds(seconds: float, field: str, original: object) -> timedelta:
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise InputError(field, original, "a duration shorter than 999999999 days") from None


def format_duration(value: timedelta) -> str:
    """A short exact spelling as people write thresholds: ``24h``, ``15d``, ``90m``."""
    seconds = value.total_seconds()
    if seconds != int(seconds) or seconds <= 0:
        return f"{seconds}s"
    whole = int(seconds)
    if whole % 86400 == 0 and whole >= 2 * 86400:
        return f"{whole // 86400}d"
    for unit, size in (("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _aware(value: datetime, field: str, original: object) -> datetime:
    if value.tzinfo is UTC:
        return value
    try:
        offset = None if value.tzinfo is None else value.tzinfo.utcoffset(value)
    except Exception:  # a tzinfo of the caller's that cannot say its offset
        offset = None
    if offset is None:
        raise InputError(
            field, original, "a timezone-aware instant (add Z or an offset such as +08:00)"
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InputError(field, original, "an instant between 1970 and 9999 in UTC") from None
    except Exception:  # the tzinfo failed the second time it was asked
        raise InputError(
            field, original, "a timezone-aware instant whose offset can be computed"
        ) from None


def _from_epoch(
    seconds: float, field: str, original: object, expected: str = _EXPECTED_TIME
) -> datetime:
    if not math.isfinite(seconds) or not _EPOCH_MIN <= seconds <= _EPOCH_MAX:
        hint = " (milliseconds belong in a field named *_ms)" if seconds > _EPOCH_MAX else ""
        raise InputError(field, original, f"{expected}, between 1970 and 9999{hint}")
    return datetime.fromtimestamp(seconds, UTC)
