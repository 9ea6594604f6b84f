"""Jobs by partition grain: Dagster runs one partitions definition per run, so the daily job (sources,
staging, the daily mart and the standup) and the weekly and monthly rollups are separate jobs."""

from __future__ import annotations

import dagster as dg

from assets.marts.metrics import MONTHLY_KEY, WEEKLY_KEY
from assets.marts.plan_kpi import MONTHLY_KEYS as PLAN_KPI_KEYS

DAILY_JOB = "daily_job"
WEEKLY_JOB = "weekly_job"
MONTHLY_JOB = "monthly_job"

daily_job = dg.define_asset_job(
    DAILY_JOB,
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(WEEKLY_KEY, MONTHLY_KEY, *PLAN_KPI_KEYS),
    description="Loads every source, rebuilds staging, writes the daily mart and standup for a day range.",
)
weekly_job = dg.define_asset_job(
    WEEKLY_JOB,
    selection=dg.AssetSelection.assets(WEEKLY_KEY),
    description="Rolls metrics_daily up into ISO weeks.",
)
monthly_job = dg.define_asset_job(
    MONTHLY_JOB,
    selection=dg.AssetSelection.assets(MONTHLY_KEY, *PLAN_KPI_KEYS),
    description="Rolls metrics_daily up into months: metrics, plan vs actual, team and specialist KPIs.",
)
JOBS = (daily_job, weekly_job, monthly_job)
