# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """What every module of the collection supports: each is an action that runs on the
    controller and never connects to the target.

    Used after C(ansible.builtin.action_common_attributes) and its C(conn) and C(flow)
    fragments, which describe the attributes; a module adds C(check_mode) and C(diff_mode).
    """

    DOCUMENTATION = r"""
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
  connection:
    support: none
  delegation:
    support: none
    details: Runs on the controller whatever the target is.
  platform:
    platforms: all
"""
