# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: allowed
short_description: Whether an operation may run on EMR clusters now, as a boolean
version_added: 0.1.0
description:
  - Returns V(true) when O(operation) may run on the cluster now and V(false) when it may not,
    from the verdict of overdue-fsm for the phase the cluster is in.
  - The result is a real boolean, usable directly in C(when) (conditionals must be booleans on
    ansible-core 2.19).
  - A V(warn) verdict (allowed, but it may fail, such as submitting a task to a cluster whose
    fees are unpaid) counts as allowed unless O(strict=true).
  - Reads the store and never writes it. With O(store=none), evaluates the facts given as options
    instead and reads nothing.
  - Runs on the controller; the Python package C(overdue-fsm) must be installed there.
author:
  - overdue-fsm developers (@overdue-fsm)
requirements:
  - overdue-fsm (Python package, on the controller)
extends_documentation_fragment:
  - overdue.emr.rules
  - overdue.emr.facts
  - overdue.emr.settings.plugin
options:
  _terms:
    description: Cluster ids, one boolean per id.
    type: list
    elements: str
    required: true
  operation:
    description:
      - The operation, such as V(scale_out), V(submit_task) or V(restart_service), either a
        canonical one or one declared in the O(policy). Anything else is an error, never a silent
        allow.
    type: str
    required: true
  strict:
    description: Treat a V(warn) verdict (allowed, but it may fail) as not allowed.
    type: bool
    default: false
  default:
    description:
      - What to return for a cluster the store does not track, V(true) or V(false).
      - Without it, an untracked cluster is an error (fail closed).
    type: bool
notes:
  - To see why an operation is denied, use P(overdue.emr.phase#lookup) with
    O(overdue.emr.phase#lookup:details=true)
    or the M(overdue.emr.cluster_phase) module with its O(overdue.emr.cluster_phase#module:require)
    option, which fails with the reason.
  - Facts (O(billing), O(balance), ...) are only read with O(store=none); with a store they are an
    error,
    since the lookup answers from what was recorded.
seealso:
  - plugin: overdue.emr.phase
    plugin_type: lookup
  - module: overdue.emr.cluster_phase
"""

EXAMPLES = r"""
- name: Scale out only where fee-generating work may run (skipped elsewhere)
  ansible.builtin.debug:
    msg: "scaling out {{ inventory_hostname }}"
  when: lookup('overdue.emr.allowed', inventory_hostname, operation='scale_out')

- name: Submit jobs only where they will not fail for unpaid fees
  ansible.builtin.debug:
    msg: "submitting to {{ cluster_id }}"
  when: lookup('overdue.emr.allowed', cluster_id, operation='submit_task', strict=true)

- name: Clusters nobody recorded are treated as not allowed, instead of failing
  ansible.builtin.debug:
    msg: "maintenance window on {{ cluster_id }}"
  when: lookup('overdue.emr.allowed', cluster_id, operation='restart_service', default=false)

- name: Stateless, from facts alone (nothing is read)
  ansible.builtin.assert:
    that:
      - not lookup('overdue.emr.allowed', 'c-1', operation='renew', store='none',
                   billing='subscription', balance=-3, now='2026-01-25T00:00:00Z')
"""

RETURN = r"""
_list:
  description: One boolean per cluster id, V(true) when the operation may run now.
  type: list
  elements: bool
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.overdue.emr.plugins.plugin_utils import common

common.preload_option_definitions(__name__)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        with common.user_errors(AnsibleLookupError):
            settings = common.lookup_settings(self, variables, kwargs)
            operation = self.get_option("operation")
            strict = self.get_option("strict")
            default = self.get_option("default")
            # An unknown operation is an error even when no cluster is tracked.
            settings.policy.category(operation)
            return common.lookup_answers(
                self,
                terms,
                settings,
                default,
                lambda state: common.fsm.decide(state, operation, strict=strict).allowed,
            )
