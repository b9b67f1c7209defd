# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cluster_of
short_description: The EMR cluster an ECS instance belongs to
version_added: 0.1.0
description:
  - Maps ECS instance ids (the C(instance_id) host variable of the alibaba.alicloud
    C(alicloud_ecs) inventory) to the id of the E-MapReduce cluster whose node each one is, so a
    play over ECS hosts can guard by the phase of the owning cluster with
    P(overdue.emr.allowed#lookup).
  - Reads the clusters of O(region) (C(ListClusters)) and the nodes of each cluster that still
    runs (C(ListNodes)) once per run; the map is kept in the run's local temporary directory and
    shared by every host and fork of the run.
  - Never writes the store; it does not read it either.
  - Runs on the controller; the Python package C(overdue-fsm[aliyun]) must be installed there.
    Credentials come from the environment (E(ALIBABA_CLOUD_ACCESS_KEY_ID) and
    E(ALIBABA_CLOUD_ACCESS_KEY_SECRET), else E(ALICLOUD_ACCESS_KEY) and E(ALICLOUD_SECRET_KEY)),
    a profile, an ECS RAM role, or an assumed role; never from the lookup's arguments.
author:
  - overdue-fsm developers (@overdue-fsm)
requirements:
  - overdue-fsm[aliyun] (Python package with the Alibaba Cloud SDK, on the controller)
options:
  _terms:
    description: ECS instance ids, such as V(i-bp1cudc25w2bfwl5k0ab).
    type: list
    elements: str
    required: true
  region:
    description:
      - The region of the instances.
      - When not given, E(ALIBABA_CLOUD_REGION_ID), else E(ALICLOUD_REGION).
    type: str
    aliases: [alicloud_region]
    env:
      - name: ALIBABA_CLOUD_REGION_ID
      - name: ALICLOUD_REGION
  details:
    description:
      - Return for each instance a dictionary (C(instance_id), C(cluster_id), C(region),
        C(node_group_id), C(node_group_type), C(instance_type)) instead of the cluster id.
    type: bool
    default: false
  default:
    description:
      - What to return for an instance that is no node of any cluster of O(region).
      - Without it, such an instance is an error (a guard fails closed).
    type: str
  profile:
    description: A profile of C(~/.aliyun/config.json) to take the credentials from.
    type: str
    aliases: [alicloud_profile]
    env:
      - name: ALICLOUD_PROFILE
  ecs_role_name:
    description: The RAM role of the controller's ECS instance to take the credentials from.
    type: str
    aliases: [alicloud_ecs_role_name]
    env:
      - name: ALICLOUD_ECS_ROLE_NAME
  assume_role:
    description:
      - A RAM role to assume through STS, as C({role_arn, session_name, session_expiration,
        policy}) (E(ALICLOUD_ASSUME_ROLE_ARN) when not given).
    type: dict
    aliases: [alicloud_assume_role]
  sts_endpoint:
    description: The STS endpoint of O(assume_role), as C(host[:port]).
    type: str
  endpoint:
    description: The EMR endpoint to call instead of the public one of O(region), as
      C(host[:port]).
    type: str
  protocol:
    description: The scheme of the calls. V(http) is only for a private endpoint or a test double.
    type: str
    choices: [https, http]
    default: https
  timeout:
    description: Seconds to wait for each answer (more than 0, at most 600).
    type: float
    default: 10.0
notes:
  - The credentials need C(emr:ListClusters) and C(emr:ListNodes).
  - Clusters released by their owner are not listed; their former nodes are unknown.
seealso:
  - plugin: overdue.emr.allowed
    plugin_type: lookup
"""

EXAMPLES = r"""
# Over the hosts of the alibaba.alicloud.alicloud_ecs inventory (host variable instance_id):
- name: Submit the job only where the owning cluster's phase allows it
  ansible.builtin.command: /opt/jobs/submit.sh
  changed_when: true
  vars:
    owning_cluster: "{{ lookup('overdue.emr.cluster_of', instance_id, region='cn-hangzhou') }}"
  when: lookup('overdue.emr.allowed', owning_cluster, operation='submit_task')

- name: ECS hosts that are no EMR node are left alone
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} is a node of {{ owning_cluster }}"
  vars:
    owning_cluster: "{{ lookup('overdue.emr.cluster_of', instance_id, default='') }}"
  when: owning_cluster | length > 0
"""

RETURN = r"""
_list:
  description: One cluster id (or dictionary, with O(details)) per instance id.
  type: list
  elements: raw
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.overdue.emr.plugins.plugin_utils import cloud, common

common.preload_option_definitions(__name__)

OPTIONS = (
    "region",
    "profile",
    "ecs_role_name",
    "assume_role",
    "sts_endpoint",
    "endpoint",
    "protocol",
    "timeout",
)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        with common.user_errors(AnsibleLookupError):
            self.set_options(var_options=variables, direct=kwargs)
            if not terms:
                raise common.OverdueError(
                    "give at least one ECS instance id, such as "
                    "lookup('overdue.emr.cluster_of', instance_id)"
                )
            options = {name: self.get_option(name) for name in OPTIONS}
            nodes = cloud.nodes_of(options)
            default = self.get_option("default")
            results = []
            for term in terms:
                node = nodes.get(str(term))
                if node is None:
                    if default is None:
                        raise AnsibleLookupError(
                            "%s is no node of any EMR cluster of %s; give default= to decide "
                            "yourself what an instance outside EMR means"
                            % (term, options["region"])
                        )
                    results.append(default)
                elif self.get_option("details"):
                    results.append(dict(node, instance_id=str(term)))
                else:
                    results.append(node["cluster_id"])
            return results
