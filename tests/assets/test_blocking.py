"""Blocking checks in whole runs: a failed one stops everything downstream (the marts keep their last good
rows) and `mpulse run` says what to fix; the marts reconcile with staging; the demo passes every check."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from assets import expectations as ex
from assets.reconcile import FUNNEL_MATCHES_STAGING, SPEND_MATCHES_STAGING, SUMS_MATCH_DAILY, reconcile
from pipelines.demo import DemoSize, write_demo
from pipelines.runner import run_range
from pipelines.windows import DayRange
from resources.config import parse_config
from resources.csv_files import CsvFilesResource
from tests.conftest import SMALL_CONFIG, build, warehouse
from tests.pipelines.test_cli import mpulse

FIRST, LAST = date(2026, 3, 1), date(2026, 4, 30)
MARTS = ("metrics_daily", "metrics_weekly", "metrics_monthly")
# The EUR rates that cover 2026-03-02 are gone: Facebook's 40 EUR that day cannot be converted.
FX_WITHOUT_EARLY_MARCH = "date,currency,rate\n2026-03-06,EUR,1.15\n2026-03-30,EUR,1.20\n"


@pytest.fixture
def case(tmp_path: Path) -> Path:
    target = tmp_path / "case"
    shutil.copytree(SMALL_CONFIG.parent, target)
    return target


def _marts(url: str) -> dict[str, pd.DataFrame]:
    wh = warehouse(url)
    return {
        name: wh.query(f"select * from marts.{name} order by period_start, campaign_key").astype(str)
        for name in MARTS
    }


def test_a_missing_fx_rate_stops_the_marts_and_leaves_them_as_they_were(case: Path, warehouse_url: str):
    config = parse_config(case / "config.yaml")
    assert build(config, warehouse_url, FIRST, LAST).ok
    before = _marts(warehouse_url)

    (case / "data" / "fx_rates.csv").write_text(FX_WITHOUT_EARLY_MARCH, encoding="utf-8")
    summary = build(config, warehouse_url, FIRST, LAST)

    assert not summary.ok
    assert len(summary.problems) == 1
    problem = summary.problems[0]
    assert problem.startswith(f"staging.ad_spend: check {ex.FX_RATE_AVAILABLE} failed: 1 of 5 rows")
    assert "day=2026-03-02, campaign_key=facebook_ads:222, currency=EUR" in problem
    assert "Add the missing rates to fx_rates.csv" in problem
    after = _marts(warehouse_url)
    for name in MARTS:
        pd.testing.assert_frame_equal(after[name], before[name])
    stored = warehouse(warehouse_url).query(
        "select passed from quality.check_results where table_name = 'staging.ad_spend' "
        f"and check_name = '{ex.FX_RATE_AVAILABLE}'"
    )
    assert not bool(stored.passed[0])


def test_duplicate_leads_stop_the_marts(case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A source that sends a lead twice (the CSV reader refuses that, a connector might not)."""
    read = CsvFilesResource.read

    def twice(self: CsvFilesResource, contract):
        rows = read(self, contract)
        return pa.concat_tables([rows, rows]) if contract.name == "leads" and rows is not None else rows

    monkeypatch.setattr(CsvFilesResource, "read", twice)
    url = f"duckdb:///{tmp_path}/w.duckdb"
    summary = build(parse_config(case / "config.yaml"), url, FIRST, LAST)
    assert not summary.ok
    assert summary.problems[0].startswith(f"staging.leads: check {ex.LEAD_KEYS_UNIQUE} failed: 14 of 14 rows")
    assert "lead_id=L1" in summary.problems[0]
    assert warehouse(url).query("select count(*) as n from marts.metrics_daily").n[0] == 0


def test_the_marts_reconcile_with_staging_and_the_days(case: Path, warehouse_url: str):
    assert build(parse_config(case / "config.yaml"), warehouse_url, FIRST, LAST).ok
    wh = warehouse(warehouse_url)
    windows = {"day": (FIRST, date(2026, 5, 1)), "week": (date(2026, 2, 23), date(2026, 5, 4))}

    def failed(table: str, grain: str) -> dict[str, str]:
        results = reconcile(wh, f"marts.{table}", grain, *windows[grain], "test-run")
        return {r.check_name: r.description for r in results if not r.passed}

    assert failed("metrics_daily", "day") == failed("metrics_weekly", "week") == {}
    with wh.engine.begin() as conn:  # a rollup that lost track of one lead
        conn.exec_driver_sql(
            "update marts.metrics_weekly set leads = leads + 1 where period_start = '2026-03-02' "
            "and campaign_key = 'google_ads:111'"
        )
    weekly = failed("metrics_weekly", "week")
    assert list(weekly) == [SUMS_MATCH_DAILY]
    assert weekly[SUMS_MATCH_DAILY].startswith(f"marts.metrics_weekly: check {SUMS_MATCH_DAILY} failed: 1 ")
    assert "2026-03-02 leads: mart 7.00 vs expected 6.00" in weekly[SUMS_MATCH_DAILY]

    with wh.engine.begin() as conn:  # spend counted twice, a lead lost in a join
        conn.exec_driver_sql(
            "update marts.metrics_daily set spend = spend + 5 where period_start = '2026-03-03' "
            "and campaign_key = 'google_ads:111'"
        )
        conn.exec_driver_sql("delete from marts.metrics_daily where campaign_key = 'abm:(none)'")
    daily = failed("metrics_daily", "day")
    assert "2026-03-03 spend: mart 55.00 vs expected 50.00" in daily[SPEND_MATCHES_STAGING]
    assert "2026-03-02 leads: mart 3.00 vs expected 4.00" in daily[FUNNEL_MATCHES_STAGING]


def test_a_clean_demo_run_has_every_check_green(tmp_path: Path):
    config = parse_config(
        write_demo(tmp_path / "demo", seed=7, end=date(2026, 10, 31), size=DemoSize(months=2))
    )
    url = f"duckdb:///{tmp_path}/w.duckdb"
    lines: list[str] = []
    with dg.DagsterInstance.ephemeral() as instance:
        summary = run_range(
            config, DayRange(config.start_date, date(2026, 10, 31)), instance, url, lines.append
        )
    assert summary.ok, summary.problems
    assert not [line for line in lines if "⚠" in line]
    outcomes = warehouse(url).query(
        "select table_name, check_name, passed, message from quality.check_results"
    )
    assert len(outcomes) == sum(len(s.checks) for s in ex.SUITES) + 4  # and the four mart reconciliations
    assert outcomes.passed.astype(bool).all(), outcomes[~outcomes.passed.astype(bool)].message.tolist()
    assert warehouse(url).query("select count(*) as n from quality.quarantine").n[0] == 0


def test_mpulse_run_names_the_table_the_check_and_the_rows(case: Path, tmp_path: Path):
    (case / "data" / "fx_rates.csv").write_text(FX_WITHOUT_EARLY_MARCH, encoding="utf-8")
    env = {"MPULSE_WAREHOUSE_URL": f"duckdb:///{tmp_path}/w.duckdb", "DAGSTER_HOME": str(tmp_path / "home")}
    run = mpulse(
        "run", "--config", str(case / "config.yaml"), "--start", "2026-03-01", "--end", "2026-03-31",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: staging.ad_spend: check {ex.FX_RATE_AVAILABLE} failed: ")
    assert "campaign_key=facebook_ads:222, currency=EUR" in errors[0]
    assert errors[0].endswith("Nothing downstream was updated.")
    assert "Traceback" not in run.stderr
