"""Raw assets of the ad-platform connectors: campaign-day spend per account, daily partitioned. A run
replaces exactly the accounts and days it fetched, so a re-fetch of the restatement window overwrites
restated numbers and nothing is counted twice; an account that fails keeps its earlier rows and fails
the `all_accounts_loaded` check by name, without hiding the other accounts' data."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg
import sqlalchemy as sa

from assets.ingestion.tables import RAW_AD_TABLES
from assets.metadata import window_metadata
from resources.ad_rows import AdFetchResult
from resources.config import MpulseConfig
from resources.warehouse import WarehouseResource

ALL_ACCOUNTS_LOADED = "all_accounts_loaded"


@dataclass(frozen=True)
class AdPlatform:
    name: str  # platform = channel = group name
    resource_key: str
    label: str
    accounts: Callable[[MpulseConfig], list[str]]
    fetch: Callable[[Any, MpulseConfig, list[str], date, date], AdFetchResult]


PLATFORMS: dict[str, AdPlatform] = {
    "google_ads": AdPlatform(
        "google_ads",
        "google_ads",
        "Google Ads",
        lambda c: c.sources.google_ads.customer_ids,
        lambda res, c, accounts, first, last: res.fetch_campaign_days(accounts, first, last),
    ),
    "facebook_ads": AdPlatform(
        "facebook_ads",
        "facebook_ads",
        "Meta Ads",
        lambda c: c.sources.facebook_ads.ad_account_ids,
        lambda res, c, accounts, first, last: res.fetch_campaign_days(
            accounts, first, last, c.sources.facebook_ads.lead_action_types
        ),
    ),
}


def raw_ad_key(platform: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", RAW_AD_TABLES[platform].name])


def write_fetch(
    warehouse: WarehouseResource,
    table: sa.Table,
    result: AdFetchResult,
    accounts: list[str],
    first: date,
    last: date,
) -> tuple[int, sa.ColumnElement[bool]]:
    """Replaces [first, last] of every account that answered (rows or not); failed accounts are untouched."""
    failed = {f.account_id for f in result.failures}
    answered = [a for a in accounts if a not in failed]
    rows = result.rows[~result.rows["account_id"].isin(failed)] if len(result.rows) else result.rows
    window = sa.and_(table.c.account_id.in_(answered), table.c.date >= first, table.c.date <= last)
    return warehouse.replace_rows(table, rows.reset_index(drop=True), window), window


def _ad_asset(platform: AdPlatform, partitions_def: dg.DailyPartitionsDefinition, kinds: set[str]):
    table = RAW_AD_TABLES[platform.name]
    key = raw_ad_key(platform.name)

    @dg.asset(
        key=key,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=platform.name,
        kinds={platform.name, *kinds},
        pool=f"{platform.name}_api",
        required_resource_keys={platform.resource_key, "warehouse", "settings"},
        check_specs=[
            dg.AssetCheckSpec(
                ALL_ACCOUNTS_LOADED,
                asset=key,
                description=f"Every configured {platform.label} account answered.",
            )
        ],
        description=(
            f"One row per {platform.label} campaign per day and account, as the API reports it (account "
            "timezone and currency), with the fetch time and API version."
        ),
    )
    def _fetch(context: dg.AssetExecutionContext):
        config: MpulseConfig = context.resources.settings.load()
        warehouse: WarehouseResource = context.resources.warehouse
        window = context.partition_time_window
        first, last = window.start.date(), window.end.date() - timedelta(days=1)
        accounts = platform.accounts(config)
        result = platform.fetch(
            getattr(context.resources, platform.resource_key), config, accounts, first, last
        )
        count, where = write_fetch(warehouse, table, result, accounts, first, last)
        failures = {f.account_id: f.message for f in result.failures}
        for account, message in failures.items():
            context.log.error(f"{platform.label} account {account}: {message}")
        check = dg.AssetCheckResult(
            check_name=ALL_ACCOUNTS_LOADED,
            passed=not failures,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(f"{platform.label} account {a}: {m}" for a, m in failures.items()) or None,
            metadata={"accounts": len(accounts), "failed_accounts": dg.MetadataValue.json(failures)},
        )
        return dg.MaterializeResult(
            metadata=window_metadata(
                context,
                warehouse,
                table,
                count,
                where,
                fetched=f"{first} .. {last}",
                accounts=", ".join(accounts),
            ),
            check_results=[check],
        )

    return _fetch


def build_ad_platform_assets(
    enabled: list[str], partitions_def: dg.DailyPartitionsDefinition, kinds: set[str]
) -> list[dg.AssetsDefinition]:
    return [_ad_asset(PLATFORMS[name], partitions_def, kinds) for name in enabled]
