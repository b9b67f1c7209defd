# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """The shared settings: where the store is, which policy, and when "now" is.

    Each is read, in order, from the task or lookup argument, the environment
    variable, and the C([overdue_emr]) section of C(ansible.cfg).
    """

    # For modules (whose documentation cannot name env or ini entries).
    DOCUMENTATION = r"""
options:
  store:
    description:
      - Where the clusters and their event logs are kept, as a store URL
        (C(sqlite:///ABSOLUTE/PATH.db) or C(postgresql://USER@HOST:PORT/DB)) or the absolute path
        of an SQLite file. A relative path is an error naming its absolute form, except in
        C(ansible.cfg), where it is relative to that file.
      - When not given, the environment variable E(OVERDUE_FSM_STORE) is used, then the key
        C(store) of the C([overdue_emr]) section of C(ansible.cfg) (a relative path there is
        relative to that file), then the default store of overdue-fsm
        (C(~/.local/state/overdue-fsm/clusters.db)).
    type: str
  policy:
    description:
      - A YAML policy file of overdue-fsm (thresholds, operations of your own, verdict overrides).
      - When not given, the environment variable E(OVERDUE_FSM_POLICY) is used, then the key
        C(policy) of the C([overdue_emr]) section of C(ansible.cfg), then the built-in defaults,
        which are the figures of the Alibaba Cloud E-MapReduce overdue payment rules.
    type: str
  now:
    description:
      - The instant to evaluate at, as ISO 8601 with an offset or C(Z) (V(2026-01-20T10:00:00Z)) or
        epoch seconds. A naive datetime is an error.
      - When not given, the environment variable E(OVERDUE_FSM_NOW) is used, then the key C(now)
        of the C([overdue_emr]) section of C(ansible.cfg), then the clock of the controller.
    type: raw
"""

    # For lookup and inventory plugins: the same settings, with their env and ini entries.
    PLUGIN = r"""
options:
  store:
    description:
      - Where the clusters and their event logs are kept, as a store URL
        (C(sqlite:///ABSOLUTE/PATH.db) or C(postgresql://USER@HOST:PORT/DB)) or the absolute path
        of an SQLite file. It is only ever read. A relative path is an error naming its absolute
        form, except in C(ansible.cfg) or an inventory source, where it is relative to that file.
      - When nothing sets it, the default store of overdue-fsm is used
        (C(~/.local/state/overdue-fsm/clusters.db)).
    type: str
    env:
      - name: OVERDUE_FSM_STORE
    ini:
      - section: overdue_emr
        key: store
  policy:
    description:
      - A YAML policy file of overdue-fsm (thresholds, operations of your own, verdict overrides).
      - When nothing sets it, the built-in defaults apply, which are the figures of the Alibaba
        Cloud E-MapReduce overdue payment rules.
    type: str
    env:
      - name: OVERDUE_FSM_POLICY
    ini:
      - section: overdue_emr
        key: policy
  now:
    description:
      - The instant to evaluate at, as ISO 8601 with an offset or C(Z) (V(2026-01-20T10:00:00Z)) or
        epoch seconds. A naive datetime is an error.
      - When nothing sets it, the clock of the controller is used.
    type: raw
    env:
      - name: OVERDUE_FSM_NOW
    ini:
      - section: overdue_emr
        key: now
"""
