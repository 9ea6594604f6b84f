"""Staging assets: each rebuilds one table of the star schema with SQL run inside the warehouse
(`sql/<table>.sql`), then runs the table's data-quality suite (assets/expectations.py): rows breaking a
row-level rule go to quarantine, and a blocking check (duplicate keys, no FX rate, negative spend) stops
everything downstream rather than letting the marts count wrong numbers."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pyarrow as pa
import sqlalchemy as sa

from assets.checks import check_specs, validate_table
from assets.ingestion.files import raw_file_key
from assets.metadata import table_metadata
from assets.sql import read_sql
from assets.staging import tables as t
from resources.config import ConfigResource, MpulseConfig
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


@dataclass(frozen=True)
class StagingModel:
    table: sa.Table
    deps: Sequence[dg.AssetKey]
    description: str


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
    ),
    StagingModel(
        t.other_costs_daily,
        [raw_file_key("other_costs"), staging_key("fx_rates_daily")],
        "One row per day per manual cost: monthly other costs prorated over the month's days.",
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
        check_specs=check_specs(staging_key(name), f"staging.{name}"),
    )
    def _build(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, settings: ConfigResource
    ) -> dg.MaterializeResult:
        config = settings.load()
        count = warehouse.replace_with_sql(model.table, read_sql("assets.staging", name), _params(config))
        quality = validate_table(warehouse, model.table, config, context.run.run_id)
        return dg.MaterializeResult(
            metadata=table_metadata(warehouse, model.table, count - quality.quarantined, **quality.metadata),
            check_results=quality.check_results,
        )

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
