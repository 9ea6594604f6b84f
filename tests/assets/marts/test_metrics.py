"""The period marts on the hand-made fixture (tests/fixtures/small), on DuckDB and on PostgreSQL.

Reporting currency USD, timezone Europe/Moscow (UTC+3), gross margin 0.8. Worked by hand:
- google_ads:111 "Brand Search" (renamed "Brand Search 2026" on 03-30): spend 100 / 50 / 30 / 20 USD on
  03-02 / 03-03 / 03-30 / 04-01.
- facebook_ads:222 spends 40 EUR on 03-02 at 1.10 = 44.00 USD.
- L1 google 111 created 03-02 09:00Z (12:00 MSK), MQL 03-03, SQL 03-05; deal D1 1000 EUR won Sunday 03-08,
  converted at Friday 03-06's rate 1.15 (carried over the weekend) = 1150.00 USD.
- L2 created 03-02 23:30Z = 03-03 02:30 MSK, so it counts on 03-03; utm_campaign is the campaign's *old name*
  "Brand Search"; disqualified 03-04.
- L3 facebook by name, created 03-02 10:00+03:00, SQL 03-04 without MQL: MQL and SQL both on 03-04.
- L4 utm_source tiktok matches no rule: other:(none), created 03-03 08:00 (no offset = UTC).
- L5 source "ABM" (case-insensitive): MQL 03-03, disqualified after MQL on 03-06: stays an MQL.
- L6 Google/CPC 111 created 03-31, MQL 04-02; D3 200 USD won 04-02 21:30Z = 04-03 MSK, which also makes it
  an SQL on 04-03 (a won deal implies the skipped SQL stage).
- L7 google with an unknown campaign id: google_ads:(none).
- content other costs: 3100 USD for March = 100.00 a day; 1000 USD for April = 33.333333 a day, the
  remainder 33.333343 on 04-30.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from assets.marts.columns import ADDITIVE, PERIOD_COLUMNS
from tests.conftest import build, warehouse

FIRST, LAST = date(2026, 3, 1), date(2026, 4, 30)


@pytest.fixture
def built(small_config, warehouse_url) -> str:
    summary = build(small_config, warehouse_url, FIRST, LAST)
    assert summary.ok, summary.problems
    return warehouse_url


def _rows(url: str, table: str) -> dict[tuple[str, str], dict]:
    frame = warehouse(url).query(f"select * from marts.{table}")
    frame = frame.astype(object).where(frame.notna(), None)
    return {(r["period_start"].isoformat(), r["campaign_key"]): r for r in frame.to_dict("records")}


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def test_mart_columns_are_the_contract(built):
    frame = warehouse(built).query("select * from marts.metrics_daily limit 1")
    assert list(frame.columns) == [name for name, _, _ in PERIOD_COLUMNS]


def test_daily_google_campaign_row_has_every_measure(built):
    row = _rows(built, "metrics_daily")[("2026-03-02", "google_ads:111")]
    assert row["team"] == "inbound"
    assert row["channel"] == "google_ads"
    assert row["platform"] == "google_ads"
    assert row["campaign_name"] == "Brand Search 2026"  # latest known name
    assert Decimal(str(row["spend"])) == Decimal("100")
    assert _num(row["other_costs"]) == 0
    assert _num(row["total_cost"]) == 100
    assert (row["impressions"], row["clicks"], row["platform_leads"]) == (1000, 50, 3)
    assert (row["leads"], row["mql"], row["sql"], row["disqualified"], row["won_deals"]) == (1, 0, 0, 0, 0)
    assert row["ctr"] == pytest.approx(0.05)
    assert row["cpc"] == pytest.approx(2.0)
    assert row["cpl"] == pytest.approx(100.0)
    assert _num(row["cost_per_mql"]) is None  # no MQL that day
    assert row["disqualified_rate"] == pytest.approx(0.0)
    assert row["romi"] == pytest.approx(-1.0)  # (0 * 0.8 - 100) / 100


def test_daily_rows_worked_by_hand(built):
    rows = _rows(built, "metrics_daily")
    fb = rows[("2026-03-02", "facebook_ads:222")]
    assert _num(fb["spend"]) == pytest.approx(44.0)  # 40 EUR x 1.10
    assert fb["cpc"] == pytest.approx(2.2) and fb["ctr"] == pytest.approx(0.01)
    assert fb["leads"] == 1  # L3: 10:00+03:00 is 07:00Z on 03-02
    assert fb["campaign_name"] == "FB Retarget"

    # the 23:30 UTC lead (L2) is a Moscow 03-03 lead, attributed by the campaign's old name
    g3 = rows[("2026-03-03", "google_ads:111")]
    assert (g3["leads"], g3["mql"]) == (1, 1)
    assert g3["clicks"] == 0 and _num(g3["cpc"]) is None and g3["ctr"] == pytest.approx(0.0)
    assert g3["cost_per_mql"] == pytest.approx(50.0)
    assert rows[("2026-03-02", "google_ads:111")]["leads"] == 1

    # stage skipping: SQL without MQL counts as both on the SQL day
    fb4 = rows[("2026-03-04", "facebook_ads:222")]
    assert (fb4["mql"], fb4["sql"], fb4["leads"]) == (1, 1, 0)
    assert _num(fb4["cpl"]) is None and _num(fb4["disqualified_rate"]) is None and _num(fb4["romi"]) is None

    # no rule matched: other, with the team the config declares for `other`
    other = rows[("2026-03-03", "other:(none)")]
    assert (other["channel"], other["team"], other["platform"], other["leads"]) == (
        "other",
        "inbound",
        None,
        1,
    )
    assert other["campaign_name"] is None

    # an ad-platform lead with an unknown campaign id stays on the platform's (none) key
    assert rows[("2026-03-02", "google_ads:(none)")]["platform"] == "google_ads"

    # disqualified after MQL: MQL on 03-03 stays, disqualified on 03-06
    assert rows[("2026-03-03", "abm:(none)")]["mql"] == 1
    abm6 = rows[("2026-03-06", "abm:(none)")]
    assert (abm6["team"], abm6["disqualified"], abm6["mql"]) == ("outbound", 1, 0)
    assert rows[("2026-03-02", "abm:(none)")]["cpl"] == pytest.approx(0.0)  # no cost, one lead

    # EUR deal won on a Sunday, converted at the Friday rate carried over the weekend
    won = rows[("2026-03-08", "google_ads:111")]
    assert (won["won_deals"], _num(won["revenue"])) == (1, pytest.approx(1150.0))
    assert _num(won["romi"]) is None  # no cost that day

    # D3 won 21:30Z on 04-02 = 04-03 in Moscow; the won deal also makes L6 an SQL that day
    d3 = rows[("2026-04-03", "google_ads:111")]
    assert (d3["won_deals"], _num(d3["revenue"]), d3["sql"]) == (1, pytest.approx(200.0), 1)


def test_other_costs_are_prorated_over_the_month(built):
    rows = _rows(built, "metrics_daily")
    march = [rows[(f"2026-03-{d:02d}", "content:(none)")] for d in range(1, 32)]
    assert all(Decimal(str(r["other_costs"])) == Decimal("100") for r in march)
    assert march[0]["channel"] == "content" and march[0]["platform"] is None
    april = [Decimal(str(rows[(f"2026-04-{d:02d}", "content:(none)")]["other_costs"])) for d in range(1, 31)]
    assert april[:-1] == [Decimal("33.333333")] * 29
    assert april[-1] == Decimal("33.333343")
    assert sum(april) == Decimal("1000")
    assert _num(march[0]["cpl"]) is None and march[0]["romi"] == pytest.approx(-1.0)


def test_monthly_rows_worked_by_hand(built):
    rows = _rows(built, "metrics_monthly")
    g = rows[("2026-03-01", "google_ads:111")]
    assert _num(g["spend"]) == pytest.approx(180.0)
    assert (g["impressions"], g["clicks"], g["leads"], g["mql"], g["sql"], g["disqualified"]) == (
        1800,
        60,
        3,
        1,
        1,
        1,
    )
    assert (g["won_deals"], _num(g["revenue"])) == (1, pytest.approx(1150.0))
    assert g["cpl"] == pytest.approx(60.0)
    assert g["cpc"] == pytest.approx(3.0)
    assert g["cost_per_mql"] == pytest.approx(180.0)
    assert g["disqualified_rate"] == pytest.approx(1 / 3)
    assert g["romi"] == pytest.approx((1150 * 0.8 - 180) / 180)
    assert rows[("2026-04-01", "google_ads:111")]["romi"] == pytest.approx((200 * 0.8 - 20) / 20)
    assert _num(rows[("2026-03-01", "content:(none)")]["other_costs"]) == pytest.approx(3100.0)
    assert Decimal(str(rows[("2026-04-01", "content:(none)")]["other_costs"])) == Decimal("1000")
    abm = rows[("2026-03-01", "abm:(none)")]
    assert (abm["leads"], abm["mql"], abm["disqualified"], abm["disqualified_rate"]) == (1, 1, 1, 1.0)


def test_week_spanning_two_months(built):
    rows = _rows(built, "metrics_weekly")
    week = rows[("2026-03-30", "google_ads:111")]  # Monday 03-30 .. Sunday 04-05
    assert _num(week["spend"]) == pytest.approx(50.0)
    assert (week["impressions"], week["clicks"], week["leads"], week["mql"], week["won_deals"]) == (
        500,
        14,
        1,
        1,
        1,
    )
    assert week["cpc"] == pytest.approx(50 / 14)
    content = Decimal(str(rows[("2026-03-30", "content:(none)")]["other_costs"]))
    assert content == Decimal("200") + 5 * Decimal("33.333333")
    # 2026-03-01 is a Sunday: its costs sit in the ISO week that starts on Monday 02-23
    assert Decimal(str(rows[("2026-02-23", "content:(none)")]["other_costs"])) == Decimal("100")
    first = rows[("2026-03-02", "google_ads:111")]
    assert (first["leads"], first["won_deals"], _num(first["spend"])) == (2, 1, pytest.approx(150.0))


def test_coarser_periods_sum_to_the_days_inside_them(built):
    wh = warehouse(built)
    sums = ", ".join(f"sum({c}) as {c}" for c in ADDITIVE)
    totals = {
        table: wh.query(f"select {sums} from marts.{table}").iloc[0].astype(float)
        for table in ("metrics_daily", "metrics_weekly", "metrics_monthly")
    }
    pd.testing.assert_series_equal(totals["metrics_daily"], totals["metrics_weekly"], check_names=False)
    pd.testing.assert_series_equal(totals["metrics_daily"], totals["metrics_monthly"], check_names=False)
    per_month = wh.query(
        f"select cast(date_trunc('month', period_start) as date) as m, campaign_key, {sums} "
        "from marts.metrics_daily group by 1, 2 order by 1, 2"
    )
    monthly = wh.query(
        f"select period_start as m, campaign_key, {sums} from marts.metrics_monthly "
        "group by 1, 2 order by 1, 2"
    )
    pd.testing.assert_frame_equal(
        per_month.astype({c: float for c in ADDITIVE}), monthly.astype({c: float for c in ADDITIVE})
    )
    assert totals["metrics_daily"]["leads"] == 7 and totals["metrics_daily"]["won_deals"] == 2


def test_rerunning_partitions_changes_nothing_and_matches_a_full_rebuild(small_config, built):
    before = {
        t: warehouse(built).query(f"select * from marts.{t} order by period_start, campaign_key")
        for t in ("metrics_daily", "metrics_weekly", "metrics_monthly")
    }
    # incremental: re-run single days and a short window, as the daily schedule does
    assert build(small_config, built, date(2026, 3, 3), date(2026, 3, 3)).ok
    assert build(small_config, built, date(2026, 3, 28), date(2026, 4, 2)).ok
    for table, frame in before.items():
        after = warehouse(built).query(f"select * from marts.{table} order by period_start, campaign_key")
        pd.testing.assert_frame_equal(frame, after, check_dtype=False)


def test_incremental_build_from_scratch_equals_one_full_rebuild(small_config, built, tmp_path):
    """Days loaded in three separate runs, as the daily schedule does, give exactly the one-run result."""
    other = f"duckdb:///{tmp_path}/incremental.duckdb"
    for first, last in (
        (date(2026, 3, 1), date(2026, 3, 4)),
        (date(2026, 3, 5), date(2026, 3, 31)),
        (date(2026, 4, 1), date(2026, 4, 30)),
    ):
        assert build(small_config, other, first, last).ok
    for table in ("metrics_daily", "metrics_weekly", "metrics_monthly", "plan_vs_actual_monthly"):
        order = "period_start, campaign_key" if table.startswith("metrics") else "month, channel"
        full = warehouse(built).query(f"select * from marts.{table} order by {order}")
        incremental = warehouse(other).query(f"select * from marts.{table} order by {order}")
        pd.testing.assert_frame_equal(full.astype(str), incremental.astype(str))
