# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by the action plugin of the same name
# (plugins/action/sync.py); this file only documents it.

from __future__ import annotations

DOCUMENTATION = r"""
module: sync
short_description: Record what Alibaba Cloud says about the account balance and the EMR clusters
version_added: 0.1.0
description:
  - Reads the account balance (BSS OpenAPI C(QueryAccountBalance)) and every E-MapReduce cluster
    of the O(regions) (C(ListClusters), all pages) from Alibaba Cloud, then records in the store
    of overdue-fsm what changed, cluster by cluster, so the M(overdue.emr.cluster_phase) module,
    the P(overdue.emr.allowed#lookup) and P(overdue.emr.phase#lookup) lookups and the
    P(overdue.emr.clusters#inventory) inventory decide on fresh facts.
  - The cloud is read whole before anything is written. When it answers with an error, or does
    not answer, the task fails with the API, the error code and the RequestId, and nothing is
    recorded.
  - The clusters are then recorded in batches, each in one transaction. If the store fails part
    way the task fails, and RV(clusters) says which clusters were recorded and which were left
    untouched; running the task again finishes the work.
  - A cluster seen for the first time is registered with its billing and expiry. A negative
    balance starts the overdue clock of every cluster of the account, a later expiry in the cloud
    is a renewal, a cluster the owner released (or gone from the listing of its region) is
    released.
  - RV(ignore:changed) is true only when something was recorded; a second run against an
    unchanged cloud reports RV(ignore:changed=false).
  - Runs on the controller, like M(ansible.builtin.assert); the target host is never contacted.
    The Python package C(overdue-fsm[aliyun]) must be installed there.
author:
  - overdue-fsm developers (@overdue-fsm)
requirements:
  - overdue-fsm[aliyun] (Python package with the Alibaba Cloud SDK, on the controller)
extends_documentation_fragment:
  - overdue.emr.rules
  - overdue.emr.settings
  - overdue.emr.alicloud
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
  - overdue.emr.controller
options:
  regions:
    description:
      - The regions whose E-MapReduce clusters are read, such as V(cn-hangzhou).
      - A tracked cluster that a region listed here no longer shows is recorded as released;
        clusters of the regions not listed are left as they are.
      - When not given, the region of the environment variable E(ALIBABA_CLOUD_REGION_ID), else
        E(ALICLOUD_REGION) (alibaba.alicloud's).
    type: list
    elements: str
    aliases: [alicloud_region]
  account:
    description:
      - The name the clusters are filed under in the store (their billing account). The balance
        read is the balance of the account the credentials belong to.
    type: str
    default: default
  since_from_transactions:
    description:
      - When the balance is negative, date the start of the overdue episode from the account
        transactions (BSS C(QueryAccountTransactions)), the instant after which the balance stayed
        negative.
      - When false, or when no transaction tells, the clock starts at the first sync that saw the
        balance negative.
    type: bool
    default: false
  endpoint:
    description:
      - The EMR endpoint to call instead of the public one of each region, as C(host[:port]) (a
        VPC endpoint such as V(emr-vpc.cn-hangzhou.aliyuncs.com)). Also used for BSS unless
        O(bss_endpoint) is given.
    type: str
  bss_endpoint:
    description:
      - The BSS (billing) endpoint, as C(host[:port]). Defaults to O(endpoint) when that is given,
        else to V(business.aliyuncs.com).
    type: str
attributes:
  check_mode:
    support: full
    details: Reads the cloud and reports what would be recorded; writes nothing.
  diff_mode:
    support: none
notes:
  - O(store=none) is not accepted, a sync records into a store.
  - The credentials need read access to BSS (C(bss:QueryAccountBalance), and
    C(bss:QueryAccountTransactions) for O(since_from_transactions)) and to EMR
    (C(emr:ListClusters)).
  - Run it once per job, in a play on C(localhost) or with C(run_once); the store is shared by
    every host.
  - No credential appears in the result, a message or a warning, whatever the verbosity. The
    errors of the cloud are passed on without them.
seealso:
  - module: overdue.emr.cluster_phase
  - plugin: overdue.emr.clusters
    plugin_type: inventory
    description: >-
      Can sync before it builds the inventory, with its
      O(overdue.emr.clusters#inventory:sync) option.
  - plugin: overdue.emr.allowed
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Record what the cloud says (credentials from the environment or a profile)
  overdue.emr.sync:
    regions: [cn-hangzhou, cn-shanghai]
    account: team-data
  register: synced

- name: Tell the owner about each cluster that entered a phase
  ansible.builtin.debug:
    msg: "{{ item.cluster_id }} is now {{ item.phase }}, next {{ item.next_phase }}"
  loop: "{{ synced.clusters | selectattr('entered') }}"
  loop_control:
    label: "{{ item.cluster_id }}"

- name: Through a VPC endpoint, dating the overdue start from the transactions
  overdue.emr.sync:
    regions: [cn-hangzhou]
    endpoint: emr-vpc.cn-hangzhou.aliyuncs.com
    bss_endpoint: business.aliyuncs.com
    since_from_transactions: true
    access_key_id: "{{ vault_emr_key_id }}"
    access_key_secret: "{{ vault_emr_key_secret }}"
    store: postgresql://fsm@db.internal:5432/overdue

- name: What would be recorded (check mode writes nothing)
  overdue.emr.sync:
    regions: [cn-hangzhou]
  check_mode: true
"""

RETURN = r"""
msg:
  description: What the sync did, in one line, or why it failed.
  returned: always
  type: str
  sample: >-
    account default: balance 1000.00 CNY; 250 cluster(s) in cn-hangzhou: 250 recorded,
    0 unchanged, 0 failed, 0 untouched
account:
  description: The account the clusters are filed under (O(account)).
  returned: when the cloud was read
  type: str
  sample: default
regions:
  description: The regions that were read.
  returned: when the cloud was read
  type: list
  elements: str
  sample: [cn-hangzhou]
fetched_at:
  description: When the cloud was read (the instant the observations are dated).
  returned: when the cloud was read
  type: str
  sample: "2026-01-20T08:00:00Z"
balance:
  description: The available balance of the account, a decimal as text.
  returned: when the cloud was read
  type: str
  sample: "-11.19"
currency:
  description: The currency of RV(balance).
  returned: when the cloud was read
  type: str
  sample: CNY
overdue:
  description: Whether the balance is negative.
  returned: when the cloud was read
  type: bool
overdue_since:
  description:
    - When the balance went negative, from the transactions (RV(overdue_since_source) is
      V(transactions)), else the earliest overdue clock the store keeps for the synced
      clusters (the first sync that saw the balance negative); null when not overdue.
  returned: when the cloud was read
  type: str
  sample: "2026-01-19T23:10:00Z"
overdue_since_source:
  description: V(transactions) or V(first_seen), where RV(overdue_since) comes from.
  returned: when the cloud was read
  type: str
  sample: first_seen
dry_run:
  description: Whether nothing was written (check mode).
  returned: when the cloud was read
  type: bool
complete:
  description: Whether every cluster was recorded or found unchanged (none failed or untouched).
  returned: when the cloud was read
  type: bool
counts:
  description: How many clusters were recorded, unchanged, failed and left untouched.
  returned: when the cloud was read
  type: dict
  sample: {"recorded": 3, "unchanged": 247, "failed": 0, "untouched": 0}
  contains:
    recorded:
      description: Clusters for which something was recorded (would be, in check mode).
      type: int
    unchanged:
      description: Clusters the cloud says nothing new about.
      type: int
    failed:
      description: Clusters the store failed to record (at most one, the sync stops there).
      type: int
    untouched:
      description: Clusters left as they were because the sync stopped before them.
      type: int
clusters:
  description: What the sync did to each cluster, in the order of the listing.
  returned: when the cloud was read
  type: list
  elements: dict
  contains:
    cluster_id:
      description: The cluster.
      type: str
      sample: c-b933c5aac8fe1a2b
    region:
      description: Its region.
      type: str
      sample: cn-hangzhou
    status:
      description: V(recorded), V(unchanged), V(failed) or V(untouched).
      type: str
      sample: recorded
    billing:
      description: V(pay_as_you_go) or V(subscription) (null when failed or untouched).
      type: str
      sample: subscription
    phase_before:
      description: Its phase before the sync, null for a cluster seen for the first time.
      type: str
      sample: active
    phase:
      description: Its phase after the sync (null when failed or untouched).
      type: str
      sample: overdue_grace
    phase_changed:
      description: Whether RV(clusters[].phase) differs from RV(clusters[].phase_before).
      type: bool
    entered:
      description: The phases the cluster entered since the store last evaluated it, in order,
        timed steps included (test it to notify the owner once).
      type: list
      elements: str
      sample: [overdue_grace]
    recorded:
      description: The kinds of the events recorded, such as V(balance_negative),
        V(recharged), V(renewed) or V(released).
      type: list
      elements: str
      sample: [balance_negative]
    next_phase:
      description: The phase it enters next if nothing is recorded, or null.
      type: str
      sample: suspended
    next_phase_at:
      description: When RV(clusters[].next_phase) begins, or null.
      type: str
      sample: "2026-01-21T08:00:00Z"
    error:
      description: Why the store failed to record it, or null.
      type: str
    notes:
      description: Why an event the cloud's news stood for was refused, such as a renewal
        while the balance is negative; also in C(msg) and a warning. (Events on a purged or
        released cluster are routine for a sync and not listed.)
      type: list
      elements: str
    warnings:
      description: The warnings this sync issued for the cluster (the same keys as RV(warnings)).
      type: list
      elements: dict
warnings:
  description:
    - The warnings of deadlines ahead this sync issued (in check mode, would issue), cluster by
      cluster. Each is issued once per overdue episode or subscription period, by whichever run
      sees it due first (this module, or overdue.emr.cluster_phase), so send each one on as it
      comes; C(overdue-fsm warnings --due) lists every warning due.
    - The keys are those of RV(overdue.emr.cluster_phase#module:warnings_due).
  returned: when the cloud was read
  type: list
  elements: dict
  sample:
    - cluster_id: c-b933c5aac8fe1a2b
      account: default
      step: suspension
      threshold: 24h
      episode: "2026-01-05T08:00:00Z"
      due_at: "2026-01-05T08:00:00Z"
      deadline: "2026-01-06T08:00:00Z"
      message: >-
        c-b933c5aac8fe1a2b is suspended within 24h, on 2026-01-06T08:00:00Z; to prevent it,
        recharge the account
error:
  description: The error the cloud answered with; nothing was recorded.
  returned: when the cloud failed
  type: dict
  contains:
    api:
      description: The API that failed.
      type: str
      sample: ListClusters
    code:
      description: The error code of the cloud.
      type: str
      sample: Forbidden.RAM
    request_id:
      description: The RequestId to quote to Alibaba Cloud support, when there is one.
      type: str
      sample: 5E1F3B2C-0A8D-4F21-9C5E-8B7A6D4C3E2F
"""
