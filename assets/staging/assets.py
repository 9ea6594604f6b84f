"""Staging assets: each rebuilds one table of the star schema with SQL run inside the warehouse
(`sql/<table>.sql`), then fails loudly if a fact could not be converted (no FX rate) rather than
dropping it."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pyarrow as pa
import sqlalchemy as sa

from assets.ingestion.files import raw_file_key
from assets.metadata import table_metadata
from assets.sql import read_sql
from assets.staging import tables as t
from resources.config import ConfigResource, MpulseConfig
from resources.errors import InputError
from resources.warehouse import WarehouseResource

GROUP = "staging"
MAX_FX_CARRY_DAYS = 7


def staging_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["staging", name])


def _params(config: MpulseConfig) -> dict[str, Any]:
    return {
        "reporting_currency": config.reporting.currency,
        "timezone": config.reporting.timezone,
        "max_carry_days": MAX_FX_CARRY_DAYS,
    }


def _missing_fx(table: sa.Table, day_column: str, what: str) -> Callable[[WarehouseResource], list[str]]:
    """A post-check: rows of `table` that need a rate the FX table does not have."""

    def check(warehouse: WarehouseResource) -> list[str]:
        day = table.c[day_column]
        query = (
            sa.select(table.c.currency, sa.func.min(day), sa.func.max(day), sa.func.count())
            .where(table.c.fx_rate.is_(None), day.is_not(None))
            .group_by(table.c.currency)
            .order_by(table.c.currency)
        )
        return [
            f"no FX rate for {cur} on {lo}..{hi} ({n} {what} rows): add rates to fx_rates.csv "
            f"(a rate is carried forward at most {MAX_FX_CARRY_DAYS} days)"
            for cur, lo, hi, n in warehouse.query(query).itertuples(index=False)
        ]

    return check


@dataclass(frozen=True)
class StagingModel:
    table: sa.Table
    deps: Sequence[dg.AssetKey]
    description: str
    post_check: Callable[[WarehouseResource], list[str]] | None = None


MODELS: tuple[StagingModel, ...] = (
    StagingModel(
        t.fx_rates_daily,
        [raw_file_key("fx_rates")],
        "One row per day and currency: the rate to the reporting currency, carried over weekends/holidays.",
    ),
    StagingModel(
        t.ad_spend,
        [raw_file_key("ad_spend"), staging_key("fx_rates_daily")],
        "One row per campaign per day from every ad source, with spend in the reporting currency.",
        _missing_fx(t.ad_spend, "day", "ad spend"),
    ),
    StagingModel(
        t.campaigns,
        [staging_key("ad_spend")],
        "One row per ad campaign: latest known name, account and active days.",
    ),
    StagingModel(
        t.channels,
        [staging_key("channel_rules"), staging_key("ad_spend"), raw_file_key("other_costs")],
        "One row per channel: its team and whether it is an ad platform.",
    ),
    StagingModel(
        t.leads,
        [
            raw_file_key("leads"),
            raw_file_key("deals"),
            staging_key("channel_rules"),
            staging_key("channels"),
            staging_key("campaigns"),
        ],
        "One row per lead: channel, campaign key and lifecycle days (reporting timezone).",
    ),
    StagingModel(
        t.deals,
        [raw_file_key("deals"), staging_key("leads"), staging_key("fx_rates_daily")],
        "One row per deal, attributed to its lead's channel and campaign, amount in the reporting currency.",
        _missing_fx(t.deals, "won_day", "won deal"),
    ),
    StagingModel(
        t.other_costs_daily,
        [raw_file_key("other_costs"), staging_key("fx_rates_daily")],
        "One row per day per manual cost: monthly other costs prorated over the month's days.",
        _missing_fx(t.other_costs_daily, "day", "other cost"),
    ),
)


def _sql_model_asset(
    model: StagingModel, kinds: set[str], extra_deps: Sequence[dg.AssetKey] = ()
) -> dg.AssetsDefinition:
    name = model.table.name

    @dg.asset(
        key=staging_key(name),
        deps=[*model.deps, *extra_deps],
        group_name=GROUP,
        kinds={"sql", *kinds},
        description=model.description,
    )
    def _build(warehouse: WarehouseResource, settings: ConfigResource) -> dg.MaterializeResult:
        count = warehouse.replace_with_sql(
            model.table, read_sql("assets.staging", name), _params(settings.load())
        )
        if model.post_check is not None:
            problems = model.post_check(warehouse)
            if problems:
                raise InputError(problems)
        return dg.MaterializeResult(metadata=table_metadata(warehouse, model.table, count))

    return _build


@dg.asset(
    key=staging_key("channel_rules"),
    group_name=GROUP,
    kinds={"yaml"},
    description="The config's ordered channel rules, a row per (rule, field, value), so SQL can match leads.",
)
def channel_rules(warehouse: WarehouseResource, settings: ConfigResource) -> dg.MaterializeResult:
    rows: dict[str, list[Any]] = {c.name: [] for c in t.channel_rules.columns}
    for order, rule in enumerate(settings.load().channels):
        pairs = [(field, value) for field, values in rule.match.items() for value in values] or [(None, None)]
        for field, value in pairs:
            for column, item in zip(
                rows, (order, rule.channel, rule.team, field, value, len(rule.match)), strict=True
            ):
                rows[column].append(item)
    count = warehouse.replace_rows(t.channel_rules, pa.table(rows))
    return dg.MaterializeResult(metadata=table_metadata(warehouse, t.channel_rules, count))


STAGING_KEYS: tuple[dg.AssetKey, ...] = (
    staging_key("channel_rules"),
    *(staging_key(m.table.name) for m in MODELS),
)


def build_staging_assets(
    kinds: set[str], source_deps: Mapping[str, Sequence[dg.AssetKey]] | None = None
) -> list[dg.AssetsDefinition]:
    """`source_deps` adds the raw assets of the connectors that are on, by staging table name."""
    extra = source_deps or {}
    return [channel_rules, *(_sql_model_asset(m, kinds, extra.get(m.table.name, ())) for m in MODELS)]
