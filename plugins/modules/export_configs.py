# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by the action plugin of the same name
# (plugins/action/export_configs.py); this file only documents it.

from __future__ import annotations

DOCUMENTATION = r"""
module: export_configs
short_description: Save an EMR cluster's service configuration and shape before its data is deleted
version_added: 0.1.0
description:
  - For one E-MapReduce cluster, exports the configuration of every application
    (C(ListApplicationConfigs), then C(ExportApplicationConfigs)) and the cluster's shape
    (C(GetCluster) and C(ListNodeGroups), which give the release version, the node groups with
    their instance types, node counts, disks and network, the fields a clone needs) into O(dest)
    on the controller.
  - O(dest) then holds C(cluster.json) (the shape), C(applications/<APPLICATION>.json) (one file
    per application with each of its configuration files) and C(manifest.json) (the SHA-256 and
    size of each file). Files are written atomically, readable by their owner only.
  - Idempotent, RV(ignore:changed) is true only when the content of some file differs from
    what O(dest) already holds.
  - The cluster's phase is asked of the store. Where it denies C(export_service_config) (the
    cluster is C(purged) or C(released), its configuration is gone) the task fails with the
    reason and nothing is read or written. An untracked cluster, or O(store=none), fails closed.
  - Business data (HDFS, OSS), logs and status data are not exported, copy them yourself before
    the data deletion date; RV(at_risk) says so.
  - Runs on the controller; the target host is never contacted. The Python package
    C(overdue-fsm[aliyun]) must be installed there.
author:
  - overdue-fsm developers (@overdue-fsm)
requirements:
  - overdue-fsm[aliyun] (Python package with the Alibaba Cloud SDK, on the controller)
extends_documentation_fragment:
  - overdue.emr.settings
  - overdue.emr.alicloud
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
  - overdue.emr.controller
options:
  cluster_id:
    description:
      - The cluster to export, as tracked in the store (M(overdue.emr.sync) records it).
    type: str
    required: true
  dest:
    description:
      - The directory on the controller the export is written to, one directory per cluster.
        A directory holding the export of another cluster is refused.
    type: path
    required: true
  region:
    description:
      - The cluster's region. When not given, the region M(overdue.emr.sync) recorded, else
        that of the environment variable E(ALIBABA_CLOUD_REGION_ID), else E(ALICLOUD_REGION).
    type: str
    aliases: [alicloud_region]
  export_mode:
    description:
      - V(ALL) exports every configuration item, V(MODIFICATION) only the items changed from
        their defaults.
    type: str
    choices: [ALL, MODIFICATION]
    default: ALL
  file_format:
    description:
      - The format the configuration files are exported in.
    type: str
    choices: [JSON, XML]
    default: JSON
attributes:
  check_mode:
    support: full
    details: Reads the cloud and reports which files would change; writes nothing.
  diff_mode:
    support: full
    details: Shows each file that would be added or changed, before and after.
notes:
  - The credentials need C(emr:GetCluster), C(emr:ListNodeGroups), C(emr:ListApplicationConfigs)
    and C(emr:ExportApplicationConfigs).
  - No credential appears in the result, a message or a warning, whatever the verbosity.
seealso:
  - module: overdue.emr.sync
  - name: E-MapReduce overdue payments
    description: What stays available while a cluster is restricted, and when data is deleted.
    link: https://www.alibabacloud.com/help/en/emr/emr-on-ecs/product-overview/overdue-payments
"""

EXAMPLES = r"""
- name: Save a cluster's configuration while it can still be exported
  overdue.emr.export_configs:
    cluster_id: c-b933c5aac8fe1a2b
    dest: /srv/rescue/c-b933c5aac8fe1a2b
  register: saved

- name: Say what is still at risk
  ansible.builtin.debug:
    msg: "{{ saved.files | length }} files saved; {{ saved.at_risk }}"

- name: Which files would change (check mode writes nothing)
  overdue.emr.export_configs:
    cluster_id: c-b933c5aac8fe1a2b
    dest: /srv/rescue/c-b933c5aac8fe1a2b
    export_mode: MODIFICATION
  check_mode: true
  diff: true
"""

RETURN = r"""
msg:
  description: What the export did, or why it was refused or failed.
  returned: always
  type: str
  sample: "c-b933c5aac8fe1a2b (cn-hangzhou): 3 application(s) exported to /srv/rescue/c-1"
cluster_id:
  description: The cluster.
  returned: when exported
  type: str
region:
  description: Its region.
  returned: when exported
  type: str
  sample: cn-hangzhou
dest:
  description: The absolute path of the directory written to.
  returned: when exported
  type: str
dry_run:
  description: Whether nothing was written (check mode).
  returned: when exported
  type: bool
applications:
  description: The applications whose configuration was exported.
  returned: when exported
  type: list
  elements: str
  sample: [HDFS, SPARK3, YARN]
files:
  description: Each file of the export, with what became of it.
  returned: when exported
  type: list
  elements: dict
  contains:
    path:
      description: Relative to RV(dest).
      type: str
      sample: applications/HDFS.json
    status:
      description: V(added), V(changed) or V(unchanged).
      type: str
    sha256:
      description: The SHA-256 of its content.
      type: str
    size:
      description: Its size in bytes.
      type: int
counts:
  description: How many files were added, changed and unchanged.
  returned: when exported
  type: dict
  sample: {"added": 0, "changed": 1, "unchanged": 4}
data_deletion_at:
  description: When the cluster's data is deleted if nobody acts, or null.
  returned: when exported
  type: str
at_risk:
  description: What the export does not save and the user must copy.
  returned: always
  type: str
decision:
  description: The decision on C(export_service_config) the export was allowed or refused by.
  returned: when the phase was asked
  type: dict
error:
  description: The error the cloud answered with; nothing was written.
  returned: when the cloud failed
  type: dict
"""
