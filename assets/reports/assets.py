"""Report assets: the standup documents, rendered from the marts after each run and published through
the notifier, with the Markdown shown in the Dagster UI."""

from datetime import date

import dagster as dg

from assets.marts.funnel import FUNNEL_KEY
from assets.marts.metrics import DAILY_KEY, MONTHLY_KEY, WEEKLY_KEY
from assets.marts.plan_kpi import MONTHLY_KEYS
from assets.partitions import Partitions
from assets.reports.daily import build_daily_report
from assets.reports.periodic import build_monthly_report, build_weekly_report
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

    return [
        daily_standup,
        _review_asset("weekly", partitions.weekly),
        _review_asset("monthly", partitions.monthly),
    ]


WEEKLY_REPORT_KEY = dg.AssetKey(["reports", "weekly_review"])
MONTHLY_REPORT_KEY = dg.AssetKey(["reports", "monthly_review"])


def _review_asset(kind: str, partitions_def: dg.TimeWindowPartitionsDefinition) -> dg.AssetsDefinition:
    weekly = kind == "weekly"
    builder = build_weekly_report if weekly else build_monthly_report

    @dg.asset(
        key=WEEKLY_REPORT_KEY if weekly else MONTHLY_REPORT_KEY,
        deps=[WEEKLY_KEY, DAILY_KEY] if weekly else [MONTHLY_KEY, FUNNEL_KEY, *MONTHLY_KEYS],
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=GROUP,
        kinds={"markdown", "html"},
        description=f"The {kind} review for the partition's {'week' if weekly else 'month'} "
        "(the last one of a "
        "range run).",
    )
    def _review(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        settings: ConfigResource,
        notifier: NotifierResource,
    ) -> dg.MaterializeResult:
        period = context.partition_key_range.end
        report = builder(warehouse, settings.load(), date.fromisoformat(period))
        markdown = render_markdown(report)
        paths = notifier.publish(kind, period, {"md": markdown, "html": render_html(report)})
        return dg.MaterializeResult(
            metadata={
                "report": dg.MetadataValue.md(markdown),
                "path": dg.MetadataValue.path(str(paths[0].resolve())),
            }
        )

    return _review
