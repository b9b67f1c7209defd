"""The SDK transport: loading the SDK, credentials, and one call with retry, classify, scrub.

What this relies on in the SDK (alibabacloud-tea-openapi 0.4, darabonba):

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

Every failure becomes one :class:`~fsm.errors.SourceError` naming the API, the
code and the RequestId; no credential is ever printed, logged, stored or put in
an error message (messages are scrubbed of key ids and secrets, and the SDK
exception, which holds the signed request, is dropped rather than chained).
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from fsm.errors import FsmError, InputError, SourceError

from ._decode import clean, text
from ._sts import DEFAULT_STS_ENDPOINT, AssumeRole, assumed

log = logging.getLogger(__name__)

INSTALL_HINT: Final = "pip install 'overdue-fsm[aliyun]'"

#: The environment the credentials are read from (as the SDK's own chain reads them).
ENV_KEY_ID: Final = "ALIBABA_CLOUD_ACCESS_KEY_ID"
ENV_KEY_SECRET: Final = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
ENV_TOKEN: Final = "ALIBABA_CLOUD_SECURITY_TOKEN"
#: alibaba.alicloud's names for the same, read when the SDK's are not set.
ENV_ALICLOUD_KEY_ID: Final = "ALICLOUD_ACCESS_KEY"
ENV_ALICLOUD_KEY_SECRET: Final = "ALICLOUD_SECRET_KEY"
ENV_ALICLOUD_TOKEN: Final = "ALICLOUD_SECURITY_TOKEN"
#: alibaba.alicloud's profile (of ~/.aliyun/config.json) and ECS RAM role, when none is given.
ENV_ALICLOUD_PROFILE: Final = "ALICLOUD_PROFILE"
ENV_ALICLOUD_ECS_ROLE_NAME: Final = "ALICLOUD_ECS_ROLE_NAME"
#: The region when a face is given none: the SDK's name, then alibaba.alicloud's.
REGION_ENV: Final = ("ALIBABA_CLOUD_REGION_ID", "ALICLOUD_REGION")
#: Every variable a credential is read from, in the order they are tried (pairs of id, secret).
CREDENTIAL_ENV: Final = (
    ENV_KEY_ID,
    ENV_KEY_SECRET,
    ENV_TOKEN,
    ENV_ALICLOUD_KEY_ID,
    ENV_ALICLOUD_KEY_SECRET,
    ENV_ALICLOUD_TOKEN,
)

#: Seconds to wait for each answer: the default, and the most a caller may ask for.
DEFAULT_TIMEOUT_S: Final = 10.0
MAX_TIMEOUT_S: Final = 600.0
BACKOFF_CAP_S: Final = 30.0
DEFAULT_BSS_ENDPOINT: Final = (
    "business.aliyuncs.com"  # international site: business.ap-southeast-1...
)
#: The region BSS (billing) clients are made for: the API is global.
BSS_REGION: Final = "cn-hangzhou"

#: Error codes of EMR 2021-03-20 as its error tables list them: 404 ResourceNotFound
#: (no such cluster or resource), 400 ThrottlingException, 500 InternalError. Older
#: and other products' spellings (NotFound.Cluster, Throttling.User) are kept too.
NOT_FOUND_CODES: Final = frozenset({"ResourceNotFound"})
THROTTLING_CODES: Final = frozenset({"ThrottlingException", "Throttling", "Throttling.User"})
# "no such cluster" where the code names it (NotFound.Cluster, InvalidClusterId.NotFound).
_CLUSTER_NOT_FOUND: Final = re.compile(r"(?i)cluster.*not\.?found|not\.?found.*cluster")

_ENDPOINT: Final = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
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
    origin: str  # 'explicit' | 'environment' | 'assumed role'


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
    credentials_config: Any
    cli_profile: Any
    sts_client: Any  # None without alibabacloud-sts20150401
    sts_models: Any


@dataclass(frozen=True)
class _Failure:
    code: str
    message: str
    request_id: str | None
    retryable: bool
    retry_after_s: float | None = None


def default_region() -> str | None:
    """The region of the environment (:data:`REGION_ENV`, the first set), or None."""
    for name in REGION_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def is_not_found(code: str) -> bool:
    """Whether an error code says the cluster (or a resource of it) does not exist.

    Not every 404 is one: InvalidAction.NotFound means the API is unknown.
    """
    return code in NOT_FOUND_CODES or bool(_CLUSTER_NOT_FOUND.search(code))


def check_number(
    value: object, field: str, low: float, high: float, expected: str, *, whole: bool = False
) -> float:
    """``value`` as a float when it is a number in [low, high] (and whole, if asked)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(field, value, expected)
    if whole and isinstance(value, float) and not value.is_integer():
        raise InputError(field, value, expected)
    if not math.isfinite(value) or not low <= value <= high:
        raise InputError(field, value, expected)
    return float(value)


class Transport:
    """Clients of EMR and BSS, and one SDK call with retries, as a :class:`SourceError`.

    Credentials: ``access_key_id`` and ``access_key_secret`` (and
    ``security_token`` for STS) when given; else those of :data:`CREDENTIAL_ENV`
    as set when the transport is made; else the SDK's default credential chain.
    """

    def __init__(
        self,
        *,
        access_key_id: str | None,
        access_key_secret: str | None,
        security_token: str | None,
        endpoint: str | None,
        bss_endpoint: str | None,
        protocol: str,
        timeout_s: float,
        max_retries: int,
        backoff_s: float,
        profile: str | None = None,
        ecs_role_name: str | None = None,
        assume_role: object = None,
        sts_endpoint: str | None = None,
    ) -> None:
        self._endpoint = _check_endpoint(endpoint, "endpoint")
        self._sts_endpoint = _check_endpoint(sts_endpoint, "sts_endpoint")
        self._profile = _optional_name(profile, "profile", ENV_ALICLOUD_PROFILE)
        self._ecs_role_name = _optional_name(
            ecs_role_name, "ecs_role_name", ENV_ALICLOUD_ECS_ROLE_NAME
        )
        self._assume_role = AssumeRole.parse(assume_role) or AssumeRole.from_environment()
        self._base: _Credentials | None = None  # what the role was assumed with
        self._bss_endpoint = _check_endpoint(bss_endpoint, "bss_endpoint")
        if protocol not in ("http", "https"):
            raise InputError("protocol", protocol, "http or https")
        self._protocol = protocol
        self._timeout_s = check_number(
            timeout_s,
            "timeout_s",
            0.001,
            MAX_TIMEOUT_S,
            f"seconds, more than 0 and at most {MAX_TIMEOUT_S:g}",
        )
        self._timeout_ms = max(1, round(self._timeout_s * 1000))
        self._max_retries = int(
            check_number(
                max_retries, "max_retries", 0, 10, "a whole number from 0 to 10", whole=True
            )
        )
        self._backoff_s = check_number(backoff_s, "backoff_s", 0.0, 60.0, "seconds, from 0 to 60")
        self._credentials = _resolve_credentials(access_key_id, access_key_secret, security_token)
        self._sdk = _load_sdk()
        self._chain: Any = None
        self._emr: dict[str, Any] = {}
        self._bss: Any = None
        self._sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        origin = self._credentials.origin if self._credentials else "default chain"
        return (
            f"{type(self).__name__}(endpoint={self._endpoint!r}, "
            f"bss_endpoint={self._bss_endpoint!r}, protocol={self._protocol!r}, "
            f"credentials={origin!r}, timeout_s={self._timeout_s:g}, "
            f"max_retries={self._max_retries}, backoff_s={self._backoff_s:g})"
        )

    def __getstate__(self) -> object:
        raise TypeError(f"an {type(self).__name__} holds credentials and is not to be pickled")

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
            config.credential = self._credential_chain()
        return config

    def _credential_chain(self) -> Any:
        """The SDK's credentials: the profile or ECS role asked for, else its default chain."""
        if self._chain is None:
            if self._profile is not None:
                provider = self._sdk.cli_profile(profile_name=self._profile)
                self._chain = self._sdk.credentials(provider=provider)
            elif self._ecs_role_name is not None:
                self._chain = self._sdk.credentials(
                    self._sdk.credentials_config(type="ecs_ram_role", role_name=self._ecs_role_name)
                )
            else:
                self._chain = self._sdk.credentials()  # the SDK's default credential chain
        return self._chain

    def _assume(self) -> None:
        """Trade the credentials in hand for the role's (STS AssumeRole), once."""
        role = self._assume_role
        if role is None:
            return
        api = "AssumeRole"
        if self._sdk.sts_client is None:
            raise FsmError(
                "assuming a RAM role needs the STS SDK (alibabacloud_sts20150401 is missing): "
                + INSTALL_HINT
            )
        endpoint = self._sts_endpoint or DEFAULT_STS_ENDPOINT
        base = self._credentials
        if base is None:
            found = self._call(
                api,
                endpoint,
                lambda: _chain_body(self._credential_chain()),
                gives_credentials=True,
            )
            base = _Credentials(
                _Secret(str(found["AccessKeyId"])),
                _Secret(str(found["AccessKeySecret"])),
                _Secret(str(found["SecurityToken"])) if found.get("SecurityToken") else None,
                "credential chain",
            )
        self._base = base
        config = self._sdk.config(
            protocol=self._protocol,
            endpoint=endpoint,
            region_id=BSS_REGION,
            read_timeout=self._timeout_ms,
            connect_timeout=self._timeout_ms,
            access_key_id=base.key_id.reveal(),
            access_key_secret=base.key_secret.reveal(),
        )
        if base.token is not None:
            config.security_token = base.token.reveal()
        try:
            client = self._sdk.sts_client(config)
        except Exception as exc:  # the SDK raises many kinds; all become one error
            raise SourceError(
                api, "ClientSetup", self._scrub(f"cannot set up the STS client: {exc}")
            ) from None
        request = self._sdk.sts_models.AssumeRoleRequest(
            role_arn=role.role_arn,
            role_session_name=role.session_name,
            duration_seconds=role.session_s,
            policy=role.policy,
        )
        body = self._call(
            api,
            endpoint,
            lambda: client.assume_role_with_options(request, self._runtime()),
            gives_credentials=True,
        )
        key_id, secret, token, _expiration = assumed(body, api)
        self._credentials = _Credentials(
            _Secret(key_id), _Secret(secret), _Secret(token), "assumed role"
        )

    def _emr_client(self, region: str, api: str) -> tuple[Any, str]:
        if region not in self._emr:
            self._emr[region] = self._make_client(api, self._sdk.emr_client, region, self._endpoint)
        client = self._emr[region]
        where = text(getattr(client, "_endpoint", None))  # the host the SDK will call
        return client, where or self._endpoint or f"the EMR endpoint of {region}"

    def _bss_client(self, api: str) -> tuple[Any, str]:
        if self._bss is None:
            endpoint = self._bss_endpoint or self._endpoint or DEFAULT_BSS_ENDPOINT
            self._bss = self._make_client(api, self._sdk.bss_client, BSS_REGION, endpoint)
        client = self._bss
        return client, text(getattr(client, "_endpoint", None)) or DEFAULT_BSS_ENDPOINT

    def _make_client(self, api: str, factory: Any, region: str, endpoint: str | None) -> Any:
        if self._assume_role is not None and self._base is None:
            self._assume()  # before the first client: every call uses the role's credentials
        failure: str | None = None
        try:
            return factory(self._config(region, endpoint))
        except Exception as exc:  # the SDK raises many kinds; all become one error
            failure = f"{type(exc).__name__}: {exc}"
        raise SourceError(
            api, "ClientSetup", self._scrub(f"cannot set up the SDK client: {failure}")
        )

    def _call(
        self, api: str, where: str, send: Callable[[], Any], *, gives_credentials: bool = False
    ) -> dict[str, Any]:
        """One SDK call with retries; the response body as a dict, or a SourceError.

        ``gives_credentials``: the answer is credentials (STS, the credential chain), so its
        values are kept as they are; they are scrubbed from every message all the same.
        """
        attempts = self._max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = send()
            except Exception as exc:  # classified below, never chained
                failure = self._classify(where, exc)
            else:
                return self._body(api, response, scrub=not gives_credentials)
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

    def _body(self, api: str, response: Any, *, scrub: bool = True) -> dict[str, Any]:
        body: Any = getattr(response, "body", None)
        raw = body.to_map() if hasattr(body, "to_map") else body
        if not isinstance(raw, dict):
            raise SourceError(api, "InvalidResponse", "the response has no JSON object body")
        # A hostile or broken endpoint may echo a credential in any field: none
        # reaches a value, hence no error message made from one.
        result: dict[str, Any] = self._scrub_data(raw) if scrub else raw
        request_id = text(result.get("RequestId"))
        if result.get("Success") is False:  # BSS answers some failures with HTTP 200
            code = text(result.get("Code")) or "Unsuccessful"
            message = text(result.get("Message")) or "the call did not succeed"
            raise SourceError(api, self._scrub(code), self._scrub(message), request_id)
        return result

    def _classify(self, where: str, exc: BaseException) -> _Failure:
        data_raw = getattr(exc, "data", None)
        data: dict[str, Any] = data_raw if isinstance(data_raw, dict) else {}
        status = _status(
            getattr(exc, "status_code", None), data.get("statusCode"), data.get("httpCode")
        )
        code = text(data.get("Code")) or text(getattr(exc, "code", None))
        request_id = text(data.get("RequestId")) or text(getattr(exc, "request_id", None))
        if status is not None:
            message = (
                text(data.get("Message")) or text(getattr(exc, "message", None)) or "no message"
            )
            code = code or f"HTTP{status}"
            retryable = (
                status >= 500
                or status == 429
                or code in THROTTLING_CODES
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
        said = " ".join(_exception_text(e) for e in (exc, inner) if isinstance(e, BaseException))
        low = said.lower()
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
            return _Failure("ConnectionError", f"cannot reach {where}: {_short(said)}", None, False)
        kind = type(inner).__name__ if isinstance(inner, BaseException) else type(exc).__name__
        return _Failure(
            code or "SdkError", f"calling {where} failed: {kind}: {_short(said)}", request_id, False
        )

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        base = min(BACKOFF_CAP_S, self._backoff_s * 2.0 ** (attempt - 1))
        delay = base / 2 + random.uniform(0, base / 2)  # jitter, not security
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, BACKOFF_CAP_S))
        return delay

    def _without_credentials(self, message: str) -> str:
        """``message`` with every credential value, and anything shaped like a key id, as ***."""
        for needle in self._needles():
            message = message.replace(needle, "***")
        for shape in _KEY_SHAPES:
            message = shape.sub("***", message)
        return message

    def _needles(self) -> list[str]:
        """Each credential value held (of 4 characters or more), as it is and URL-quoted."""
        held = [h for h in (self._credentials, self._base) if h is not None]
        values = [s.reveal() for h in held for s in (h.key_id, h.key_secret, h.token) if s]
        return [form for v in values if len(v) >= 4 for form in (v, quote(v, safe=""))]

    def _scrub_data(self, value: Any) -> Any:
        """A response body with :meth:`_without_credentials` applied to every string in it."""
        if isinstance(value, dict) and clean(value, self._needles(), _KEY_SHAPES):
            return value  # nothing to scrub: a whole page is checked in one pass
        return self._scrub_each(value)

    def _scrub_each(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._without_credentials(value)
        if isinstance(value, dict):
            return {key: self._scrub_each(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._scrub_each(item) for item in value]
        return value

    def _scrub(self, message: str) -> str:
        """``message`` without any credential value or anything shaped like one."""
        message = self._without_credentials(message)
        message = _STRING_TO_SIGN.sub(r"\1: <redacted>", message)
        message = _KEY_FIELDS.sub(r"\1\2***", message)
        if len(message) <= _MESSAGE_LIMIT:
            return message
        return message[: _MESSAGE_LIMIT - 3] + "..."


def _load_sdk() -> _Sdk:
    try:
        openapi = importlib.import_module("alibabacloud_tea_openapi.models")
        emr_client = importlib.import_module("alibabacloud_emr20210320.client")
        emr_models = importlib.import_module("alibabacloud_emr20210320.models")
        bss_client = importlib.import_module("alibabacloud_bssopenapi20171214.client")
        bss_models = importlib.import_module("alibabacloud_bssopenapi20171214.models")
        credentials = importlib.import_module("alibabacloud_credentials.client")
        credentials_models = importlib.import_module("alibabacloud_credentials.models")
        cli_profile = importlib.import_module("alibabacloud_credentials.provider.cli_profile")
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
    _silence_sdk_logs()
    try:  # only needed to assume a role
        sts_client: Any = importlib.import_module("alibabacloud_sts20150401.client")
        sts_models: Any = importlib.import_module("alibabacloud_sts20150401.models")
    except ImportError:
        sts_client = sts_models = None
    return _Sdk(
        config=openapi.Config,
        runtime=runtime.RuntimeOptions,
        emr_client=emr_client.Client,
        emr_models=emr_models,
        bss_client=bss_client.Client,
        bss_models=bss_models,
        credentials=credentials.Client,
        credentials_config=credentials_models.Config,
        cli_profile=cli_profile.CLIProfileCredentialsProvider,
        sts_client=sts_client.Client if sts_client is not None else None,
        sts_models=sts_models,
    )


#: The loggers the SDK attaches its own stderr handlers to.
_SDK_LOGGERS: Final = ("credentials",)


def _silence_sdk_logs() -> None:
    """Keep the SDK's own log lines (tracebacks of each failed credential provider) off stderr.

    The credential chain logs every provider that failed, with its traceback, through a
    handler of its own; what failed reaches the user once, as a SourceError.
    """
    for name in _SDK_LOGGERS:
        logging.getLogger(name).disabled = True


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
    # The SDK's names first, then alibaba.alicloud's: a pair is used only when complete.
    for id_name, secret_name, token_name in (
        (ENV_KEY_ID, ENV_KEY_SECRET, ENV_TOKEN),
        (ENV_ALICLOUD_KEY_ID, ENV_ALICLOUD_KEY_SECRET, ENV_ALICLOUD_TOKEN),
    ):
        env_id = os.environ.get(id_name) or None
        env_secret = os.environ.get(secret_name) or None
        if env_id is not None and env_secret is not None:
            env_token = os.environ.get(token_name) or None
            return _Credentials(
                _Secret(env_id),
                _Secret(env_secret),
                _Secret(env_token) if env_token else None,
                "environment",
            )
    return None


def _optional_name(value: str | None, field: str, env: str) -> str | None:
    """A profile or role name given, else the one of ``env``, else None."""
    chosen = value if value else os.environ.get(env) or None
    if chosen is None:
        return None
    if not isinstance(chosen, str) or not re.match(r"^[A-Za-z0-9._@-]{1,128}$", chosen):
        raise InputError(field, chosen, "a name of letters, digits and . _ @ -")
    return chosen


def _chain_body(chain: Any) -> dict[str, Any]:
    """The credential chain's current credentials, as an answer's fields."""
    found = chain.get_credential()
    return {
        "AccessKeyId": found.access_key_id,
        "AccessKeySecret": found.access_key_secret,
        "SecurityToken": found.security_token,
    }


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


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= 300 else message[:297] + "..."
