# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The overdue.emr.cluster_phase action: runs on the controller, documented in modules/."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.overdue.emr.plugins.plugin_utils import argspec, common


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        validation, args = self.validate_argument_spec(
            argument_spec=argspec.of_module(self.ansible_name)
        )
        del validation
        try:
            with common.user_errors(AnsibleActionFail):
                result.update(self._run(args))
        except AnsibleActionFail as err:
            result.update(failed=True, msg=err.message, changed=False)
        return result

    def _run(self, args):
        common.require_fsm()
        settings = common.Settings.resolve(args["store"], args["policy"], args["now"])
        cluster_id = args["cluster_id"]
        check_mode = bool(self._task.check_mode)
        for operation in args["require"]:
            settings.policy.category(operation)  # bad input fails before anything is recorded

        if settings.stateless:
            state = common.evaluate(cluster_id, args, settings)
            before, changed, entered, notes, too_late, pending = None, False, [], [], [], None
            warnings = common.fsm.warnings_due(state)  # no ledger: every run returns them
        else:
            observed = self._observe(cluster_id, args, settings, check_mode)
            state, before, changed, entered, notes, too_late, pending, warnings = observed

        out = common.report(state)
        out["changed"] = changed
        out["entered"] = [str(phase) for phase in entered]
        out["notes"] = notes
        out["too_late"] = too_late
        out["warnings_due"] = [warning.as_dict() for warning in warnings]
        if notes:
            # Refused, ignored or too late: said where a person looks; the task still succeeds.
            out["msg"] = "; ".join(notes)
            out["warnings"] = list(notes)
        if check_mode and pending is not None:
            out["would_also"] = pending
        if self._task.diff and (changed or before is None) and not settings.stateless:
            out["diff"] = _diff(cluster_id, before, state)

        if args["require"]:
            required = self._require(state, args["require"], args["strict"])
            warnings = out.get("warnings", []) + required.pop("warnings", [])
            out.update(required)  # a denial's msg replaces the notes': it is why the task failed
            if warnings:
                out["warnings"] = warnings
        if settings.now_warning is not None:
            out["warnings"] = settings.warn(out.get("warnings"))
        return out

    @staticmethod
    def _observe(cluster_id, args, settings, check_mode):
        seen = common.observation(args, settings.now)
        if seen is None:
            # Nothing observed: still an observation, made now, so a new cluster is registered.
            seen = common.fsm.Observation.create(at=settings.now)
        with common.writer_or_rehearsal(settings, check_mode) as store:
            pending = list(store.pending) if check_mode else None
            outcome = store.observe(
                cluster_id,
                seen,
                billing=args["billing"],
                account=args["account"],
                expires_at=args["expires_at"],
                source="ansible",
                now=settings.now,
                dry_run=check_mode,
            )
            # Issued once per episode whoever looks; check mode only says what would be.
            warnings = store.issue_warnings(
                cluster_id,
                common.fsm.warnings_due(outcome.after),
                now=settings.now,
                dry_run=check_mode,
            )
        return (
            outcome.after,
            outcome.before,
            bool(outcome.changed),
            list(outcome.entered),
            common.fsm.unheeded(outcome.outcomes),
            list(outcome.too_late),
            pending,
            warnings,
        )

    @staticmethod
    def _require(state, operations, strict):
        asked = common.fsm.decide_all(state, operations, strict=strict)
        out = {
            "decision": asked.deciding.as_dict(),
            "decisions": [d.as_dict() for d in asked.decisions],
        }
        if asked.warnings:
            out["warnings"] = [d.reason for d in asked.warnings]
        if asked.denied:
            out["failed"] = True
            out["msg"] = " | ".join(d.reason for d in asked.denied)
        return out


def _diff(cluster_id, before, after):
    return {
        "before_header": cluster_id,
        "after_header": cluster_id,
        "before": "" if before is None else _phase_lines(before),
        "after": _phase_lines(after),
    }


def _phase_lines(state):
    lines = ["phase: %s" % state.phase]
    if state.phase_since is not None:
        lines.append("phase_since: %s" % common.format_time(state.phase_since))
    if state.overdue_since is not None:
        lines.append("overdue_since: %s" % common.format_time(state.overdue_since))
    if state.expires_at is not None:
        lines.append("expires_at: %s" % common.format_time(state.expires_at))
    return "\n".join(lines) + "\n"
