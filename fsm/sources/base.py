"""What sync needs from any cloud: the :class:`Source` protocol and the snapshot values.

A source reads the account balance and every cluster of some regions, all or
nothing, and says who it is (its ``label``, such as ``aliyun``, names where a
recorded fact came from). The values here are plain: billing is a
:class:`~fsm.table.Billing`, instants are timezone-aware UTC ``datetime``s and
amounts are ``Decimal``s, whatever the cloud wrote on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Protocol

from fsm.table import Billing

#: Where ``AccountSnapshot.overdue_since`` comes from.
SINCE_TRANSACTIONS: Final = "transactions"
SINCE_FIRST_SEEN: Final = "first_seen"


@dataclass(frozen=True)
class CloudCluster:
    """One cluster as the cloud reports it.

    ``expires_at`` is set for subscriptions only; ``released`` means the owner
    released it, and ``released_at`` is then when. ``state`` is the cloud's raw
    state and ``state_reason`` its raw reason (for Alibaba Cloud ``TERMINATED``
    with ``UserRequest`` is a release, with ``AccountException`` it is not).
    """

    cluster_id: str
    region: str
    name: str
    billing: Billing
    expires_at: datetime | None
    released: bool
    released_at: datetime | None
    state: str
    state_reason: str | None = None


@dataclass(frozen=True)
class AccountSnapshot:
    """The account balance and whether it is overdue.

    ``overdue_since`` is set only when it was derived from the account's
    transactions (``overdue_since_source == 'transactions'``); otherwise the
    source is ``'first_seen'`` and the caller supplies the first time it saw the
    balance negative.
    """

    balance: Decimal
    currency: str
    overdue: bool
    overdue_since: datetime | None
    overdue_since_source: str


@dataclass(frozen=True)
class Snapshot:
    """The account and every cluster of ``regions``, complete, as of ``fetched_at``.

    ``fetched_at`` is the instant the snapshot began (the balance is read first);
    ``source`` is the label of the source that read it, such as ``aliyun``.
    """

    account: AccountSnapshot
    clusters: list[CloudCluster]
    regions: list[str]
    fetched_at: datetime
    source: str

    def disappeared(self, tracked: Mapping[str, str]) -> list[str]:
        """Ids of tracked clusters (id -> region) that a listed region no longer shows.

        A listing is all or nothing, so a cluster missing from a listed region is
        gone: the caller treats it as released. Clusters tracked in regions this
        snapshot did not list are never reported.
        """
        listed = {c.cluster_id for c in self.clusters}
        return sorted(
            cid for cid, region in tracked.items() if region in self.regions and cid not in listed
        )


@dataclass(frozen=True)
class AccountTransaction:
    """One entry of the account's history; ``balance`` is the balance after it."""

    at: datetime
    amount: Decimal
    balance: Decimal
    flow: str
    number: str


def derive_overdue_since(transactions: Sequence[AccountTransaction]) -> datetime | None:
    """The time of the earliest transaction after which the balance stayed negative.

    None when the latest balance is not negative (or there are no transactions).
    """
    start: datetime | None = None
    for entry in sorted(transactions, key=lambda t: t.at):
        if entry.balance < 0:
            if start is None:
                start = entry.at
        else:
            start = None
    return start


@dataclass(frozen=True)
class ConfigFile:
    """One configuration file of one application, as the cloud exported it (decoded bytes)."""

    application: str
    name: str
    content: bytes


@dataclass(frozen=True)
class ClusterShape:
    """What a clone of a cluster needs: its own fields and its node groups, as the cloud wrote them.

    ``cluster`` and each of ``node_groups`` keep the cloud's field names and values
    (only the fields that describe the shape); ``applications`` are the names of
    the applications that have configuration files.
    """

    cluster_id: str
    region: str
    cluster: Mapping[str, Any]
    node_groups: Sequence[Mapping[str, Any]] = field(default_factory=list)
    applications: Sequence[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster_id": self.cluster_id,
            "region": self.region,
            "cluster": dict(self.cluster),
            "node_groups": [dict(group) for group in self.node_groups],
            "applications": list(self.applications),
        }


@dataclass(frozen=True)
class CloudNode:
    """One node (an ECS instance, ``node_id`` being its instance id) of a cluster."""

    node_id: str
    cluster_id: str
    node_group_id: str | None
    node_group_type: str | None
    instance_type: str | None
    state: str | None


class ConfigSource(Protocol):
    """A cloud that can say what a cluster is made of and hand back its configuration."""

    @property
    def label(self) -> str: ...

    def cluster_shape(self, region: str, cluster_id: str) -> ClusterShape:
        """The cluster's fields and node groups; all or nothing."""
        ...

    def application_configs(
        self, region: str, cluster_id: str, *, export_mode: str, file_format: str
    ) -> list[ConfigFile]:
        """Every configuration file of every application of the cluster; all or nothing."""
        ...


class Source(Protocol):
    """A cloud that sync can read: the account and its clusters, region by region."""

    @property
    def label(self) -> str:
        """Who this source is (``aliyun``): recorded facts say ``<label>:<region>``."""
        ...

    def account(self, *, since_from_transactions: bool = False) -> AccountSnapshot:
        """The balance; with ``since_from_transactions``, when an overdue episode began."""
        ...

    def clusters(self, region: str) -> list[CloudCluster]:
        """Every cluster of ``region``; all or nothing."""
        ...

    def snapshot(
        self, regions: Sequence[str], *, since_from_transactions: bool = False
    ) -> Snapshot:
        """The account and every cluster of ``regions``; any failure fails it all."""
        ...
