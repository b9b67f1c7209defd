"""The overdue.emr.phase_events event source, driven as ansible-rulebook drives it.

Time is injected (``now``: waits pass at once), so crossing 60 days takes milliseconds.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fsm import Observation
from fsm.store import open_store
from fsm.timeutil import format_time, parse_time

PLUGIN = Path(__file__).resolve().parents[2] / "extensions/eda/plugins/event_source/phase_events.py"
T0 = parse_time("2026-01-01T00:00:00Z", "T0")
H = timedelta(hours=1)
D = timedelta(days=1)


def load_plugin() -> ModuleType:
    spec = importlib.util.spec_from_file_location("phase_events", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def plugin() -> ModuleType:
    return load_plugin()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A pay-as-you-go cluster whose balance went negative at T0."""
    url = f"sqlite:///{tmp_path / 'clusters.db'}"
    with open_store(url) as store:
        store.observe("c-1", Observation.create(balance="-3", at=T0), billing="PayAsYouGo", now=T0)
    return url


def run(plugin: ModuleType, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the source to its ``stop_at`` and return what it put on the queue."""
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def drive() -> None:
        await asyncio.wait_for(plugin.main(queue, args), timeout=30)

    asyncio.run(drive())
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


def brief(event: dict[str, Any]) -> tuple[str, ...]:
    data = event["overdue_emr"]
    if data["warning"] is None:
        return (data["cluster_id"], data["phase"], data["entered_at"])
    warning = data["warning"]
    return (data["cluster_id"], warning["step"], warning["threshold"], warning["due_at"])


def args_for(
    store_url: str, cursor: Path, now: datetime, stop: datetime, **more: Any
) -> dict[str, Any]:
    return {
        "store": store_url,
        "cursor": str(cursor),
        "now": format_time(now),
        "stop_at": format_time(stop),
        "interval": "30d",  # the deadlines wake it: a long interval shows they do
        **more,
    }


def at(delta: timedelta) -> str:
    return format_time(T0 + delta)


def test_timed_steps_and_warnings_are_emitted_once_each_at_their_instant(
    plugin: ModuleType, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    woke: list[datetime] = []
    original = plugin._Clock.sleep

    async def recording(self: Any, seconds: float) -> None:
        await original(self, seconds)
        woke.append(self.now())

    monkeypatch.setattr(plugin._Clock, "sleep", recording)
    events = run(
        plugin,
        args_for(store_url, tmp_path / "cursor.json", T0 + H, T0 + 61 * D),
    )
    assert [brief(e) for e in events] == [
        # First run: where the cluster is, and the warnings already due.
        ("c-1", "overdue_grace", at(0 * D)),
        ("c-1", "suspension", "7d", at(0 * D)),
        ("c-1", "suspension", "24h", at(0 * D)),
        ("c-1", "suspended", at(D)),
        ("c-1", "restriction", "7d", at(8 * D)),
        ("c-1", "restriction", "24h", at(14 * D)),
        ("c-1", "restricted", at(15 * D)),
        ("c-1", "data_deletion", "7d", at(53 * D)),
        ("c-1", "data_deletion", "24h", at(59 * D)),
        ("c-1", "purged", at(60 * D)),
    ]
    # It woke at each deadline, though its interval (30 days) is longer than every gap.
    assert [format_time(w) for w in woke] == [at(d * D) for d in (1, 8, 14, 15, 45, 53, 59, 60, 61)]


def test_a_phase_event_carries_what_lay_ahead_when_it_was_entered(
    plugin: ModuleType, store_url: str, tmp_path: Path
) -> None:
    events = run(plugin, args_for(store_url, tmp_path / "c.json", T0 + 20 * D, T0 + 20 * D))
    # First run on day 20: the last phase entered, and nothing due (the next step is 40 days off).
    assert events == [
        {
            "overdue_emr": {
                "kind": "phase",
                "cluster_id": "c-1",
                "account": "default",
                "billing": "pay_as_you_go",
                "phase": "restricted",
                "previous_phase": "suspended",
                "entered_at": at(15 * D),
                "next_phase": "purged",
                "next_phase_at": at(60 * D),
                "data_deletion_at": at(60 * D),
                "warning": None,
            },
            "meta": {"hosts": "c-1"},
        }
    ]


def test_a_warning_event_names_the_step_and_its_deadline(
    plugin: ModuleType, store_url: str, tmp_path: Path
) -> None:
    cursor = tmp_path / "c.json"
    run(plugin, args_for(store_url, cursor, T0 + 20 * D, T0 + 20 * D))
    events = run(plugin, args_for(store_url, cursor, T0 + 20 * D, T0 + 54 * D))
    assert len(events) == 1
    data = events[0]["overdue_emr"]
    assert data["kind"] == "warning"
    assert data["phase"] == "restricted"
    assert data["data_deletion_at"] == at(60 * D)
    warning = data["warning"]
    assert {key: warning[key] for key in ("cluster_id", "step", "threshold", "due_at")} == {
        "cluster_id": "c-1",
        "step": "data_deletion",
        "threshold": "7d",
        "due_at": at(53 * D),
    }
    assert warning["deadline"] == at(60 * D)
    assert warning["episode"] == at(timedelta(0)) and "within 7d" in warning["message"]
    assert events[0]["meta"] == {"hosts": "c-1"}


def test_a_restart_neither_repeats_nor_skips(
    plugin: ModuleType, store_url: str, tmp_path: Path
) -> None:
    whole = run(plugin, args_for(store_url, tmp_path / "one.json", T0 + H, T0 + 61 * D))
    cursor = tmp_path / "two.json"
    parts: list[dict[str, Any]] = []
    # Stopped and started again four times, each time where the last run stopped.
    for start, stop in ((H, 2 * D), (2 * D, 2 * D), (2 * D, 53 * D + H), (53 * D + H, 61 * D)):
        parts += run(plugin, args_for(store_url, cursor, T0 + start, T0 + stop))
    assert [brief(e) for e in parts] == [brief(e) for e in whole]
    assert json.loads(cursor.read_text(encoding="utf-8"))["version"] == 1


def test_a_recharge_and_a_new_episode_are_reported(
    plugin: ModuleType, store_url: str, tmp_path: Path
) -> None:
    cursor = tmp_path / "c.json"
    run(plugin, args_for(store_url, cursor, T0 + 2 * D, T0 + 2 * D))
    with open_store(store_url) as store:
        store.observe("c-1", Observation.create(balance="50", at=T0 + 3 * D), now=T0 + 3 * D)
        store.observe("c-1", Observation.create(balance="-1", at=T0 + 4 * D), now=T0 + 4 * D)
    events = run(plugin, args_for(store_url, cursor, T0 + 4 * D, T0 + 5 * D + H))
    assert [brief(e) for e in events] == [
        ("c-1", "active", at(3 * D)),
        ("c-1", "overdue_grace", at(4 * D)),
        ("c-1", "suspension", "7d", at(4 * D)),
        ("c-1", "suspension", "24h", at(4 * D)),
        ("c-1", "suspended", at(5 * D)),
    ]


def test_a_cluster_tracked_later_reports_every_phase_it_entered(
    plugin: ModuleType, store_url: str, tmp_path: Path
) -> None:
    cursor = tmp_path / "c.json"
    run(plugin, args_for(store_url, cursor, T0 + 61 * D, T0 + 61 * D))
    with open_store(store_url) as store:
        store.observe(
            "s-1",
            Observation.create(balance="5", at=T0 + 61 * D),
            billing="Subscription",
            expires_at=T0 + 70 * D,
            now=T0 + 61 * D,
        )
    events = run(plugin, args_for(store_url, cursor, T0 + 61 * D, T0 + 90 * D, warn_before=["1d"]))
    assert [brief(e) for e in events] == [
        ("s-1", "subscription_expiry", "24h", at(69 * D)),
        ("s-1", "suspended", at(70 * D)),
        ("s-1", "data_deletion", "24h", at(84 * D)),
        ("s-1", "purged", at(85 * D)),
    ]


def test_bad_options_are_logged_and_end_the_source(
    plugin: ModuleType, store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        assert run(plugin, {"store": store_url}) == []
        assert (
            run(plugin, {"store": store_url, "cursor": str(tmp_path / "c"), "interval": "soon"})
            == []
        )
    assert [r.getMessage().split(":")[1].strip() for r in caplog.records] == [
        "cursor",
        "interval",
    ]


def test_a_missing_store_is_retried_not_fatal(
    plugin: ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'later.db'}"
    with caplog.at_level(logging.WARNING):
        events = run(plugin, args_for(url, tmp_path / "c.json", T0, T0 + 2 * H, interval="1h"))
    assert events == []
    assert sum("retrying in 1:00:00" in r.getMessage() for r in caplog.records) == 3
