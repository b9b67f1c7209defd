# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """How an action reaches Alibaba Cloud: credentials, endpoint, protocol, timeout."""

    DOCUMENTATION = r"""
options:
  access_key_id:
    description:
      - The AccessKey ID. With O(access_key_secret) (and O(security_token) for an STS token).
      - When not given, the SDK's credential chain is used, the environment variables
        E(ALIBABA_CLOUD_ACCESS_KEY_ID), E(ALIBABA_CLOUD_ACCESS_KEY_SECRET) and
        E(ALIBABA_CLOUD_SECURITY_TOKEN) first, then the profiles and the RAM role of the
        instance. Prefer the chain, or a vaulted variable, to writing a key in a playbook.
    type: str
  access_key_secret:
    description:
      - The AccessKey secret of O(access_key_id). Never shown in any output.
    type: str
  security_token:
    description:
      - The STS security token that goes with a temporary O(access_key_id). Never shown in any
        output.
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
