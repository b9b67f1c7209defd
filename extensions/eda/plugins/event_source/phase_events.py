"""phase_events: an ansible-rulebook event source reporting overdue.emr phase changes.

It reads the overdue-fsm store (the one ``overdue.emr.cluster_phase`` and
``overdue-fsm sync`` write) and puts an event on the queue each time a cluster
enters a phase, including the timed steps that nothing writes (suspended after
24 hours, restricted on day 15, purged on day 60), and each time a step ahead
is one of ``warn_before`` away. It wakes at the earlier of the next such instant
and ``interval``, and keeps a cursor file so that a restart neither repeats
nor skips an event.

Needs the ``overdue-fsm`` Python package in the Python that runs ansible-rulebook.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

DOCUMENTATION = r"""
---
short_description: Events when an Alibaba Cloud EMR cluster enters an overdue phase.
description:
  - An ansible-rulebook event source plugin that watches the overdue-fsm store and emits an
    event when a cluster enters a phase (active, overdue_grace, suspended, restricted, purged,
    released) and when a scheduled step ahead (suspension, restriction, data deletion,
    subscription expiry) is one of O(warn_before) away.
  - Timed steps write nothing to the store, so the plugin computes them from the store at the
    instant it wakes, at the earlier of the next step or warning and O(interval).
  - Each event is a dictionary with the key C(overdue_emr) and C(meta.hosts) set to the cluster
    id; C(overdue_emr) holds
    C(kind) (phase or warning), C(cluster_id), C(account), C(billing), C(phase),
    C(previous_phase), C(entered_at), C(next_phase), C(next_phase_at), C(data_deletion_at) and
    C(warning) (null for a phase event; else the warning in the shape of the C(warnings_due) of
    overdue.emr.cluster_phase, with C(step), C(threshold), C(episode), C(due_at), C(deadline)
    and C(message)).
  - On its first run (no cursor file yet) it reports where each cluster is, the last phase it
    entered and the warnings due, not its older history.
  - Requires the overdue-fsm Python package where ansible-rulebook runs.
options:
  store:
    description:
      - The store URL, C(sqlite:///ABSOLUTE/PATH.db) or C(postgresql://USER@HOST:PORT/DB).
      - Default is E(OVERDUE_FSM_STORE), else the default store of overdue-fsm.
    type: str
  cursor:
    description:
      - The file that remembers which events were reported, replaced atomically after each.
      - Give each rulebook activation its own file.
    type: str
    required: true
  interval:
    description:
      - The longest wait between two reads of the store, in seconds or as a duration such as
        C(5m); it bounds how late a recorded change is reported.
    type: str
    default: "60"
  warn_before:
    description:
      - How long before each scheduled step a warning event is emitted, once per step and
        episode.
      - Default is the policy's C(warn_before) (7 days and 1 day unless the policy says
        otherwise).
    type: list
    elements: str
  policy:
    description:
      - A policy YAML file of overdue-fsm (its thresholds move the deadlines).
    type: str
  now:
    description:
      - For tests and rehearsals. The plugin's clock starts at this instant and every wait
        passes at once instead of in real time.
    type: str
  stop_at:
    description:
      - For tests and rehearsals. The source ends once its clock has reached this instant.
    type: str
"""

EXAMPLES = r"""
- overdue.emr.phase_events:
    store: sqlite:////var/lib/overdue-fsm/clusters.db
    cursor: /var/lib/overdue-fsm/phase_events.cursor.json
    interval: 5m
    warn_before: [7d, 1d]
"""

LOGGER = logging.getLogger(__name__)


class _Clock:
    """The wall clock, or (with ``now``) a clock whose waits pass at once."""

    def __init__(self, start: datetime | None) -> None:
        self._virtual = start

    def now(self) -> datetime:
        from fsm.timeutil import utcnow

        return utcnow() if self._virtual is None else self._virtual

    async def sleep(self, seconds: float) -> None:
        if self._virtual is None:
            await asyncio.sleep(seconds)
            return
        self._virtual += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def main(queue: asyncio.Queue[Any], args: dict[str, Any]) -> None:
    """Put an event on ``queue`` for each phase entered and warning due, as they happen."""
    from fsm.errors import FsmError

    try:
        settings = _settings(args)
    except FsmError as error:
        LOGGER.error("overdue.emr.phase_events: %s", error)
        return
    await _watch(queue, **settings)


def _settings(args: dict[str, Any]) -> dict[str, Any]:
    from fsm.errors import InputError
    from fsm.policy import Policy
    from fsm.store import default_store_url, parse_store_url
    from fsm.timeutil import parse_duration, parse_time
    from fsm.watch import Cursor, parse_warn_before

    if not args.get("cursor"):
        raise InputError("cursor", args.get("cursor"), "the path of this source's cursor file")
    url = args.get("store") or default_store_url()
    parse_store_url(url)  # a wrong URL is an error now, not at the first read
    interval = parse_duration(args.get("interval", 60), "interval")
    if interval <= timedelta(0):
        raise InputError("interval", args.get("interval"), "a positive duration such as 60 or 5m")
    warn = args.get("warn_before")
    stop_at = args.get("stop_at")
    now = args.get("now")
    return {
        "url": url,
        "policy": Policy.load(args["policy"]) if args.get("policy") else Policy.default(),
        "cursor": Cursor.load(args["cursor"]),
        "interval": interval,
        "warn_before": None if warn is None else parse_warn_before(warn),
        "clock": _Clock(None if now is None else parse_time(now, "now")),
        "stop_at": None if stop_at is None else parse_time(stop_at, "stop_at"),
    }


async def _watch(
    queue: asyncio.Queue[Any],
    *,
    url: str,
    policy: Any,
    cursor: Any,
    interval: timedelta,
    warn_before: tuple[timedelta, ...] | None,
    clock: _Clock,
    stop_at: datetime | None,
) -> None:
    from fsm.errors import FsmError
    from fsm.store import open_store
    from fsm.watch import Watcher

    while True:
        now = clock.now()
        due = None
        try:
            # A reader per poll: nothing held open between polls, nothing ever written.
            with open_store(url, policy=policy, create=False) as store:
                watcher = Watcher(store, cursor, warn_before=warn_before)
                events, due = watcher.poll(now)
                for event in events:
                    await queue.put(event.as_event())
                    watcher.reported(event)
                watcher.settle()
        except FsmError as error:
            # The store may be away for a moment (not created yet, a restart): retry later.
            LOGGER.warning("overdue.emr.phase_events: %s; retrying in %s", error, interval)
        if stop_at is not None and now >= stop_at:
            return
        wait = interval if due is None else min(interval, max(due - now, timedelta(0)))
        if stop_at is not None:
            wait = min(wait, stop_at - now)
        await clock.sleep(wait.total_seconds())


if __name__ == "__main__":
    # Print the events instead of queueing them: python phase_events.py CURSOR [STORE]
    import sys

    class _PrintQueue(asyncio.Queue[Any]):
        async def put(self, item: Any) -> None:
            print(item)

    options = {"cursor": sys.argv[1]} if len(sys.argv) > 1 else {}
    if len(sys.argv) > 2:
        options["store"] = sys.argv[2]
    asyncio.run(main(_PrintQueue(), options))
