# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """The facts of a cluster and what was observed about it."""

    DOCUMENTATION = r"""
options:
  billing:
    description:
      - How the cluster is paid for, V(pay_as_you_go) or V(subscription) (the API spellings
        V(PayAsYouGo) and V(Subscription) are accepted too).
      - Needed the first time a cluster is seen, and always with O(store=none).
    type: str
  account:
    description:
      - The billing account the cluster is paid from. The balance is per account, the phase per
        cluster.
      - Defaults to V(default) for a cluster seen for the first time.
    type: str
  expires_at:
    description:
      - Subscription clusters only, when the paid period ends (ISO 8601 with an offset or C(Z), or
        epoch seconds).
    type: raw
  balance:
    description:
      - The account balance that was observed, a decimal such as V(-11.19).
      - A negative balance starts an overdue episode (at O(overdue_since) when given, else at
        O(observed_at)); a balance of zero or more means the account was recharged.
    type: raw
  overdue_since:
    description:
      - When the balance went negative, if known (the billing console tells). It starts the
        24 hour, 15 day and 60 day clock of a pay-as-you-go cluster.
      - Implies a negative balance when O(balance) is not given.
    type: raw
  renewed_until:
    description:
      - The subscription was renewed and now runs until this instant.
      - Subscription clusters only; for a pay-as-you-go cluster it is an error, as O(expires_at)
        is.
    type: raw
  released:
    description:
      - The owner released the cluster.
    type: bool
    default: false
  observed_at:
    description:
      - When the observation was made. Defaults to O(now).
    type: raw
notes:
  - With O(store=none) (stateless mode) the facts given are evaluated as they are, and no store
    is read or written.
"""
