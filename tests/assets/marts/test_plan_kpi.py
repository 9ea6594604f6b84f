"""Funnel cohorts, plan vs actual and KPI marts on the hand-made fixture (see test_metrics.py for the
story of every lead); the config gives google_ads a March plan of 300 / 4 leads / 2 MQL and Anna Petrova
(inbound, google_ads) targets of 4 MQL at 120 per MQL."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from assets.marts.plan_kpi import run_rate_params, write_monthly
from assets.marts.tables import plan_vs_actual_monthly
from tests.conftest import build, warehouse


@pytest.fixture
def built(small_config, warehouse_url) -> str:
    summary = build(small_config, warehouse_url, date(2026, 3, 1), date(2026, 4, 30))
    assert summary.ok, summary.problems
    return warehouse_url


def _records(url: str, sql: str) -> list[dict]:
    frame = warehouse(url).query(sql)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def test_funnel_cohort_follows_march_leads_to_april_deals(built):
    rows = {
        (r["cohort_month"].isoformat(), r["campaign_key"]): r
        for r in _records(built, "select * from marts.funnel_cohorts_monthly")
    }
    march = rows[("2026-03-01", "google_ads:111")]
    # L1, L2, L6; MQL L1 and L6 (in April); SQL L1 and L6 (via its won deal); D1 1150 + D3 200
    assert (march["leads"], march["mql"], march["sql"], march["disqualified"]) == (3, 2, 2, 1)
    assert (march["won_deals"], float(march["revenue"]), float(march["total_cost"])) == (2, 1350.0, 180.0)
    assert march["lead_to_mql"] == pytest.approx(2 / 3)
    assert (march["mql_to_sql"], march["sql_to_won"]) == (1.0, 1.0)
    assert march["cohort_romi"] == pytest.approx((1350 * 0.8 - 180) / 180)
    # a cost-only cohort row keeps the month's cost in the end-to-end view
    content = rows[("2026-03-01", "content:(none)")]
    assert (content["leads"], float(content["total_cost"]), content["cohort_romi"]) == (0, 3100.0, -1.0)
    assert content["lead_to_mql"] is None


def test_plan_vs_actual_for_closed_months(built):
    rows = {
        (r["month"].isoformat(), r["channel"]): r
        for r in _records(built, "select * from marts.plan_vs_actual_monthly")
    }
    google = rows[("2026-03-01", "google_ads")]
    assert (float(google["budget_plan"]), float(google["total_cost"]), google["budget_used"]) == (
        300.0,
        180.0,
        0.6,
    )
    assert (google["leads_plan"], google["leads"], google["mql_plan"], google["mql"]) == (4, 4, 2, 1)
    assert google["forecast_total_cost"] == 180.0  # a closed month's forecast is its actual
    abm = rows[("2026-03-01", "abm")]
    assert abm["budget_plan"] is None and abm["budget_used"] is None and abm["leads"] == 1


def test_run_rate_forecast_for_the_month_in_progress(built):
    # as if today were 2026-03-11: ten days of March elapsed
    params = run_rate_params(date(2026, 3, 10))
    assert params == {"as_of_month": date(2026, 3, 1), "run_rate": 3.1}
    write_monthly(
        warehouse(built),
        plan_vs_actual_monthly,
        "plan_vs_actual_monthly",
        date(2026, 3, 1),
        date(2026, 5, 1),
        **params,
    )
    rows = {
        (r["month"].isoformat(), r["channel"]): r
        for r in _records(built, "select * from marts.plan_vs_actual_monthly")
    }
    google = rows[("2026-03-01", "google_ads")]
    assert google["forecast_total_cost"] == pytest.approx(180 * 3.1)
    assert google["forecast_leads"] == pytest.approx(4 * 3.1)
    assert rows[("2026-04-01", "google_ads")]["forecast_mql"] is None  # not started as of 03-10


def test_specialist_and_team_kpis(built):
    anna = {r["month"].isoformat(): r for r in _records(built, "select * from marts.kpi_specialist_monthly")}
    march = anna["2026-03-01"]
    assert (march["specialist"], march["team"], float(march["total_cost"])) == (
        "Anna Petrova",
        "inbound",
        180.0,
    )
    assert (march["leads"], march["mql"], march["mql_target"]) == (4, 1, 4.0)
    assert (march["mql_attainment"], march["cost_per_mql"], march["cost_per_mql_target"]) == (
        0.25,
        180.0,
        120.0,
    )
    assert march["disqualified_rate"] == 0.25
    teams = {
        (r["month"].isoformat(), r["team"]): r
        for r in _records(built, "select * from marts.kpi_team_monthly")
    }
    inbound = teams[("2026-03-01", "inbound")]
    # google 180 + facebook 44 + content 3100; leads google 4 + facebook 1 + other 1; MQL L1 and L3
    assert (float(inbound["total_cost"]), inbound["leads"], inbound["mql"]) == (3324.0, 6, 2)
    assert (inbound["mql_target"], inbound["mql_attainment"]) == (4.0, 0.5)
    assert inbound["disqualified_rate"] == pytest.approx(1 / 6)
    outbound = teams[("2026-03-01", "outbound")]
    assert (outbound["mql"], outbound["mql_target"], outbound["disqualified_rate"]) == (1, None, 1.0)


def test_kpis_add_up_to_the_period_marts(built):
    wh = warehouse(built)
    teams = wh.query(
        "select month, sum(total_cost) as c, sum(leads) as l, sum(mql) as m from marts.kpi_team_monthly "
        "group by month order by month"
    )
    months = wh.query(
        "select period_start as month, sum(total_cost) as c, sum(leads) as l, sum(mql) as m "
        "from marts.metrics_monthly group by period_start order by period_start"
    )
    pd.testing.assert_frame_equal(
        teams.astype(float, errors="ignore"), months.astype(float, errors="ignore"), check_dtype=False
    )
