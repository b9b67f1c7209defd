# Test helper, not part of the collection: records what each task did, as JSON lines, for the
# integration tests to assert on (alongside what the default callback prints).
"""Record every task result of a playbook run to the file named by OVERDUE_TEST_EVENTS."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: test_events
type: aggregate
short_description: write each task result to OVERDUE_TEST_EVENTS as a JSON line
description: Test helper of overdue-fsm.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "test_events"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._path = os.environ.get("OVERDUE_TEST_EVENTS")
        self._play = None

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def _write(self, status, result, item=False):
        if not self._path:
            return
        # ansible-core 2.19 made the result and host public; older releases keep them private.
        data = result.result if hasattr(result, "result") else result._result
        host = result.host if hasattr(result, "host") else result._host
        event = {
            "play": self._play,
            "task": result.task_name,
            "host": host.get_name(),
            "status": status,
            "item": item,
            "changed": bool(data.get("changed")),
            "msg": data.get("msg"),
            "result": data,
        }
        with open(self._path, "a", encoding="utf-8") as out:
            out.write(json.dumps(event, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write("ignored" if ignore_errors else "failed", result)

    def v2_runner_on_skipped(self, result):
        self._write("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._write("unreachable", result)

    def v2_runner_item_on_ok(self, result):
        self._write("ok", result, item=True)

    def v2_runner_item_on_failed(self, result):
        self._write("failed", result, item=True)

    def v2_runner_item_on_skipped(self, result):
        self._write("skipped", result, item=True)
