# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The overdue.emr.sync action: runs on the controller, documented in modules/."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.overdue.emr.plugins.plugin_utils import argspec, cloud, common

# Documentation has no key for a secret: these are kept out of every message.
SECRET_OPTIONS = cloud.SECRET_OPTIONS


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        # Whatever happens below, no credential leaves this task: not in the result, not in
        # a message (the secrets of the options and of the SDK's environment are scrubbed).
        hidden = cloud.secrets(self._task.args)
        try:
            validation, args = self.validate_argument_spec(
                argument_spec=argspec.of_module(self.ansible_name, SECRET_OPTIONS),
                required_together=[("access_key_id", "access_key_secret")],
            )
            del validation
            with common.user_errors(AnsibleActionFail):
                try:
                    result.update(self._run(args))
                except cloud.CloudError as err:
                    # The cloud failed before anything was written: say which API, code and
                    # request, and that the store is as it was.
                    result.update(failed=True, msg=err.message, changed=False, error=err.as_dict())
        except AnsibleActionFail as err:
            result.update(failed=True, msg=err.message, changed=False)
        return cloud.scrub(result, hidden)

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
