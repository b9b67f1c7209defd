# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by the action plugin of the same name
# (plugins/action/cluster_phase.py); this file only documents it.

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_phase
short_description: Record what was observed about an EMR cluster and tell its overdue phase
version_added: 0.1.0
description:
  - Tells where an Alibaba Cloud E-MapReduce cluster is on the overdue road
    (V(active), V(overdue_grace), V(suspended), V(restricted), V(purged), V(released)), when the
    next phase begins, when its data is deleted, and which operations may run on it now.
  - Observations (O(balance), O(overdue_since), O(renewed_until), O(released)) are recorded in the
    store of overdue-fsm as events, and only when they change the cluster, so a task that repeats
    what is already known reports RV(ignore:changed=false).
  - With O(require), the task fails when one of the operations listed may not run on the cluster
    now, with the reason (the phase and since when, what would change it, and the deadline ahead).
    A V(warn) verdict (allowed, but it may fail) lets the task pass with an Ansible warning.
  - With O(store=none) nothing is read or written; the facts given are evaluated as they are.
  - Runs on the controller, like M(ansible.builtin.assert); the target host is never contacted.
    The Python package C(overdue-fsm) must be installed there.
author:
  - overdue-fsm developers (@overdue-fsm)
requirements:
  - overdue-fsm (Python package, on the controller)
extends_documentation_fragment:
  - overdue.emr.rules
  - overdue.emr.facts
  - overdue.emr.settings
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
  - overdue.emr.controller
options:
  cluster_id:
    description:
      - The EMR cluster id, such as V(c-b933c5aac8fe1a2b) (1 to 128 characters of V(A-Za-z0-9._:-),
        starting with a letter or a digit).
    type: str
    required: true
  require:
    description:
      - Operations that must be allowed on the cluster now, such as V(scale_out) or V(submit_task)
        (the canonical operations, or those declared in the O(policy)).
      - When one is denied the task fails with the reason; RV(decision) holds the verdict.
      - An operation that is neither canonical nor declared fails the task; it is never silently
        allowed.
    type: list
    elements: str
    default: []
  strict:
    description:
      - Treat a V(warn) verdict (allowed, but it may fail) as V(deny) for O(require).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Computes the same result, records nothing.
  diff_mode:
    support: full
    details: Shows the phase before and after the observation.
notes:
  - The phase is computed from the facts, the event log and O(now) only, the same way on any
    controller, after any restart; nothing runs on a timer.
  - Fail closed. An unknown cluster without O(billing), an unreadable store or bad input fails the
    task.
  - To notify the owner when a cluster enters a phase, test RV(entered) in a following task, see
    the examples.
seealso:
  - plugin: overdue.emr.allowed
    plugin_type: lookup
  - plugin: overdue.emr.phase
    plugin_type: lookup
  - plugin: overdue.emr.clusters
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Record that the balance is negative (the clock starts now, or at overdue_since if given)
  overdue.emr.cluster_phase:
    cluster_id: c-b933c5aac8fe1a2b
    billing: pay_as_you_go
    account: team-data
    balance: -11.19
  register: cluster

- name: Tell the owner the moment the cluster entered overdue_grace
  community.general.mail:
    to: owner@example.com
    subject: "{{ cluster.cluster_id }} is overdue: {{ cluster.deadline }}"
    body: "{{ cluster | to_nice_yaml }}"
  when: "'overdue_grace' in cluster.entered"

- name: Record the recharge
  overdue.emr.cluster_phase:
    cluster_id: c-b933c5aac8fe1a2b
    balance: 250.00

- name: Pipeline gate, fails with the reason unless scale-out may run now
  overdue.emr.cluster_phase:
    cluster_id: c-b933c5aac8fe1a2b
    require:
      - scale_out

- name: Stateless, nothing read or written - can a suspended subscription still export its configs?
  overdue.emr.cluster_phase:
    cluster_id: c-1
    store: none
    billing: subscription
    expires_at: "2026-03-01T00:00:00Z"
    now: "2026-03-10T00:00:00+08:00"
    require: [export_service_config]
"""

RETURN = r"""
too_late:
  description:
    - One line for each observed event that was kept in the log but dated more than the policy's
      C(late_tolerance) before the newest event of the cluster, so it was not applied. Each line
      gives both instants. The same lines are shown as warnings.
  returned: always
  type: list
  elements: str
  sample: []
cluster_id:
  description: The cluster.
  returned: always
  type: str
  sample: c-b933c5aac8fe1a2b
account:
  description: The billing account it is paid from.
  returned: always
  type: str
  sample: team-data
billing:
  description: V(pay_as_you_go) or V(subscription).
  returned: always
  type: str
  sample: pay_as_you_go
phase:
  description:
    - The phase at O(now) - V(active), V(overdue_grace), V(suspended), V(restricted), V(purged) or
      V(released).
  returned: always
  type: str
  sample: overdue_grace
phase_since:
  description: When the cluster entered RV(phase) (null for a cluster that was never anything but
    active).
  returned: always
  type: str
  sample: "2026-01-05T08:00:00Z"
overdue:
  description: Whether the account balance is negative as far as the cluster knows.
  returned: always
  type: bool
overdue_since:
  description: When the balance went negative, or null.
  returned: always
  type: str
  sample: "2026-01-05T08:00:00Z"
expires_at:
  description: When the subscription ends, or null.
  returned: always
  type: str
next_phase:
  description: The phase the cluster enters next if nothing is recorded, or null when nothing is
    scheduled.
  returned: always
  type: str
  sample: suspended
next_phase_at:
  description: When RV(next_phase) begins, or null.
  returned: always
  type: str
  sample: "2026-01-06T08:00:00Z"
timeline:
  description: Every phase ahead if nothing is recorded, each with when it begins.
  returned: always
  type: list
  elements: dict
  sample:
    - {"phase": "suspended", "at": "2026-01-06T08:00:00Z"}
    - {"phase": "restricted", "at": "2026-01-20T08:00:00Z"}
data_deleted:
  description: Whether the business data, logs and configuration are already deleted.
  returned: always
  type: bool
data_deletion_at:
  description: When the data is (or was) deleted if nothing is done, or null.
  returned: always
  type: str
  sample: "2026-03-06T08:00:00Z"
deadline:
  description: The next thing that happens if nobody acts, in words, or null.
  returned: always
  type: str
  sample: data is deleted on 2026-03-06T08:00:00Z unless you recharge the account
operations:
  description: Every known operation and its verdict now, V(allow), V(warn) or V(deny).
  returned: always
  type: dict
  sample: {"scale_out": "deny", "submit_task": "warn", "view_cluster_info": "allow"}
history:
  description: The phase changes so far, each with V(from), V(to), V(at) and V(trigger).
  returned: always
  type: list
  elements: dict
  sample:
    - {"from": "active", "to": "overdue_grace", "at": "2026-01-05T08:00:00Z",
       "trigger": "balance_negative"}
evaluated_at:
  description: The instant the cluster was evaluated at (O(now)).
  returned: always
  type: str
entered:
  description:
    - The phases the cluster entered since the store last evaluated it (this run or an earlier
      one), in order. A timed step counts, so RV(entered) can name V(suspended) while
      RV(ignore:changed) is V(false) because nothing new was recorded.
    - Each phase entered is reported by one run only (not in check mode, which writes nothing);
      empty with O(store=none).
    - Test it to notify the owner once, when the cluster enters a phase.
  returned: always
  type: list
  elements: str
  sample: [overdue_grace]
would_also:
  description:
    - In check mode, what the first write would do to the store before recording (create it,
      migrate its schema, switch its journal); check mode itself creates, migrates and switches
      nothing.
  returned: in check mode with a store
  type: list
  elements: str
  sample: ["migrate its schema from version 1 to 2"]
notes:
  description:
    - Why an event of this observation was refused or ignored, one line each, such as a renewal
      while the balance is negative or any event on a purged cluster. Also the task's C(msg) and
      an Ansible warning; the task still succeeds, and RV(ignore:changed) is V(false).
  returned: always
  type: list
  elements: str
  sample:
    - >-
      refused: renewal is fee-generating and the account balance is negative; recharge the
      account first
warnings_due:
  description:
    - The warnings this run issued. A warning falls due when a scheduled step ahead (the
      cluster's V(suspension), V(restriction), V(data_deletion) or V(subscription_expiry)) is one
      of the policy's C(warn_before) thresholds (default 7 days and 1 day) or less away. Each is
      issued once per overdue episode (or subscription period), however many runs, forks or
      controllers look, so send each one on as it comes; a recharge or renewal ends the episode.
    - In check mode, the warnings this run would issue; nothing is written.
    - With O(store=none) nothing is recorded, so every run returns every warning due.
    - C(overdue-fsm warnings --due) lists the warnings due, and C(--ack) acknowledges them.
  returned: always
  type: list
  elements: dict
  contains:
    cluster_id:
      description: The cluster.
      type: str
    account:
      description: Its billing account.
      type: str
    step:
      description: V(suspension), V(restriction), V(data_deletion) or V(subscription_expiry).
      type: str
      sample: data_deletion
    threshold:
      description: The threshold of C(warn_before) crossed, as a duration.
      type: str
      sample: 7d
    episode:
      description: What the warning belongs to, as an instant - the cluster's RV(overdue_since)
        for pay-as-you-go steps, its RV(expires_at) for subscription steps.
      type: str
      sample: "2026-01-05T08:00:00Z"
    due_at:
      description: When the warning fell due (its deadline minus its threshold).
      type: str
      sample: "2026-02-27T08:00:00Z"
    deadline:
      description: When the step happens if nobody acts.
      type: str
      sample: "2026-03-06T08:00:00Z"
    message:
      description: The warning in words a person can act on.
      type: str
      sample: >-
        c-1 has its data deleted within 7d, on 2026-03-06T08:00:00Z; to prevent it, recharge
        the account
decision:
  description:
    - The verdict on the operation of O(require) that decides the task, the first one denied
      (else the first one).
  returned: when O(require) is given
  type: dict
  contains:
    operation:
      description: The operation asked about.
      type: str
      sample: scale_out
    category:
      description: Its category (V(fee_generating), V(om), V(read), V(task), V(release)).
      type: str
      sample: fee_generating
    verdict:
      description: V(allow), V(warn) or V(deny).
      type: str
      sample: deny
    allowed:
      description: Whether the operation may run (a V(warn) is allowed unless O(strict)).
      type: bool
    action:
      description: V(run), V(skip) (not now, the cluster can come back) or V(fail) (never, or
        undecidable).
      type: str
      sample: skip
    reason:
      description: Why, in words a person can act on.
      type: str
      sample: >-
        scale_out (fee_generating) is denied: c-1 is overdue_grace since 2026-01-05T08:00:00Z
        (pay_as_you_go); to change this, recharge the account; data is deleted on
        2026-03-06T08:00:00Z unless you recharge the account
decisions:
  description: The verdict on each operation of O(require), in the order given (same keys as
    RV(decision)).
  returned: when O(require) is given
  type: list
  elements: dict
"""
