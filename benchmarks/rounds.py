"""How every benchmark here measures and prints: a thing against its floor.

A *row* is one thing users call (``overdue-fsm check``, a guard play, the fleet) timed
side by side with its *floor* (``python -c pass``, the ``env`` lookup play, a plain-Python
replay), both measured in the same run, in alternating order (floor, thing; thing, floor;
...) so that drift of a shared machine falls on both sides alike. The median of each side
over the rounds is printed with their ratio and the target the ratio is held to.

    from rounds import Row, alternate, print_rows

    row = alternate("check stateless", floor=run_pass, measured=run_check, rounds=5,
                    target=2.5, unit="ms", scale=1e3)
    print_rows([row])
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# The fewest rounds a printed figure may rest on (issue 10: "median of at least 3").
MIN_ROUNDS = 3


@dataclass(frozen=True)
class Row:
    """One benchmark row: the medians of both sides, their ratio and its target."""

    name: str
    measured: float
    floor: float
    target: float | None = None
    unit: str = "s"
    # "max": ratio must be <= target (a cost); "min": ratio must be >= target (a throughput).
    bound: str = "max"
    floor_name: str = "floor"
    runs: tuple[float, ...] = field(default=())
    floor_runs: tuple[float, ...] = field(default=())

    @property
    def ratio(self) -> float:
        return self.measured / self.floor if self.floor else float("inf")

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.ratio <= self.target if self.bound == "max" else self.ratio >= self.target

    def line(self) -> str:
        sign = "<=" if self.bound == "max" else ">="
        target = "" if self.target is None else f"  (target {sign} {self.target:g})"
        verdict = {None: "", True: "  met", False: "  MISSED"}[self.met]
        return (
            f"{self.name:46s} {_fmt(self.measured)} {self.unit:>4s} / {self.floor_name} "
            f"{_fmt(self.floor)} {self.unit} = {self.ratio:6.2f}x{target}{verdict}"
        )


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:9,.0f}"
    return f"{value:9.3f}"


def alternate(
    name: str,
    *,
    floor: Callable[[], float],
    measured: Callable[[], float],
    rounds: int = 5,
    target: float | None = None,
    bound: str = "max",
    unit: str = "s",
    scale: float = 1.0,
    floor_name: str = "floor",
    warm: bool = True,
) -> Row:
    """Run *floor* and *measured* alternately *rounds* times each; each returns one figure.

    A warm-up call of each side (untimed) fills file caches and ``.pyc`` files first.
    """
    rounds = max(rounds, MIN_ROUNDS)
    if warm:
        floor()
        measured()
    floors: list[float] = []
    ours: list[float] = []
    for index in range(rounds):
        first, second = (floor, measured) if index % 2 == 0 else (measured, floor)
        a, b = first(), second()
        if index % 2 == 0:
            floors.append(a * scale)
            ours.append(b * scale)
        else:
            ours.append(a * scale)
            floors.append(b * scale)
    return Row(
        name,
        statistics.median(ours),
        statistics.median(floors),
        target=target,
        unit=unit,
        bound=bound,
        floor_name=floor_name,
        runs=tuple(ours),
        floor_runs=tuple(floors),
    )


def print_rows(rows: Iterable[Row], *, show_runs: bool = False) -> bool:
    """Print each row; return whether every row with a target met it."""
    every = True
    for row in rows:
        print(row.line(), flush=True)
        if show_runs:
            print(f"{'':46s} runs {' '.join(_fmt(v).strip() for v in row.runs)}")
            print(f"{'':46s} floor {' '.join(_fmt(v).strip() for v in row.floor_runs)}")
        every = every and row.met is not False
    return every
