"""The whole pipeline with API connectors pointed at local fake servers (real client libraries, real
protocols): the marts equal hand-computed values, a restated day replaces its old numbers, a rerun adds
nothing, and no secret reaches the logs or the warehouse.

Scenario (reporting USD, Europe/Moscow; EUR at 1.10 from 2026-03-02, carried up to 7 days):
- Google Ads customer 123-456-7890 (USD, gRPC over TLS, OAuth refresh at a local token endpoint), campaign
  555 "Search Brand": 03-02 30.00 USD, 300 impressions, 12 clicks, 1.6 conversions (rounded: 2 leads);
  03-04 15.50 USD. HubSpot contact 103 (google/cpc, utm_campaign = the campaign *name*) created 03-03.
- Meta account 55 (EUR), campaign 120200000001 "Spring Promo": 03-02 spend 10.00 EUR, 100 impressions,
  5 clicks, lead actions lead=2 and onsite_conversion.lead_grouped=2 (overlapping: counted once = 2);
  03-03 spend 20.00 EUR, 200 impressions, 10 clicks, onsite_conversion.lead_grouped=1.
  In USD: 11.00 and 22.00.
- HubSpot contact 101: facebook/cpc/120200000001, created 03-02 09:00Z, MQL 03-03 09:00Z; deal 901 won
  03-05 10:00Z for 1000 EUR = 1100.00 USD. Contact 102: source ORGANIC_SEARCH, created 03-02 10:00Z, SQL
  03-04 10:00Z without MQL (so MQL and SQL on 03-04).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pipelines.runner import run_range
from pipelines.windows import DayRange
from resources.config import parse_config
from tests.conftest import warehouse
from tests.fakes.google_ads_server import CampaignDay, FakeGoogleAdsServer, FakeOAuthServer
from tests.fakes.graph_api_server import FakeGraphApi, campaign_day
from tests.fakes.hubspot_server import FakeHubspot, iso

CAMPAIGN = "120200000001"
UTC0 = datetime(2026, 3, 2, 9, 0)

CONFIG = """
start_date: 2026-03-01
reporting: {currency: USD, timezone: Europe/Moscow}
channels:
  - {channel: google_ads, team: inbound, match: {utm_source: [google], utm_medium: [cpc]}}
  - {channel: facebook_ads, team: inbound, match: {utm_source: [facebook], utm_medium: [cpc]}}
  - {channel: organic_search, team: inbound, match: {source: [organic_search]}}
sources:
  files: {path: ./data}
  google_ads: {customer_ids: ["123-456-7890"]}
  facebook_ads: {ad_account_ids: [act_55]}
  hubspot: {}
"""


@pytest.fixture
def graph() -> Iterator[FakeGraphApi]:
    with FakeGraphApi(access_token="fb-secret-token-123") as fake:
        fake.add_account(
            "55",
            "EUR",
            [
                campaign_day(
                    date(2026, 3, 2),
                    CAMPAIGN,
                    spend="10.00",
                    impressions=100,
                    clicks=5,
                    currency="EUR",
                    campaign_name="Spring Promo",
                    actions={"lead": "2", "onsite_conversion.lead_grouped": "2"},
                ),
                campaign_day(
                    date(2026, 3, 3),
                    CAMPAIGN,
                    spend="20.00",
                    impressions=200,
                    clicks=10,
                    currency="EUR",
                    campaign_name="Spring Promo",
                    actions={"onsite_conversion.lead_grouped": "1"},
                ),
            ],
        )
        yield fake


GOOGLE_SECRETS = {
    "GOOGLE_ADS_DEVELOPER_TOKEN": "devtok-e2e-secret-789",
    "GOOGLE_ADS_CLIENT_ID": "e2e.apps.googleusercontent.com",
    "GOOGLE_ADS_CLIENT_SECRET": "GOCSPX-e2e-secret-012",
    "GOOGLE_ADS_REFRESH_TOKEN": "1//refresh-e2e-secret-345",
}


@pytest.fixture
def google(tls_cert) -> Iterator[FakeGoogleAdsServer]:
    with FakeGoogleAdsServer(*tls_cert, batch_size=1, required_access_token="ya29.e2e-access") as fake:
        fake.add_customer(
            "1234567890",
            "USD",
            [
                CampaignDay(555, date(2026, 3, 2), 30_000_000, 300, 12, 1.6, "Search Brand"),
                CampaignDay(555, date(2026, 3, 4), 15_500_000, 100, 4, 0.0, "Search Brand"),
            ],
        )
        yield fake


@pytest.fixture
def oauth(tls_cert) -> Iterator[FakeOAuthServer]:
    with FakeOAuthServer(*tls_cert, access_token="ya29.e2e-access") as server:
        yield server


@pytest.fixture
def crm() -> Iterator[FakeHubspot]:
    with FakeHubspot(token="pat-na1-hubspot-secret-456") as fake:
        fake.add_contact(
            "101",
            created=UTC0,
            utm_source="facebook",
            utm_medium="cpc",
            utm_campaign=CAMPAIGN,
            lifecyclestage="marketingqualifiedlead",
            hs_lifecyclestage_marketingqualifiedlead_date=iso(UTC0 + timedelta(days=1)),
            email="ann@example.com",
        )
        fake.add_contact(
            "102",
            created=UTC0 + timedelta(hours=1),
            hs_analytics_source="ORGANIC_SEARCH",
            lifecyclestage="salesqualifiedlead",
            hs_lifecyclestage_salesqualifiedlead_date=iso(UTC0 + timedelta(days=2, hours=1)),
        )
        fake.add_contact(
            "103",
            created=UTC0 + timedelta(days=1, hours=-1),
            utm_source="google",
            utm_medium="cpc",
            utm_campaign="Search Brand",
        )
        fake.add_deal(
            "901",
            created=UTC0 + timedelta(days=2),
            contacts=["101"],
            amount="1000",
            deal_currency_code="EUR",
            dealstage="closedwon",
            closedate=iso(UTC0 + timedelta(days=3, hours=1)),
        )
        yield fake


@pytest.fixture
def deployment(tmp_path: Path, graph: FakeGraphApi, crm: FakeHubspot, google, oauth, tls_cert, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "fx_rates.csv").write_text("date,currency,rate\n2026-03-02,EUR,1.10\n")
    (tmp_path / "config.yaml").write_text(CONFIG)
    for name, value in GOOGLE_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GOOGLE_ADS_ENDPOINT", google.endpoint)
    monkeypatch.setenv("GOOGLE_ADS_TOKEN_URI", oauth.token_uri)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_cert[0]))
    monkeypatch.setenv("FACEBOOK_ACCESS_TOKEN", graph.access_token)
    monkeypatch.setenv("FACEBOOK_GRAPH_URL", graph.url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", crm.token)
    monkeypatch.setenv("HUBSPOT_BASE_URL", crm.url)
    return parse_config(tmp_path / "config.yaml")


def _run(config, url: str, first: date, last: date, instance: dg.DagsterInstance) -> None:
    summary = run_range(config, DayRange(first, last), instance, warehouse_url=url, echo=lambda _: None)
    assert summary.ok, summary.problems


def _daily(url: str) -> dict[tuple[str, str], dict]:
    frame = warehouse(url).query("select * from marts.metrics_daily")
    frame = frame.astype(object).where(frame.notna(), None)
    return {(r["period_start"].isoformat(), r["campaign_key"]): r for r in frame.to_dict("records")}


def test_connectors_fill_the_marts_and_restatements_replace(deployment, graph, crm, google, warehouse_url):
    with dg.DagsterInstance.ephemeral() as instance:
        _run(deployment, warehouse_url, date(2026, 3, 1), date(2026, 3, 7), instance)
        rows = _daily(warehouse_url)
        key = f"facebook_ads:{CAMPAIGN}"
        d2, d3 = rows[("2026-03-02", key)], rows[("2026-03-03", key)]
        assert (float(d2["spend"]), d2["impressions"], d2["clicks"], d2["platform_leads"]) == (
            11.0,
            100,
            5,
            2,
        )
        assert (float(d3["spend"]), d3["platform_leads"], d3["mql"]) == (22.0, 1, 1)
        assert d2["leads"] == 1 and d2["campaign_name"] == "Spring Promo" and d2["team"] == "inbound"
        assert d2["cpl"] == pytest.approx(11.0)
        won = rows[("2026-03-05", key)]
        assert (won["won_deals"], float(won["revenue"])) == (1, pytest.approx(1100.0))
        assert rows[("2026-03-02", "organic_search:(none)")]["leads"] == 1
        g2 = rows[("2026-03-02", "google_ads:555")]
        assert (float(g2["spend"]), g2["impressions"], g2["clicks"], g2["platform_leads"]) == (
            30.0,
            300,
            12,
            2,
        )
        assert g2["campaign_name"] == "Search Brand" and g2["platform"] == "google_ads"
        assert rows[("2026-03-03", "google_ads:555")]["leads"] == 1  # matched by campaign name
        assert float(rows[("2026-03-04", "google_ads:555")]["spend"]) == 15.5
        organic = rows[("2026-03-04", "organic_search:(none)")]
        assert (organic["mql"], organic["sql"]) == (1, 1)

        # Meta restates 03-03; the daily re-fetch window replaces it, nothing is doubled
        graph.accounts["55"].rows[1]["spend"] = "25.00"
        restated = google.customers["1234567890"].rows
        restated[1] = dataclasses.replace(restated[1], cost_micros=18_000_000)
        _run(deployment, warehouse_url, date(2026, 3, 2), date(2026, 3, 7), instance)
        rows = _daily(warehouse_url)
        assert float(rows[("2026-03-03", key)]["spend"]) == pytest.approx(27.5)
        assert float(rows[("2026-03-04", "google_ads:555")]["spend"]) == 18.0
        monthly = (
            warehouse(warehouse_url)
            .query(
                "select sum(spend) as spend, sum(leads) as leads, sum(won_deals) as won "
                "from marts.metrics_monthly"
            )
            .iloc[0]
        )
        assert (float(monthly.spend), int(monthly.leads), int(monthly.won)) == (pytest.approx(86.5), 3, 1)
        for table in ("facebook_ads__campaign_insights", "google_ads__campaign_stats"):
            assert int(warehouse(warehouse_url).query(f"select count(*) as n from raw.{table}").n[0]) == 2

        logs = "\n".join(
            str(entry.user_message) + str(entry.dagster_event)
            for run in instance.get_runs()
            for entry in instance.all_logs(run.run_id)
        )
    assert logs  # the runs did log
    secrets = (graph.access_token, crm.token, *GOOGLE_SECRETS.values(), "ya29.e2e-access")
    assert not any(secret in logs for secret in secrets)
    stored = pd.concat(
        [
            warehouse(warehouse_url).query(f"select * from raw.{t}").astype(str)
            for t in ("hubspot__leads", "hubspot__deals", "facebook_ads__campaign_insights", "sync_cursors")
        ]
    ).to_csv()
    assert not any(secret in stored for secret in secrets)
    assert "ann@example.com" not in stored  # personal data stays out of the warehouse


def test_a_connector_without_secrets_is_off(deployment, monkeypatch, tmp_path):
    from pipelines.definitions import build_definitions

    monkeypatch.delenv("FACEBOOK_ACCESS_TOKEN")
    defs = build_definitions(deployment, f"duckdb:///{tmp_path}/w.duckdb")
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "raw/facebook_ads__campaign_insights" not in keys
    assert "raw/hubspot__leads" in keys and "marts/metrics_daily" in keys
