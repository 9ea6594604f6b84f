"""The period marts of metrics.md: `metrics_daily` from staging, `metrics_weekly` and `metrics_monthly`
rolled up from the daily rows. Each run deletes and re-inserts exactly its partition window, so reruns and
backfills are idempotent and a range run equals the same days run one by one."""

from datetime import date

import dagster as dg
import sqlalchemy as sa

from assets.marts.tables import metrics_daily as daily_table
from assets.marts.tables import metrics_monthly as monthly_table
from assets.marts.tables import metrics_weekly as weekly_table
from assets.metadata import window_metadata
from assets.partitions import Partitions
from assets.reconcile import reconcile, reconcile_specs
from assets.sql import read_sql
from assets.staging.assets import STAGING_KEYS
from resources.config import ConfigResource
from resources.warehouse import WarehouseResource

GROUP = "marts"
DAILY_KEY = dg.AssetKey(["marts", "metrics_daily"])
WEEKLY_KEY = dg.AssetKey(["marts", "metrics_weekly"])
MONTHLY_KEY = dg.AssetKey(["marts", "metrics_monthly"])


def period_sql(grain: str) -> str:
    """The SELECT for one grain: its totals CTE plus the shared dimensions/ratios tail."""
    if grain == "day":
        totals = read_sql("assets.marts", "metrics_daily_totals")
    elif grain in ("week", "month"):
        totals = read_sql("assets.marts", "metrics_rollup_totals").replace("{grain}", grain)
    else:
        raise ValueError(f"unknown grain {grain!r}")
    return totals + read_sql("assets.marts", "period_select")


def write_period(
    warehouse: WarehouseResource, table: sa.Table, grain: str, start: date, end: date, gross_margin: float
) -> tuple[int, sa.ColumnElement[bool]]:
    """Replaces the rows of [start, end) in `table`; returns the row count and the window predicate."""
    window = sa.and_(table.c.period_start >= start, table.c.period_start < end)
    params = {"start": start, "end": end, "gross_margin": gross_margin}
    return warehouse.replace_with_sql(table, period_sql(grain), params, where=window), window


def _period_asset(
    key: dg.AssetKey,
    table: sa.Table,
    grain: str,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    deps: list[dg.AssetKey],
    description: str,
    kinds: set[str],
) -> dg.AssetsDefinition:
    @dg.asset(
        key=key,
        deps=deps,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=GROUP,
        kinds={"sql", *kinds},
        description=description,
        check_specs=reconcile_specs(key, grain),
    )
    def _build(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: ConfigResource
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        start, end = window.start.date(), window.end.date()
        count, where = write_period(
            warehouse, table, grain, start, end, settings.load().reporting.gross_margin
        )
        context.log.info(f"{table.schema}.{table.name}: {count} rows for {start}..{end} (end exclusive)")
        name = f"{table.schema}.{table.name}"
        return dg.MaterializeResult(
            metadata=window_metadata(context, warehouse, table, count, where),
            check_results=reconcile(warehouse, name, grain, start, end, context.run.run_id),
        )

    return _build


def build_period_assets(partitions: Partitions, kinds: set[str]) -> list[dg.AssetsDefinition]:
    return [
        _period_asset(
            DAILY_KEY,
            daily_table,
            "day",
            partitions.daily,
            list(STAGING_KEYS),
            "One row per day and campaign key: cost, funnel and ratios (metrics.md). Activity view: every "
            "event counts on the day it happened, in the reporting timezone.",
            kinds,
        ),
        _period_asset(
            WEEKLY_KEY,
            weekly_table,
            "week",
            partitions.weekly,
            [DAILY_KEY],
            "One row per ISO week (Monday) and campaign key: sums of metrics_daily, ratios recomputed.",
            kinds,
        ),
        _period_asset(
            MONTHLY_KEY,
            monthly_table,
            "month",
            partitions.monthly,
            [DAILY_KEY],
            "One row per calendar month and campaign key: sums of metrics_daily, ratios recomputed.",
            kinds,
        ),
    ]
