"""Alibaba Cloud as a source of facts: the account balance and the EMR clusters.

Install with ``pip install 'overdue-fsm[aliyun]'``: it brings the official SDKs
``alibabacloud-bssopenapi20171214`` (QueryAccountBalance, QueryAccountTransactions)
and ``alibabacloud-emr20210320`` (ListClusters, GetCluster). They are imported
when an :class:`AliyunSource` is made, so this module loads without them.

What this layer relies on in the SDK (alibabacloud-tea-openapi 0.4, darabonba):

- Every call is RPC style: ``POST /`` with the action in the ``x-acs-action``
  header (version in ``x-acs-version``), the parameters in the query string, and
  an ``Authorization: ACS3-HMAC-SHA256 Credential=<key id>,...,Signature=...``
  header. The secret never leaves the process.
- The SDK makes one attempt per call unless ``Config.retry_options`` is set (it
  is not); throttling and server errors are retried here, with bounded
  exponential backoff and jitter.
- An HTTP error raises ``ClientException`` (4xx), ``ServerException`` (5xx) or
  ``ThrottlingException`` (when ``x-acs-retry-after`` is sent), each with
  ``code``, ``message``, ``status_code``, ``request_id`` and ``data`` (the JSON
  error body: ``Code``, ``Message``, ``RequestId``). A transport failure raises
  ``UnretryableException`` whose ``inner_exception`` carries the text of the
  ``requests`` error (``Read timed out``, ``Connection refused``).

Every cloud failure becomes one :class:`~fsm.errors.SourceError` naming the API,
the code and the RequestId; no credential is ever printed, logged, stored or
put in an error message (messages are scrubbed of key ids and secrets, and the
SDK exception, which holds the signed request, is dropped rather than chained).
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, Final
from urllib.parse import quote

from fsm.errors import FsmError, InputError, SourceError

log = logging.getLogger(__name__)

INSTALL_HINT: Final = "pip install 'overdue-fsm[aliyun]'"

PAY_AS_YOU_GO: Final = "pay_as_you_go"
SUBSCRIPTION: Final = "subscription"
SINCE_TRANSACTIONS: Final = "transactions"
SINCE_FIRST_SEEN: Final = "first_seen"

#: ClusterState values of EMR 2021-03-20 (ListClusters / GetCluster).
CLUSTER_STATES: Final = frozenset(
    {
        "STARTING",
        "START_FAILED",
        "BOOTSTRAPPING",
        "RUNNING",
        "TERMINATING",
        "TERMINATED",
        "TERMINATED_WITH_ERRORS",
        "TERMINATE_FAILED",
    }
)
#: A cluster in this state, for this StateChangeReason.Code, was released by its owner.
RELEASED_STATE: Final = "TERMINATED"
RELEASED_REASON: Final = "UserRequest"

LIST_PAGE_SIZE: Final = 100  # ListClusters MaxResults: 1 to 100
TRANSACTIONS_PAGE_SIZE: Final = 100
TRANSACTIONS_WINDOW: Final = timedelta(days=30)  # the API's default window is one month
MAX_PAGES: Final = 1000
BACKOFF_CAP_S: Final = 30.0
DEFAULT_BSS_ENDPOINT: Final = (
    "business.aliyuncs.com"  # international site: business.ap-southeast-1...
)

ENV_KEY_ID: Final = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_KEY_SECRET: Final = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
ENV_TOKEN: Final = "ALIBABA_CLOUD_SECURITY_TOKEN"

_BILLING: Final = {
    "PayAsYouGo": PAY_AS_YOU_GO,
    "Subscription": SUBSCRIPTION,
    "PostPaid": PAY_AS_YOU_GO,  # the older EMR API's spelling
    "PrePaid": SUBSCRIPTION,
}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_CLUSTER_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_REGION: Final = re.compile(r"^[a-z]{2,}(-[a-z0-9]+){1,5}$")
_ENDPOINT: Final = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_AMOUNT: Final = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")
_CLUSTER_NOT_FOUND: Final = re.compile(r"(?i)cluster.*not\.?found|not\.?found.*cluster")

# Scrubbing: what a key id or a signature looks like wherever a server echoes it.
_KEY_SHAPES: Final = (
    re.compile(r"LTAI[0-9A-Za-z]{6,}"),
    re.compile(r"STS\.[0-9A-Za-z._+/=-]{6,}"),
)
_KEY_FIELDS: Final = re.compile(
    r"(?i)(Credential|AccessKeyId|AccessKeySecret|SecurityToken|Signature)"
    r"(=|%3D|\"?\s*:\s*\"?)[^,&\s\"']+"
)
_STRING_TO_SIGN: Final = re.compile(r"(?is)(string\s*to\s*sign).*$")
_MESSAGE_LIMIT: Final = 500


@dataclass(frozen=True)
class CloudCluster:
    """One cluster as the cloud reports it.

    ``billing`` is ``pay_as_you_go`` or ``subscription``; ``expires_at`` is set
    for subscriptions only; ``released`` means the owner released it
    (``TERMINATED`` with ``StateChangeReason.Code`` ``UserRequest``), and
    ``released_at`` is then its ``EndTime``. ``state`` is the raw ``ClusterState``
    and ``state_reason`` the raw ``StateChangeReason.Code`` (``AccountException``
    on a cluster the cloud ended for an account problem, which is not a release).
    """

    cluster_id: str
    region: str
    name: str
    billing: str
    expires_at: datetime | None
    released: bool
    released_at: datetime | None
    state: str
    state_reason: str | None = None


@dataclass(frozen=True)
class AccountSnapshot:
    """The account balance (``AvailableAmount``) and whether it is overdue.

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

    ``fetched_at`` is the instant the snapshot began (the balance is read first).
    """

    account: AccountSnapshot
    clusters: list[CloudCluster]
    regions: list[str]
    fetched_at: datetime

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
    """One entry of QueryAccountTransactions; ``balance`` is the balance after it."""

    at: datetime
    amount: Decimal
    balance: Decimal
    flow: str
    number: str


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


def parse_amount(
    value: object, field: str, *, api: str = "", request_id: str | None = None
) -> Decimal:
    """A decimal amount from the API ("-11.19", "1,234.50"); never through float arithmetic.

    A JSON number the SDK already turned into a float goes through its shortest repr.
    """
    if isinstance(value, bool) or value is None:
        raise _unexpected(api, field, value, "a decimal amount such as -11.19", request_id)
    text = str(value).strip() if isinstance(value, str | int | float | Decimal) else None
    if text is None or not _AMOUNT.match(text):
        raise _unexpected(api, field, value, "a decimal amount such as -11.19", request_id)
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise _unexpected(
            api, field, value, "a decimal amount such as -11.19", request_id
        ) from None


class _Secret:
    """A credential value that never shows itself in a repr, str or log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"

    __str__ = __repr__


@dataclass(frozen=True)
class _Credentials:
    key_id: _Secret
    key_secret: _Secret
    token: _Secret | None
    origin: str  # 'explicit' | 'environment'


@dataclass(frozen=True)
class _Sdk:
    """The SDK modules, untyped: the only place ``Any`` comes from."""

    config: Any
    runtime: Any
    emr_client: Any
    emr_models: Any
    bss_client: Any
    bss_models: Any
    credentials: Any


@dataclass(frozen=True)
class _Failure:
    code: str
    message: str
    request_id: str | None
    retryable: bool
    retry_after_s: float | None = None


def _load_sdk() -> _Sdk:
    try:
        openapi = importlib.import_module("alibabacloud_tea_openapi.models")
        emr_client = importlib.import_module("alibabacloud_emr20210320.client")
        emr_models = importlib.import_module("alibabacloud_emr20210320.models")
        bss_client = importlib.import_module("alibabacloud_bssopenapi20171214.client")
        bss_models = importlib.import_module("alibabacloud_bssopenapi20171214.models")
        credentials = importlib.import_module("alibabacloud_credentials.client")
        try:
            runtime = importlib.import_module("darabonba.runtime")
        except ImportError:  # tea-openapi before 0.4
            runtime = importlib.import_module("alibabacloud_tea_util.models")
    except ImportError as exc:
        missing = exc.name or "an Alibaba Cloud SDK module"
        raise FsmError(
            f"the Alibaba Cloud source needs the Alibaba Cloud SDK ({missing} is missing): "
            + INSTALL_HINT
        ) from None
    return _Sdk(
        config=openapi.Config,
        runtime=runtime.RuntimeOptions,
        emr_client=emr_client.Client,
        emr_models=emr_models,
        bss_client=bss_client.Client,
        bss_models=bss_models,
        credentials=credentials.Client,
    )


class AliyunSource:
    """Reads the account balance and the EMR clusters from Alibaba Cloud.

    Credentials: ``access_key_id`` and ``access_key_secret`` (and
    ``security_token`` for STS) when given; else ``ALIBABA_CLOUD_ACCESS_KEY_ID``
    and ``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` (and ``ALIBABA_CLOUD_SECURITY_TOKEN``)
    as set when the source is made; else the SDK's default credential chain
    (profiles, ECS RAM role, OIDC...). ``endpoint`` overrides the EMR endpoint
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
        timeout_s: float = 10,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        transactions_lookback_days: int = 90,
    ) -> None:
        self._endpoint = _check_endpoint(endpoint, "endpoint")
        self._bss_endpoint = _check_endpoint(bss_endpoint, "bss_endpoint")
        if protocol not in ("http", "https"):
            raise InputError("protocol", protocol, "http or https")
        self._protocol = protocol
        self._timeout_s = _check_number(
            timeout_s, "timeout_s", 0.001, 600.0, "seconds, more than 0 and at most 600"
        )
        self._timeout_ms = max(1, round(self._timeout_s * 1000))
        self._max_retries = int(
            _check_number(
                max_retries, "max_retries", 0, 10, "a whole number from 0 to 10", whole=True
            )
        )
        self._backoff_s = _check_number(backoff_s, "backoff_s", 0.0, 60.0, "seconds, from 0 to 60")
        lookback = _check_number(
            transactions_lookback_days,
            "transactions_lookback_days",
            1,
            3650,
            "whole days from 1 to 3650",
            whole=True,
        )
        self._lookback = timedelta(days=lookback)
        self._credentials = _resolve_credentials(access_key_id, access_key_secret, security_token)
        self._sdk = _load_sdk()
        self._chain: Any = None
        self._emr: dict[str, Any] = {}
        self._bss: Any = None
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __repr__(self) -> str:
        origin = self._credentials.origin if self._credentials else "default chain"
        return (
            f"AliyunSource(endpoint={self._endpoint!r}, bss_endpoint={self._bss_endpoint!r}, "
            f"protocol={self._protocol!r}, credentials={origin!r}, timeout_s={self._timeout_s:g}, "
            f"max_retries={self._max_retries}, backoff_s={self._backoff_s:g})"
        )

    def __getstate__(self) -> object:
        raise TypeError("an AliyunSource holds credentials and is not to be pickled")

    # ---- public API ------------------------------------------------------

    def account(self, *, since_from_transactions: bool = False) -> AccountSnapshot:
        """The balance; with ``since_from_transactions``, when an overdue episode began."""
        api = "QueryAccountBalance"
        client, where = self._bss_client(api)
        body = self._call(
            api, where, partial(client.query_account_balance_with_options, self._runtime())
        )
        request_id = _text(body.get("RequestId"))
        data = _mapping(body.get("Data"), api, "Data", request_id)
        balance = parse_amount(
            data.get("AvailableAmount"), "Data.AvailableAmount", api=api, request_id=request_id
        )
        currency = _text(data.get("Currency")) or ""
        overdue = balance < 0
        if overdue and since_from_transactions:
            since = self._overdue_since_from_transactions()
            if since is not None:
                return AccountSnapshot(balance, currency, True, since, SINCE_TRANSACTIONS)
        return AccountSnapshot(balance, currency, overdue, None, SINCE_FIRST_SEEN)

    def transactions(self, since: datetime, until: datetime) -> list[AccountTransaction]:
        """Every account transaction created in [since, until], oldest first (all pages)."""
        start, end = _aware(since, "since"), _aware(until, "until")
        if start > end:
            raise InputError(
                "since", start.isoformat(), f"an instant no later than until ({end.isoformat()})"
            )
        api = "QueryAccountTransactions"
        client, where = self._bss_client(api)
        newest_first: list[AccountTransaction] = []
        total: int | None = None
        request_id: str | None = None
        for page in range(1, MAX_PAGES + 1):
            request = self._sdk.bss_models.QueryAccountTransactionsRequest(
                create_time_start=_iso(start),
                create_time_end=_iso(end),
                page_num=page,
                page_size=TRANSACTIONS_PAGE_SIZE,
            )
            body = self._call(
                api,
                where,
                partial(client.query_account_transactions_with_options, request, self._runtime()),
            )
            request_id = _text(body.get("RequestId"))
            data = _mapping(body.get("Data"), api, "Data", request_id)
            total = _count(data.get("TotalCount"), api, "Data.TotalCount", request_id)
            holder = data.get("AccountTransactionsList")  # {"AccountTransactionsList": [...]}
            field = "Data.AccountTransactionsList"
            inner = None if holder is None else _mapping(holder, api, field, request_id)
            items = None if inner is None else inner.get("AccountTransactionsList")
            entries = _sequence(items, api, field + ".AccountTransactionsList", request_id)
            newest_first.extend(_transaction(item, api, request_id) for item in entries)
            if not entries or (total is not None and len(newest_first) >= total):
                break
        else:
            raise SourceError(
                api, "TooManyPages", f"more than {MAX_PAGES} pages of transactions", request_id
            )
        if total is not None and len(newest_first) < total:
            raise SourceError(
                api,
                "IncompleteListing",
                f"the transactions ended after {len(newest_first)} of {total} entries (TotalCount)",
                request_id,
            )
        # The API lists newest first; keep its order for entries of the same second.
        oldest_first = newest_first[::-1]
        return sorted(oldest_first, key=lambda t: t.at)

    def clusters(self, region: str) -> list[CloudCluster]:
        """Every cluster of ``region`` (ListClusters, all pages); all or nothing."""
        region = _check_region(region)
        api = "ListClusters"
        client, where = self._emr_client(region, api)
        found: dict[str, CloudCluster] = {}
        tokens: set[str] = set()
        token: str | None = None
        total: int | None = None
        request_id: str | None = None
        for page in range(1, MAX_PAGES + 1):
            request = self._sdk.emr_models.ListClustersRequest(
                region_id=region, max_results=LIST_PAGE_SIZE, next_token=token
            )
            body = self._call(
                api, where, partial(client.list_clusters_with_options, request, self._runtime())
            )
            request_id = _text(body.get("RequestId"))
            items = _sequence(body.get("Clusters"), api, "Clusters", request_id)
            for item in items:
                cluster = _cluster(item, region, api, request_id)
                found[cluster.cluster_id] = cluster
            total = _count(body.get("TotalCount"), api, "TotalCount", request_id)
            next_token = _text(body.get("NextToken"))
            log.debug(
                "%s %s: page %d had %d clusters (total %s)", api, region, page, len(items), total
            )
            if not next_token:
                break
            if next_token in tokens or next_token == token:
                raise SourceError(
                    api,
                    "PagingLoop",
                    f"{region}: page {page} handed back a NextToken already used, "
                    "so the listing cannot be completed",
                    request_id,
                )
            tokens.add(next_token)
            token = next_token
        else:
            raise SourceError(
                api, "TooManyPages", f"{region}: more than {MAX_PAGES} pages", request_id
            )
        if total is not None and len(found) < total:
            raise SourceError(
                api,
                "IncompleteListing",
                f"{region}: the listing ended after {len(found)} of {total} clusters (TotalCount)",
                request_id,
            )
        return list(found.values())

    def cluster(self, region: str, cluster_id: str) -> CloudCluster:
        """One cluster (GetCluster); :class:`ClusterNotFoundError` when the cloud has none."""
        region = _check_region(region)
        if not isinstance(cluster_id, str) or not _CLUSTER_ID.match(cluster_id):
            raise InputError(
                "cluster_id",
                cluster_id,
                "1-128 characters of A-Za-z0-9._:- starting with a letter or digit",
            )
        api = "GetCluster"
        client, where = self._emr_client(region, api)
        request = self._sdk.emr_models.GetClusterRequest(region_id=region, cluster_id=cluster_id)
        try:
            body = self._call(
                api, where, partial(client.get_cluster_with_options, request, self._runtime())
            )
        except SourceError as err:
            if not _CLUSTER_NOT_FOUND.search(err.code):
                raise
            raise ClusterNotFoundError(
                api,
                err.code,
                f"{region}: no cluster {cluster_id}",
                err.request_id,
                cluster_id=cluster_id,
                region=region,
            ) from None
        request_id = _text(body.get("RequestId"))
        found = _cluster(
            _mapping(body.get("Cluster"), api, "Cluster", request_id), region, api, request_id
        )
        if found.cluster_id != cluster_id:
            raise _unexpected(
                api,
                "Cluster.ClusterId",
                found.cluster_id,
                f"the cluster asked for, {cluster_id}",
                request_id,
            )
        return found

    def snapshot(
        self, regions: Sequence[str], *, since_from_transactions: bool = False
    ) -> Snapshot:
        """The account and every cluster of ``regions``; any failure fails it all."""
        if isinstance(regions, str) or not isinstance(regions, Sequence):
            raise InputError("regions", regions, "a list of region ids such as ['cn-hangzhou']")
        wanted: list[str] = []
        for region in regions:
            checked = _check_region(region)
            if checked not in wanted:
                wanted.append(checked)
        if not wanted:
            raise InputError("regions", list(regions), "at least one region id such as cn-hangzhou")
        fetched_at = self._clock()
        account = self.account(since_from_transactions=since_from_transactions)
        clusters: list[CloudCluster] = []
        for region in wanted:
            clusters.extend(self.clusters(region))
        return Snapshot(account, clusters, wanted, fetched_at)

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

    # ---- SDK plumbing ------------------------------------------------------

    def _runtime(self) -> Any:
        runtime = self._sdk.runtime()
        runtime.read_timeout = self._timeout_ms
        runtime.connect_timeout = self._timeout_ms
        runtime.autoretry = False
        runtime.max_attempts = 1
        return runtime

    def _config(self, region: str | None, endpoint: str | None) -> Any:
        config = self._sdk.config(
            protocol=self._protocol,
            region_id=region,
            endpoint=endpoint,
            read_timeout=self._timeout_ms,
            connect_timeout=self._timeout_ms,
        )
        if self._credentials is not None:
            config.access_key_id = self._credentials.key_id.reveal()
            config.access_key_secret = self._credentials.key_secret.reveal()
            if self._credentials.token is not None:
                config.security_token = self._credentials.token.reveal()
        else:
            if self._chain is None:
                self._chain = self._sdk.credentials()  # the SDK's default credential chain
            config.credential = self._chain
        return config

    def _emr_client(self, region: str, api: str) -> tuple[Any, str]:
        if region not in self._emr:
            self._emr[region] = self._make_client(api, self._sdk.emr_client, region, self._endpoint)
        client = self._emr[region]
        where = _text(getattr(client, "_endpoint", None))  # the host the SDK will call
        return client, where or self._endpoint or f"the EMR endpoint of {region}"

    def _bss_client(self, api: str) -> tuple[Any, str]:
        if self._bss is None:
            endpoint = self._bss_endpoint or self._endpoint or DEFAULT_BSS_ENDPOINT
            self._bss = self._make_client(api, self._sdk.bss_client, "cn-hangzhou", endpoint)
        client = self._bss
        return client, _text(getattr(client, "_endpoint", None)) or DEFAULT_BSS_ENDPOINT

    def _make_client(self, api: str, factory: Any, region: str, endpoint: str | None) -> Any:
        failure: str | None = None
        try:
            return factory(self._config(region, endpoint))
        except Exception as exc:  # the SDK raises many kinds; all become one error
            failure = f"{type(exc).__name__}: {exc}"
        raise SourceError(
            api, "ClientSetup", self._scrub(f"cannot set up the SDK client: {failure}")
        )

    def _call(self, api: str, where: str, send: Callable[[], Any]) -> dict[str, Any]:
        """One SDK call with retries; the response body as a dict, or a SourceError."""
        attempts = self._max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = send()
            except Exception as exc:  # classified below, never chained
                failure = self._classify(where, exc)
            else:
                return self._body(api, response)
            # Outside the except block: the SDK exception (which holds the signed
            # request) is neither kept nor chained to the error raised below.
            if failure.retryable and attempt < attempts:
                delay = self._backoff(attempt, failure.retry_after_s)
                log.warning(
                    "%s: %s (RequestId %s); retry %d of %d in %.2fs",
                    api,
                    self._scrub(failure.code),
                    self._scrub(failure.request_id or "none"),
                    attempt,
                    self._max_retries,
                    delay,
                )
                self._sleep(delay)
                continue
            message = failure.message
            if failure.retryable and attempts > 1:
                message += f" (gave up after {attempts} attempts)"
            raise SourceError(
                api,
                self._scrub(failure.code),
                self._scrub(message),
                self._scrub(failure.request_id) if failure.request_id else None,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _body(self, api: str, response: Any) -> dict[str, Any]:
        body: Any = getattr(response, "body", None)
        raw = body.to_map() if hasattr(body, "to_map") else body
        if not isinstance(raw, dict):
            raise SourceError(api, "InvalidResponse", "the response has no JSON object body")
        result: dict[str, Any] = raw
        request_id = _text(result.get("RequestId"))
        if result.get("Success") is False:  # BSS answers some failures with HTTP 200
            code = _text(result.get("Code")) or "Unsuccessful"
            message = _text(result.get("Message")) or "the call did not succeed"
            raise SourceError(api, self._scrub(code), self._scrub(message), request_id)
        return result

    def _classify(self, where: str, exc: BaseException) -> _Failure:
        data_raw = getattr(exc, "data", None)
        data: dict[str, Any] = data_raw if isinstance(data_raw, dict) else {}
        status = _status(
            getattr(exc, "status_code", None), data.get("statusCode"), data.get("httpCode")
        )
        code = _text(data.get("Code")) or _text(getattr(exc, "code", None))
        request_id = _text(data.get("RequestId")) or _text(getattr(exc, "request_id", None))
        if status is not None:
            message = (
                _text(data.get("Message")) or _text(getattr(exc, "message", None)) or "no message"
            )
            code = code or f"HTTP{status}"
            retryable = (
                status >= 500
                or status == 429
                or code.lower().startswith("throttling")
                or type(exc).__name__ == "ThrottlingException"
            )
            retry_after = getattr(exc, "retry_after", None)
            retry_after_s = (
                retry_after / 1000 if isinstance(retry_after, int) and retry_after > 0 else None
            )
            return _Failure(
                code, f"HTTP {status} from {where}: {message}", request_id, retryable, retry_after_s
            )
        inner = getattr(exc, "inner_exception", None)
        names = {type(exc).__name__, type(inner).__name__}
        text = " ".join(_exception_text(e) for e in (exc, inner) if isinstance(e, BaseException))
        low = text.lower()
        if "CredentialException" in names or code == "InvalidCredentials":
            return _Failure(
                "CredentialsUnavailable",
                "no usable Alibaba Cloud credentials: pass access_key_id and access_key_secret, "
                f"set {ENV_KEY_ID} and {ENV_KEY_SECRET}, or configure an Alibaba Cloud profile",
                None,
                False,
            )
        if "refused" in low:
            return _Failure(
                "ConnectionRefused", f"cannot connect to {where}: connection refused", None, False
            )
        if "timed out" in low or "timeout" in low:
            return _Failure(
                "Timeout",
                f"no answer from {where} within {self._timeout_s:g}s (timed out)",
                None,
                False,
            )
        if "json" in low:
            return _Failure(
                "InvalidResponse",
                f"{where} answered with something that is not JSON",
                request_id,
                True,
            )
        if any(
            word in low
            for word in ("connection", "resolve", "name or service", "ssl", "certificate")
        ):
            return _Failure("ConnectionError", f"cannot reach {where}: {_short(text)}", None, False)
        kind = type(inner).__name__ if isinstance(inner, BaseException) else type(exc).__name__
        return _Failure(
            code or "SdkError", f"calling {where} failed: {kind}: {_short(text)}", request_id, False
        )

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        base = min(BACKOFF_CAP_S, self._backoff_s * 2.0 ** (attempt - 1))
        delay = base / 2 + random.uniform(0, base / 2)  # jitter, not security
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, BACKOFF_CAP_S))
        return delay

    def _scrub(self, text: str) -> str:
        """``text`` without any credential value or anything shaped like one."""
        if self._credentials is not None:
            secrets = [
                self._credentials.key_id,
                self._credentials.key_secret,
                self._credentials.token,
            ]
            for secret in secrets:
                value = secret.reveal() if secret is not None else ""
                if len(value) >= 4:
                    text = text.replace(value, "***").replace(quote(value, safe=""), "***")
        text = _STRING_TO_SIGN.sub(r"\1: <redacted>", text)
        text = _KEY_FIELDS.sub(r"\1\2***", text)
        for shape in _KEY_SHAPES:
            text = shape.sub("***", text)
        return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


# ---- helpers ---------------------------------------------------------------


def _resolve_credentials(
    key_id: str | None, key_secret: str | None, token: str | None
) -> _Credentials | None:
    key_id, key_secret, token = key_id or None, key_secret or None, token or None
    for name, value in (
        ("access_key_id", key_id),
        ("access_key_secret", key_secret),
        ("security_token", token),
    ):
        if value is not None and not isinstance(value, str):
            raise InputError(name, type(value).__name__, "a string")
    if key_id is not None or key_secret is not None:
        if key_id is None or key_secret is None:
            missing = "access_key_id" if key_id is None else "access_key_secret"
            raise InputError(missing, None, "both access_key_id and access_key_secret, or neither")
        return _Credentials(
            _Secret(key_id), _Secret(key_secret), _Secret(token) if token else None, "explicit"
        )
    if token is not None:
        raise InputError(
            "security_token",
            "(not shown)",
            "a token only together with access_key_id and access_key_secret",
        )
    env_id, env_secret = os.environ.get(ENV_KEY_ID) or None, os.environ.get(ENV_KEY_SECRET) or None
    if env_id is not None and env_secret is not None:
        env_token = os.environ.get(ENV_TOKEN) or None
        return _Credentials(
            _Secret(env_id),
            _Secret(env_secret),
            _Secret(env_token) if env_token else None,
            "environment",
        )
    return None


def _check_endpoint(value: str | None, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _ENDPOINT.match(value):
        raise InputError(
            field,
            value,
            "host[:port] such as emr-vpc.cn-hangzhou.aliyuncs.com (set the scheme with protocol)",
        )
    return value


def _check_number(
    value: object, field: str, low: float, high: float, expected: str, *, whole: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(field, value, expected)
    if whole and isinstance(value, float) and not value.is_integer():
        raise InputError(field, value, expected)
    if not math.isfinite(value) or not low <= value <= high:
        raise InputError(field, value, expected)
    return float(value)


def _check_region(region: object) -> str:
    if not isinstance(region, str) or not _REGION.match(region):
        raise InputError("region", region, "an Alibaba Cloud region id such as cn-hangzhou")
    return region


def _aware(value: object, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InputError(field, value, "a timezone-aware datetime")
    return value.astimezone(UTC)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: object) -> str | None:
    """A non-empty string, or None (the SDK writes a missing value as 'None')."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip() if isinstance(value, str | int) else None
    return text if text and text != "None" else None


def _status(*candidates: object) -> int | None:
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
        if isinstance(value, str) and value.isdigit() and 100 <= int(value) <= 599:
            return int(value)
    return None


def _exception_text(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message:
        return message
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not hide the failure
        return type(exc).__name__


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _unexpected(
    api: str, field: str, value: object, expected: str, request_id: str | None
) -> SourceError:
    return SourceError(
        api or "response",
        "UnexpectedResponse",
        f"{field}: {_show(value)} is not {expected}",
        request_id,
    )


def _mapping(value: object, api: str, field: str, request_id: str | None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _unexpected(api, field, value, "an object", request_id)
    return value


def _sequence(value: object, api: str, field: str, request_id: str | None) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _unexpected(api, field, value, "a list", request_id)
    return value


def _count(value: object, api: str, field: str, request_id: str | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise _unexpected(api, field, value, "a count", request_id)
    return int(value)


def _from_ms(value: object, api: str, field: str, request_id: str | None) -> datetime | None:
    """Epoch milliseconds as EMR writes them; 0 or absent is "none"."""
    if value is None or value == "" or value == 0 or value == "0":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise _unexpected(api, field, value, "epoch milliseconds", request_id)
    try:
        return _EPOCH + timedelta(milliseconds=int(value))
    except OverflowError:
        raise _unexpected(api, field, value, "epoch milliseconds", request_id) from None


def _parse_iso(value: object, api: str, field: str, request_id: str | None) -> datetime:
    """An ISO 8601 instant with Z or an offset (2020-03-10T02:03:20Z); never naive."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise _unexpected(api, field, value, "an ISO 8601 instant with Z or an offset", request_id)
    return parsed.astimezone(UTC)


def _cluster(item: object, region: str, api: str, request_id: str | None) -> CloudCluster:
    data = _mapping(item, api, "Clusters[]", request_id)
    cluster_id = _text(data.get("ClusterId"))
    if cluster_id is None or not _CLUSTER_ID.match(cluster_id):
        raise _unexpected(api, "ClusterId", data.get("ClusterId"), "a cluster id", request_id)
    state = _text(data.get("ClusterState"))
    if state is None:
        raise _unexpected(
            api,
            f"{cluster_id}.ClusterState",
            data.get("ClusterState"),
            "a cluster state",
            request_id,
        )
    if state not in CLUSTER_STATES:
        log.debug("%s: cluster %s has an undocumented state %s", api, cluster_id, state)
    payment = _text(data.get("PaymentType"))
    billing = _BILLING.get(payment or "")
    if billing is None:
        raise _unexpected(
            api,
            f"{cluster_id}.PaymentType",
            data.get("PaymentType"),
            "PayAsYouGo or Subscription",
            request_id,
        )
    reason_raw = data.get("StateChangeReason")
    reason = _text(reason_raw.get("Code")) if isinstance(reason_raw, Mapping) else None
    released = state == RELEASED_STATE and reason == RELEASED_REASON
    return CloudCluster(
        cluster_id=cluster_id,
        region=region,
        name=_text(data.get("ClusterName")) or "",
        billing=billing,
        expires_at=_from_ms(data.get("ExpireTime"), api, f"{cluster_id}.ExpireTime", request_id)
        if billing == SUBSCRIPTION
        else None,
        released=released,
        released_at=_from_ms(data.get("EndTime"), api, f"{cluster_id}.EndTime", request_id)
        if released
        else None,
        state=state,
        state_reason=reason,
    )


def _transaction(item: object, api: str, request_id: str | None) -> AccountTransaction:
    data = _mapping(item, api, "AccountTransactionsList[]", request_id)
    number = _text(data.get("TransactionNumber")) or ""
    return AccountTransaction(
        at=_parse_iso(
            data.get("TransactionTime"), api, f"transaction {number}.TransactionTime", request_id
        ),
        amount=parse_amount(
            data.get("Amount"), f"transaction {number}.Amount", api=api, request_id=request_id
        ),
        balance=parse_amount(
            data.get("Balance"), f"transaction {number}.Balance", api=api, request_id=request_id
        ),
        flow=_text(data.get("TransactionFlow")) or "",
        number=number,
    )
