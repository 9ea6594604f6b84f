"""Jobs by partition grain: Dagster runs one partitions definition per run, so the daily job (sources,
staging, the daily mart and the standup) and the weekly and monthly rollups are separate jobs."""

from __future__ import annotations

import dagster as dg

from assets.marts.metrics import MONTHLY_KEY, WEEKLY_KEY
from assets.marts.plan_kpi import MONTHLY_KEYS as PLAN_KPI_KEYS
from assets.reports.assets import MONTHLY_REPORT_KEY, WEEKLY_REPORT_KEY

WEEKLY_KEYS = (WEEKLY_KEY, WEEKLY_REPORT_KEY)
MONTHLY_KEYS = (MONTHLY_KEY, *PLAN_KPI_KEYS, MONTHLY_REPORT_KEY)

DAILY_JOB = "daily_job"
WEEKLY_JOB = "weekly_job"
MONTHLY_JOB = "monthly_job"

daily_job = dg.define_asset_job(
    DAILY_JOB,
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*WEEKLY_KEYS, *MONTHLY_KEYS),
    description="Loads every source, rebuilds staging, writes the daily mart and standup for a day range.",
)
weekly_job = dg.define_asset_job(
    WEEKLY_JOB,
    selection=dg.AssetSelection.assets(*WEEKLY_KEYS),
    description="Rolls metrics_daily up into ISO weeks and writes the weekly review.",
)
monthly_job = dg.define_asset_job(
    MONTHLY_JOB,
    selection=dg.AssetSelection.assets(*MONTHLY_KEYS),
    description="Monthly metrics, plan vs actual, team and specialist KPIs, and the monthly review.",
)
JOBS = (daily_job, weekly_job, monthly_job)
