# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """How an action reaches Alibaba Cloud: credentials, endpoint, protocol, timeout.

    The options take the names of the alibaba.alicloud collection as aliases, and
    its environment variables are read after the SDK's own.
    """

    DOCUMENTATION = r"""
options:
  access_key_id:
    description:
      - The AccessKey ID. With O(access_key_secret) (and O(security_token) for an STS token).
      - When not given, the environment variables E(ALIBABA_CLOUD_ACCESS_KEY_ID),
        E(ALIBABA_CLOUD_ACCESS_KEY_SECRET) and E(ALIBABA_CLOUD_SECURITY_TOKEN) are read, then
        those of the alibaba.alicloud collection, E(ALICLOUD_ACCESS_KEY), E(ALICLOUD_SECRET_KEY)
        and E(ALICLOUD_SECURITY_TOKEN), then the SDK's credential chain (its profiles, the RAM
        role of the instance). Prefer the environment or the chain, or a vaulted variable, to
        writing a key in a playbook.
    type: str
    aliases: [alicloud_access_key]
  access_key_secret:
    description:
      - The AccessKey secret of O(access_key_id). Never shown in any output.
    type: str
    aliases: [alicloud_secret_key]
  security_token:
    description:
      - The STS security token that goes with a temporary O(access_key_id). Never shown in any
        output.
    type: str
    aliases: [alicloud_security_token]
  profile:
    description:
      - A profile of the Alibaba Cloud CLI configuration (C(~/.aliyun/config.json)) to take the
        credentials from, when no AccessKey is given or set in the environment.
      - When not given, the environment variable E(ALICLOUD_PROFILE) is used (the SDK's chain
        also reads E(ALIBABA_CLOUD_PROFILE)).
    type: str
    aliases: [alicloud_profile]
  ecs_role_name:
    description:
      - The RAM role of the ECS instance the controller runs on, to take the credentials from,
        when no AccessKey or O(profile) is given.
      - When not given, the environment variable E(ALICLOUD_ECS_ROLE_NAME) is used.
    type: str
    aliases: [alicloud_ecs_role_name]
  assume_role:
    description:
      - A RAM role to assume through STS C(AssumeRole) with the credentials found above, as the
        alibaba.alicloud collection does; every call then uses the role's temporary credentials.
      - When not given, the environment variables E(ALICLOUD_ASSUME_ROLE_ARN),
        E(ALICLOUD_ASSUME_ROLE_SESSION_NAME) and E(ALICLOUD_ASSUME_ROLE_SESSION_EXPIRATION) are
        read.
    type: dict
    aliases: [alicloud_assume_role]
    suboptions:
      role_arn:
        description:
          - The role, as C(acs:ram::<account id>:role/<role name>).
        type: str
        required: true
      session_name:
        description:
          - The name of the session, 2 to 64 of letters, digits and C(. @ - _).
        type: str
        default: overdue-fsm
      session_expiration:
        description:
          - How long the temporary credentials last, in seconds (900 to the role's maximum).
        type: int
        default: 3600
      policy:
        description:
          - A policy (JSON) that narrows what the role may do in this session.
        type: str
  sts_endpoint:
    description:
      - The STS endpoint O(assume_role) calls, as C(host[:port]) (default
        V(sts.aliyuncs.com)), with the scheme of O(protocol).
    type: str
  endpoint:
    description:
      - The EMR endpoint to call instead of the public one of the region, as C(host[:port]) (a
        VPC endpoint such as V(emr-vpc.cn-hangzhou.aliyuncs.com)).
    type: str
  protocol:
    description:
      - The scheme of the calls. V(http) is only for a private endpoint or a test double.
    type: str
    choices: [https, http]
    default: https
  timeout:
    description:
      - Seconds to wait for each answer (more than 0, at most 600). Throttling and server errors
        are retried a few times with backoff before the task fails.
    type: float
    default: 10.0
"""
