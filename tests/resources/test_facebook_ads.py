"""FacebookAdsResource through the real facebook_business SDK against a local Graph API over HTTP."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, quote_plus

import dagster as dg
import pytest

from resources.ad_rows import AD_ROW_COLUMNS, AccountFailure
from resources.errors import ConfigError
from resources.facebook_ads import (
    INSIGHTS_FIELDS,
    RATE_LIMIT_FALLBACK_SECONDS,
    FacebookAdsResource,
    lead_count,
)
from tests.fakes.graph_api_server import FakeGraphApi, campaign_day, iter_days

# Characters that URL encoding changes, so scrubbing must also catch the encoded forms.
TOKEN = "EAAB+SeCrEt/Tok3n=42zz"
TOKEN_FORMS = (TOKEN, quote(TOKEN, safe=""), quote_plus(TOKEN))
D1 = date(2024, 5, 1)
REPO = Path(__file__).resolve().parents[2]


class FakeTime:
    """Stands in for time.sleep/time.monotonic: records waits and advances a virtual clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def spend_for(day: date, campaign_id: str) -> str:
    """Distinct decimal strings whose float sums would not be exact."""
    return f"{day.day}.{int(campaign_id) % 10}1"


def seed(fake: FakeGraphApi, account_id: str, currency: str, campaigns: tuple[str, ...], days: int) -> None:
    rows = [
        campaign_day(
            day,
            cid,
            spend=spend_for(day, cid),
            impressions=1000 + day.day,
            clicks=10 + day.day,
            currency=currency,
            actions={"link_click": "7"},
        )
        for day in iter_days(D1, D1 + timedelta(days=days - 1))
        for cid in campaigns
    ]
    fake.add_account(account_id, currency, rows)


@pytest.fixture
def fake() -> Iterator[FakeGraphApi]:
    with FakeGraphApi(access_token=TOKEN) as server:
        seed(server, "111", "EUR", ("11", "12"), days=20)
        seed(server, "222", "USD", ("21",), days=20)
        yield server


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def make(fake: FakeGraphApi, clock: FakeTime, **overrides: object) -> FacebookAdsResource:
    resource = FacebookAdsResource(access_token=TOKEN, graph_url=fake.url, **overrides)  # type: ignore[arg-type]
    resource._sleep = clock.sleep
    resource._clock = clock.clock
    return resource


def keys(frame, account_id: str | None = None) -> Counter:
    sub = frame if account_id is None else frame[frame.account_id == account_id]
    return Counter(zip(sub.account_id, sub.campaign_id, sub.date, strict=True))


def expected_keys(account_id: str, campaigns: tuple[str, ...], start: date, end: date) -> Counter:
    return Counter((account_id, c, d) for d in iter_days(start, end) for c in campaigns)


# ---- configuration -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "   "])
def test_not_configured_without_token(token: str | None) -> None:
    resource = FacebookAdsResource(access_token=token)
    assert resource.is_configured() is False
    with pytest.raises(ConfigError, match="FACEBOOK_ACCESS_TOKEN"):
        resource.fetch_campaign_days(["act_1"], D1, D1)


def test_configured_from_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", "abc")
    resource = FacebookAdsResource(
        access_token=dg.EnvVar("FACEBOOK_ACCESS_TOKEN")
    ).process_config_and_initialize()
    assert resource.is_configured() is True
    assert resource.api_version == "v26.0"


def test_rejects_bad_input(fake: FakeGraphApi, clock: FakeTime) -> None:
    resource = make(fake, clock)
    with pytest.raises(ConfigError, match="not a Meta ad account id"):
        resource.fetch_campaign_days(["act_12x"], D1, D1)
    with pytest.raises(ValueError, match="after end"):
        resource.fetch_campaign_days(["111"], D1 + timedelta(days=1), D1)
    assert fake.requests == []


def test_import_is_light_and_sdk_default_untouched(fake: FakeGraphApi, clock: FakeTime) -> None:
    code = "import sys, resources.facebook_ads; assert 'facebook_business' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)

    from facebook_business.api import FacebookAdsApi

    before = FacebookAdsApi.get_default_api()
    make(fake, clock).fetch_campaign_days(["111"], D1, D1)
    assert FacebookAdsApi.get_default_api() is before


# ---- happy paths -------------------------------------------------------------------------------------


def test_multi_page_multi_account_exact_values(fake: FakeGraphApi, clock: FakeTime) -> None:
    end = D1 + timedelta(days=2)
    result = make(fake, clock, page_limit=2).fetch_campaign_days(["act_111", "222"], D1, end)

    assert result.failures == ()
    df = result.rows
    assert tuple(df.columns) == AD_ROW_COLUMNS
    assert keys(df) == expected_keys("111", ("11", "12"), D1, end) + expected_keys("222", ("21",), D1, end)
    assert set(zip(df.account_id, df.currency, strict=True)) == {("111", "EUR"), ("222", "USD")}
    assert set(df.api_version) == {"v26.0"}
    assert all(isinstance(d, date) for d in df.date)
    assert all(isinstance(s, Decimal) for s in df.spend)
    for row in df.itertuples():
        assert row.spend == Decimal(spend_for(row.date, row.campaign_id))
        assert row.impressions == 1000 + row.date.day and row.clicks == 10 + row.date.day
        assert row.platform_leads == 0.0
        assert row.campaign_name == f"Campaign {row.campaign_id}"
    assert df.impressions.dtype.kind == "i" and df.clicks.dtype.kind == "i"
    assert sum(df[df.account_id == "111"].spend) == Decimal("12.96")  # 2 x (1+2+3) + 3 x (.11 + .21)

    pages = fake.requests_for("111")
    assert len(pages) == 3  # 6 rows at limit 2, followed via the cursor's `after`
    assert [p.params.get("after") for p in pages] == [None, "cur-2", "cur-4"]
    first = pages[0].params
    assert first["level"] == "campaign" and first["time_increment"] == "1" and first["limit"] == "2"
    assert set(first["fields"].split(",")) == set(INSIGHTS_FIELDS)
    assert pages[0].time_range() == (D1, end)
    assert all(r.method == "GET" for r in fake.requests)  # short range: no async job
    assert clock.sleeps == []


def test_empty_account_list_gives_empty_frame(fake: FakeGraphApi, clock: FakeTime) -> None:
    result = make(fake, clock).fetch_campaign_days([], D1, D1)
    assert tuple(result.rows.columns) == AD_ROW_COLUMNS and result.rows.empty and result.failures == ()


# ---- leads -------------------------------------------------------------------------------------------


def test_overlapping_lead_actions_counted_once(fake: FakeGraphApi, clock: FakeTime) -> None:
    def row(cid: str, actions: dict[str, str]) -> dict:
        return campaign_day(D1, cid, spend="1.00", impressions=1, clicks=1, currency="EUR", actions=actions)

    fake.add_account(
        "333",
        "EUR",
        [
            row(
                "1",
                {"lead": "5", "onsite_conversion.lead_grouped": "3", "offsite_conversion.fb_pixel_lead": "2"},
            ),
            row("2", {"onsite_conversion.lead_grouped": "4", "offsite_conversion.fb_pixel_lead": "6"}),
            row("3", {"offsite_conversion.fb_pixel_lead": "2"}),
            row("4", {"link_click": "9", "leadgen_grouped": "8"}),
            campaign_day(D1, "5", spend="1.00", impressions=1, clicks=1, currency="EUR"),  # no actions at all
        ],
    )
    resource = make(fake, clock)
    rows = resource.fetch_campaign_days(["333"], D1, D1).rows
    leads = dict(zip(rows.campaign_id, rows.platform_leads, strict=True))
    assert leads == {"1": 5.0, "2": 4.0, "3": 2.0, "4": 0.0, "5": 0.0}

    custom = resource.fetch_campaign_days(
        ["333"], D1, D1, lead_action_types=["offsite_conversion.fb_pixel_lead"]
    )
    assert dict(zip(custom.rows.campaign_id, custom.rows.platform_leads, strict=True)) == {
        "1": 2.0,
        "2": 6.0,
        "3": 2.0,
        "4": 0.0,
        "5": 0.0,
    }


def test_lead_count_order_wins_not_sum() -> None:
    actions = [
        {"action_type": "onsite_conversion.lead_grouped", "value": "3"},
        {"action_type": "lead", "value": "5"},
    ]
    assert lead_count(actions, ["lead", "onsite_conversion.lead_grouped"]) == 5.0
    assert lead_count(actions, ["onsite_conversion.lead_grouped", "lead"]) == 3.0
    assert lead_count(None, ["lead"]) == 0.0


# ---- throttling and transient errors -----------------------------------------------------------------


def test_rate_limit_waits_estimated_time_then_succeeds(fake: FakeGraphApi, clock: FakeTime) -> None:
    fake.rate_limit("111", minutes=3)
    result = make(fake, clock).fetch_campaign_days(["111"], D1, D1 + timedelta(days=1))
    assert result.failures == ()
    assert keys(result.rows) == expected_keys("111", ("11", "12"), D1, D1 + timedelta(days=1))
    assert clock.sleeps == [180.0]  # estimated_time_to_regain_access is in minutes
    assert len(fake.requests_for("111")) == 2


def test_rate_limit_wait_is_capped(fake: FakeGraphApi, clock: FakeTime) -> None:
    fake.rate_limit("111", minutes=60)
    result = make(fake, clock, max_backoff_seconds=120).fetch_campaign_days(["111"], D1, D1)
    assert result.failures == () and clock.sleeps == [120.0]


def test_rate_limit_without_estimate_backs_off_exponentially(fake: FakeGraphApi, clock: FakeTime) -> None:
    fake.rate_limit("111", minutes=None, times=2)
    result = make(fake, clock).fetch_campaign_days(["111"], D1, D1)
    assert result.failures == ()
    assert clock.sleeps == [RATE_LIMIT_FALLBACK_SECONDS, RATE_LIMIT_FALLBACK_SECONDS * 2]


def test_server_error_is_retried(fake: FakeGraphApi, clock: FakeTime) -> None:
    fake.server_error("111", times=1)
    result = make(fake, clock).fetch_campaign_days(["111"], D1, D1)
    assert result.failures == () and len(result.rows) == 2
    assert clock.sleeps == [1.0]


def test_retries_give_up_with_readable_failure(fake: FakeGraphApi, clock: FakeTime) -> None:
    fake.server_error("111", times=None)
    result = make(fake, clock, max_attempts=3).fetch_campaign_days(["111", "222"], D1, D1)
    assert [f.account_id for f in result.failures] == ["111"]
    message = result.failures[0].message
    assert "gave up after 3 attempts" in message and "code 2" in message and "Trace500" in message
    assert clock.sleeps == [1.0, 2.0]
    assert keys(result.rows) == expected_keys("222", ("21",), D1, D1)


def test_unreachable_graph_is_retried_then_reported(clock: FakeTime) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    resource = FacebookAdsResource(access_token=TOKEN, graph_url=f"http://127.0.0.1:{port}", max_attempts=2)
    resource._sleep = clock.sleep
    result = resource.fetch_campaign_days(["111"], D1, D1)
    assert len(result.failures) == 1 and "ConnectionError" in result.failures[0].message
    assert clock.sleeps == [1.0]
    assert not any(form in result.failures[0].message for form in TOKEN_FORMS)


# ---- long ranges: async jobs and splitting -----------------------------------------------------------


def test_async_job_failure_splits_range(fake: FakeGraphApi, clock: FakeTime) -> None:
    end = D1 + timedelta(days=19)
    fake.async_fail_longer_than_days = 10
    result = make(fake, clock, page_limit=7).fetch_campaign_days(["111"], D1, end)

    assert result.failures == ()
    assert keys(result.rows) == expected_keys("111", ("11", "12"), D1, end)  # every day exactly once
    jobs = [r.time_range() for r in fake.requests_for("111", "POST")]
    assert jobs == [(D1, end), (D1, D1 + timedelta(days=9)), (D1 + timedelta(days=10), end)]
    results = [r for r in fake.requests if r.path.endswith("/insights") and r.method == "GET"]
    assert results and all(r.params["limit"] == "7" for r in results)
    assert len(results) == 6  # each 10-day half: 20 rows at 7 per page
    assert set(clock.sleeps) == {5.0}  # only poll waits


def test_async_job_timeout_splits_range(fake: FakeGraphApi, clock: FakeTime) -> None:
    end = D1 + timedelta(days=15)
    fake.async_stall_longer_than_days = 8
    resource = make(fake, clock, job_timeout_seconds=30, poll_interval_seconds=5)
    result = resource.fetch_campaign_days(["222"], D1, end)

    assert result.failures == ()
    assert keys(result.rows) == expected_keys("222", ("21",), D1, end)
    jobs = [r.time_range() for r in fake.requests_for("222", "POST")]
    assert jobs == [(D1, end), (D1, D1 + timedelta(days=7)), (D1 + timedelta(days=8), end)]
    assert clock.now >= 30


def test_job_failing_on_a_single_day_is_reported(fake: FakeGraphApi, clock: FakeTime) -> None:
    fake.async_fail_longer_than_days = 0
    result = make(fake, clock, async_threshold_days=0).fetch_campaign_days(
        ["111", "222"], D1, D1 + timedelta(1)
    )
    assert {f.account_id for f in result.failures} == {"111", "222"}
    assert "Job Failed" in result.failures[0].message
    assert "2024-05-01..2024-05-01" in result.failures[0].message
    assert result.rows.empty


def test_sync_insights_timeout_splits_range(fake: FakeGraphApi, clock: FakeTime) -> None:
    end = D1 + timedelta(days=4)
    fake.sync_timeout_longer_than_days = 2
    result = make(fake, clock).fetch_campaign_days(["111"], D1, end)
    assert result.failures == ()
    assert keys(result.rows) == expected_keys("111", ("11", "12"), D1, end)
    ranges = [r.time_range() for r in fake.requests_for("111")]
    d = [D1 + timedelta(days=i) for i in range(5)]
    assert ranges == [(d[0], d[4]), (d[0], d[2]), (d[0], d[1]), (d[2], d[2]), (d[3], d[4])]
    assert clock.sleeps == []  # shrinking, not waiting


# ---- per-account failures ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [200, 10])
def test_permission_error_fails_one_account_only(fake: FakeGraphApi, clock: FakeTime, code: int) -> None:
    fake.deny("111", code=code)
    result = make(fake, clock).fetch_campaign_days(["111", "act_222"], D1, D1 + timedelta(days=2))

    assert len(result.failures) == 1
    failure = result.failures[0]
    assert isinstance(failure, AccountFailure) and failure.account_id == "111"
    assert f"code {code}" in failure.message and "fbtrace_id DenyTrace200" in failure.message
    assert f"(#{code})" in failure.message and "HTTP 403" in failure.message
    assert keys(result.rows) == expected_keys("222", ("21",), D1, D1 + timedelta(days=2))
    assert len(fake.requests_for("111")) == 1  # not retried
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("kind", "expected"), [("truncated", "malformed response"), ("bad_row", "spend 'twelve' is not a number")]
)
def test_malformed_page_fails_that_account(
    fake: FakeGraphApi, clock: FakeTime, kind: str, expected: str
) -> None:
    fake.malformed_page("111", kind=kind, page=2)
    result = make(fake, clock, page_limit=2).fetch_campaign_days(["111", "222"], D1, D1 + timedelta(days=2))
    assert [f.account_id for f in result.failures] == ["111"]
    assert expected in result.failures[0].message
    assert set(result.rows.account_id) == {"222"} and len(result.rows) == 3


# ---- secrets -----------------------------------------------------------------------------------------


def test_token_never_in_logs_or_errors(
    fake: FakeGraphApi, clock: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.rate_limit("111", minutes=1)
    fake.server_error("111", times=1)
    fake.deny("222")
    fake.add_account("444", "EUR")
    fake.malformed_page("444", kind="truncated", page=1)
    texts: list[str] = []

    result = make(fake, clock, max_attempts=3).fetch_campaign_days(
        ["111", "222", "444"], D1, D1 + timedelta(1)
    )
    texts += [f.message for f in result.failures]

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = FacebookAdsResource(
        access_token=TOKEN, graph_url=f"http://127.0.0.1:{port}", max_attempts=2
    )
    unreachable._sleep = clock.sleep
    texts += [f.message for f in unreachable.fetch_campaign_days(["111"], D1, D1).failures]

    texts += [caplog.text, *(record.getMessage() for record in caplog.records)]
    assert {f.account_id for f in result.failures} == {"222", "444"} and len(texts) > 4
    for text in texts:
        for form in TOKEN_FORMS:
            assert form not in text
    # The token was really sent (as Graph expects) and urllib3's URL logging was really redacted.
    assert all(r.params.get("access_token") == TOKEN for r in fake.requests)
    assert "access_token=***" in caplog.text
