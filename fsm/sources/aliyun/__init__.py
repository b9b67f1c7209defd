"""Alibaba Cloud as a source of facts: the account balance and the EMR clusters.

Install with ``pip install 'overdue-fsm[aliyun]'``: it brings the official SDKs
``alibabacloud-bssopenapi20171214`` (QueryAccountBalance, QueryAccountTransactions)
and ``alibabacloud-emr20210320`` (ListClusters, GetCluster; for saving a cluster
before its data is deleted ListNodeGroups, ListApplicationConfigs and
ExportApplicationConfigs; ListNodes to find the cluster of an ECS instance). They are imported
when an :class:`AliyunSource` is made, so this package loads without them.

This module holds the API calls; ``_transport`` the SDK, the credentials and
one call with retry, classification and scrubbing; ``_decode`` the response
fields turned into the values of :mod:`fsm.sources.base`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final, Generic, TypeVar

from fsm.errors import InputError, SourceError
from fsm.sources.base import (
    SINCE_FIRST_SEEN,
    SINCE_TRANSACTIONS,
    AccountSnapshot,
    AccountTransaction,
    CloudCluster,
    CloudNode,
    ClusterShape,
    ConfigFile,
    Snapshot,
    derive_overdue_since,
)
from fsm.table import Billing
from fsm.timeutil import format_time, parse_time, utcnow
from fsm.values import parse_cluster_id, parse_region

from ._decode import (
    CLUSTER_SHAPE_FIELDS,
    CLUSTER_STATES,
    GONE_STATES,
    RELEASED_REASON,
    RELEASED_STATE,
    cluster,
    config_entry,
    config_file,
    count,
    mapping,
    node,
    node_group,
    parse_amount,
    sequence,
    shape_fields,
    text,
    transaction,
    unexpected,
)
from ._sts import (
    DEFAULT_STS_ENDPOINT,
    ENV_ASSUME_ROLE_ARN,
    ENV_ASSUME_ROLE_SESSION_EXPIRATION,
    ENV_ASSUME_ROLE_SESSION_NAME,
    AssumeRole,
)
from ._transport import (
    BACKOFF_CAP_S,
    CREDENTIAL_ENV,
    DEFAULT_BSS_ENDPOINT,
    DEFAULT_TIMEOUT_S,
    ENV_ALICLOUD_ECS_ROLE_NAME,
    ENV_ALICLOUD_KEY_ID,
    ENV_ALICLOUD_KEY_SECRET,
    ENV_ALICLOUD_PROFILE,
    ENV_ALICLOUD_TOKEN,
    ENV_KEY_ID,
    ENV_KEY_SECRET,
    ENV_TOKEN,
    INSTALL_HINT,
    MAX_TIMEOUT_S,
    NOT_FOUND_CODES,
    REGION_ENV,
    THROTTLING_CODES,
    Transport,
    check_number,
    default_region,
    is_not_found,
)

__all__ = [
    "BACKOFF_CAP_S",
    "CLUSTER_STATES",
    "CREDENTIAL_ENV",
    "DEFAULT_BSS_ENDPOINT",
    "DEFAULT_STS_ENDPOINT",
    "DEFAULT_TIMEOUT_S",
    "ENV_ALICLOUD_ECS_ROLE_NAME",
    "ENV_ALICLOUD_KEY_ID",
    "ENV_ALICLOUD_KEY_SECRET",
    "ENV_ALICLOUD_PROFILE",
    "ENV_ALICLOUD_TOKEN",
    "ENV_ASSUME_ROLE_ARN",
    "ENV_ASSUME_ROLE_SESSION_EXPIRATION",
    "ENV_ASSUME_ROLE_SESSION_NAME",
    "ENV_KEY_ID",
    "ENV_KEY_SECRET",
    "ENV_TOKEN",
    "EXPORT_MODES",
    "FILE_FORMATS",
    "GONE_STATES",
    "INSTALL_HINT",
    "LABEL",
    "LIST_PAGE_SIZE",
    "MAX_PAGES",
    "MAX_TIMEOUT_S",
    "NOT_FOUND_CODES",
    "PAY_AS_YOU_GO",
    "REGION_ENV",
    "RELEASED_REASON",
    "RELEASED_STATE",
    "SINCE_FIRST_SEEN",
    "SINCE_TRANSACTIONS",
    "SUBSCRIPTION",
    "THROTTLING_CODES",
    "TRANSACTIONS_PAGE_SIZE",
    "TRANSACTIONS_WINDOW",
    "AccountSnapshot",
    "AccountTransaction",
    "AliyunSource",
    "AssumeRole",
    "CloudCluster",
    "CloudNode",
    "ClusterNotFoundError",
    "ClusterShape",
    "ConfigFile",
    "Snapshot",
    "default_region",
    "derive_overdue_since",
    "parse_amount",
]

log = logging.getLogger(__name__)

#: What this source calls itself in the facts it records (``aliyun:<region>``).
LABEL: Final = "aliyun"
# Kept for callers of the module before billing became fsm.table.Billing.
PAY_AS_YOU_GO: Final = Billing.PAY_AS_YOU_GO
SUBSCRIPTION: Final = Billing.SUBSCRIPTION

LIST_PAGE_SIZE: Final = 100  # ListClusters MaxResults: 1 to 100
DETAIL_PAGE_SIZE: Final = 100  # ListNodeGroups, ListNodes, ListApplicationConfigs MaxResults
#: ExportApplicationConfigs: every value or only those changed from the defaults; the format.
EXPORT_MODES: Final = ("ALL", "MODIFICATION")
FILE_FORMATS: Final = ("JSON", "XML")
TRANSACTIONS_PAGE_SIZE: Final = 100
TRANSACTIONS_WINDOW: Final = timedelta(days=30)  # the API's default window is one month
MAX_PAGES: Final = 1000

# Alibaba Cloud's region ids are narrower than any cloud's: a geography, then parts.
_REGION_SHAPE: Final = re.compile(r"^[a-z]{2,}(-[a-z0-9]+){1,5}$")

T = TypeVar("T")


@dataclass(frozen=True)
class _Page(Generic[T]):
    """One answer of a listing API: its items, TotalCount, and the NextToken if any."""

    items: list[T]
    total: int | None
    request_id: str | None
    next_token: str | None = None


class ClusterNotFoundError(SourceError):
    """GetCluster answered that the cluster does not exist in that region.

    Whether that means "released" is the caller's call: the region may be wrong.
    """

    def __init__(
        self,
        api: str,
        code: str,
        message: str,
        request_id: str | None,
        *,
        cluster_id: str,
        region: str,
    ) -> None:
        super().__init__(api, code, message, request_id)
        self.cluster_id = cluster_id
        self.region = region


class AliyunSource(Transport):
    """Reads the account balance and the EMR clusters from Alibaba Cloud.

    Credentials: ``access_key_id`` and ``access_key_secret`` (and
    ``security_token`` for STS) when given; else ``ALIBABA_CLOUD_ACCESS_KEY_ID``
    and ``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` (and ``ALIBABA_CLOUD_SECURITY_TOKEN``)
    as set when the source is made; else the SDK's default credential chain
    (profiles, ECS RAM role, OIDC...). alibaba.alicloud's names are read after the
    SDK's: ``ALICLOUD_ACCESS_KEY`` / ``ALICLOUD_SECRET_KEY`` / ``ALICLOUD_SECURITY_TOKEN``;
    ``profile`` (``ALICLOUD_PROFILE``, of ``~/.aliyun/config.json``) or
    ``ecs_role_name`` (``ALICLOUD_ECS_ROLE_NAME``) replace the default chain; with
    ``assume_role`` (a role ARN, or ``{role_arn, session_name, session_expiration,
    policy}``; ``ALICLOUD_ASSUME_ROLE_ARN``) the credentials found are traded for the
    role's through STS ``AssumeRole`` at ``sts_endpoint`` (default
    ``sts.aliyuncs.com``) before the first call. ``endpoint`` overrides the EMR endpoint
    (and BSS too, unless ``bss_endpoint`` is given) for private endpoints and
    tests: ``host[:port]``, with ``protocol`` ``http`` or ``https``.
    """

    def __init__(
        self,
        *,
        access_key_id: str | None = None,
        access_key_secret: str | None = None,
        security_token: str | None = None,
        endpoint: str | None = None,
        bss_endpoint: str | None = None,
        protocol: str = "https",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        transactions_lookback_days: int = 90,
        profile: str | None = None,
        ecs_role_name: str | None = None,
        assume_role: object = None,
        sts_endpoint: str | None = None,
    ) -> None:
        lookback = check_number(
            transactions_lookback_days,
            "transactions_lookback_days",
            1,
            3650,
            "whole days from 1 to 3650",
            whole=True,
        )
        super().__init__(
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            security_token=security_token,
            endpoint=endpoint,
            bss_endpoint=bss_endpoint,
            protocol=protocol,
            timeout_s=timeout_s,
            max_retries=max_retries,
            backoff_s=backoff_s,
            profile=profile,
            ecs_role_name=ecs_role_name,
            assume_role=assume_role,
            sts_endpoint=sts_endpoint,
        )
        self._lookback = timedelta(days=lookback)
        self._clock: Callable[[], datetime] = utcnow  # to the second, as every instant prints

    @property
    def label(self) -> str:
        return LABEL

    # ---- public API ------------------------------------------------------

    def account(self, *, since_from_transactions: bool = False) -> AccountSnapshot:
        """The balance; with ``since_from_transactions``, when an overdue episode began."""
        api = "QueryAccountBalance"
        client, where = self._bss_client(api)
        body = self._call(
            api, where, partial(client.query_account_balance_with_options, self._runtime())
        )
        request_id = text(body.get("RequestId"))
        data = mapping(body.get("Data"), api, "Data", request_id)
        balance = parse_amount(
            data.get("AvailableAmount"), "Data.AvailableAmount", api=api, request_id=request_id
        )
        currency = text(data.get("Currency")) or ""
        overdue = balance < 0
        if overdue and since_from_transactions:
            since = self._overdue_since_from_transactions()
            if since is not None:
                return AccountSnapshot(balance, currency, True, since, SINCE_TRANSACTIONS)
        return AccountSnapshot(balance, currency, overdue, None, SINCE_FIRST_SEEN)

    def transactions(self, since: datetime, until: datetime) -> list[AccountTransaction]:
        """Every account transaction created in [since, until], oldest first (all pages)."""
        start, end = parse_time(since, "since"), parse_time(until, "until")
        if start > end:
            raise InputError(
                "since", start.isoformat(), f"an instant no later than until ({end.isoformat()})"
            )
        api = "QueryAccountTransactions"
        client, where = self._bss_client(api)
        field = "Data.AccountTransactionsList"

        def page(number: int, token: str | None) -> _Page[AccountTransaction]:
            request = self._sdk.bss_models.QueryAccountTransactionsRequest(
                create_time_start=format_time(start.replace(microsecond=0)),
                create_time_end=format_time(end.replace(microsecond=0)),
                page_num=number,
                page_size=TRANSACTIONS_PAGE_SIZE,
            )
            body = self._call(
                api,
                where,
                partial(client.query_account_transactions_with_options, request, self._runtime()),
            )
            request_id = text(body.get("RequestId"))
            data = mapping(body.get("Data"), api, "Data", request_id)
            total = count(data.get("TotalCount"), api, "Data.TotalCount", request_id)
            holder = data.get("AccountTransactionsList")  # {"AccountTransactionsList": [...]}
            inner = None if holder is None else mapping(holder, api, field, request_id)
            items = None if inner is None else inner.get("AccountTransactionsList")
            entries = sequence(items, api, field + ".AccountTransactionsList", request_id)
            return _Page([transaction(e, api, request_id) for e in entries], total, request_id)

        newest_first = _all_pages(api, None, "transactions", page, by_token=False)
        # The API lists newest first; keep its order for entries of the same second.
        oldest_first = newest_first[::-1]
        return sorted(oldest_first, key=lambda t: t.at)

    def clusters(self, region: str) -> list[CloudCluster]:
        """Every cluster of ``region`` (ListClusters, all pages); all or nothing."""
        region = _region(region)
        api = "ListClusters"
        client, where = self._emr_client(region, api)

        def page(number: int, token: str | None) -> _Page[CloudCluster]:
            request = self._sdk.emr_models.ListClustersRequest(
                region_id=region, max_results=LIST_PAGE_SIZE, next_token=token
            )
            body = self._call(
                api, where, partial(client.list_clusters_with_options, request, self._runtime())
            )
            request_id = text(body.get("RequestId"))
            items = sequence(body.get("Clusters"), api, "Clusters", request_id)
            return _Page(
                [cluster(item, region, api, request_id) for item in items],
                count(body.get("TotalCount"), api, "TotalCount", request_id),
                request_id,
                text(body.get("NextToken")),
            )

        return _all_pages(api, region, "clusters", page, by_token=True, key=lambda c: c.cluster_id)

    def cluster(self, region: str, cluster_id: str) -> CloudCluster:
        """One cluster (GetCluster); :class:`ClusterNotFoundError` when the cloud has none."""
        region, cluster_id = _region(region), parse_cluster_id(cluster_id)
        data, request_id = self._get_cluster(region, cluster_id)
        return cluster(data, region, "GetCluster", request_id)

    def cluster_shape(self, region: str, cluster_id: str) -> ClusterShape:
        """What a clone needs: GetCluster's fields, every node group, the applications.

        The applications are those ListApplicationConfigs names; all or nothing.
        """
        region, cluster_id = _region(region), parse_cluster_id(cluster_id)
        data, _ = self._get_cluster(region, cluster_id)
        groups = self.node_groups(region, cluster_id)
        applications = sorted({app for app, _ in self.config_files(region, cluster_id)})
        return ClusterShape(
            cluster_id=cluster_id,
            region=region,
            cluster=shape_fields(data, CLUSTER_SHAPE_FIELDS),
            node_groups=groups,
            applications=applications,
        )

    def node_groups(self, region: str, cluster_id: str) -> list[dict[str, Any]]:
        """Every node group of the cluster (ListNodeGroups, all pages), shape fields only."""
        return self._cluster_listing(
            "ListNodeGroups",
            region,
            cluster_id,
            "node groups",
            "NodeGroups",
            lambda item, request_id: node_group(item, "ListNodeGroups", request_id),
            key=lambda group: str(group["NodeGroupId"]),
        )

    def nodes(self, region: str, cluster_id: str) -> list[CloudNode]:
        """Every node of the cluster (ListNodes, all pages); NodeId is the ECS instance id."""
        cluster_id = parse_cluster_id(cluster_id)
        return self._cluster_listing(
            "ListNodes",
            region,
            cluster_id,
            "nodes",
            "Nodes",
            lambda item, request_id: node(item, cluster_id, "ListNodes", request_id),
            key=lambda found: found.node_id,
        )

    def config_files(self, region: str, cluster_id: str) -> list[tuple[str, str]]:
        """Every (application, configuration file) of the cluster (ListApplicationConfigs)."""
        # One entry per configuration item: a file is listed as often as it has items.
        entries = self._cluster_listing(
            "ListApplicationConfigs",
            region,
            cluster_id,
            "configuration items",
            "ApplicationConfigs",
            lambda item, request_id: config_entry(item, "ListApplicationConfigs", request_id),
        )
        return sorted(set(entries))

    def application_configs(
        self,
        region: str,
        cluster_id: str,
        *,
        export_mode: str = "ALL",
        file_format: str = "JSON",
    ) -> list[ConfigFile]:
        """Every configuration file of the cluster (ExportApplicationConfigs), decoded.

        The files asked for are those ListApplicationConfigs names; an empty
        list when the cluster has none.
        """
        region, cluster_id = _region(region), parse_cluster_id(cluster_id)
        mode = _choice(export_mode, "export_mode", EXPORT_MODES)
        fmt = _choice(file_format, "file_format", FILE_FORMATS)
        wanted = self.config_files(region, cluster_id)
        if not wanted:
            return []
        api = "ExportApplicationConfigs"
        client, where = self._emr_client(region, api)
        models = self._sdk.emr_models
        request = models.ExportApplicationConfigsRequest(
            region_id=region,
            cluster_id=cluster_id,
            export_mode=mode,
            file_format=fmt,
            application_config_files=[
                models.ApplicationConfigFile(application_name=app, config_file_name=name)
                for app, name in wanted
            ],
        )
        body, request_id = self._cluster_call(
            api, where, region, cluster_id, client.export_application_configs_with_options, request
        )
        items = sequence(body.get("ApplicationConfigs"), api, "ApplicationConfigs", request_id)
        files = [config_file(item, api, request_id) for item in items]
        return sorted(files, key=lambda f: (f.application, f.name))

    def snapshot(
        self, regions: Sequence[str], *, since_from_transactions: bool = False
    ) -> Snapshot:
        """The account and every cluster of ``regions``; any failure fails it all."""
        if isinstance(regions, str) or not isinstance(regions, Sequence):
            raise InputError("regions", regions, "a list of region ids such as ['cn-hangzhou']")
        wanted: list[str] = []
        for region in regions:
            checked = _region(region)
            if checked not in wanted:
                wanted.append(checked)
        if not wanted:
            raise InputError("regions", list(regions), "at least one region id such as cn-hangzhou")
        fetched_at = self._clock()
        account = self.account(since_from_transactions=since_from_transactions)
        clusters: list[CloudCluster] = []
        for region in wanted:
            clusters.extend(self.clusters(region))
        return Snapshot(account, clusters, wanted, fetched_at, self.label)

    # ---- one cluster -------------------------------------------------------

    def _cluster_listing(
        self,
        api: str,
        region: str,
        cluster_id: str,
        noun: str,
        field: str,
        decode: Callable[[object, str | None], T],
        *,
        key: Callable[[T], Hashable] | None = None,
    ) -> list[T]:
        """Every item of a NextToken listing about one cluster (``field`` of each page)."""
        region, cluster_id = _region(region), parse_cluster_id(cluster_id)
        client, where = self._emr_client(region, api)
        # ListNodeGroups -> ListNodeGroupsRequest and client.list_node_groups_with_options.
        request_of = getattr(self._sdk.emr_models, api + "Request")
        send = getattr(client, re.sub(r"(?<!^)(?=[A-Z])", "_", api).lower() + "_with_options")

        def page(number: int, token: str | None) -> _Page[T]:
            request = request_of(
                region_id=region,
                cluster_id=cluster_id,
                max_results=DETAIL_PAGE_SIZE,
                next_token=token,
            )
            body, request_id = self._cluster_call(api, where, region, cluster_id, send, request)
            items = sequence(body.get(field), api, field, request_id)
            return _Page(
                [decode(item, request_id) for item in items],
                count(body.get("TotalCount"), api, "TotalCount", request_id),
                request_id,
                text(body.get("NextToken")),
            )

        return _all_pages(api, region, noun, page, by_token=True, key=key)

    def _get_cluster(self, region: str, cluster_id: str) -> tuple[dict[str, Any], str | None]:
        api = "GetCluster"
        client, where = self._emr_client(region, api)
        request = self._sdk.emr_models.GetClusterRequest(region_id=region, cluster_id=cluster_id)
        body, request_id = self._cluster_call(
            api, where, region, cluster_id, client.get_cluster_with_options, request
        )
        data = dict(mapping(body.get("Cluster"), api, "Cluster", request_id))
        found = text(data.get("ClusterId"))
        if found != cluster_id:
            raise unexpected(
                api, "Cluster.ClusterId", found, f"the cluster asked for, {cluster_id}", request_id
            )
        return data, request_id

    def _cluster_call(
        self,
        api: str,
        where: str,
        region: str,
        cluster_id: str,
        send: Callable[[Any, Any], object],
        request: object,
    ) -> tuple[dict[str, Any], str | None]:
        """``send(request)`` about one cluster, and its RequestId: :class:`ClusterNotFoundError`
        when the cluster does not exist."""
        try:
            body = self._call(api, where, partial(send, request, self._runtime()))
        except SourceError as err:
            if not is_not_found(err.code):
                raise
            raise ClusterNotFoundError(
                api,
                err.code,
                f"{region}: no cluster {cluster_id}",
                err.request_id,
                cluster_id=cluster_id,
                region=region,
            ) from None
        return body, text(body.get("RequestId"))

    # ---- overdue start -----------------------------------------------------

    def _overdue_since_from_transactions(self) -> datetime | None:
        now = self._clock()
        floor = now - self._lookback
        entries: list[AccountTransaction] = []
        end = now
        while end > floor:
            start = max(floor, end - TRANSACTIONS_WINDOW)
            window = self.transactions(start, end)
            entries = window + entries
            if any(t.balance >= 0 for t in window):
                break  # the negative stretch began after this entry: it is complete
            end = start - timedelta(seconds=1)
        since = derive_overdue_since(entries)
        if since is None:
            log.warning(
                "the balance is negative but no transaction of the last %d days left it negative; "
                "the overdue start falls back to the first time it was seen",
                self._lookback.days,
            )
        elif all(t.balance < 0 for t in entries):
            log.warning(
                "the balance has been negative for all %d days looked back; the overdue start "
                "(%s) is the earliest transaction seen, and the real one may be earlier",
                self._lookback.days,
                since.isoformat(),
            )
        return since


def _region(value: object) -> str:
    """A region id (:func:`fsm.values.parse_region`) of the shape Alibaba Cloud gives them."""
    try:
        checked: str | None = parse_region(value)
    except InputError:
        checked = None
    if checked is None or not _REGION_SHAPE.match(checked):
        raise InputError("region", value, "an Alibaba Cloud region id such as cn-hangzhou")
    return checked


def _choice(value: object, field: str, choices: tuple[str, ...]) -> str:
    """One of ``choices``, given in any case."""
    if isinstance(value, str) and value.upper() in choices:
        return value.upper()
    raise InputError(field, value, " or ".join(choices))


def _all_pages(
    api: str,
    region: str | None,
    noun: str,
    fetch: Callable[[int, str | None], _Page[T]],
    *,
    by_token: bool,
    key: Callable[[T], Hashable] | None = None,
) -> list[T]:
    """Every item of a listing, all pages, or a SourceError: a listing is all or nothing.

    ``by_token``: pages follow NextToken until there is none (a token handed back
    twice is a loop); else pages are numbered until one is empty or TotalCount is
    reached. ``key`` drops items listed twice; ``region`` leads each message.
    """
    context = "" if region is None else f"{region}: "
    found: dict[Hashable, T] = {}
    token: str | None = None
    used: set[str] = set()
    total: int | None = None
    request_id: str | None = None
    for number in range(1, MAX_PAGES + 1):
        page = fetch(number, token)
        total, request_id = page.total, page.request_id
        for item in page.items:
            found[len(found) if key is None else key(item)] = item
        log.debug(
            "%s %s: page %d had %d %s (total %s)", api, region, number, len(page.items), noun, total
        )
        if not by_token:
            if not page.items or (total is not None and len(found) >= total):
                break
            continue
        if not page.next_token:
            break
        if page.next_token in used or page.next_token == token:
            raise SourceError(
                api,
                "PagingLoop",
                f"{context}page {number} handed back a NextToken already used, "
                "so the listing cannot be completed",
                request_id,
            )
        used.add(page.next_token)
        token = page.next_token
    else:
        raise SourceError(
            api, "TooManyPages", f"{context}more than {MAX_PAGES} pages of {noun}", request_id
        )
    if total is not None and len(found) < total:
        raise SourceError(
            api,
            "IncompleteListing",
            f"{context}the listing ended after {len(found)} of {total} {noun} (TotalCount)",
            request_id,
        )
    return list(found.values())
