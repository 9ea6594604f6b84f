"""GoogleAdsResource through the unmodified GoogleAdsClient, against a TLS gRPC fake and a fake OAuth server.

Nothing in the client is patched: the secure channel, google-ads interceptors and error mapping, api_core
error conversion and google-auth's token refresh all run as in production. Waits are recorded through the
resource's injectable `_sleep`, except in one test that measures a real (0.3 s) wait.

TLS trust: gRPC reads GRPC_DEFAULT_SSL_ROOTS_FILE_PATH once per process, at the first TLS handshake (see
tests/fakes/google_ads_server.py), so the certificate is session-scoped and exported for the whole session;
`check_grpc_trusts` turns a process that already fixed its roots into a clear error. requests reads
REQUESTS_CA_BUNDLE per request, so that one is set per test.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("google.ads.googleads", reason="connectors extra not installed")
pytest.importorskip("cryptography", reason="dev extra not installed")

import dagster as dg

from resources.ad_rows import AD_ROW_COLUMNS
from resources.google_ads import GoogleAdsFetchError, GoogleAdsResource
from tests.fakes.google_ads_server import (
    CampaignDay,
    FakeGoogleAdsServer,
    FakeOAuthServer,
    Fault,
    check_grpc_trusts,
)

DEVELOPER_TOKEN = "devtok-SECRET-a1b2c3d4"
CLIENT_ID = "1234-fake.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-SECRET-e5f6g7h8"
REFRESH_TOKEN = "1//refresh-SECRET-i9j0k1l2"
ACCESS_TOKEN = "ya29.access-SECRET-m3n4o5"
SECRETS = (DEVELOPER_TOKEN, CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN)

EUR_ACCOUNT, JPY_ACCOUNT, USD_ACCOUNT = "1234567890", "2222222222", "3333333333"
MAY1 = dt.date(2026, 5, 1)
START, END = MAY1, MAY1 + dt.timedelta(days=2)

EUR_ROWS = [
    CampaignDay(101, MAY1 - dt.timedelta(days=1), 5_000_000, 10, 1, 1.0, "Brand"),  # before the range
    CampaignDay(101, MAY1, 1_234_567, 1000, 50, 2.5, "Brand"),
    CampaignDay(102, MAY1, 990_000, 80, 3, 0.0, "Generic", "PAUSED"),
    CampaignDay(101, MAY1 + dt.timedelta(days=1), 123_456_789_012, 90_000, 4_000, 33.333333, "Brand"),
    CampaignDay(102, MAY1 + dt.timedelta(days=1), 1, 1, 0, 0.0, "Generic", "PAUSED"),
    CampaignDay(101, MAY1 + dt.timedelta(days=2), 10_000_000, 500, 20, 1.0, "Brand"),
    CampaignDay(102, MAY1 + dt.timedelta(days=2), 7_770_000, 70, 7, 0.5, "Generic", "PAUSED"),
    CampaignDay(101, MAY1 + dt.timedelta(days=3), 9_000_000, 10, 1, 1.0, "Brand"),  # after the range
]
JPY_ROWS = [
    CampaignDay(201, MAY1, 1_500_000_000, 300, 9, 4.0, "Tokyo"),
    CampaignDay(201, MAY1 + dt.timedelta(days=2), 2_000_000, 3, 0, 0.0, "Tokyo"),
]
USD_ROWS = [CampaignDay(301, MAY1, 4_200_000, 42, 4, 1.0, "Boston")]


@pytest.fixture
def ads(tls_cert: tuple[Path, Path]) -> Iterator[FakeGoogleAdsServer]:
    with FakeGoogleAdsServer(*tls_cert, batch_size=2, required_access_token=ACCESS_TOKEN) as server:
        server.add_customer(EUR_ACCOUNT, "EUR", EUR_ROWS)
        server.add_customer(JPY_ACCOUNT, "JPY", JPY_ROWS)
        server.add_customer(USD_ACCOUNT, "USD", USD_ROWS)
        check_grpc_trusts(server.endpoint)
        yield server


@pytest.fixture
def oauth(tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOAuthServer]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_cert[0]))
    with FakeOAuthServer(*tls_cert, access_token=ACCESS_TOKEN) as server:
        yield server


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def make_resource(
    ads: FakeGoogleAdsServer, oauth: FakeOAuthServer, waits: list[float]
) -> Callable[..., GoogleAdsResource]:
    def make(**overrides: object) -> GoogleAdsResource:
        fields: dict[str, object] = {
            "developer_token": DEVELOPER_TOKEN,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
            "login_customer_id": "123-456-7890",
            "endpoint": ads.endpoint,
            "token_uri": oauth.token_uri,
        }
        fields.update(overrides)
        resource = GoogleAdsResource(**fields)
        resource._sleep = waits.append
        return resource

    return make


def _expected_spend(rows: list[CampaignDay]) -> Decimal:
    return sum((Decimal(r.cost_micros) / 1_000_000 for r in rows if START <= r.day <= END), Decimal(0))


# -- happy path -----------------------------------------------------------------------------------------


def test_multi_batch_multi_account_rows_are_exact(
    make_resource: Callable[..., GoogleAdsResource], ads: FakeGoogleAdsServer, oauth: FakeOAuthServer
) -> None:
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    result = make_resource().fetch_campaign_days([EUR_ACCOUNT, "222-222-2222"], START, END)

    assert result.failures == ()
    rows = result.rows
    assert tuple(rows.columns) == AD_ROW_COLUMNS
    eur = rows[rows.account_id == EUR_ACCOUNT]
    jpy = rows[rows.account_id == JPY_ACCOUNT]
    assert len(eur) == 6 > ads.batch_size  # three stream batches, date filter from the GAQL applied
    assert len(jpy) == 2
    assert set(eur.currency) == {"EUR"} and set(jpy.currency) == {"JPY"}

    first = eur[(eur.campaign_id == "101") & (eur.date == MAY1)].iloc[0]
    assert first.spend == Decimal("1.234567") and isinstance(first.spend, Decimal)
    assert (first.campaign_name, first.campaign_status) == ("Brand", "ENABLED")
    assert (first.impressions, first.clicks, first.platform_leads) == (1000, 50, 2.5)
    big = eur[(eur.campaign_id == "101") & (eur.date == MAY1 + dt.timedelta(days=1))].iloc[0]
    assert big.spend == Decimal("123456.789012")
    tiny = eur[(eur.campaign_id == "102") & (eur.date == MAY1 + dt.timedelta(days=1))].iloc[0]
    assert tiny.spend == Decimal("0.000001") and tiny.campaign_status == "PAUSED"
    assert sum(eur.spend, Decimal(0)) == _expected_spend(EUR_ROWS)
    assert sum(jpy.spend, Decimal(0)) == Decimal("1502")
    assert all(isinstance(d, dt.date) for d in rows.date)
    assert set(rows.api_version) == {"v26"}
    fetched_at = rows.fetched_at.iloc[0].to_pydatetime()
    assert fetched_at.tzinfo is None and before <= fetched_at <= dt.datetime.now(dt.UTC).replace(tzinfo=None)

    # What went over the wire: one real OAuth refresh, then authorized calls with the Ads headers.
    assert [r["grant_type"] for r in oauth.requests] == ["refresh_token"]
    assert oauth.requests[0]["refresh_token"] == REFRESH_TOKEN
    assert oauth.requests[0]["client_secret"] == CLIENT_SECRET
    assert [c.customer_id for c in ads.calls] == [EUR_ACCOUNT, JPY_ACCOUNT]
    for call in ads.calls:
        assert call.method == "SearchStream"
        assert call.metadata["developer-token"] == DEVELOPER_TOKEN
        assert call.metadata["login-customer-id"] == "1234567890"
        assert call.metadata["authorization"] == f"Bearer {ACCESS_TOKEN}"
        assert "segments.date BETWEEN '2026-05-01' AND '2026-05-03'" in call.query


def test_service_account_credentials_use_the_token_endpoint_override(
    make_resource: Callable[..., GoogleAdsResource],
    ads: FakeGoogleAdsServer,
    oauth: FakeOAuthServer,
    tmp_path: Path,
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_file = tmp_path / "sa.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "p",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "reporting@p.iam.gserviceaccount.com",
                "client_id": "42",
                "token_uri": "https://oauth2.googleapis.com/token",  # overridden by token_uri
            }
        )
    )
    resource = make_resource(
        client_id=None,
        client_secret=None,
        refresh_token=None,
        json_key_file_path=str(key_file),
        impersonated_email="analyst@example.com",
    )
    assert resource.is_configured()

    result = resource.fetch_campaign_days([JPY_ACCOUNT], START, END)

    assert result.failures == () and len(result.rows) == 2
    assert [r["grant_type"] for r in oauth.requests] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert ads.calls[0].metadata["authorization"] == f"Bearer {ACCESS_TOKEN}"


# -- retries --------------------------------------------------------------------------------------------


def test_quota_error_waits_the_delay_the_server_asked_for(
    make_resource: Callable[..., GoogleAdsResource], ads: FakeGoogleAdsServer, waits: list[float]
) -> None:
    ads.inject(EUR_ACCOUNT, Fault("quota", retry_delay_seconds=7), times=2)

    result = make_resource().fetch_campaign_days([EUR_ACCOUNT], START, END)

    assert result.failures == () and len(result.rows) == 6
    assert len(ads.calls_for(EUR_ACCOUNT)) == 3
    assert len(waits) == 2
    assert all(7 <= w <= 7 * 1.1 for w in waits), waits  # never earlier than asked, at most 10% jitter


def test_quota_retry_really_sleeps(
    make_resource: Callable[..., GoogleAdsResource], ads: FakeGoogleAdsServer
) -> None:
    ads.inject(JPY_ACCOUNT, Fault("quota", retry_delay_seconds=0.3))
    resource = make_resource()
    resource._sleep = time.sleep

    result = resource.fetch_campaign_days([JPY_ACCOUNT], START, END)

    assert result.failures == () and len(result.rows) == 2
    first, second = ads.calls_for(JPY_ACCOUNT)
    assert 0.3 <= second.received_at - first.received_at < 2.0


def test_transient_errors_back_off_and_a_broken_stream_is_refetched_whole(
    make_resource: Callable[..., GoogleAdsResource], ads: FakeGoogleAdsServer, waits: list[float]
) -> None:
    ads.inject(EUR_ACCOUNT, Fault("unavailable"))
    ads.inject(EUR_ACCOUNT, Fault("internal"))
    ads.inject(EUR_ACCOUNT, Fault("unavailable", after_batches=2))  # two batches arrive, then it breaks

    result = make_resource().fetch_campaign_days([EUR_ACCOUNT], START, END)

    assert result.failures == ()
    assert len(result.rows) == 6  # partial batches of the broken attempt were discarded, not duplicated
    assert not result.rows.duplicated(["account_id", "campaign_id", "date"]).any()
    assert len(ads.calls_for(EUR_ACCOUNT)) == 4
    assert len(waits) == 3
    for attempt, wait in enumerate(waits, start=1):  # 1 s, 2 s, 4 s ceilings, jittered down to half
        assert 2 ** (attempt - 1) / 2 <= wait <= 2 ** (attempt - 1)


def test_deadline_exceeded_is_retried(
    make_resource: Callable[..., GoogleAdsResource], ads: FakeGoogleAdsServer, waits: list[float]
) -> None:
    ads.inject(JPY_ACCOUNT, Fault("slow", delay_seconds=5))

    result = make_resource(timeout_seconds=0.5).fetch_campaign_days([JPY_ACCOUNT], START, END)

    assert result.failures == () and len(result.rows) == 2
    calls = ads.calls_for(JPY_ACCOUNT)
    assert len(calls) >= 2 and len(waits) == len(calls) - 1  # normally 2 calls; slack for a loaded machine


def test_exhausted_retries_fail_only_that_account(
    make_resource: Callable[..., GoogleAdsResource], ads: FakeGoogleAdsServer, waits: list[float]
) -> None:
    ads.inject(EUR_ACCOUNT, Fault("unavailable"), times=10)

    result = make_resource(max_attempts=3).fetch_campaign_days([EUR_ACCOUNT, JPY_ACCOUNT], START, END)

    assert [f.account_id for f in result.failures] == [EUR_ACCOUNT]
    assert "UNAVAILABLE" in result.failures[0].message
    assert "gave up after 3 attempts" in result.failures[0].message
    assert set(result.rows.account_id) == {JPY_ACCOUNT}
    assert len(ads.calls_for(EUR_ACCOUNT)) == 3 and len(waits) == 2


def test_server_delay_beyond_the_cap_is_not_retried_early(
    make_resource: Callable[..., GoogleAdsResource], ads: FakeGoogleAdsServer, waits: list[float]
) -> None:
    ads.inject(EUR_ACCOUNT, Fault("quota", retry_delay_seconds=600))

    result = make_resource(max_retry_delay_seconds=120).fetch_campaign_days(
        [EUR_ACCOUNT, JPY_ACCOUNT], START, END
    )

    (failure,) = result.failures
    assert failure.account_id == EUR_ACCOUNT
    assert (
        "retry in 600s" in failure.message and "quota_error.RESOURCE_TEMPORARILY_EXHAUSTED" in failure.message
    )
    assert waits == [] and len(ads.calls_for(EUR_ACCOUNT)) == 1
    assert set(result.rows.account_id) == {JPY_ACCOUNT}


# -- non-retryable errors -------------------------------------------------------------------------------


def test_auth_error_fails_one_account_without_hiding_the_others(
    make_resource: Callable[..., GoogleAdsResource], ads: FakeGoogleAdsServer, waits: list[float]
) -> None:
    ads.inject(USD_ACCOUNT, Fault("auth", code="CUSTOMER_NOT_FOUND"))

    result = make_resource().fetch_campaign_days(
        [EUR_ACCOUNT, USD_ACCOUNT, JPY_ACCOUNT, "9999999999"], START, END
    )

    assert set(result.rows.account_id) == {EUR_ACCOUNT, JPY_ACCOUNT}
    assert len(result.rows) == 8
    failures = {f.account_id: f.message for f in result.failures}
    assert set(failures) == {USD_ACCOUNT, "9999999999"}
    usd_call = ads.calls_for(USD_ACCOUNT)
    assert len(usd_call) == 1 and waits == []  # no retry for auth errors
    assert USD_ACCOUNT in failures[USD_ACCOUNT]
    assert "UNAUTHENTICATED authentication_error.CUSTOMER_NOT_FOUND" in failures[USD_ACCOUNT]
    assert usd_call[0].request_id in failures[USD_ACCOUNT]
    assert "authorization_error.USER_PERMISSION_DENIED" in failures["9999999999"]


def test_bad_query_fails_fast_with_message_and_request_id(
    make_resource: Callable[..., GoogleAdsResource], ads: FakeGoogleAdsServer, waits: list[float]
) -> None:
    ads.unknown_fields.add("metrics.conversions")  # as if the field were gone from this API version

    with pytest.raises(GoogleAdsFetchError) as caught:
        make_resource().fetch_campaign_days([EUR_ACCOUNT, JPY_ACCOUNT], START, END)

    (call,) = ads.calls  # neither retried nor repeated for the next account
    err = caught.value
    assert err.request_id == call.request_id and call.request_id in str(err)
    assert err.status == "INVALID_ARGUMENT" and err.account_id == EUR_ACCOUNT
    assert "query_error.UNRECOGNIZED_FIELD" in str(err)
    assert "Unrecognized field in the query: 'metrics.conversions'" in str(err)
    assert waits == []


def test_refused_refresh_token_fails_fast_before_any_api_call(
    make_resource: Callable[..., GoogleAdsResource],
    ads: FakeGoogleAdsServer,
    oauth: FakeOAuthServer,
    waits: list[float],
) -> None:
    oauth.error = (400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})

    with pytest.raises(GoogleAdsFetchError, match="invalid_grant"):
        make_resource().fetch_campaign_days([EUR_ACCOUNT], START, END)

    assert len(oauth.requests) == 1 and ads.calls == [] and waits == []


def test_unreachable_token_endpoint_is_retried_then_reported(
    make_resource: Callable[..., GoogleAdsResource], ads: FakeGoogleAdsServer, waits: list[float]
) -> None:
    token_uri = "https://localhost:1/token"  # privileged port nobody listens on: connection refused

    with pytest.raises(GoogleAdsFetchError, match="Could not get a Google Ads access token") as caught:
        make_resource(token_uri=token_uri, max_attempts=3).fetch_campaign_days([EUR_ACCOUNT], START, END)

    assert token_uri in str(caught.value)
    assert len(waits) == 2 and ads.calls == []


# -- configuration --------------------------------------------------------------------------------------


def test_is_configured_needs_developer_token_and_credentials(tmp_path: Path) -> None:
    oauth = {"client_id": "c", "client_secret": "s", "refresh_token": "r"}
    assert not GoogleAdsResource().is_configured()
    assert not GoogleAdsResource(developer_token="d").is_configured()
    assert not GoogleAdsResource(**oauth).is_configured()
    assert not GoogleAdsResource(developer_token="d", client_id="c", client_secret="s").is_configured()
    assert not GoogleAdsResource(developer_token="  ", **oauth).is_configured()
    assert GoogleAdsResource(developer_token="d", **oauth).is_configured()
    assert GoogleAdsResource(developer_token="d", json_key_file_path=str(tmp_path / "k.json")).is_configured()
    with pytest.raises(GoogleAdsFetchError, match="not configured"):
        GoogleAdsResource().fetch_campaign_days([EUR_ACCOUNT], START, END)


def test_from_env_is_off_without_secrets_and_resolves_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DEVELOPER_TOKEN", "CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN", "JSON_KEY_FILE_PATH"):
        monkeypatch.delenv(f"GOOGLE_ADS_{var}", raising=False)
    off = GoogleAdsResource.from_env()
    assert not off.process_config_and_initialize().is_configured()

    monkeypatch.setenv("GOOGLE_ADS_DEVELOPER_TOKEN", DEVELOPER_TOKEN)
    monkeypatch.setenv("GOOGLE_ADS_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("GOOGLE_ADS_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("GOOGLE_ADS_REFRESH_TOKEN", REFRESH_TOKEN)
    monkeypatch.setenv("GOOGLE_ADS_ENDPOINT", "localhost:1")
    configured = GoogleAdsResource.from_env()
    assert isinstance(configured.developer_token, dg.EnvVar)  # the value itself is not in the definitions
    resolved = configured.process_config_and_initialize()
    assert resolved.is_configured()
    assert (resolved.developer_token, resolved.endpoint) == (DEVELOPER_TOKEN, "localhost:1")


def test_runs_as_a_dagster_resource_configured_from_env(
    ads: FakeGoogleAdsServer, oauth: FakeOAuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "DEVELOPER_TOKEN": DEVELOPER_TOKEN,
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "REFRESH_TOKEN": REFRESH_TOKEN,
        "ENDPOINT": ads.endpoint,
        "TOKEN_URI": oauth.token_uri,
    }.items():
        monkeypatch.setenv(f"GOOGLE_ADS_{name}", value)

    @dg.asset
    def google_ads_campaign_days(google_ads: GoogleAdsResource) -> int:
        result = google_ads.fetch_campaign_days([EUR_ACCOUNT, JPY_ACCOUNT], START, END)
        assert result.failures == ()
        return len(result.rows)

    done = dg.materialize(
        [google_ads_campaign_days],
        resources={"google_ads": GoogleAdsResource.from_env(login_customer_id="1234567890")},
    )

    assert done.success and done.output_for_node("google_ads_campaign_days") == 8
    assert {c.metadata["login-customer-id"] for c in ads.calls} == {"1234567890"}


def test_invalid_customer_id_is_rejected_before_any_call(
    make_resource: Callable[..., GoogleAdsResource], ads: FakeGoogleAdsServer
) -> None:
    with pytest.raises(ValueError, match="10 digits"):
        make_resource().fetch_campaign_days(["act_123"], START, END)
    assert ads.calls == []


def test_module_imports_without_loading_google_ads() -> None:
    code = (
        "import sys, resources.google_ads; "
        "heavy = sorted(m for m in sys.modules if m.startswith(('google.ads', 'google.auth', 'tenacity')));"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_fake_search_pages_like_the_real_api(ads: FakeGoogleAdsServer) -> None:
    """The fake's unary Search pages with next_page_token; the client's pager follows it."""
    from google.ads.googleads.client import GoogleAdsClient
    from google.oauth2.credentials import Credentials

    client = GoogleAdsClient(
        credentials=Credentials(token=ACCESS_TOKEN),
        developer_token=DEVELOPER_TOKEN,
        endpoint=ads.endpoint,
        use_proto_plus=True,
        version="v26",
    )
    service = client.get_service("GoogleAdsService")
    query = (
        "SELECT campaign.id, metrics.cost_micros FROM campaign "
        "WHERE segments.date BETWEEN '2026-05-01' AND '2026-05-03'"
    )
    try:
        rows = list(service.search(customer_id=EUR_ACCOUNT, query=query))
    finally:
        service.transport.close()

    assert sorted(r.metrics.cost_micros for r in rows) == sorted(
        r.cost_micros for r in EUR_ROWS if START <= r.day <= END
    )
    assert len(ads.calls) == 3 and all(c.method == "Search" for c in ads.calls)  # 6 rows, pages of 2


# -- secrets --------------------------------------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_secrets_never_appear_in_logs_errors_or_data(
    make_resource: Callable[..., GoogleAdsResource],
    ads: FakeGoogleAdsServer,
    oauth: FakeOAuthServer,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # google-auth detaches the "google" logger from root unless it is configured, so listen on it directly.
    handler = _Records()
    loggers = [logging.getLogger(n) for n in ("", "google", "dagster", "grpc")]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    try:
        resource = make_resource()
        texts += [repr(resource), str(resource)]
        ads.inject(EUR_ACCOUNT, Fault("quota", retry_delay_seconds=1))
        ads.inject(EUR_ACCOUNT, Fault("unavailable", after_batches=1))
        ads.inject(USD_ACCOUNT, Fault("auth"))
        result = resource.fetch_campaign_days([EUR_ACCOUNT, USD_ACCOUNT, JPY_ACCOUNT], START, END)
        texts += [result.rows.to_csv(), repr(result.failures)]
        assert len(result.failures) == 1 and len(result.rows) == 8

        ads.unknown_fields.add("campaign.name")
        with pytest.raises(GoogleAdsFetchError) as bad_query:
            resource.fetch_campaign_days([EUR_ACCOUNT], START, END)
        oauth.error = (400, {"error": "invalid_grant", "error_description": "Bad Request"})
        with pytest.raises(GoogleAdsFetchError) as refused:
            resource.fetch_campaign_days([EUR_ACCOUNT], START, END)
        for caught in (bad_query, refused):
            exc: BaseException | None = caught.value
            while exc is not None:  # the whole chain, as a traceback would show it
                texts += [str(exc), repr(exc), *map(str, exc.args)]
                exc = exc.__cause__ or exc.__context__
    finally:
        for lg, level in saved:
            lg.removeHandler(handler)
            lg.setLevel(level)

    names = {r.name for r in handler.records}
    # The capture really saw the chatty layers: google-ads' request log and google-auth's token request.
    assert "google.ads.googleads.client" in names and "google.auth.transport.requests" in names
    assert any("retrying in" in r.getMessage() for r in handler.records)
    for record in handler.records:
        texts += [record.getMessage(), repr(vars(record))]
    out, err = capfd.readouterr()
    texts += [out, err, caplog.text]
    blob = "\n".join(texts)
    for secret in SECRETS:
        assert secret not in blob, f"secret leaked: {secret[:8]}..."
