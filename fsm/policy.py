"""The policy: thresholds, user-declared operations and verdict overrides.

Every number of the specification is a default here and can be overridden by a
YAML policy file, which is validated strictly: a typo must never turn into a
silent default.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from operator import attrgetter
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .errors import InputError, PolicyError
from .table import (
    LOCKED_CELLS,
    LOCKED_CELLS_EXPECTED,
    OPERATIONS,
    PHASE_ALIASES,
    THRESHOLDS,
    VERDICT_COLUMNS,
    VERDICTS,
    Billing,
    Category,
    Column,
    Phase,
    Verdict,
)
from .timeutil import format_duration, parse_duration

if TYPE_CHECKING:
    from pathlib import Path

# Every duration a policy holds: the thresholds of the lifecycle, then the tolerances.
_DURATIONS: Final = (*THRESHOLDS, "future_tolerance", "late_tolerance")
# A policy is a page of YAML: anything far larger, deeper or more aliased is a mistake or
# an attack (a "billion laughs"), refused before it costs time or memory.
MAX_POLICY_BYTES: Final = 64 * 1024
MAX_POLICY_ALIASES: Final = 64
MAX_POLICY_DEPTH: Final = 16
_DURATION_EXPECTED: Final = "a duration with a unit, such as 24h, 15d, 90m or 3600s"
# Patterns: re compiles (and caches) each on first use, not every process at import.
_BARE_NUMBER: Final = r"^[+-]?[0-9.]+$"
_DEFAULT_WARN_BEFORE: Final[tuple[timedelta, ...]] = (timedelta(days=7), timedelta(days=1))
# The built-in thresholds, each the default of its field and of Policy's __init__.
_GRACE: Final = timedelta(hours=24)
_RESTRICT_AFTER: Final = timedelta(days=15)
_PURGE_AFTER: Final = timedelta(days=60)
_SUBSCRIPTION_RETENTION: Final = timedelta(days=15)
_FUTURE_TOLERANCE: Final = timedelta(minutes=5)
_LATE_TOLERANCE: Final = timedelta(days=7)
_BUILT_IN: Final = "built-in defaults"
_WARN_BEFORE_EXPECTED: Final = "a list of durations such as [7d, 1d] (empty: no warnings)"
_OPERATION_NAME: Final = r"^[a-z][a-z0-9_]{0,63}$"
_COLUMN_NAMES: Final = {column.name: column for column in VERDICT_COLUMNS}
# A phase split by billing (``overdue_grace``, or an alias of it) in an override means
# each of its billing columns.
_SPLIT_PHASES: Final = {
    column.phase: tuple(c.name for c in VERDICT_COLUMNS if c.phase is column.phase)
    for column in VERDICT_COLUMNS
    if column.billing is not None
}
_COLUMN_GROUPS: Final = {
    **{name: (name,) for name in _COLUMN_NAMES},
    **{str(phase): names for phase, names in _SPLIT_PHASES.items()},
    **{
        alias: _SPLIT_PHASES[phase]
        for alias, phase in PHASE_ALIASES.items()
        if phase in _SPLIT_PHASES
    },
}


class _Factory:
    """The default of a field built by its default factory, spelled as dataclasses does."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY: Final[Any] = _Factory()


def _spec_operations() -> Mapping[str, Category]:
    """The operations the specification declares: a policy's default."""
    return OPERATIONS


def _no_overrides() -> Mapping[tuple[Category, str], Verdict]:
    """No verdict overridden: a policy's default."""
    return MappingProxyType({})


# A frozen dataclass (fields, replace, frozen subclasses work as ever) whose __init__,
# __repr__, __eq__ and __hash__ are written out below as @dataclass(frozen=True) would
# generate them: generating them compiles their source at import, ~0.5 ms that every
# command and every forked Ansible worker paid.
@dataclass(frozen=True, init=False, repr=False, eq=False)
class Policy:
    """Thresholds and tables in force. Build with :meth:`default` or :meth:`load`."""

    grace: timedelta = _GRACE
    restrict_after: timedelta = _RESTRICT_AFTER
    purge_after: timedelta = _PURGE_AFTER
    subscription_retention: timedelta = _SUBSCRIPTION_RETENTION
    future_tolerance: timedelta = _FUTURE_TOLERANCE
    # How far before its cluster's newest event an event may be dated and still
    # be applied: a checkpoint older than this never has to be rebuilt.
    late_tolerance: timedelta = _LATE_TOLERANCE
    # How long before each scheduled step a warning falls due, longest first.
    warn_before: tuple[timedelta, ...] = _DEFAULT_WARN_BEFORE
    operations: Mapping[str, Category] = field(default_factory=_spec_operations)
    # (category, column name) -> verdict, on top of the specification's table.
    verdict_overrides: Mapping[tuple[Category, str], Verdict] = field(default_factory=_no_overrides)
    source: str = _BUILT_IN
    _thresholds: dict[str, timedelta] = field(init=False, repr=False, compare=False)
    _verdicts: dict[tuple[Category, Phase, Billing], Verdict] = field(
        init=False, repr=False, compare=False
    )

    def __init__(
        self,
        grace: timedelta = _GRACE,
        restrict_after: timedelta = _RESTRICT_AFTER,
        purge_after: timedelta = _PURGE_AFTER,
        subscription_retention: timedelta = _SUBSCRIPTION_RETENTION,
        future_tolerance: timedelta = _FUTURE_TOLERANCE,
        late_tolerance: timedelta = _LATE_TOLERANCE,
        warn_before: tuple[timedelta, ...] = _DEFAULT_WARN_BEFORE,
        operations: Mapping[str, Category] = _FACTORY,
        verdict_overrides: Mapping[tuple[Category, str], Verdict] = _FACTORY,
        source: str = _BUILT_IN,
    ) -> None:
        # What the generated __init__ of a frozen dataclass does, field by field.
        if operations is _FACTORY:
            operations = _spec_operations()
        if verdict_overrides is _FACTORY:
            verdict_overrides = _no_overrides()
        set_field = object.__setattr__
        set_field(self, "grace", grace)
        set_field(self, "restrict_after", restrict_after)
        set_field(self, "purge_after", purge_after)
        set_field(self, "subscription_retention", subscription_retention)
        set_field(self, "future_tolerance", future_tolerance)
        set_field(self, "late_tolerance", late_tolerance)
        set_field(self, "warn_before", warn_before)
        set_field(self, "operations", operations)
        set_field(self, "verdict_overrides", verdict_overrides)
        set_field(self, "source", source)
        self.__post_init__()

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _SHOWN)
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return bool(_COMPARED(self) == _COMPARED(other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(_COMPARED(self))

    def __post_init__(self) -> None:
        self._validate()
        # Looked up once per step and per decision across whole fleets: precompute.
        thresholds = {name: getattr(self, name) for name in _DURATIONS}
        verdicts = {
            (category, column.phase, billing): self.verdict_overrides.get(
                (category, column.name), VERDICTS[category][index]
            )
            for category in Category
            for index, column in enumerate(VERDICT_COLUMNS)
            for billing in Billing
            if column.billing in (None, billing)
        }
        object.__setattr__(self, "_thresholds", thresholds)
        object.__setattr__(self, "_verdicts", verdicts)

    # -- construction -------------------------------------------------------

    @classmethod
    def default(cls) -> Policy:
        return _DEFAULT

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read a YAML policy file (safe loader only, with size, depth and alias limits)."""
        where = str(path)
        if "\0" in where:
            raise PolicyError("policy", where, "a file path without a NUL character")
        try:
            with open(path, "rb") as file:
                data = file.read(MAX_POLICY_BYTES + 1)
        except OSError as err:
            reason = err.strerror or type(err).__name__
            raise PolicyError("policy", where, f"a readable file ({reason})") from None
        if len(data) > MAX_POLICY_BYTES:
            raise PolicyError("policy", where, f"a file of at most {MAX_POLICY_BYTES // 1024} KiB")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise PolicyError(
                "policy", where, f"UTF-8 text (byte {err.start} is not UTF-8)"
            ) from None
        from .policy_yaml import parse_yaml  # PyYAML only when a policy file is read

        document = parse_yaml(text, where)
        return cls.from_mapping({} if document is None else document, source=where)

    @classmethod
    def from_mapping(cls, document: object, *, source: str = "policy") -> Policy:
        """Build a policy from the parsed form of a policy file."""
        if not isinstance(document, Mapping):
            raise PolicyError(source, document, "a mapping of policy keys")
        known = {*_DURATIONS, "warn_before", "operations", "verdicts"}
        for key in document:
            if key not in known:
                raise PolicyError(
                    f"{source}: {key}", document[key], f"one of the keys {', '.join(sorted(known))}"
                )
        durations: dict[str, timedelta] = {}
        for key in _DURATIONS:
            if key in document:
                durations[key] = _duration(document[key], f"{source}: {key}")
        warn_before = _DEFAULT_WARN_BEFORE
        if "warn_before" in document:
            warn_before = _warn_before(document["warn_before"], source)
        operations = dict(OPERATIONS)
        operations.update(_operations(document.get("operations"), source))
        overrides = _overrides(document.get("verdicts"), source)
        try:
            return replace(
                _DEFAULT,
                **durations,  # type: ignore[arg-type]
                warn_before=warn_before,
                operations=MappingProxyType(operations),
                verdict_overrides=MappingProxyType(overrides),
                source=source,
            )
        except PolicyError as err:  # a rule across keys: say which file broke it
            raise PolicyError(f"{source}: {err.field}", err.value, err.expected) from None

    # -- questions ------------------------------------------------------------

    def threshold(self, name: str) -> timedelta:
        return self._thresholds[name]

    def category(self, operation: str) -> Category:
        """The category of a canonical or declared operation; unknown is an error."""
        try:
            return self.operations[operation]
        except (KeyError, TypeError):
            raise PolicyError(
                "operation", operation, "one of " + ", ".join(sorted(self.operations))
            ) from None

    def verdict(self, category: Category, phase: Phase, billing: Billing) -> Verdict:
        return self._verdicts[(category, phase, billing)]

    def as_dict(self) -> dict[str, Any]:
        """The policy in its file form, every default spelled out."""
        verdicts: dict[str, dict[str, str]] = {}
        for category in Category:
            verdicts[str(category)] = {
                column.name: str(self.cell(category, column)) for column in VERDICT_COLUMNS
            }
        return {
            **{key: format_duration(self.threshold(key)) for key in _DURATIONS},
            "warn_before": [format_duration(before) for before in self.warn_before],
            "operations": {name: str(category) for name, category in self.operations.items()},
            "verdicts": verdicts,
        }

    def cell(self, category: Category, column: Column) -> Verdict:
        """The verdict in one cell of the verdict table, as this policy has it."""
        return self.verdict(category, column.phase, column.billing or Billing.PAY_AS_YOU_GO)

    def _validate(self) -> None:
        for item in fields(self):
            if item.name in _DURATIONS:
                value = getattr(self, item.name)
                if not isinstance(value, timedelta) or value <= timedelta(0):
                    raise PolicyError(item.name, value, "a positive duration")
        befores = self.warn_before
        if (
            not isinstance(befores, tuple)
            or not all(isinstance(b, timedelta) and b > timedelta(0) for b in befores)
            or list(befores) != sorted(set(befores), reverse=True)
        ):
            raise PolicyError("warn_before", befores, "distinct positive durations, longest first")
        if not self.grace < self.restrict_after < self.purge_after:
            raise PolicyError(
                "thresholds",
                f"grace={format_duration(self.grace)}, "
                f"restrict_after={format_duration(self.restrict_after)}, "
                f"purge_after={format_duration(self.purge_after)}",
                "grace < restrict_after < purge_after",
            )
        for cell, verdict in self.verdict_overrides.items():
            if cell in LOCKED_CELLS and verdict is not Verdict.DENY:
                raise PolicyError(
                    f"verdicts: {cell[0]}: {cell[1]}", str(verdict), LOCKED_CELLS_EXPECTED
                )


# The fields repr shows and those equality and the hash compare, from the dataclass's own
# declarations (as the generated methods would read them).
_SHOWN: Final = tuple(item.name for item in fields(Policy) if item.repr)
_COMPARED: Final = attrgetter(*(item.name for item in fields(Policy) if item.compare))
_DEFAULT: Final = Policy()


def _duration(value: object, where: str) -> timedelta:
    # A bare number has no unit: ``grace: 24`` meant hours, not 24 seconds.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise PolicyError(where, value, f"{_DURATION_EXPECTED} (a bare number has no unit)")
    if not isinstance(value, str):
        raise PolicyError(where, value, _DURATION_EXPECTED)
    if re.match(_BARE_NUMBER, value.strip()):
        raise PolicyError(where, value, f"{_DURATION_EXPECTED} (a bare number has no unit)")
    try:
        duration = parse_duration(value, where)
    except InputError as err:
        raise PolicyError(where, value, err.expected) from None
    if duration <= timedelta(0):
        raise PolicyError(where, value, "a positive duration")
    return duration


def _warn_before(section: object, source: str) -> tuple[timedelta, ...]:
    """The thresholds of ``warn_before``: distinct durations, kept longest first."""
    where = f"{source}: warn_before"
    if not isinstance(section, list):
        raise PolicyError(where, section, _WARN_BEFORE_EXPECTED)
    befores = [_duration(item, f"{where}[{index}]") for index, item in enumerate(section)]
    for index, before in enumerate(befores):
        if before in befores[:index]:
            raise PolicyError(
                f"{where}[{index}]", section[index], "a duration not already in the list"
            )
    return tuple(sorted(befores, reverse=True))


def _operations(section: object, source: str) -> dict[str, Category]:
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise PolicyError(f"{source}: operations", section, "a mapping of operation: category")
    declared: dict[str, Category] = {}
    for name, category in section.items():
        where = f"{source}: operations: {name}"
        if not isinstance(name, str) or not re.match(_OPERATION_NAME, name):
            raise PolicyError(
                f"{source}: operations", name, "an operation name of a-z, 0-9 and _ (snake_case)"
            )
        if name in OPERATIONS:
            raise PolicyError(
                where, category, f"no entry: {name} is canonical, its category is fixed"
            )
        declared[name] = _enum(Category, category, where)
    return declared


def _overrides(section: object, source: str) -> dict[tuple[Category, str], Verdict]:
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise PolicyError(f"{source}: verdicts", section, "a mapping of category: {phase: verdict}")
    overrides: dict[tuple[Category, str], Verdict] = {}
    for category_name, row in section.items():
        category = _enum(Category, category_name, f"{source}: verdicts")
        if not isinstance(row, Mapping):
            raise PolicyError(
                f"{source}: verdicts: {category_name}", row, "a mapping of phase: verdict"
            )
        for column_name, verdict_name in row.items():
            where = f"{source}: verdicts: {category_name}"
            if column_name not in _COLUMN_GROUPS:
                raise PolicyError(where, column_name, "one of " + ", ".join(_COLUMN_GROUPS))
            verdict = _enum(Verdict, verdict_name, f"{where}: {column_name}")
            for name in _COLUMN_GROUPS[column_name]:
                overrides[(category, name)] = verdict
    return overrides


_E = TypeVar("_E", Category, Verdict)


def _enum(kind: type[_E], value: object, where: str) -> _E:
    try:
        return kind(str(value)) if isinstance(value, str) else kind(value)  # type: ignore[arg-type]
    except ValueError:
        raise PolicyError(where, value, "one of " + ", ".join(kind)) from None
