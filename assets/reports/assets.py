"""Report assets: the standup documents, rendered from the marts after each run and published through
the notifier, with the Markdown shown in the Dagster UI."""

from datetime import date

import dagster as dg

from assets.marts.metrics import DAILY_KEY
from assets.partitions import Partitions
from assets.reports.daily import build_daily_report
from assets.reports.render import render_html, render_markdown
from resources.config import ConfigResource
from resources.notifier import NotifierResource
from resources.warehouse import WarehouseResource

GROUP = "reports"


def build_report_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=["reports", "daily_standup"],
        deps=[DAILY_KEY],
        partitions_def=partitions.daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=GROUP,
        kinds={"markdown", "html"},
        description="The morning standup for the partition's day (the last day of a range run).",
    )
    def daily_standup(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        settings: ConfigResource,
        notifier: NotifierResource,
    ) -> dg.MaterializeResult:
        day = context.partition_key_range.end
        report = build_daily_report(warehouse, settings.load(), date.fromisoformat(day))
        markdown = render_markdown(report)
        paths = notifier.publish("daily", day, {"md": markdown, "html": render_html(report)})
        return dg.MaterializeResult(
            metadata={
                "report": dg.MetadataValue.md(markdown),
                "path": dg.MetadataValue.path(str(paths[0].resolve())),
            }
        )

    return [daily_standup]
