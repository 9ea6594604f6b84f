"""The Dagster code location: every asset, job, schedule and sensor, built from the deployment config
(partitions follow its start_date and reporting timezone)."""

from __future__ import annotations

import dagster as dg

from assets.ingestion.files import build_file_assets
from assets.marts.metrics import build_period_assets
from assets.partitions import build_partitions
from assets.reports.assets import build_report_assets
from assets.staging.assets import build_staging_assets
from pipelines.jobs import JOBS
from pipelines.schedules import build_schedules
from pipelines.sensors import rollups_after_daily
from resources.config import ConfigResource, MpulseConfig, load_config
from resources.csv_files import CsvFilesResource
from resources.notifier import NotifierResource, reports_dir_from_env
from resources.warehouse import WarehouseResource, warehouse_url_from_env


def build_definitions(config: MpulseConfig, warehouse_url: str | None = None) -> dg.Definitions:
    url = warehouse_url or warehouse_url_from_env()
    embedded = url.startswith("duckdb")
    kinds = {"duckdb"} if embedded else {"postgres"}
    partitions = build_partitions(config)
    files = config.sources.files
    return dg.Definitions(
        assets=[
            *build_file_assets(kinds),
            *build_staging_assets(kinds),
            *build_period_assets(partitions, kinds),
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
        },
        # An embedded DuckDB file takes one writer process; PostgreSQL takes Dagster's parallel executor.
        executor=dg.in_process_executor if embedded else dg.multiprocess_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_config())
