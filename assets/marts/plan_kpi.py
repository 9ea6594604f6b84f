"""Monthly plan-vs-actual and the two KPI levels (team, then specialist), all tied to MQL. Monthly
partitions rolled up from `metrics_daily`, written delete-then-insert per window like the period marts."""

import calendar
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import dagster as dg
import sqlalchemy as sa

from assets.marts.metrics import DAILY_KEY
from assets.marts.tables import kpi_specialist_monthly, kpi_team_monthly, plan_vs_actual_monthly
from assets.metadata import window_metadata
from assets.partitions import Partitions
from assets.sql import read_sql
from assets.staging.assets import staging_key
from resources.config import ConfigResource, MpulseConfig
from resources.warehouse import WarehouseResource

PLAN_KEY = dg.AssetKey(["marts", "plan_vs_actual_monthly"])
KPI_SPECIALIST_KEY = dg.AssetKey(["marts", "kpi_specialist_monthly"])
KPI_TEAM_KEY = dg.AssetKey(["marts", "kpi_team_monthly"])


def run_rate_params(as_of: date) -> dict[str, Any]:
    """The month in progress is forecast as actual / elapsed days * days in month, as of `as_of`."""
    days_in_month = calendar.monthrange(as_of.year, as_of.month)[1]
    return {"as_of_month": as_of.replace(day=1), "run_rate": days_in_month / as_of.day}


def write_monthly(
    warehouse: WarehouseResource, table: sa.Table, sql_name: str, start: date, end: date, **params: Any
) -> tuple[int, sa.ColumnElement[bool]]:
    month = table.c.month
    window = sa.and_(month >= start, month < end)
    sql = read_sql("assets.marts", sql_name)
    return warehouse.replace_with_sql(
        table, sql, {"start": start, "end": end, **params}, where=window
    ), window


def _monthly_asset(
    key: dg.AssetKey,
    table: sa.Table,
    deps: list[dg.AssetKey],
    description: str,
    partitions: Partitions,
    kinds: set[str],
    extra_params: Callable[[MpulseConfig, date], dict[str, Any]] = lambda config, end: {},
) -> dg.AssetsDefinition:
    @dg.asset(
        key=key,
        deps=deps,
        partitions_def=partitions.monthly,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="marts",
        kinds={"sql", *kinds},
        description=description,
    )
    def _build(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: ConfigResource
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        start, end = window.start.date(), window.end.date()
        params = extra_params(settings.load(), end)
        count, where = write_monthly(warehouse, table, table.name, start, end, **params)
        return dg.MaterializeResult(metadata=window_metadata(context, warehouse, table, count, where))

    return _build


def build_plan_kpi_assets(partitions: Partitions, kinds: set[str]) -> list[dg.AssetsDefinition]:
    return [
        _monthly_asset(
            PLAN_KEY,
            plan_vs_actual_monthly,
            [DAILY_KEY, staging_key("plan")],
            "One row per month and channel: budget, leads and MQL plan against actual, with a run-rate "
            "forecast for the month in progress.",
            partitions,
            kinds,
            lambda config, end: run_rate_params(min(config.yesterday(), end - timedelta(days=1))),
        ),
        _monthly_asset(
            KPI_TEAM_KEY,
            kpi_team_monthly,
            [DAILY_KEY, staging_key("specialist_assignments")],
            "One row per month and team: cost, leads and MQL against the team's MQL target (the first "
            "evaluation level).",
            partitions,
            kinds,
        ),
        _monthly_asset(
            KPI_SPECIALIST_KEY,
            kpi_specialist_monthly,
            [DAILY_KEY, staging_key("specialist_assignments")],
            "One row per month and specialist: the numbers of their channels and campaigns against their "
            "MQL and cost-per-MQL targets.",
            partitions,
            kinds,
        ),
    ]


MONTHLY_KEYS = (PLAN_KEY, KPI_TEAM_KEY, KPI_SPECIALIST_KEY)
