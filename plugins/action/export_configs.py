# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The overdue.emr.export_configs action: runs on the controller, documented in modules/."""

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
        hidden = cloud.act(self, result, self._run)
        # Saved or not, say what an export never saves.
        result.setdefault("at_risk", cloud.at_risk())
        return cloud.scrub(result, hidden)

    def _run(self, args):
        settings = common.Settings.resolve(args["store"], args["policy"], args["now"])
        exported = cloud.export(settings, args, dry_run=bool(self._task.check_mode))
        out = exported.as_dict()
        out["msg"] = "; ".join(exported.lines())
        if self._task.diff:
            out["diff"] = [
                {
                    "before_header": item.path,
                    "after_header": item.path,
                    "before": item.before or "",
                    "after": item.after,
                }
                for item in exported.files
                if item.status != "unchanged"
            ]
        return out
