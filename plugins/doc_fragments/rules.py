# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """Where the rules the phases follow are published, linked once for every plugin."""

    DOCUMENTATION = r"""
options: {}
seealso:
  - name: E-MapReduce overdue payments (product overview)
    description: The rules the phases follow, from Alibaba Cloud.
    link: https://www.alibabacloud.com/help/en/emr/emr-on-ecs/product-overview/description-of-arrears
"""
