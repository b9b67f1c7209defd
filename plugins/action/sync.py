# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The overdue.emr.sync action: runs on the controller, documented in modules/."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.overdue.emr.plugins.plugin_utils import cloud, common


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        return cloud.scrub(result, cloud.act(self, result, self._run))

    def _run(self, args):
        cloud.require_sync()
        settings = common.Settings.resolve(args["store"], args["policy"], args["now"])
        summary = cloud.run(settings, args, dry_run=bool(self._task.check_mode))
        out = summary.as_dict()
        out["changed"] = summary.changed
        if summary.notes():
            out["warnings"] = summary.notes()
        if settings.now_warning is not None:
            out["warnings"] = settings.warn(out.get("warnings"))
        why = cloud.stopped(summary)
        if why is None:
            out["msg"] = cloud.describe(summary)
        else:
            out["failed"] = True
            out["msg"] = why
        return out
