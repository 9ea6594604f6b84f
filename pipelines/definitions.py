"""The Dagster code location: every asset, job, schedule and sensor, built from the deployment config
(partitions follow its start_date and reporting timezone)."""

from __future__ import annotations

import dagster as dg

from assets.checks import with_raw_freshness
from assets.ingestion.ad_platforms import build_ad_platform_assets, raw_ad_key
from assets.ingestion.crm import build_crm_assets, raw_crm_keys
from assets.ingestion.files import build_file_assets
from assets.marts.funnel import build_funnel_asset
from assets.marts.metrics import build_period_assets
from assets.marts.plan_kpi import build_plan_kpi_assets
from assets.partitions import build_partitions
from assets.reports.assets import build_report_assets
from assets.staging.assets import build_staging_assets
from assets.staging.config_tables import CONFIG_TABLE_ASSETS
from pipelines.connectors import Connectors, enabled_connectors
from pipelines.jobs import JOBS
from pipelines.schedules import build_schedules
from pipelines.sensors import rollups_after_daily
from resources.config import ConfigResource, MpulseConfig, load_config
from resources.csv_files import CsvFilesResource
from resources.notifier import NotifierResource, reports_dir_from_env
from resources.warehouse import WarehouseResource, warehouse_url_from_env


def _source_deps(connectors: Connectors) -> dict[str, list[dg.AssetKey]]:
    """Staging tables that read the raw tables of the connectors that are on."""
    crm_keys = [raw_crm_keys(crm) for crm in connectors.crms]
    return {
        "ad_spend": [raw_ad_key(p) for p in connectors.ad_platforms],
        "leads": [key for pair in crm_keys for key in pair],
        "deals": [deals for _, deals in crm_keys],
    }


def build_definitions(config: MpulseConfig, warehouse_url: str | None = None) -> dg.Definitions:
    url = warehouse_url or warehouse_url_from_env()
    embedded = url.startswith("duckdb")
    kinds = {"duckdb"} if embedded else {"postgres"}
    partitions = build_partitions(config)
    files = config.sources.files
    connectors = enabled_connectors(config)
    defs = dg.Definitions(
        assets=[
            *build_file_assets(kinds),
            *build_ad_platform_assets(connectors.ad_platforms, partitions.daily, kinds),
            *build_crm_assets(connectors.crms, kinds),
            *build_staging_assets(kinds, _source_deps(connectors)),
            *CONFIG_TABLE_ASSETS,
            *build_period_assets(partitions, kinds),
            build_funnel_asset(kinds),
            *build_plan_kpi_assets(partitions, kinds),
            *build_report_assets(partitions),
        ],
        jobs=list(JOBS),
        schedules=build_schedules(config),
        sensors=[rollups_after_daily],
        resources={
            "warehouse": WarehouseResource(url=url),
            "settings": ConfigResource(path=str(config.config_path)),
            "files": CsvFilesResource(path=str(config.resolve(files.path)) if files else None),
            "notifier": NotifierResource(reports_dir=reports_dir_from_env()),
            **connectors.resources,
        },
        # An embedded DuckDB file takes one writer process; PostgreSQL takes Dagster's parallel executor.
        executor=dg.in_process_executor if embedded else dg.multiprocess_executor,
    )
    return with_raw_freshness(defs)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_config())
