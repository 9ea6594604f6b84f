"""The code location: it loads, its mart keys are the contract's, and schedules and the rollup sensor
request the right partition ranges."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from pipelines.definitions import build_definitions
from pipelines.windows import RANGE_END_TAG, RANGE_START_TAG
from resources.config import FacebookAdsSource, GoogleAdsSource


@pytest.fixture
def defs(small_config, tmp_path):
    return build_definitions(small_config, f"duckdb:///{tmp_path}/w.duckdb")


def test_definitions_load_with_the_contract_mart_names(defs):
    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"marts/metrics_daily", "marts/metrics_weekly", "marts/metrics_monthly"} <= keys
    assert {f"raw/files__{n}" for n in ("leads", "deals", "ad_spend", "other_costs", "fx_rates")} <= keys
    assert "reports/daily_standup" in keys


def test_partitions_follow_start_date_timezone_and_iso_weeks(defs):
    graph = defs.resolve_asset_graph()
    daily = graph.get(dg.AssetKey(["marts", "metrics_daily"])).partitions_def
    weekly = graph.get(dg.AssetKey(["marts", "metrics_weekly"])).partitions_def
    monthly = graph.get(dg.AssetKey(["marts", "metrics_monthly"])).partitions_def
    assert daily.get_first_partition_key() == "2026-03-01"
    assert daily.timezone == "Europe/Moscow"
    assert weekly.get_first_partition_key() == "2026-02-23"  # the Monday of the start_date's week
    assert monthly.get_first_partition_key() == "2026-03-01"


def _tick(defs, name, when):
    schedule = defs.resolve_schedule_def(name)
    with dg.build_schedule_context(scheduled_execution_time=when) as context:
        return schedule.evaluate_tick(context).run_requests


def test_daily_schedule_reruns_yesterday_and_the_window_before(defs):
    # 06:00 in Moscow on 2026-04-10: yesterday is 04-09; rerun_days defaults to 7
    requests = _tick(defs, "daily_schedule", datetime(2026, 4, 10, 6, 0, tzinfo=ZoneInfo("Europe/Moscow")))
    assert len(requests) == 1
    assert requests[0].tags[RANGE_START_TAG] == "2026-04-02"
    assert requests[0].tags[RANGE_END_TAG] == "2026-04-09"


def test_daily_schedule_uses_the_reporting_timezone_not_utc(defs):
    # 22:30 UTC on 04-09 is already 01:30 on 04-10 in Moscow
    requests = _tick(defs, "daily_schedule", datetime(2026, 4, 9, 22, 30, tzinfo=ZoneInfo("UTC")))
    assert requests[0].tags[RANGE_END_TAG] == "2026-04-09"


def test_weekly_and_monthly_schedules_cover_the_finished_period(defs):
    monday = datetime(2026, 4, 6, 6, 30, tzinfo=ZoneInfo("Europe/Moscow"))
    weekly = _tick(defs, "weekly_schedule", monday)[0].tags
    assert (weekly[RANGE_START_TAG], weekly[RANGE_END_TAG]) == ("2026-03-23", "2026-03-30")
    first = datetime(2026, 4, 1, 6, 30, tzinfo=ZoneInfo("Europe/Moscow"))
    monthly = _tick(defs, "monthly_schedule", first)[0].tags
    assert (monthly[RANGE_START_TAG], monthly[RANGE_END_TAG]) == ("2026-03-01", "2026-03-01")


def test_schedules_skip_before_the_start_date(defs):
    assert _tick(defs, "daily_schedule", datetime(2026, 2, 1, 6, 0, tzinfo=ZoneInfo("Europe/Moscow"))) == []


def test_rollup_sensor_requests_the_weeks_and_months_of_a_daily_run(defs):
    from pipelines.sensors import rollups_after_daily

    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(
            defs.resolve_job_def("daily_job"),
            tags={RANGE_START_TAG: "2026-03-28", RANGE_END_TAG: "2026-04-02"},
        )
        context = dg.build_run_status_sensor_context(
            sensor_name="rollups_after_daily",
            dagster_instance=instance,
            dagster_run=run,
            dagster_event=dg.DagsterEvent(event_type_value="PIPELINE_SUCCESS", job_name="daily_job"),
        )
        requests = rollups_after_daily(context)
    by_job = {r.job_name: r.tags for r in requests}
    assert (by_job["weekly_job"][RANGE_START_TAG], by_job["weekly_job"][RANGE_END_TAG]) == (
        "2026-03-23",
        "2026-03-30",
    )
    assert (by_job["monthly_job"][RANGE_START_TAG], by_job["monthly_job"][RANGE_END_TAG]) == (
        "2026-03-01",
        "2026-04-01",
    )


def test_daily_schedule_covers_the_platforms_restatement_window(small_config, tmp_path, monkeypatch):
    config = small_config.model_copy(
        update={
            "sources": small_config.sources.model_copy(
                update={
                    "google_ads": GoogleAdsSource(customer_ids=["1234567890"], lookback_days=30),
                    "facebook_ads": FacebookAdsSource(ad_account_ids=["1"], lookback_days=28),
                }
            )
        }
    )
    defs = build_definitions(config, f"duckdb:///{tmp_path}/w.duckdb")
    tags = _tick(defs, "daily_schedule", datetime(2026, 6, 15, 6, 0, tzinfo=ZoneInfo("Europe/Moscow")))[
        0
    ].tags
    # yesterday 06-14 and the 30 days before it: Google's conversion window, the longer of the two
    assert (tags[RANGE_START_TAG], tags[RANGE_END_TAG]) == ("2026-05-15", "2026-06-14")
