"""The Alibaba Cloud source against a fake endpoint on 127.0.0.1, through the real SDK."""

from __future__ import annotations

import logging
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fsm.errors import FsmError, InputError, SourceError

pytest.importorskip("alibabacloud_emr20210320", reason="needs overdue-fsm[aliyun]")
pytest.importorskip("alibabacloud_bssopenapi20171214", reason="needs overdue-fsm[aliyun]")

from fsm.sources import aliyun
from fsm.sources.aliyun import (
    AccountTransaction,
    AliyunSource,
    CloudCluster,
    ClusterNotFoundError,
    derive_overdue_since,
    parse_amount,
)
from tests.aliyun.fake_endpoint import (
    FakeAliyun,
    Fault,
    make_fleet,
    standalone,
    to_ms,
)

# Distinctive fake credentials: none of them may appear in any output.
KEY_ID = "AKIDzzDistinctive4711key"
KEY_SECRET = "sEcReT-zz-Distinctive-0815-value"
TOKEN = "tOkEn-zz-Distinctive-4242-sts"
SECRETS = (KEY_ID, KEY_SECRET, TOKEN)

REGION = "cn-hangzhou"
OTHER = "cn-shanghai"
FLEET = make_fleet(250, REGION)
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a test reach the real credential chain (or an ECS metadata address)."""
    for name in (
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
        "DEBUG",  # DEBUG=sdk makes the SDK print whole requests
        "HTTP_PROXY",  # the SDK proxies every request when set, loopback included
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    auth_util = pytest.importorskip("alibabacloud_credentials.utils.auth_util")
    monkeypatch.setattr(auth_util, "environment_ecs_metadata_disabled", "true", raising=False)


@pytest.fixture
def fake() -> Iterator[FakeAliyun]:
    server = FakeAliyun(balance="1,234.50")
    server.set_fleet(REGION, FLEET)
    server.set_fleet(OTHER, make_fleet(3, OTHER))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_source(fake: FakeAliyun, sleeps: list[float] | None = None, **kwargs: Any) -> AliyunSource:
    options: dict[str, Any] = {
        "access_key_id": KEY_ID,
        "access_key_secret": KEY_SECRET,
        "security_token": TOKEN,
        "endpoint": fake.endpoint,
        "protocol": "http",
        "timeout_s": 2,
        "max_retries": 3,
        "backoff_s": 0.001,
    }
    options.update(kwargs)
    source = AliyunSource(**options)
    if sleeps is not None:
        source._sleep = sleeps.append  # record the backoff instead of sleeping
    return source


@pytest.fixture
def source(fake: FakeAliyun, sleeps: list[float]) -> AliyunSource:
    return make_source(fake, sleeps)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# ---- clusters ----------------------------------------------------------------


def test_lists_250_clusters_over_three_pages(source: AliyunSource, fake: FakeAliyun) -> None:
    clusters = source.clusters(REGION)
    assert len(clusters) == 250
    assert len({c.cluster_id for c in clusters}) == 250
    calls = fake.calls("ListClusters")
    assert len(calls) == 3
    assert [c.params.get("MaxResults") for c in calls] == ["100", "100", "100"]
    assert "NextToken" not in calls[0].params
    assert calls[1].params["NextToken"]
    assert calls[2].params["NextToken"]
    assert all(c.params["RegionId"] == REGION and c.signed for c in calls)
    assert all(c.headers.get("x-acs-security-token") == TOKEN for c in calls)  # STS token is used


def test_maps_billing_expiry_and_release(source: AliyunSource) -> None:
    by_id = {c.cluster_id: c for c in source.clusters(REGION)}
    payg, sub, released, ended = FLEET[0], FLEET[2], FLEET[24], FLEET[39]
    first = by_id[payg["ClusterId"]]
    assert first == CloudCluster(
        cluster_id=payg["ClusterId"],
        region=REGION,
        name=payg["ClusterName"],
        billing="pay_as_you_go",
        expires_at=None,
        released=False,
        released_at=None,
        state="RUNNING",
        state_reason=None,
    )
    subscription = by_id[sub["ClusterId"]]
    assert subscription.billing == "subscription"
    assert subscription.expires_at == datetime(2026, 1, 3, tzinfo=UTC)
    assert subscription.expires_at is not None
    assert subscription.expires_at.utcoffset() == timedelta(0)
    gone = by_id[released["ClusterId"]]
    assert gone.released
    assert gone.state == "TERMINATED"
    assert gone.state_reason == "UserRequest"
    assert gone.released_at is not None
    assert to_ms(gone.released_at) == released["EndTime"]
    # Ended by the cloud for an account problem: terminated, but not released by the owner.
    account_ended = by_id[ended["ClusterId"]]
    assert account_ended.state == "TERMINATED"
    assert not account_ended.released
    assert account_ended.released_at is None
    assert account_ended.state_reason == "AccountException"


def test_get_cluster_and_not_found(source: AliyunSource) -> None:
    sub = FLEET[5]
    got = source.cluster(REGION, sub["ClusterId"])
    assert got.cluster_id == sub["ClusterId"]
    assert got.billing == "subscription"
    assert got.expires_at == datetime(2026, 1, 6, tzinfo=UTC)
    with pytest.raises(ClusterNotFoundError) as caught:
        source.cluster(REGION, "c-0000000000000000")
    err = caught.value
    assert err.api == "GetCluster"
    assert err.code == "NotFound.Cluster"
    assert err.request_id
    assert err.cluster_id == "c-0000000000000000"
    assert err.region == REGION


@pytest.mark.parametrize(
    ("payment", "billing"),
    [("PayAsYouGo", "pay_as_you_go"), ("Subscription", "subscription")],
)
def test_payment_types(fake: FakeAliyun, source: AliyunSource, payment: str, billing: str) -> None:
    cluster = {**FLEET[0], "PaymentType": payment, "ExpireTime": to_ms(NOW)}
    fake.set_fleet("cn-beijing", [cluster])
    (got,) = source.clusters("cn-beijing")
    assert got.billing == billing
    assert got.expires_at == (NOW if billing == "subscription" else None)


@pytest.mark.parametrize(
    ("field", "value"),
    [("PaymentType", "Barter"), ("ClusterId", "-bad id"), ("ExpireTime", "soon")],
)
def test_unexpected_cluster_data_fails_the_listing(
    fake: FakeAliyun, source: AliyunSource, field: str, value: str
) -> None:
    broken = {**FLEET[2], field: value}
    fake.set_fleet("cn-beijing", [FLEET[0], broken])
    with pytest.raises(SourceError) as caught:
        source.clusters("cn-beijing")
    assert caught.value.api == "ListClusters"
    assert caught.value.code == "UnexpectedResponse"
    assert caught.value.request_id


# ---- paging faults -------------------------------------------------------------


def test_a_short_page_with_a_token_is_followed(source: AliyunSource, fake: FakeAliyun) -> None:
    fake.cut_page_short(10, next_token="continue", skip=1)
    assert len(source.clusters(REGION)) == 250
    assert len(fake.calls("ListClusters")) == 4  # 100 + 10 + 100 + 40


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("end", "IncompleteListing"),
        ("repeat", "PagingLoop"),
        ("invalid", "InvalidParameter.NextToken"),
    ],
)
def test_a_listing_cut_short_fails_whole(
    source: AliyunSource, fake: FakeAliyun, mode: str, code: str
) -> None:
    fake.cut_page_short(10, next_token=mode, skip=1)
    with pytest.raises(SourceError) as caught:
        source.clusters(REGION)
    assert caught.value.api == "ListClusters"
    assert caught.value.code == code
    assert caught.value.request_id


def test_snapshot_is_all_or_nothing(source: AliyunSource, fake: FakeAliyun) -> None:
    snap = source.snapshot([REGION, OTHER, REGION])
    assert snap.regions == [REGION, OTHER]
    assert len(snap.clusters) == 253
    assert snap.fetched_at.tzinfo is not None
    assert snap.account.balance == Decimal("1234.50")
    # The second region's listing fails after the first region's three pages succeeded.
    fake.inject(
        Fault(
            "client_error",
            "ListClusters",
            1,
            status=403,
            code="Forbidden.RAM",
            message="no",
            skip=3,
        )
    )
    with pytest.raises(SourceError) as caught:
        source.snapshot([REGION, OTHER])
    assert caught.value.code == "Forbidden.RAM"
    assert caught.value.api == "ListClusters"


def test_disappeared_clusters_are_only_those_of_listed_regions(source: AliyunSource) -> None:
    snap = source.snapshot([OTHER])
    tracked = {c.cluster_id: OTHER for c in snap.clusters}
    tracked |= {"c-gone": OTHER, "c-elsewhere": "cn-beijing"}
    assert snap.disappeared(tracked) == ["c-gone"]


# ---- account -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shown", "amount", "overdue"),
    [
        ("-11.19", Decimal("-11.19"), True),
        ("1,234.50", Decimal("1234.50"), False),
        ("-1,234,567.01", Decimal("-1234567.01"), True),
        ("0.00", Decimal("0.00"), False),
    ],
)
def test_balance_is_a_decimal(
    fake: FakeAliyun, source: AliyunSource, shown: str, amount: Decimal, overdue: bool
) -> None:
    fake.balance = shown
    account = source.account()
    assert account.balance == amount
    assert isinstance(account.balance, Decimal)
    assert str(account.balance) == str(amount)  # exact digits, no float on the way
    assert account.overdue is overdue
    assert account.currency == "CNY"
    assert account.overdue_since is None
    assert account.overdue_since_source == "first_seen"


@pytest.mark.parametrize("bad", ["12,34", "1e5", "abc", "", "1,2345.00", None, True, "--1"])
def test_parse_amount_rejects_what_is_not_an_amount(bad: object) -> None:
    with pytest.raises(SourceError) as caught:
        parse_amount(bad, "Data.AvailableAmount", api="QueryAccountBalance")
    assert caught.value.code == "UnexpectedResponse"


def test_parse_amount_takes_numbers_through_their_shortest_repr() -> None:
    assert parse_amount(-11.19, "x") == Decimal("-11.19")
    assert parse_amount(7, "x") == Decimal(7)
    assert parse_amount(" +3.50 ", "x") == Decimal("3.50")


def test_bss_unsuccessful_answer_is_an_error(fake: FakeAliyun, source: AliyunSource) -> None:
    fake._balance = lambda: {  # type: ignore[method-assign]
        "Code": "NotAuthorized",
        "Message": "not allowed",
        "Success": False,
    }
    with pytest.raises(SourceError) as caught:
        source.account()
    assert caught.value.code == "NotAuthorized"
    assert caught.value.request_id


# ---- overdue start from transactions --------------------------------------------


def at(days_ago: float) -> datetime:
    return NOW - timedelta(days=days_ago)


def test_overdue_since_is_the_start_of_the_last_negative_stretch(
    fake: FakeAliyun, source: AliyunSource
) -> None:
    entries = [
        (at(20), "100.00", "50.00"),
        (at(18), "-80.00", "-30.00"),  # a first dip...
        (at(15), "100.00", "70.00"),  # ...recharged
        (at(12), "-50.00", "20.00"),
        (at(10), "-40.00", "-20.00"),  # the current stretch starts here
    ]
    # 130 more charges keep it negative, so the answer spans two pages, newest first.
    entries += [(at(9) + timedelta(minutes=i), "-0.01", f"-{20 + i / 100:.2f}") for i in range(130)]
    fake.set_transactions(entries)
    fake.balance = "-21.30"
    account = source.account(since_from_transactions=True)
    assert account.overdue
    assert account.overdue_since == at(10)
    assert account.overdue_since_source == "transactions"
    calls = fake.calls("QueryAccountTransactions")
    assert [c.params["PageNum"] for c in calls] == ["1", "2"]
    assert all(c.params["CreateTimeStart"].endswith("Z") for c in calls)


def test_overdue_since_looks_back_past_one_window(fake: FakeAliyun, source: AliyunSource) -> None:
    fake.set_transactions(
        [
            (at(50), "10.00", "5.00"),
            (at(45), "-9.00", "-4.00"),
            (at(31), "-1.00", "-5.00"),
            (at(2), "-1,000.00", "-1,005.00"),
        ]
    )
    fake.balance = "-1,005.00"
    account = source.account(since_from_transactions=True)
    assert account.overdue_since == at(45)
    assert account.overdue_since_source == "transactions"
    assert len(fake.calls("QueryAccountTransactions")) == 2  # two 30-day windows


def test_no_negative_transaction_falls_back_to_first_seen(
    fake: FakeAliyun, source: AliyunSource, caplog: pytest.LogCaptureFixture
) -> None:
    fake.set_transactions([(at(3), "10.00", "10.00")])
    fake.balance = "-11.19"
    with caplog.at_level(logging.WARNING, logger="fsm.sources.aliyun"):
        account = source.account(since_from_transactions=True)
    assert account.overdue
    assert account.overdue_since is None
    assert account.overdue_since_source == "first_seen"
    assert "first time it was seen" in caplog.text


def test_negative_for_the_whole_lookback_gives_the_earliest_seen(
    fake: FakeAliyun, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    source = make_source(fake, sleeps, transactions_lookback_days=40)
    fake.set_transactions([(at(38), "-1.00", "-1.00"), (at(5), "-1.00", "-2.00")])
    fake.balance = "-2.00"
    with caplog.at_level(logging.WARNING, logger="fsm.sources.aliyun"):
        account = source.account(since_from_transactions=True)
    assert account.overdue_since == at(38)
    assert account.overdue_since_source == "transactions"
    assert "may be earlier" in caplog.text


def test_a_positive_balance_reads_no_transactions(fake: FakeAliyun, source: AliyunSource) -> None:
    account = source.account(since_from_transactions=True)
    assert not account.overdue
    assert account.overdue_since is None
    assert fake.calls("QueryAccountTransactions") == []


def txn(days_ago: float, balance: str) -> AccountTransaction:
    return AccountTransaction(at(days_ago), Decimal(1), Decimal(balance), "Expense", "n")


def test_derive_overdue_since() -> None:
    assert derive_overdue_since([]) is None
    assert derive_overdue_since([txn(3, "-1"), txn(2, "5")]) is None
    assert derive_overdue_since([txn(3, "-1"), txn(2, "0"), txn(1, "-1")]) == at(1)
    # Order of the input does not matter; a zero balance is not negative.
    dip = [txn(1, "-3"), txn(5, "-1"), txn(4, "2"), txn(3, "-1"), txn(2, "-2")]
    assert derive_overdue_since(dip) == at(3)


def test_transactions_with_a_naive_time_are_refused(fake: FakeAliyun, source: AliyunSource) -> None:
    def naive(params: dict[str, str]) -> dict[str, Any]:
        item = {"TransactionTime": "2026-01-01 10:00:00", "Amount": "1.00", "Balance": "-1.00"}
        return {
            "Success": True,
            "Data": {
                "TotalCount": 1,
                "AccountTransactionsList": {"AccountTransactionsList": [item]},
            },
        }

    fake._transactions = naive  # type: ignore[method-assign]
    fake.balance = "-1.00"
    with pytest.raises(SourceError) as caught:
        source.account(since_from_transactions=True)
    assert caught.value.api == "QueryAccountTransactions"
    assert caught.value.code == "UnexpectedResponse"


# ---- faults ----------------------------------------------------------------------


def test_throttling_is_retried_then_succeeds(
    fake: FakeAliyun, source: AliyunSource, sleeps: list[float]
) -> None:
    fake.throttle(2, "ListClusters")
    assert len(source.clusters(REGION)) == 250
    assert len(fake.calls("ListClusters")) == 5
    assert len(sleeps) == 2
    assert sleeps[0] <= 0.001
    assert sleeps[1] <= 0.002


def test_retry_after_is_honoured(
    fake: FakeAliyun, source: AliyunSource, sleeps: list[float]
) -> None:
    fake.throttle(1, "QueryAccountBalance", retry_after_ms=250)
    assert source.account().balance == Decimal("1234.50")
    assert sleeps == [0.25]


def test_5xx_is_retried_then_succeeds(
    fake: FakeAliyun, source: AliyunSource, sleeps: list[float]
) -> None:
    fake.fail_5xx(2, "QueryAccountBalance", status=503)
    fake.fail_5xx(1, "ListClusters", status=500)
    assert source.account().balance == Decimal("1234.50")
    assert len(source.clusters(OTHER)) == 3
    assert len(sleeps) == 3


def test_retries_are_bounded_and_exhaust(
    fake: FakeAliyun, source: AliyunSource, sleeps: list[float]
) -> None:
    fake.fail_5xx(None, "QueryAccountBalance")
    with pytest.raises(SourceError) as caught:
        source.account()
    err = caught.value
    assert err.api == "QueryAccountBalance"
    assert err.code == "ServiceUnavailable"
    assert err.request_id
    assert err.request_id in str(err)
    assert "gave up after 4 attempts" in str(err)
    assert len(fake.calls("QueryAccountBalance")) == 4
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps, start=1):
        base = 0.001 * 2 ** (attempt - 1)
        assert base / 2 <= delay <= base  # exponential, with jitter


def test_backoff_never_exceeds_the_cap(fake: FakeAliyun) -> None:
    source = make_source(fake, backoff_s=20)
    assert all(source._backoff(n, None) <= aliyun.BACKOFF_CAP_S for n in range(1, 12))
    assert source._backoff(1, 500.0) == aliyun.BACKOFF_CAP_S


def test_a_throttled_call_that_never_recovers(fake: FakeAliyun, sleeps: list[float]) -> None:
    source = make_source(fake, sleeps, max_retries=0)
    fake.throttle(1, "ListClusters")
    with pytest.raises(SourceError) as caught:
        source.clusters(REGION)
    assert caught.value.code == "Throttling.User"
    assert sleeps == []


def test_4xx_gives_one_error_with_code_and_request_id(
    fake: FakeAliyun, source: AliyunSource, sleeps: list[float]
) -> None:
    fake.fail_4xx(
        "Forbidden.RAM", "User not authorized to operate on the specified resource.", status=403
    )
    with pytest.raises(SourceError) as caught:
        source.clusters(REGION)
    err = caught.value
    assert (err.api, err.code) == ("ListClusters", "Forbidden.RAM")
    assert err.request_id is not None
    assert len(err.request_id) == 36
    assert str(err).startswith("ListClusters failed: Forbidden.RAM: HTTP 403 from 127.0.0.1:")
    assert f"(RequestId {err.request_id})" in str(err)
    assert len(fake.calls("ListClusters")) == 1
    assert sleeps == []


def test_a_non_json_answer_is_retried_then_reported(
    fake: FakeAliyun, source: AliyunSource, sleeps: list[float]
) -> None:
    fake.raw(502, b"<html>502 Bad Gateway</html>", times=1)
    assert source.account().balance == Decimal("1234.50")
    fake.raw(502, b"<html>502 Bad Gateway</html>", times=None)
    with pytest.raises(SourceError) as caught:
        source.account()
    assert caught.value.code == "InvalidResponse"


def test_refused_connection_names_the_api(fake: FakeAliyun, source: AliyunSource) -> None:
    fake.refuse()
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        source.clusters(REGION)
    err = caught.value
    assert (err.api, err.code) == ("ListClusters", "ConnectionRefused")
    assert str(err).startswith(
        "ListClusters failed: ConnectionRefused: cannot connect to 127.0.0.1:"
    )
    assert time.monotonic() - started < 2
    with pytest.raises(SourceError) as caught:
        source.account()
    assert (caught.value.api, caught.value.code) == ("QueryAccountBalance", "ConnectionRefused")


def test_timeout_names_the_api(fake: FakeAliyun, sleeps: list[float]) -> None:
    source = make_source(fake, sleeps, timeout_s=0.3)
    fake.hang(5, "QueryAccountBalance")
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        source.account()
    err = caught.value
    assert (err.api, err.code) == ("QueryAccountBalance", "Timeout")
    assert "within 0.3s" in str(err)
    assert time.monotonic() - started < 2
    assert len(fake.calls("QueryAccountBalance")) == 1
    assert sleeps == []


def test_missing_credentials_are_reported(fake: FakeAliyun) -> None:
    source = AliyunSource(endpoint=fake.endpoint, protocol="http", timeout_s=1, max_retries=0)
    assert "default chain" in repr(source)
    exceptions = pytest.importorskip("alibabacloud_credentials.exceptions")

    class NoCredentials:
        def get_credential(self) -> Any:
            raise exceptions.CredentialException("unable to load credentials from any provider")

    source._chain = NoCredentials()
    with pytest.raises(SourceError) as caught:
        source.account()
    assert caught.value.code == "CredentialsUnavailable"
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in str(caught.value)
    assert fake.calls() == []


def test_environment_credentials_are_used(
    fake: FakeAliyun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", KEY_SECRET)
    source = AliyunSource(endpoint=fake.endpoint, protocol="http")
    assert "'environment'" in repr(source)
    source.account()
    (call,) = fake.calls("QueryAccountBalance")
    assert f"Credential={KEY_ID}," in call.headers["authorization"]
    assert "x-acs-security-token" not in call.headers
    assert_no_secret(repr(source))


# ---- credentials never show -------------------------------------------------------


def test_no_credential_in_any_output(
    fake: FakeAliyun, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's and urllib3's included
    source = make_source(fake, timeout_s=0.3, max_retries=2)
    texts = [repr(source), str(source), repr(vars(source))]
    source.snapshot([REGION], since_from_transactions=True)
    scenarios: list[Any] = [
        lambda: fake.throttle(5),
        lambda: fake.fail_5xx(5),
        lambda: fake.fail_4xx(
            "InvalidAccessKeyId.NotFound",
            "Specified access key {access_key_id} is not found.",
            times=1,
        ),
        lambda: fake.fail_4xx(
            "SignatureDoesNotMatch",
            "The request signature does not conform. server string to sign is: "
            "POST&%2F&AccessKeyId%3D{access_key_id}",
            times=1,
        ),
        lambda: fake.fail_4xx(
            "IncompleteSignature", f"bad token {TOKEN} and secret {KEY_SECRET}", times=1
        ),
        lambda: fake.raw(500, f"<p>{KEY_ID}</p>".encode(), times=5),
        lambda: fake.hang(3, times=1),
    ]
    errors: list[SourceError] = []
    for arm in scenarios:
        fake.clear_faults()
        arm()
        for call in (source.account, lambda: source.clusters(REGION)):
            try:
                call()
            except SourceError as err:
                texts += [str(err), repr(err), repr(err.args), err.code, str(err.request_id)]
                errors.append(err)
    fake.clear_faults()
    fake.refuse()
    with pytest.raises(SourceError) as caught:
        source.clusters(REGION)
    texts += [str(caught.value), repr(caught.value)]
    with pytest.raises(InputError) as bad:
        AliyunSource(access_key_id=KEY_ID)
    texts.append(str(bad.value))
    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    texts += [r.getMessage() for r in caplog.records]
    assert len(errors) >= len(scenarios)
    # Nothing chains the SDK exception (which holds the signed request) to our error.
    assert all(e.__cause__ is None and e.__context__ is None for e in errors)
    assert "retry" in caplog.text  # the retries were logged...
    assert_no_secret(*texts)  # ...and nothing anywhere shows a credential
    assert "***" in " ".join(texts)  # the echoed ones were scrubbed


def test_source_cannot_be_pickled(source: AliyunSource) -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(source)


# ---- inputs and installation -------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"protocol": "ftp"},
        {"endpoint": "http://127.0.0.1:80"},
        {"timeout_s": 0},
        {"timeout_s": True},
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"backoff_s": -1},
        {"access_key_id": KEY_ID},
        {"access_key_secret": KEY_SECRET},
        {"security_token": TOKEN},
    ],
)
def test_bad_parameters(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InputError) as caught:
        AliyunSource(**kwargs)
    assert_no_secret(str(caught.value))


@pytest.mark.parametrize("regions", ["cn-hangzhou", [], ["CN HANGZHOU"], [None]])
def test_bad_regions(source: AliyunSource, regions: Any) -> None:
    with pytest.raises(InputError):
        source.snapshot(regions)


def test_bad_cluster_id(source: AliyunSource) -> None:
    with pytest.raises(InputError):
        source.cluster(REGION, "../etc")


def test_missing_sdk_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "alibabacloud_emr20210320.client", None)
    with pytest.raises(FsmError) as caught:
        AliyunSource(access_key_id=KEY_ID, access_key_secret=KEY_SECRET)
    assert "pip install 'overdue-fsm[aliyun]'" in str(caught.value)


# ---- the fake itself ---------------------------------------------------------------


def test_fake_dispatches_on_the_action_query_parameter(fake: FakeAliyun) -> None:
    url = f"http://{fake.endpoint}/?Action=QueryAccountBalance&Signature=abc&AccessKeyId=x"
    with urllib.request.urlopen(url, timeout=2) as answer:
        assert b'"AvailableAmount": "1,234.50"' in answer.read()
    (call,) = fake.calls("QueryAccountBalance")
    assert call.signed


def test_fake_runs_standalone_with_250_clusters() -> None:
    with standalone(250, REGION) as process:
        source = AliyunSource(
            access_key_id=KEY_ID,
            access_key_secret=KEY_SECRET,
            endpoint=f"127.0.0.1:{process.port}",  # type: ignore[attr-defined]
            protocol="http",
        )
        snap = source.snapshot([REGION])
        assert len(snap.clusters) == 250
        assert not snap.account.overdue
    assert process.returncode == 0
