"""Response fields to values: Alibaba Cloud's wire spellings through the domain's parsers.

Each field is checked for the shape the API writes (epoch milliseconds as
digits, amounts with thousands separators), then parsed by the one parser of
its value in :mod:`fsm.values` or :mod:`fsm.timeutil`. A field that fails
becomes a :class:`~fsm.errors.SourceError` ``UnexpectedResponse`` naming the
API and the RequestId, worded as the domain words a bad input.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from fsm.errors import InputError, SourceError
from fsm.sources.base import AccountTransaction, CloudCluster, CloudNode, ConfigFile
from fsm.table import BILLING_ALIASES, Billing
from fsm.timeutil import parse_time, parse_time_ms
from fsm.values import parse_amount as parse_domain_amount
from fsm.values import parse_cluster_id

log = logging.getLogger(__name__)

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
#: ClusterState values after which the cluster has no nodes left to list.
GONE_STATES: Final = frozenset({"TERMINATED", "TERMINATED_WITH_ERRORS"})
#: A cluster in this state, for this StateChangeReason.Code, was released by its owner.
RELEASED_STATE: Final = "TERMINATED"
RELEASED_REASON: Final = "UserRequest"

#: PaymentType as EMR writes it: the API spellings, and those of the older EMR API.
PAYMENT_TYPES: Final[Mapping[str, Billing]] = {
    **BILLING_ALIASES,
    "PostPaid": Billing.PAY_AS_YOU_GO,
    "PrePaid": Billing.SUBSCRIPTION,
}

#: The GetCluster fields that say what the cluster is, as a clone needs them.
CLUSTER_SHAPE_FIELDS: Final = (
    "ClusterId",
    "ClusterName",
    "ClusterType",
    "ClusterState",
    "ReleaseVersion",
    "PaymentType",
    "SubscriptionConfig",
    "DeployMode",
    "SecurityMode",
    "ResourceGroupId",
    "DeletionProtection",
    "EmrDefaultRole",
    "NodeAttributes",
    "Tags",
    "Description",
    "CreateTime",
    "ExpireTime",
)
#: The ListNodeGroups fields of one node group: its role, instance types, count, disks, network.
NODE_GROUP_FIELDS: Final = (
    "NodeGroupId",
    "NodeGroupName",
    "NodeGroupType",
    "NodeGroupState",
    "PaymentType",
    "InstanceTypes",
    "RunningNodeCount",
    "ZoneId",
    "VSwitchIds",
    "WithPublicIp",
    "AdditionalSecurityGroupIds",
    "SystemDisk",
    "DataDisks",
    "SpotStrategy",
    "SpotBidPrices",
    "DeploymentSetStrategy",
    "NodeResizeStrategy",
    "GracefulShutdown",
)

# The wire shape of an amount: digits, optionally in groups of three ("1,234.50").
_AMOUNT: Final = re.compile(r"^[+-]?([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]+)?$")
_AMOUNT_EXPECTED: Final = "a decimal amount such as -11.19"


def unexpected(
    api: str, field: str, value: object, expected: str, request_id: str | None
) -> SourceError:
    """The error for a response field that is not what the API documents."""
    return SourceError(
        api or "response",
        "UnexpectedResponse",
        str(InputError(field, value, expected)),
        request_id,
    )


def text(value: object) -> str | None:
    """A non-empty string, or None (the SDK writes a missing value as 'None')."""
    if value is None or isinstance(value, bool):
        return None
    result = str(value).strip() if isinstance(value, str | int) else None
    return result if result and result != "None" else None


def mapping(value: object, api: str, field: str, request_id: str | None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise unexpected(api, field, value, "an object", request_id)
    return value


def sequence(value: object, api: str, field: str, request_id: str | None) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise unexpected(api, field, value, "a list", request_id)
    return value


def count(value: object, api: str, field: str, request_id: str | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise unexpected(api, field, value, "a count", request_id)
    return int(value)


def parse_amount(
    value: object, field: str, *, api: str = "", request_id: str | None = None
) -> Decimal:
    """A decimal amount from the API ("-11.19", "1,234.50"); never through float arithmetic.

    A JSON number the SDK already turned into a float goes through its shortest repr.
    """
    shown = str(value).strip() if isinstance(value, str | int | float | Decimal) else None
    if isinstance(value, bool) or shown is None or not _AMOUNT.match(shown):
        raise unexpected(api, field, value, _AMOUNT_EXPECTED, request_id)
    try:
        return parse_domain_amount(shown.replace(",", ""), field)
    except InputError as err:
        raise unexpected(api, field, value, err.expected, request_id) from None


def epoch_ms(value: object, api: str, field: str, request_id: str | None) -> datetime | None:
    """Epoch milliseconds as EMR writes them (digits); 0 or absent is "none"."""
    if value is None or value == "" or value == 0 or value == "0":
        return None
    # ASCII digits only: str.isdigit() also takes "²", which int() then refuses.
    shown = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not (shown.isascii() and shown.isdigit()):
        raise unexpected(api, field, value, "epoch milliseconds", request_id)
    try:
        return parse_time_ms(int(shown), field)
    except InputError as err:
        raise unexpected(api, field, value, err.expected, request_id) from None


def instant(value: object, api: str, field: str, request_id: str | None) -> datetime:
    """An ISO 8601 instant with Z or an offset (2020-03-10T02:03:20Z); never naive."""
    if not isinstance(value, str):
        raise unexpected(api, field, value, "an ISO 8601 instant with Z or an offset", request_id)
    try:
        return parse_time(value, field)
    except InputError as err:
        raise unexpected(api, field, value, err.expected, request_id) from None


def cluster(item: object, region: str, api: str, request_id: str | None) -> CloudCluster:
    """One entry of ListClusters (or the Cluster of GetCluster)."""
    data = mapping(item, api, "Clusters[]", request_id)
    try:
        cluster_id = parse_cluster_id(text(data.get("ClusterId")), "ClusterId")
    except InputError as err:
        raise unexpected(
            api, "ClusterId", data.get("ClusterId"), err.expected, request_id
        ) from None
    state = text(data.get("ClusterState"))
    if state is None:
        raise unexpected(
            api,
            f"{cluster_id}.ClusterState",
            data.get("ClusterState"),
            "a cluster state",
            request_id,
        )
    if state not in CLUSTER_STATES:
        log.debug("%s: cluster %s has an undocumented state %s", api, cluster_id, state)
    billing = PAYMENT_TYPES.get(text(data.get("PaymentType")) or "")
    if billing is None:
        raise unexpected(
            api,
            f"{cluster_id}.PaymentType",
            data.get("PaymentType"),
            " or ".join(BILLING_ALIASES),
            request_id,
        )
    reason_raw = data.get("StateChangeReason")
    reason = text(reason_raw.get("Code")) if isinstance(reason_raw, Mapping) else None
    released = state == RELEASED_STATE and reason == RELEASED_REASON
    return CloudCluster(
        cluster_id=cluster_id,
        region=region,
        name=text(data.get("ClusterName")) or "",
        billing=billing,
        expires_at=epoch_ms(data.get("ExpireTime"), api, f"{cluster_id}.ExpireTime", request_id)
        if billing is Billing.SUBSCRIPTION
        else None,
        released=released,
        released_at=epoch_ms(data.get("EndTime"), api, f"{cluster_id}.EndTime", request_id)
        if released
        else None,
        state=state,
        state_reason=reason,
    )


def transaction(item: object, api: str, request_id: str | None) -> AccountTransaction:
    """One entry of QueryAccountTransactions."""
    data = mapping(item, api, "AccountTransactionsList[]", request_id)
    number = text(data.get("TransactionNumber")) or ""
    where = f"transaction {number}"
    return AccountTransaction(
        at=instant(data.get("TransactionTime"), api, f"{where}.TransactionTime", request_id),
        amount=parse_amount(data.get("Amount"), f"{where}.Amount", api=api, request_id=request_id),
        balance=parse_amount(
            data.get("Balance"), f"{where}.Balance", api=api, request_id=request_id
        ),
        flow=text(data.get("TransactionFlow")) or "",
        number=number,
    )


def shape_fields(data: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The ``fields`` of ``data`` that the cloud filled in, with its names and values."""
    return {name: data[name] for name in fields if data.get(name) not in (None, "", [], {})}


def node_group(item: object, api: str, request_id: str | None) -> dict[str, Any]:
    """One entry of ListNodeGroups, reduced to the fields of its shape."""
    data = mapping(item, api, "NodeGroups[]", request_id)
    if text(data.get("NodeGroupId")) is None:
        raise unexpected(
            api, "NodeGroups[].NodeGroupId", data.get("NodeGroupId"), "an id", request_id
        )
    return shape_fields(data, NODE_GROUP_FIELDS)


def config_entry(item: object, api: str, request_id: str | None) -> tuple[str, str]:
    """(ApplicationName, ConfigFileName) of one entry of ListApplicationConfigs."""
    data = mapping(item, api, "ApplicationConfigs[]", request_id)
    application = text(data.get("ApplicationName"))
    name = text(data.get("ConfigFileName"))
    if application is None or name is None:
        raise unexpected(
            api,
            "ApplicationConfigs[].ApplicationName/ConfigFileName",
            data,
            "an application and a file name",
            request_id,
        )
    return application, name


def config_file(item: object, api: str, request_id: str | None) -> ConfigFile:
    """One entry of ExportApplicationConfigs: its Content is Base64."""
    application, name = config_entry(item, api, request_id)
    data = mapping(item, api, "ApplicationConfigs[]", request_id)
    raw = data.get("Content")
    field = f"{application}/{name}.Content"
    if raw is None or raw == "":
        return ConfigFile(application, name, b"")
    if not isinstance(raw, str):
        raise unexpected(api, field, type(raw).__name__, "Base64 text", request_id)
    try:
        content = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise unexpected(api, field, raw[:40], "Base64 text", request_id) from None
    return ConfigFile(application, name, content)


def node(item: object, cluster_id: str, api: str, request_id: str | None) -> CloudNode:
    """One entry of ListNodes: NodeId is the ECS instance id."""
    data = mapping(item, api, "Nodes[]", request_id)
    node_id = text(data.get("NodeId"))
    if node_id is None:
        raise unexpected(api, "Nodes[].NodeId", data.get("NodeId"), "an instance id", request_id)
    return CloudNode(
        node_id=node_id,
        cluster_id=cluster_id,
        node_group_id=text(data.get("NodeGroupId")),
        node_group_type=text(data.get("NodeGroupType")),
        instance_type=text(data.get("InstanceType")),
        state=text(data.get("NodeState")),
    )


_JSON_ESCAPED: Final = re.compile(r'["\\\x00-\x1f]')  # what json.dumps writes as an escape


def clean(body: dict[str, Any], needles: Sequence[str], shapes: Sequence[re.Pattern[str]]) -> bool:
    """Whether no string of ``body`` holds a needle or matches a shape: its JSON text has none.

    JSON escapes only quotes, backslashes and control characters: a needle without them
    is in the text exactly when it is in one of the strings (a match of a shape too).
    """
    if any(_JSON_ESCAPED.search(needle) for needle in needles):
        return False
    try:
        whole = json.dumps(body, ensure_ascii=False)
    except (TypeError, ValueError):
        return False
    return not any(n in whole for n in needles) and not any(k.search(whole) for k in shapes)
