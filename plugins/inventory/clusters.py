# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: clusters
short_description: EMR clusters tracked by overdue-fsm, grouped by overdue phase
version_added: 0.1.0
description:
  - One host per cluster of the store of overdue-fsm, named by its cluster id, with its phase,
    billing,
    account, next phase and the verdict on every operation as host variables.
  - Groups C(phase_<phase>) (all six phases, even when empty), C(billing_<billing>) and
    C(account_<account>), so a play on C(phase_active) targets only the clusters where
    fee-generating work may run.
  - Reads the store and never writes it, unless O(sync) is set.
  - The inventory source is a YAML file whose name ends with C(overdue_clusters.yml) or
    C(overdue_clusters.yaml).
  - Runs on the controller; the Python package C(overdue-fsm) must be installed there.
author:
  - overdue-fsm developers (@overdue-fsm)
requirements:
  - overdue-fsm (Python package, on the controller)
extends_documentation_fragment:
  - overdue.emr.rules
  - overdue.emr.settings.plugin
  - ansible.builtin.constructed
options:
  plugin:
    description: The name of this plugin, always V(overdue.emr.clusters).
    type: str
    required: true
    choices: [overdue.emr.clusters]
  account:
    description: Only the clusters paid from these accounts (all when empty).
    type: list
    elements: str
    default: []
  sync:
    description:
      - Record what Alibaba Cloud says (the account balance and the clusters of
        O(sync.regions)) into the store before the inventory is built, as the
        M(overdue.emr.sync) module does, so the groups hold freshly synced clusters.
      - Runs every time the inventory source is read (each C(ansible-playbook),
        C(ansible-inventory) run), check mode included; this is the only time the inventory
        writes the store.
      - A sync that fails (the cloud answers with an error, or the store fails part way) fails
        the inventory source with the reason.
      - Credentials are not options; they come only from the credential chain of the Alibaba
        Cloud SDK, the environment variables E(ALIBABA_CLOUD_ACCESS_KEY_ID) and
        E(ALIBABA_CLOUD_ACCESS_KEY_SECRET) (and E(ALIBABA_CLOUD_SECURITY_TOKEN)) first, then
        those of the alibaba.alicloud collection, E(ALICLOUD_ACCESS_KEY), E(ALICLOUD_SECRET_KEY)
        (and E(ALICLOUD_SECURITY_TOKEN)), then the profiles and the RAM role of the instance.
        A credential in the inventory source is refused (by either collection's name); where
        they come from (O(sync.profile), O(sync.ecs_role_name), O(sync.assume_role)) is not.
      - When not set (the default), nothing is synced and the store is only read.
    type: dict
    suboptions:
      regions:
        description:
          - The regions whose E-MapReduce clusters are read, such as V(cn-hangzhou).
          - May be left out when E(ALIBABA_CLOUD_REGION_ID) or E(ALICLOUD_REGION) is set; that
            region is read then.
        type: list
        elements: str
        required: true
        aliases: [alicloud_region]
      account:
        description:
          - The name the clusters are filed under in the store. O(account) still filters which
            of them the inventory lists.
        type: str
        default: default
      since_from_transactions:
        description: Date the start of an overdue episode from the account transactions.
        type: bool
        default: false
      endpoint:
        description: The EMR endpoint (and BSS, unless O(sync.bss_endpoint) is set), as
          C(host[:port]).
        type: str
      bss_endpoint:
        description: The BSS (billing) endpoint, as C(host[:port]).
        type: str
      protocol:
        description: The scheme of the calls.
        type: str
        choices: [https, http]
        default: https
      timeout:
        description: Seconds to wait for each answer.
        type: float
        default: 10.0
      profile:
        description: A profile of C(~/.aliyun/config.json) (default E(ALICLOUD_PROFILE)).
        type: str
        aliases: [alicloud_profile]
      ecs_role_name:
        description: The RAM role of the controller's ECS instance (default
          E(ALICLOUD_ECS_ROLE_NAME)).
        type: str
        aliases: [alicloud_ecs_role_name]
      assume_role:
        description: A RAM role to assume through STS, as C({role_arn, session_name,
          session_expiration, policy}) (default E(ALICLOUD_ASSUME_ROLE_ARN)).
        type: dict
        aliases: [alicloud_assume_role]
      sts_endpoint:
        description: The STS endpoint of O(sync.assume_role), as C(host[:port]).
        type: str
notes:
  - A relative O(store) or O(policy) in the inventory source is relative to the directory of that
    file.
  - Host variables are C(overdue_phase), C(overdue_phase_since), C(overdue_billing),
    C(overdue_account),
    C(overdue_overdue_since), C(overdue_expires_at), C(overdue_next_phase),
    C(overdue_next_phase_at),
    C(overdue_data_deletion_at), C(overdue_deadline) and C(overdue_operations) (operation to
    verdict).
  - O(store=none) is not accepted, the inventory needs a store.
seealso:
  - module: overdue.emr.cluster_phase
  - module: overdue.emr.sync
  - plugin: overdue.emr.allowed
    plugin_type: lookup
"""

EXAMPLES = r"""
---
# fleet.overdue_clusters.yml - every cluster of the default store
plugin: overdue.emr.clusters

---
# prod.overdue_clusters.yml - one account, a given store, reached through a bastion
plugin: overdue.emr.clusters
store: ../state/fleet.sqlite
account: [team-data]
compose:
  ansible_host: "'emr-' ~ inventory_hostname ~ '.internal'"
keyed_groups:
  - key: overdue_next_phase | default('none', true)
    prefix: next
groups:
  # clusters whose data is deleted within a week unless someone pays
  doomed: >-
    overdue_data_deletion_at is not none and
    (overdue_data_deletion_at | to_datetime('%Y-%m-%dT%H:%M:%SZ') - now(utc=true)).days < 7

---
# synced.overdue_clusters.yml - sync from Alibaba Cloud first (credentials from the
# ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET environment or a profile)
plugin: overdue.emr.clusters
store: ../state/fleet.sqlite
sync:
  regions: [cn-hangzhou, cn-shanghai]
  account: team-data

# in a playbook: scale out only the clusters where fee-generating work may run
# - hosts: phase_active
#   tasks: ...
"""

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.utils.vars import combine_vars
from ansible_collections.overdue.emr.plugins.plugin_utils import cloud, common

_SUFFIXES = ("overdue_clusters.yml", "overdue_clusters.yaml")


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "overdue.emr.clusters"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(_SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        with common.user_errors(AnsibleParserError, prefix=path):
            self._read_config_data(path)
            settings = common.Settings.from_plugin(self, source=path)
            if settings.stateless:
                raise common.OverdueError(
                    "store: none is not accepted: the inventory lists the clusters of a store"
                )
            sync = self.get_option("sync")
            if sync is not None:
                settings = self._sync(settings, sync)
            accounts = set(self.get_option("account") or ())
            common.warn_pinned_now(settings, "%s %s" % (self.NAME, path))
            states = common.reader(settings).clusters(now=settings.now)
            self._populate(states, accounts)
            # This runs in Ansible's main process, before it forks a worker per task and
            # host: what the collection's tasks write with is imported once here.
            common.require_store().load_write_path()

    @staticmethod
    def _sync(settings, sync):
        """Sync, then the settings to read with: evaluated no earlier than the cloud was read."""
        options = cloud.validate_source_options(sync)
        summary = cloud.run(settings, options)
        why = cloud.stopped(summary)
        if why is not None:
            raise common.OverdueError(cloud.scrub(why, cloud.secrets()))
        now = settings.now if settings.now_given else common.parse_now(None)  # the clock, now
        return common.Settings(
            store=settings.store,
            policy_file=settings.policy_file,
            now=max(now, summary.fetched_at),
            now_given=settings.now_given,
            now_pinned_by=settings.now_pinned_by,
        )

    def _populate(self, states, accounts):
        strict = self.get_option("strict")
        for phase in common.fsm.Phase:
            self.inventory.add_group(_group("phase", phase))
        for state in states:
            if accounts and state.account not in accounts:
                continue
            report = common.report(state)
            host = self.inventory.add_host(state.cluster_id)
            hostvars = {
                "overdue_cluster_id": report["cluster_id"],
                "overdue_phase": report["phase"],
                "overdue_phase_since": report["phase_since"],
                "overdue_billing": report["billing"],
                "overdue_account": report["account"],
                "overdue_overdue_since": report["overdue_since"],
                "overdue_expires_at": report["expires_at"],
                "overdue_next_phase": report["next_phase"],
                "overdue_next_phase_at": report["next_phase_at"],
                "overdue_data_deletion_at": report["data_deletion_at"],
                "overdue_deadline": report["deadline"],
                "overdue_operations": report["operations"],
            }
            for name, value in hostvars.items():
                self.inventory.set_variable(host, name, value)
            for kind in ("phase", "billing", "account"):
                group = self.inventory.add_group(_group(kind, report[kind]))
                self.inventory.add_child(group, host)
            variables = combine_vars(self.inventory.get_host(host).get_vars(), hostvars)
            self._set_composite_vars(self.get_option("compose"), variables, host, strict=strict)
            self._add_host_to_composed_groups(
                self.get_option("groups"), variables, host, strict=strict
            )
            self._add_host_to_keyed_groups(
                self.get_option("keyed_groups"), variables, host, strict=strict
            )


def _group(kind, value):
    from ansible.inventory.group import to_safe_group_name

    return to_safe_group_name("%s_%s" % (kind, value), force=True, silent=True)
