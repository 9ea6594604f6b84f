"""amoCRM and Bitrix24, each pointed at its local fake server, feed the marts: leads, MQL, SQL,
disqualified and revenue equal hand-computed values, and a rerun changes nothing.

Reporting USD, Europe/Moscow; RUB at 0.011 and EUR at 1.10 from 2026-03-01. All CRM times are 09:00 UTC,
so UTC and Moscow days agree. `google/cpc` leads land on google_ads:(none) (no ad spend here), the rest
on other:(none).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import pytest

from pipelines.runner import run_range
from pipelines.windows import DayRange
from resources.config import parse_config
from tests.conftest import warehouse
from tests.fakes.amocrm_server import FakeAmocrm
from tests.fakes.bitrix24_server import FakeBitrix24

GOOGLE = "google_ads:(none)"
OTHER = "other:(none)"
UTM = {"utm_source": "google", "utm_medium": "cpc"}

CONFIG = """
start_date: 2026-03-01
reporting: {currency: USD, timezone: Europe/Moscow}
channels:
  - {channel: google_ads, team: inbound, match: {utm_source: [google], utm_medium: [cpc]}}
  - {channel: other, team: inbound}
sources:
  files: {path: ./data}
"""
CRM_SECTIONS = {
    "amocrm": (
        "  amocrm: {currency: RUB, stages: {mql: [{pipeline_id: 1, status_id: 11}], "
        "sql: [{pipeline_id: 1, status_id: 12}], disqualified: [{pipeline_id: 1, status_id: 13}]}}\n"
    ),
    "bitrix24": (
        "  bitrix24: {mql_statuses: [IN_PROCESS], sql_statuses: [PROCESSED], disqualified_statuses: [JUNK]}\n"
    ),
}


def at(day: int) -> datetime:
    return datetime(2026, 3, day, 9, 0)


@pytest.fixture
def amocrm() -> Iterator[FakeAmocrm]:
    with FakeAmocrm() as fake:
        fake.now = at(10)
        utm = {k.upper(): v for k, v in UTM.items()} | {"UTM_CAMPAIGN": "123"}
        fake.add_lead(101, created=at(2), utm=utm, price=5000)
        fake.move(101, at(3), status_id=11)
        fake.move(101, at(4), status_id=12)
        fake.move(101, at(5), status_id=142)  # won: a deal of 5000 RUB = 55.00 USD
        fake.add_lead(102, created=at(4), status_id=12)  # created straight as SQL
        fake.add_lead(103, created=at(2))
        fake.move(103, at(3), status_id=11)
        fake.move(103, at(6), status_id=13)  # disqualified after MQL
        fake.add_lead(104, created=at(3))
        fake.lose(104, at(7), "No budget")  # lost = disqualified
        yield fake


@pytest.fixture
def bitrix24() -> Iterator[FakeBitrix24]:
    with FakeBitrix24() as fake:
        fake.now = at(10)
        fake.add_lead(
            1, created=at(2), utm={k.upper(): v for k, v in UTM.items()} | {"UTM_CAMPAIGN": "spring"}
        )
        fake.move(1, at(3), "IN_PROCESS")
        fake.move(1, at(4), "PROCESSED")
        fake.move(1, at(5), "CONVERTED", "S")
        fake.add_lead(2, created=at(4), status="PROCESSED")  # created straight as SQL
        fake.add_lead(3, created=at(2))
        fake.move(3, at(3), "IN_PROCESS")
        fake.move(3, at(6), "JUNK", "F")  # disqualified after MQL
        fake.add_deal(
            1, lead_id=1, amount="1500.00", currency="EUR", semantic="S", closed=at(5), modified=at(5)
        )
        yield fake


EXPECTED = {
    # (day, campaign key): (leads, mql, sql, disqualified, won_deals, revenue)
    "amocrm": {
        ("2026-03-02", GOOGLE): (1, 0, 0, 0, 0, 0.0),
        ("2026-03-02", OTHER): (1, 0, 0, 0, 0, 0.0),
        ("2026-03-03", GOOGLE): (0, 1, 0, 0, 0, 0.0),
        ("2026-03-03", OTHER): (1, 1, 0, 0, 0, 0.0),
        ("2026-03-04", GOOGLE): (0, 0, 1, 0, 0, 0.0),
        ("2026-03-04", OTHER): (1, 1, 1, 0, 0, 0.0),
        ("2026-03-05", GOOGLE): (0, 0, 0, 0, 1, 55.0),
        ("2026-03-06", OTHER): (0, 0, 0, 1, 0, 0.0),
        ("2026-03-07", OTHER): (0, 0, 0, 1, 0, 0.0),
    },
    "bitrix24": {
        ("2026-03-02", GOOGLE): (1, 0, 0, 0, 0, 0.0),
        ("2026-03-02", OTHER): (1, 0, 0, 0, 0, 0.0),
        ("2026-03-03", GOOGLE): (0, 1, 0, 0, 0, 0.0),
        ("2026-03-03", OTHER): (0, 1, 0, 0, 0, 0.0),
        ("2026-03-04", GOOGLE): (0, 0, 1, 0, 0, 0.0),
        ("2026-03-04", OTHER): (1, 1, 1, 0, 0, 0.0),
        ("2026-03-05", GOOGLE): (0, 0, 0, 0, 1, 1650.0),
        ("2026-03-06", OTHER): (0, 0, 0, 1, 0, 0.0),
    },
}


def _marts(url: str) -> dict[tuple[str, str], tuple]:
    frame = warehouse(url).query(
        "select period_start, campaign_key, leads, mql, sql, disqualified, won_deals, revenue "
        "from marts.metrics_daily order by period_start, campaign_key"
    )
    return {
        (r.period_start.isoformat(), r.campaign_key): (
            r.leads,
            r.mql,
            r.sql,
            r.disqualified,
            r.won_deals,
            float(r.revenue),
        )
        for r in frame.itertuples()
    }


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_crm_feeds_the_marts_and_a_rerun_changes_nothing(
    crm, request, tmp_path: Path, monkeypatch, warehouse_url
):
    fake = request.getfixturevalue(crm)
    if crm == "amocrm":
        monkeypatch.setenv("AMOCRM_ACCESS_TOKEN", fake.token)
        monkeypatch.setenv("AMOCRM_BASE_URL", fake.base_url)
    else:
        monkeypatch.setenv("BITRIX24_WEBHOOK_URL", fake.webhook_url)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "fx_rates.csv").write_text(
        "date,currency,rate\n2026-03-01,RUB,0.011\n2026-03-01,EUR,1.10\n"
        "2026-03-06,RUB,0.011\n2026-03-06,EUR,1.10\n"
    )
    (tmp_path / "config.yaml").write_text(CONFIG + CRM_SECTIONS[crm])
    config = parse_config(tmp_path / "config.yaml")
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(2):
            summary = run_range(
                config,
                DayRange(date(2026, 3, 1), date(2026, 3, 9)),
                instance,
                warehouse_url=warehouse_url,
                echo=lambda _: None,
            )
            assert summary.ok, summary.problems
            assert _marts(warehouse_url) == EXPECTED[crm]
    leads = warehouse(warehouse_url).query(f"select count(*) as n from raw.{crm}__leads")
    assert int(leads.n[0]) == (4 if crm == "amocrm" else 3)
