"""Assuming a RAM role through STS (``AssumeRole``), as alibaba.alicloud's modules do.

The role is named by an ARN (``acs:ram::<account>:role/<name>``); the call is
signed with the credentials the source was given (or found), and its answer,
a temporary AccessKey with a security token, is what every later call uses.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from fsm.errors import InputError

from ._decode import mapping, text, unexpected

#: alibaba.alicloud's names for the role to assume, read when none is given.
ENV_ASSUME_ROLE_ARN: Final = "ALICLOUD_ASSUME_ROLE_ARN"
ENV_ASSUME_ROLE_SESSION_NAME: Final = "ALICLOUD_ASSUME_ROLE_SESSION_NAME"
ENV_ASSUME_ROLE_SESSION_EXPIRATION: Final = "ALICLOUD_ASSUME_ROLE_SESSION_EXPIRATION"
DEFAULT_STS_ENDPOINT: Final = "sts.aliyuncs.com"
DEFAULT_SESSION_NAME: Final = "overdue-fsm"
DEFAULT_SESSION_S: Final = 3600
# What STS accepts: 900 s up to the role's maximum session (at most 43200 s).
SESSION_RANGE: Final = (900, 43200)
_ARN: Final = re.compile(r"^acs:ram::[0-9]+:role/[A-Za-z0-9._@-]+$")
_SESSION_NAME: Final = re.compile(r"^[A-Za-z0-9.@_-]{2,64}$")


@dataclass(frozen=True)
class AssumeRole:
    """The role to assume and for how long (``session_s`` seconds)."""

    role_arn: str
    session_name: str = DEFAULT_SESSION_NAME
    session_s: int = DEFAULT_SESSION_S
    policy: str | None = None

    @classmethod
    def parse(cls, value: object) -> AssumeRole | None:
        """From a mapping (role_arn, session_name, session_expiration, policy) or an ARN."""
        if value is None or isinstance(value, AssumeRole):
            return value
        if isinstance(value, str):
            value = {"role_arn": value}
        if not isinstance(value, Mapping):
            raise InputError(
                "assume_role", value, "a role ARN or {role_arn: ..., session_name: ...}"
            )
        arn = text(value.get("role_arn"))
        if arn is None:
            return None
        if not _ARN.match(arn):
            raise InputError("assume_role.role_arn", arn, "acs:ram::<account id>:role/<role name>")
        name = text(value.get("session_name")) or DEFAULT_SESSION_NAME
        if not _SESSION_NAME.match(name):
            raise InputError("assume_role.session_name", name, "2 to 64 of A-Z a-z 0-9 . @ - _")
        seconds = value.get("session_expiration") or DEFAULT_SESSION_S
        low, high = SESSION_RANGE
        if isinstance(seconds, str) and seconds.isdigit():
            seconds = int(seconds)
        if isinstance(seconds, bool) or not isinstance(seconds, int) or not low <= seconds <= high:
            raise InputError(
                "assume_role.session_expiration", seconds, f"whole seconds from {low} to {high}"
            )
        policy = text(value.get("policy"))
        return cls(arn, name, seconds, policy)

    @classmethod
    def from_environment(cls) -> AssumeRole | None:
        return cls.parse(
            {
                "role_arn": os.environ.get(ENV_ASSUME_ROLE_ARN),
                "session_name": os.environ.get(ENV_ASSUME_ROLE_SESSION_NAME),
                "session_expiration": os.environ.get(ENV_ASSUME_ROLE_SESSION_EXPIRATION),
            }
        )


def assumed(body: Mapping[str, Any], api: str) -> tuple[str, str, str, str | None]:
    """(AccessKeyId, AccessKeySecret, SecurityToken, Expiration) of an AssumeRole answer."""
    request_id = text(body.get("RequestId"))
    data = mapping(body.get("Credentials"), api, "Credentials", request_id)
    fields = [text(data.get(name)) for name in ("AccessKeyId", "AccessKeySecret", "SecurityToken")]
    key_id, secret, token = fields
    if key_id is None or secret is None or token is None:
        raise unexpected(
            api,
            "Credentials",
            "(not shown)",
            "AccessKeyId, AccessKeySecret and SecurityToken",
            request_id,
        )
    return key_id, secret, token, text(data.get("Expiration"))
