# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: phase
short_description: The overdue phase of EMR clusters, or their whole report
version_added: 0.1.0
description:
  - Returns the phase of each cluster given, V(active), V(overdue_grace), V(suspended),
    V(restricted), V(purged) or V(released), as the store of overdue-fsm has it at O(now).
  - With O(details=true), returns the whole report of each cluster instead, the same keys the
    M(overdue.emr.cluster_phase) module returns (phase, since when, next phase and when, timeline,
    data deletion, the verdict on every operation, history).
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
    description: Cluster ids, one result per id.
    type: list
    elements: str
    required: true
  details:
    description: Return the whole report of each cluster (a dictionary) instead of its phase.
    type: bool
    default: false
  operation:
    description:
      - With O(details=true), also decide whether this operation may run now; the report then
        holds a C(decision) with the verdict and the reason (why it would be skipped or fail).
    type: str
  strict:
    description: With O(operation), treat a V(warn) verdict (allowed, but it may fail) as not
      allowed.
    type: bool
    default: false
  default:
    description:
      - What to return for a cluster the store does not track.
      - Without it, an untracked cluster is an error (fail closed).
    type: raw
notes:
  - Facts (O(billing), O(balance), ...) are only read with O(store=none); with a store they are an
    error,
    since the lookup answers from what was recorded.
  - Call it with C(query('overdue.emr.phase', ...)) instead of C(lookup(...)) (or pass
    O(ignore:wantlist=true)) to get a list back with several cluster ids.
seealso:
  - plugin: overdue.emr.allowed
    plugin_type: lookup
  - module: overdue.emr.cluster_phase
"""

EXAMPLES = r"""
- name: Show the phase of a cluster
  ansible.builtin.debug:
    msg: "c-1 is {{ lookup('overdue.emr.phase', 'c-1') }}"

- name: Show when its data is deleted if nobody recharges
  ansible.builtin.debug:
    msg: "{{ lookup('overdue.emr.phase', 'c-1', details=true).deadline }}"

- name: Say why scale_out is skipped on a cluster
  ansible.builtin.debug:
    msg: >-
      {{ lookup('overdue.emr.phase', 'c-1', details=true, operation='scale_out').decision.reason }}
  when: not lookup('overdue.emr.allowed', 'c-1', operation='scale_out')

- name: Phases of several clusters, unknown ones as 'untracked'
  ansible.builtin.debug:
    msg: "{{ query('overdue.emr.phase', 'c-1', 'c-2', default='untracked') }}"

- name: Stateless, from facts alone (nothing is read)
  ansible.builtin.debug:
    msg: >-
      {{ lookup('overdue.emr.phase', 'c-1', store='none', billing='pay_as_you_go',
                overdue_since='2026-01-05T08:00:00Z', now='2026-01-25T00:00:00Z') }}
"""

RETURN = r"""
_list:
  description:
    - One entry per cluster id, the phase (a string), or with O(details=true) the report (a
      dictionary).
  type: list
  elements: raw
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.overdue.emr.plugins.plugin_utils import common

common.preload_option_definitions(__name__)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        with common.user_errors(AnsibleLookupError):
            settings = common.lookup_settings(self, variables, kwargs)
            details = self.get_option("details")
            operation = self.get_option("operation")
            strict = self.get_option("strict")
            default = self.get_option("default")
            if operation is not None and not details:
                raise AnsibleLookupError(
                    "operation=%r needs details=true: the decision is part of the report "
                    "(for a boolean, use the overdue.emr.allowed lookup)" % operation
                )
            if details:
                return common.lookup_answers(
                    self,
                    terms,
                    settings,
                    default,
                    lambda state: common.report(state, operation=operation, strict=strict),
                )
            return common.lookup_answers(
                self, terms, settings, default, lambda state: str(state.phase)
            )
