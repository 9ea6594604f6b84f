"""Rows that break a row-level rule are held back, not dropped: they can be found in quality.quarantine with
the reason and the run id, the marts count exactly the rest, and the standup says how many were held back.
Runs the whole pipeline on the hand-made fixture, on DuckDB and on PostgreSQL."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from assets import expectations as ex
from assets.reports.daily import build_daily_report
from assets.reports.render import render_markdown
from resources.config import parse_config
from tests.conftest import SMALL_CONFIG, build, warehouse

FIRST, LAST = date(2026, 3, 1), date(2026, 4, 30)
BAD_LEADS = (
    "L8,2099-01-05T10:00:00Z,,google,cpc,111,,,,,,\n"  # created in the future
    "L9,2026-03-10T10:00:00Z,,google,cpc,111,2026-03-08T10:00:00Z,,,,,\n"  # MQL two days before creation
)
BAD_DEALS = "D4,L5,300,USD,2099-02-01T00:00:00Z\n"  # won in the future


@pytest.fixture
def case(tmp_path: Path) -> Path:
    target = tmp_path / "case"
    shutil.copytree(SMALL_CONFIG.parent, target)
    with (target / "data" / "leads.csv").open("a", encoding="utf-8") as fh:
        fh.write(BAD_LEADS)
    with (target / "data" / "deals.csv").open("a", encoding="utf-8") as fh:
        fh.write(BAD_DEALS)
    return target


def _quarantine(url: str):
    return warehouse(url).query(
        "select table_name, check_name, row_key, reason, row_data, run_id from quality.quarantine "
        "order by table_name, row_key"
    )


def test_quarantined_rows_can_be_found_and_explained(case: Path, warehouse_url: str):
    config = parse_config(case / "config.yaml")
    summary = build(config, warehouse_url, FIRST, LAST)
    assert summary.ok, summary.problems  # held-back rows warn, they do not stop the run

    held = _quarantine(warehouse_url)
    assert list(zip(held.table_name, held.check_name, held.row_key, strict=True)) == [
        ("staging.deals", ex.DEAL_WON_IN_FUTURE, "source_system=files, deal_id=D4"),
        ("staging.leads", ex.LEAD_IN_FUTURE, "source_system=files, lead_id=L8"),
        ("staging.leads", ex.LEAD_STAGE_BEFORE_CREATION, "source_system=files, lead_id=L9"),
    ]
    reasons = dict(zip(held.row_key, held.reason, strict=True))
    assert reasons["source_system=files, lead_id=L8"].startswith(
        "created_at 2099-01-05 10:00:00 is after the run"
    )
    assert (
        reasons["source_system=files, lead_id=L9"] == "MQL on 2026-03-08, before it was created on 2026-03-10"
    )
    assert reasons["source_system=files, deal_id=D4"].startswith("won on 2099-02-01, after today")
    assert json.loads(held.row_data[held.row_key.str.contains("L9")].iloc[0])["mql_day"] == "2026-03-08"
    assert held.run_id.str.len().min() > 10  # the Dagster run that held them back

    wh = warehouse(warehouse_url)
    staged = set(wh.query("select lead_id from staging.leads").lead_id)
    assert staged == {f"L{i}" for i in range(1, 8)}  # the seven good leads, nothing else lost
    assert set(wh.query("select deal_id from staging.deals").deal_id) == {"D1", "D2", "D3"}
    totals = wh.query("select sum(leads) as leads, sum(won_deals) as won from marts.metrics_daily")
    assert int(totals.leads[0]) == 7 and int(totals.won[0]) == 2

    status = wh.query(
        "select check_name, passed, severity, failed_rows from quality.check_results "
        "where severity = 'quarantine' and not passed order by check_name"
    )
    assert list(status.check_name) == [
        ex.DEAL_WON_IN_FUTURE,
        ex.LEAD_IN_FUTURE,
        ex.LEAD_STAGE_BEFORE_CREATION,
    ]
    assert list(status.failed_rows) == [1, 1, 1]

    report = render_markdown(build_daily_report(wh, config, LAST))
    assert "Quarantine: 3 rows held back" in report
    assert f"staging.leads {ex.LEAD_IN_FUTURE}: 1" in report
    assert f"⚠ staging.leads: check {ex.LEAD_STAGE_BEFORE_CREATION} held back: 1 of 9 rows" in report


def test_quarantine_shows_the_current_state(case: Path, warehouse_url: str):
    config = parse_config(case / "config.yaml")
    assert build(config, warehouse_url, FIRST, LAST).ok
    first_run = set(_quarantine(warehouse_url).run_id)
    assert build(config, warehouse_url, FIRST, LAST).ok  # a rerun replaces, never doubles
    again = _quarantine(warehouse_url)
    assert len(again) == 3 and set(again.run_id).isdisjoint(first_run)

    leads = case / "data" / "leads.csv"
    leads.write_text(leads.read_text(encoding="utf-8").replace(BAD_LEADS, ""), encoding="utf-8")
    assert build(config, warehouse_url, FIRST, LAST).ok
    assert list(_quarantine(warehouse_url).row_key) == ["source_system=files, deal_id=D4"]
    assert len(warehouse(warehouse_url).query("select lead_id from staging.leads")) == 7
