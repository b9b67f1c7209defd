"""A fake Alibaba Cloud endpoint for E-MapReduce (2021-03-20) and BSS OpenAPI (2017-12-14).

One threaded stdlib HTTP server on 127.0.0.1 answers both products, so the real
SDK clients can be pointed at it with ``Config(endpoint='127.0.0.1:PORT',
protocol='http')``. The action is read from the ``x-acs-action`` header (the
SDK's default ACS3-HMAC-SHA256 signing) or from the ``Action`` query parameter
(signature v2). Signatures are not checked; the server only records whether a
request carried one.

Served, in the documented response shapes:

- ``ListClusters``: ``Clusters[]``, ``NextToken`` (opaque, base64 JSON; empty on
  the last page), ``MaxResults`` (1 to 100, else 400), ``TotalCount``, ``RequestId``.
- ``GetCluster``: ``Cluster`` with ``RegionId``; unknown ids answer 404.
- ``ListNodeGroups``, ``ListNodes``, ``ListApplicationConfigs``: ``NodeGroups[]``,
  ``Nodes[]``, ``ApplicationConfigs[]`` (one entry per configuration item), with
  ``NextToken``, ``MaxResults``, ``TotalCount``; an unknown cluster answers 404.
- ``ExportApplicationConfigs``: ``ApplicationConfigs[]`` of ``{ApplicationName,
  ConfigFileName, Content}``, Content Base64 of the file in ``FileFormat`` (JSON: an
  object of key -> value; XML: Hadoop's ``<configuration>``), ``ExportMode``
  MODIFICATION keeping only the items changed from their InitValue.

Error codes: by default the fake answers a missing cluster with ``NotFound.Cluster``,
throttling with ``Throttling.User`` and server errors with ``ServiceUnavailable``;
with ``real_codes=True`` it answers as the EMR 2021-03-20 error tables list them:
``404 ResourceNotFound``, ``400 ThrottlingException``, ``500 InternalError``.
- ``AssumeRole`` (STS 2015-04-01): ``Credentials{AccessKeyId, AccessKeySecret,
  SecurityToken, Expiration}`` and ``AssumedRoleUser{Arn, AssumedRoleId}``; a
  ``RoleArn`` that is not of the shape ``acs:ram::<digits>:role/<name>`` answers
  404 ``EntityNotExist.Role``.
- ``QueryAccountBalance``: ``{Code, Message, RequestId, Success, Data{AvailableAmount,
  AvailableCashAmount, CreditAmount, MybankCreditAmount, Currency, QuotaLimit}}``,
  amounts as decimal strings (negative when overdue, thousands separated by commas).
- ``QueryAccountTransactions``: ``Data{PageNum, PageSize, TotalCount, AccountName,
  AccountTransactionsList{AccountTransactionsList[]}}``, newest first, each entry
  with ``TransactionTime`` (ISO 8601 UTC), ``Amount`` and ``Balance`` (the balance
  after it) as strings.

Faults (see :class:`FakeAliyun`): throttle, 5xx, 4xx, hang, a non-JSON answer,
a page cut short, and refusing connections altogether.

Run standalone for a make target::

    python -m tests.aliyun.fake_endpoint --port 0 --clusters 250

prints the port on the first line of stdout, then the sync command to paste (with
dummy credentials: the fake accepts any), and serves until killed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HOST = "127.0.0.1"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EMR_ACTIONS = frozenset(
    {
        "ListClusters",
        "GetCluster",
        "ListNodeGroups",
        "ListNodes",
        "ListApplicationConfigs",
        "ExportApplicationConfigs",
    }
)
BSS_ACTIONS = frozenset({"QueryAccountBalance", "QueryAccountTransactions"})
STS_ACTIONS = frozenset({"AssumeRole"})
#: The temporary credentials the fake STS hands out for AssumeRole.
STS_KEY_ID = "STS.NUfakeTemporaryKey0001"
STS_KEY_SECRET = "fake-temporary-SeCrEt-7373"
STS_TOKEN = "CAISfakeSecurityToken-0707"


def to_ms(when: datetime) -> int:
    return (when - EPOCH) // timedelta(milliseconds=1)


def money(amount: Decimal | str) -> str:
    """An amount as the BSS API writes it: two decimals, thousands separated by commas."""
    return f"{Decimal(amount):,.2f}"


def make_fleet(
    count: int,
    region: str = "cn-hangzhou",
    *,
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
) -> list[dict[str, Any]]:
    """``count`` clusters as ListClusters reports them, deterministic.

    Every third is a subscription expiring ``i`` days after ``start``; every 25th
    was released by its owner (TERMINATED, UserRequest); every 40th ended for an
    account problem (TERMINATED, AccountException); the rest run.
    """
    fleet = []
    for i in range(count):
        digest = hashlib.sha256(f"{region}/{i}".encode()).hexdigest()[:16]
        created = start + timedelta(hours=i)
        cluster: dict[str, Any] = {
            "ClusterId": f"c-{digest}",
            "ClusterName": f"emr-{region}-{i:03d}",
            "ClusterType": "DATALAKE",
            "ClusterState": "RUNNING",
            "PaymentType": "PayAsYouGo",
            "CreateTime": to_ms(created),
            "ReadyTime": to_ms(created + timedelta(minutes=7)),
            "ReleaseVersion": "EMR-5.16.0",
            "ResourceGroupId": "rg-acfmzabjyop0000",
            "DeletionProtection": False,
            "EmrDefaultRole": "AliyunEMRDefaultRole",
            "Tags": [],
        }
        if i % 3 == 2:
            cluster["PaymentType"] = "Subscription"
            cluster["ExpireTime"] = to_ms(start + timedelta(days=i))
        if i % 25 == 24:
            cluster["ClusterState"] = "TERMINATED"
            cluster["EndTime"] = to_ms(created + timedelta(days=3))
            cluster["StateChangeReason"] = {"Code": "UserRequest", "Message": "released by owner"}
        elif i % 40 == 39:
            cluster["ClusterState"] = "TERMINATED"
            cluster["EndTime"] = to_ms(created + timedelta(days=5))
            cluster["StateChangeReason"] = {
                "Code": "AccountException",
                "Message": "account overdue",
            }
        fleet.append(cluster)
    return fleet


def make_details(cluster_id: str, *, region: str = "cn-hangzhou") -> dict[str, Any]:
    """Node groups, nodes and configuration items of one cluster, deterministic from its id."""
    digest = hashlib.sha256(cluster_id.encode()).hexdigest()
    groups = [
        ("MASTER", "ecs.g7.xlarge", 1),
        ("CORE", "ecs.g7.2xlarge", 2 + int(digest[0], 16) % 3),
        ("TASK", "ecs.c7.xlarge", int(digest[1], 16) % 2),
    ]
    node_groups, nodes = [], []
    for n, (kind, instance_type, running) in enumerate(groups):
        group_id = f"ng-{digest[n * 4 : n * 4 + 16]}"
        node_groups.append(
            {
                "NodeGroupId": group_id,
                "NodeGroupName": f"emr-{kind.lower()}",
                "NodeGroupType": kind,
                "NodeGroupState": "RUNNING",
                "PaymentType": "PayAsYouGo",
                "InstanceTypes": [instance_type],
                "RunningNodeCount": running,
                "ZoneId": f"{region}-i",
                "VSwitchIds": ["vsw-bp1fake0000000000"],
                "WithPublicIp": False,
                "SystemDisk": {"Category": "cloud_essd", "Size": 120, "Count": 1},
                "DataDisks": [{"Category": "cloud_essd", "Size": 80, "Count": 4}],
                "SpotStrategy": "NoSpot",
            }
        )
        for k in range(running):
            nodes.append(
                {
                    "NodeId": f"i-{digest[n + k : n + k + 12]}{n}{k}",
                    "NodeName": f"{kind.lower()}-{k}",
                    "NodeGroupId": group_id,
                    "NodeGroupType": kind,
                    "InstanceType": instance_type,
                    "NodeState": "running",
                    "ZoneId": f"{region}-i",
                    "PrivateIp": f"192.168.{n}.{10 + k}",
                    "CreateTime": 1767225600000,
                }
            )
    configs = []
    for app, name, items in (
        ("HDFS", "hdfs-site.xml", {"dfs.replication": ("3", "2"), "dfs.blocksize": ("128m", None)}),
        ("YARN", "yarn-site.xml", {"yarn.nodemanager.resource.memory-mb": ("12288", "8192")}),
        ("YARN", "yarn-env.sh", {"YARN_HEAPSIZE": ("2048", None)}),
        ("SPARK3", "spark-defaults.conf", {"spark.executor.memory": ("4g", "1g")}),
    ):
        for key, (value, init) in items.items():
            configs.append(
                {
                    "ApplicationName": app,
                    "ConfigFileName": name,
                    "ConfigItemKey": key,
                    "ConfigItemValue": value,
                    "InitValue": value if init is None else init,
                    "Custom": False,
                    "ConfigEffectState": "EFFECTED",
                    "CreateTime": 1767225600000,
                    "UpdateTime": 1767225600000,
                }
            )
    return {"node_groups": node_groups, "nodes": nodes, "configs": configs}


@dataclass
class Fault:
    """One injected misbehaviour; ``times`` None means every matching request."""

    kind: str  # throttle | server_error | client_error | hang | raw | cut_page
    action: str | None = None
    times: int | None = 1
    status: int = 400
    code: str = ""
    message: str = ""
    seconds: float = 0.0
    retry_after_ms: int | None = None
    body: bytes = b""
    content_type: str = "application/json;charset=utf-8"
    keep: int = 0
    next_token: str = "continue"  # cut_page: continue | end | repeat | invalid
    skip: int = 0  # matching requests to let through before this fault applies


@dataclass
class Recorded:
    """What one request looked like (headers keep their values; tests only)."""

    action: str
    params: dict[str, str]
    headers: dict[str, str]
    signed: bool
    fault: str | None = None


@dataclass
class FakeAliyun:
    """The fake's state: fleet per region, account, transactions and faults.

    Everything can be changed while the server runs; a lock keeps requests
    consistent with it.
    """

    fleet: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    balance: str = "1,000.00"
    cash: str | None = None
    currency: str = "CNY"
    account_name: str = "fake@test.aliyunid.com"
    transactions: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    now: datetime | None = None  # the fake's clock for default windows; None = real time
    # cluster id -> make_details() shape; a cluster of the fleet without an entry gets
    # make_details(cluster id) on first use.
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    real_codes: bool = False  # answer with the codes of EMR's error tables

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---- lifecycle -------------------------------------------------------

    def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1 (an ephemeral port by default); returns the port."""
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer((HOST, port or self.port), handler)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._release.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop serving and close the port (hung requests are let go)."""
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def refuse(self) -> None:
        """Close the listening socket: connections are refused until :meth:`start`."""
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.port}"

    def __enter__(self) -> FakeAliyun:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- configuration ---------------------------------------------------

    def set_fleet(self, region: str, clusters: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            self.fleet[region] = [dict(c) for c in clusters]

    def set_transactions(self, entries: Iterable[tuple[datetime, str, str]]) -> None:
        """Transactions as (time, amount, balance after it); stored in any order."""
        with self._lock:
            self.transactions = [
                {"time": when, "amount": _dec(amount), "balance": _dec(balance)}
                for when, amount, balance in entries
            ]

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def set_details(self, cluster_id: str, details: Mapping[str, Any]) -> None:
        """The node groups, nodes and configuration items of one cluster (make_details shape)."""
        with self._lock:
            self.details[cluster_id] = {k: [dict(i) for i in v] for k, v in details.items()}

    def cluster_details(self, region: str, cluster_id: str) -> dict[str, Any]:
        """A copy of the details the fake serves for one cluster of the fleet."""
        return self._details({"RegionId": region, "ClusterId": cluster_id})

    def throttle(
        self, times: int = 1, action: str | None = None, *, retry_after_ms: int | None = None
    ) -> Fault:
        return self.inject(
            Fault(
                "throttle",
                action,
                times,
                status=400,
                code="ThrottlingException" if self.real_codes else "Throttling.User",
                message="Request was denied due to user flow control.",
                retry_after_ms=retry_after_ms,
            )
        )

    def fail_5xx(
        self, times: int | None = 1, action: str | None = None, status: int = 503
    ) -> Fault:
        code = "ServiceUnavailable" if status == 503 and not self.real_codes else "InternalError"
        return self.inject(
            Fault(
                "server_error",
                action,
                times,
                status=status,
                code=code,
                message="The request has failed due to a temporary failure of the server.",
            )
        )

    def fail_4xx(
        self,
        code: str,
        message: str,
        *,
        status: int = 400,
        action: str | None = None,
        times: int | None = None,
    ) -> Fault:
        """A client error; ``{access_key_id}`` in the message is replaced by the
        caller's key id, as some real errors (SignatureDoesNotMatch) echo it."""
        return self.inject(
            Fault("client_error", action, times, status=status, code=code, message=message)
        )

    def hang(self, seconds: float, action: str | None = None, times: int | None = 1) -> Fault:
        return self.inject(Fault("hang", action, times, seconds=seconds))

    def raw(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/html",
        action: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        return self.inject(
            Fault("raw", action, times, status=status, body=body, content_type=content_type)
        )

    def cut_page_short(
        self, keep: int, *, next_token: str = "continue", skip: int = 0, times: int | None = 1
    ) -> Fault:
        """The next ListClusters page (after ``skip`` pages) holds only ``keep`` items.

        ``next_token``: ``continue`` (a token resuming right after those items: a
        correct client still gets everything), ``end`` (no token although
        TotalCount says more), ``repeat`` (the token just used, so a naive client
        loops) or ``invalid`` (a token the next call rejects).
        """
        return self.inject(
            Fault("cut_page", "ListClusters", times, keep=keep, next_token=next_token, skip=skip)
        )

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def calls(self, action: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if action is None or r.action == action]

    # ---- serving ---------------------------------------------------------

    def _take_fault(self, action: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.action is not None and fault.action != action:
                    continue
                if fault.times is not None and fault.times <= 0:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def _now(self) -> datetime:
        return self.now or datetime.now(UTC)

    def handle(
        self, action: str, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one request; waits first when told to hang."""
        signed = "authorization" in headers or "Signature" in params
        fault = self._take_fault(action)
        with self._lock:
            self.requests.append(
                Recorded(action, dict(params), dict(headers), signed, fault.kind if fault else None)
            )
        request_id = str(uuid.uuid4()).upper()
        if fault is not None:
            if fault.kind == "hang":
                self._release.wait(fault.seconds)
            elif fault.kind == "raw":
                return fault.status, {"content-type": fault.content_type}, fault.body
            elif fault.kind in ("throttle", "server_error", "client_error"):
                message = fault.message.replace("{access_key_id}", _key_id(headers, params))
                extra = {}
                if fault.retry_after_ms is not None:
                    extra["x-acs-retry-after"] = str(fault.retry_after_ms)
                return _error(fault.status, fault.code, message, request_id, extra)
        try:
            if action == "ListClusters":
                body = self._list_clusters(
                    params, fault if fault and fault.kind == "cut_page" else None
                )
            elif action == "GetCluster":
                body = self._get_cluster(params)
            elif action == "ListNodeGroups":
                body = self._listing(params, "NodeGroups", self._details(params)["node_groups"])
            elif action == "ListNodes":
                body = self._listing(params, "Nodes", self._details(params)["nodes"])
            elif action == "ListApplicationConfigs":
                configs = self._details(params)["configs"]
                for name in ("ApplicationName", "ConfigFileName", "ConfigItemKey"):
                    if params.get(name):
                        configs = [c for c in configs if c.get(name) == params[name]]
                body = self._listing(params, "ApplicationConfigs", configs)
            elif action == "ExportApplicationConfigs":
                body = self._export(params)
            elif action == "AssumeRole":
                body = self._assume_role(params)
            elif action == "QueryAccountBalance":
                body = self._balance()
            elif action == "QueryAccountTransactions":
                body = self._transactions(params)
            else:
                return _error(
                    404,
                    "InvalidAction.NotFound",
                    f"Specified api is not found: {action}",
                    request_id,
                )
        except _ApiError as err:
            return _error(err.status, err.code, err.message, request_id)
        body["RequestId"] = request_id
        return 200, {"content-type": "application/json;charset=utf-8"}, json.dumps(body).encode()

    def _list_clusters(self, params: dict[str, str], cut: Fault | None) -> dict[str, Any]:
        region = params.get("RegionId", "")
        if not region:
            raise _ApiError(
                400, "MissingParameter.RegionId", "RegionId is mandatory for this action."
            )
        size, offset = _page_asked(params, region)
        with self._lock:
            fleet = list(self.fleet.get(region, []))
        wanted = _indexed(params, "ClusterStates")
        if wanted:
            fleet = [c for c in fleet if c.get("ClusterState") in wanted]
        page = fleet[offset : offset + size]
        end = offset + len(page)
        token = _encode_token(end, region) if end < len(fleet) else ""
        if cut is not None:
            page = page[: cut.keep]
            end = offset + len(page)
            token = {
                "continue": _encode_token(end, region) if end < len(fleet) else "",
                "end": "",
                "repeat": params.get("NextToken", "") or _encode_token(offset, region),
                "invalid": "not-a-token",
            }[cut.next_token]
        return {"Clusters": page, "NextToken": token, "MaxResults": size, "TotalCount": len(fleet)}

    def _get_cluster(self, params: dict[str, str]) -> dict[str, Any]:
        region = params.get("RegionId", "")
        cluster_id = params.get("ClusterId", "")
        with self._lock:
            for cluster in self.fleet.get(region, []):
                if cluster.get("ClusterId") == cluster_id:
                    return {"Cluster": {**cluster, "RegionId": region}}
        raise self._not_found(cluster_id)

    def _not_found(self, cluster_id: str) -> _ApiError:
        code = "ResourceNotFound" if self.real_codes else "NotFound.Cluster"
        return _ApiError(404, code, f"The specified cluster {cluster_id} is not found.")

    def _details(self, params: dict[str, str]) -> dict[str, Any]:
        """The details of the cluster asked for; 404 when the region has no such cluster."""
        self._get_cluster(params)
        cluster_id = params["ClusterId"]
        with self._lock:
            if cluster_id not in self.details:
                self.details[cluster_id] = make_details(cluster_id, region=params["RegionId"])
            return {k: [dict(i) for i in v] for k, v in self.details[cluster_id].items()}

    def _listing(self, params: dict[str, str], key: str, items: list[Any]) -> dict[str, Any]:
        """One page of a NextToken listing of the documented shape."""
        region = params.get("RegionId", "")
        size, offset = _page_asked(params, region)
        page = items[offset : offset + size]
        end = offset + len(page)
        token = _encode_token(end, region) if end < len(items) else ""
        return {key: page, "NextToken": token, "MaxResults": size, "TotalCount": len(items)}

    def _assume_role(self, params: dict[str, str]) -> dict[str, Any]:
        arn = params.get("RoleArn", "")
        if not arn.startswith("acs:ram::") or ":role/" not in arn:
            raise _ApiError(404, "EntityNotExist.Role", f"The role {arn} does not exist.")
        expires = self._now() + timedelta(seconds=int(params.get("DurationSeconds", "3600")))
        return {
            "AssumedRoleUser": {
                "Arn": arn.replace(":role/", ":assumed-role/")
                + "/"
                + params.get("RoleSessionName", ""),
                "AssumedRoleId": "3000000000000:" + params.get("RoleSessionName", ""),
            },
            "Credentials": {
                "AccessKeyId": STS_KEY_ID,
                "AccessKeySecret": STS_KEY_SECRET,
                "SecurityToken": STS_TOKEN,
                "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }

    def _export(self, params: dict[str, str]) -> dict[str, Any]:
        mode = params.get("ExportMode", "ALL")
        fmt = params.get("FileFormat", "XML")
        if mode not in ("ALL", "MODIFICATION"):
            raise _ApiError(400, "InvalidParameter.ExportMode", "ExportMode is invalid.")
        if fmt not in ("JSON", "XML"):
            raise _ApiError(400, "InvalidParameter.FileFormat", "FileFormat is invalid.")
        configs = self._details(params)["configs"]
        wanted = _indexed_records(params, "ApplicationConfigFiles")
        files: dict[tuple[str, str], dict[str, str]] = {}
        for item in configs:
            where = (item["ApplicationName"], item["ConfigFileName"])
            asked = not wanted or any(
                w.get("ApplicationName") == where[0] and w.get("ConfigFileName") in (None, where[1])
                for w in wanted
            )
            if not asked:
                continue
            entries = files.setdefault(where, {})
            if mode == "ALL" or item["ConfigItemValue"] != item.get("InitValue"):
                entries[item["ConfigItemKey"]] = item["ConfigItemValue"]
        out = []
        for (app, name), entries in sorted(files.items()):
            if fmt == "JSON":
                content = json.dumps(entries, sort_keys=True).encode()
            else:
                props = "".join(
                    f"<property><name>{k}</name><value>{v}</value></property>"
                    for k, v in sorted(entries.items())
                )
                content = f"<configuration>{props}</configuration>".encode()
            out.append(
                {
                    "ApplicationName": app,
                    "ConfigFileName": name,
                    "Content": base64.b64encode(content).decode(),
                }
            )
        return {"ApplicationConfigs": out}

    def _balance(self) -> dict[str, Any]:
        with self._lock:
            balance = self.balance
            cash = self.cash if self.cash is not None else balance
            currency = self.currency
        return {
            "Code": "200",
            "Message": "success",
            "Success": True,
            "Data": {
                "AvailableAmount": balance,
                "AvailableCashAmount": cash,
                "CreditAmount": "0.00",
                "MybankCreditAmount": "0.00",
                "QuotaLimit": "0.00",
                "Currency": currency,
            },
        }

    def _transactions(self, params: dict[str, str]) -> dict[str, Any]:
        now = self._now()
        try:
            page_num = int(params.get("PageNum", "1"))
            page_size = int(params.get("PageSize", "20"))
            start = (
                _iso(params["CreateTimeStart"])
                if "CreateTimeStart" in params
                else now - timedelta(days=30)
            )
            end = _iso(params["CreateTimeEnd"]) if "CreateTimeEnd" in params else now
        except ValueError:
            raise _ApiError(
                400, "InvalidParameter", "A paging or time parameter is malformed."
            ) from None
        if page_num < 1 or not 1 <= page_size <= 300:
            raise _ApiError(400, "InvalidParameter", "PageNum or PageSize is out of range.")
        with self._lock:
            entries = [t for t in self.transactions if start <= t["time"] <= end]
        entries.sort(key=lambda t: t["time"], reverse=True)  # newest first
        page = entries[(page_num - 1) * page_size : page_num * page_size]
        items = []
        for n, t in enumerate(page):
            amount: Decimal = t["amount"]
            items.append(
                {
                    "TransactionNumber": f"{to_ms(t['time'])}{n:03d}",
                    "TransactionTime": t["time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "TransactionFlow": "Income" if amount >= 0 else "Expense",
                    "TransactionType": "Payment" if amount >= 0 else "Consumption",
                    "TransactionChannel": "AccountBalance",
                    "TransactionChannelSN": "",
                    "FundType": "Cash",
                    "RecordID": "2026010112",
                    "TransactionAccount": "",
                    "BillingCycle": t["time"].strftime("%Y-%m"),
                    "Remarks": "EMR",
                    "Amount": money(abs(amount)),
                    "Balance": money(t["balance"]),
                }
            )
        return {
            "Code": "Success",
            "Message": "Successful!",
            "Success": True,
            "Data": {
                "PageNum": page_num,
                "PageSize": page_size,
                "TotalCount": len(entries),
                "AccountName": self.account_name,
                "AccountTransactionsList": {"AccountTransactionsList": items},
            },
        }


class _ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAliyun  # set on the subclass made by FakeAliyun.start
    server_version = "FakeAliyun/1.0"

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if raw and "form-urlencoded" in (self.headers.get("content-type") or ""):
            params.update(parse_qsl(raw.decode(), keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        action = headers.get("x-acs-action") or params.get("Action", "")
        status, out_headers, body = self.fake.handle(action, params, headers)
        try:
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the requests are recorded on the fake


def _error(
    status: int, code: str, message: str, request_id: str, extra: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    body = {
        "RequestId": request_id,
        "HostId": "emr.aliyuncs.com",
        "Code": code,
        "Message": message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}",
    }
    headers = {"content-type": "application/json;charset=utf-8", **(extra or {})}
    return status, headers, json.dumps(body).encode()


def _key_id(headers: Mapping[str, str], params: Mapping[str, str]) -> str:
    auth = headers.get("authorization", "")
    if "Credential=" in auth:
        return auth.split("Credential=", 1)[1].split(",", 1)[0]
    return params.get("AccessKeyId", "")


def _page_asked(params: Mapping[str, str], region: str) -> tuple[int, int]:
    """(MaxResults, offset of NextToken) of a listing request; 400 when out of range."""
    try:
        size = int(params.get("MaxResults", "20"))
    except ValueError:
        raise _ApiError(400, "InvalidParameter", "MaxResults is not an integer.") from None
    if not 1 <= size <= 100:
        raise _ApiError(400, "InvalidParameter.MaxResults", "MaxResults must be from 1 to 100.")
    return size, _decode_token(params.get("NextToken", ""), region)


def _encode_token(offset: int, region: str) -> str:
    raw = json.dumps({"emrNextToken": str(offset), "region": region}).encode()
    return base64.b64encode(raw).decode()


def _decode_token(token: str, region: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.b64decode(token, validate=True))
        offset = int(data["emrNextToken"])
        if data["region"] != region or offset < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise _ApiError(400, "InvalidParameter.NextToken", "The NextToken is invalid.") from None
    return offset


def _indexed(params: Mapping[str, str], name: str) -> set[str]:
    """RPC list parameters arrive flattened: Name.1=a&Name.2=b."""
    return {v for k, v in params.items() if k.startswith(name + ".")}


def _indexed_records(params: Mapping[str, str], name: str) -> list[dict[str, str]]:
    """RPC lists of objects arrive flattened: Name.1.Field=a&Name.2.Field=b."""
    records: dict[int, dict[str, str]] = {}
    for key, value in params.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == name and parts[1].isdigit():
            records.setdefault(int(parts[1]), {})[parts[2]] = value
    return [records[n] for n in sorted(records)]


def _dec(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def _iso(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(text)
    return parsed


def sync_command(port: int, region: str) -> str:
    """The command line that syncs from the fake at ``port``, ready to paste.

    The sync needs credentials even here (the SDK signs every request); any will do.
    """
    return (
        "ALIBABA_CLOUD_ACCESS_KEY_ID=fake-key-id ALIBABA_CLOUD_ACCESS_KEY_SECRET=fake-secret "
        f"overdue-fsm sync --region {region} --endpoint 127.0.0.1:{port} --protocol http"
    )


@contextmanager
def standalone(clusters: int, region: str = "cn-hangzhou") -> Iterator[subprocess.Popen[str]]:
    """The fake in a process of its own (as ``make fake-aliyun`` runs it); ``.port`` is set.

    Its serving then never competes with the caller for one interpreter (a benchmark).
    """
    argv = ["--port", "0", "--clusters", str(clusters), "--region", region]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.aliyun.fake_endpoint", *argv],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        process.port = int(process.stdout.readline())  # type: ignore[attr-defined]
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--clusters", type=int, default=250, help="clusters in the fleet")
    parser.add_argument("--region", default="cn-hangzhou")
    parser.add_argument("--balance", default="1,000.00", help="AvailableAmount, e.g. -11.19")
    parser.add_argument(
        "--real-codes", action="store_true", help="answer with the codes of EMR's error tables"
    )
    args = parser.parse_args(argv)
    fake = FakeAliyun(balance=args.balance, real_codes=args.real_codes)
    fake.set_fleet(args.region, make_fleet(args.clusters, args.region))
    port = fake.start(args.port)
    print(port)
    print(f"fake Alibaba Cloud on 127.0.0.1:{port} ({args.clusters} clusters); sync from it with:")
    print(f"  {sync_command(port, args.region)}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
