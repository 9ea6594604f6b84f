"""Report assets: the standup documents, rendered from the marts after each run and published through
the notifier, with the Markdown shown in the Dagster UI."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import dagster as dg

from assets.marts.funnel import FUNNEL_KEY
from assets.marts.metrics import DAILY_KEY, MONTHLY_KEY, WEEKLY_KEY
from assets.marts.plan_kpi import MONTHLY_KEYS
from assets.partitions import Partitions
from assets.reports.daily import build_daily_report
from assets.reports.periodic import build_monthly_report, build_weekly_report
from assets.reports.render import Report, render_html, render_markdown
from resources.config import ConfigResource, MpulseConfig
from resources.notifier import NotifierResource
from resources.warehouse import WarehouseResource

GROUP = "reports"
DAILY_REPORT_KEY = dg.AssetKey(["reports", "daily_standup"])
WEEKLY_REPORT_KEY = dg.AssetKey(["reports", "weekly_review"])
MONTHLY_REPORT_KEY = dg.AssetKey(["reports", "monthly_review"])


@dataclass(frozen=True)
class ReportSpec:
    kind: str  # daily / weekly / monthly: also the notifier folder and the partitions grain
    key: dg.AssetKey
    build: Callable[[WarehouseResource, MpulseConfig, date], Report]
    deps: tuple[dg.AssetKey, ...]
    description: str


REPORTS = (
    ReportSpec(
        "daily",
        DAILY_REPORT_KEY,
        build_daily_report,
        (DAILY_KEY,),
        "The morning standup for the partition's day",
    ),
    ReportSpec(
        "weekly",
        WEEKLY_REPORT_KEY,
        build_weekly_report,
        (WEEKLY_KEY, DAILY_KEY),
        "The weekly review for the partition's ISO week",
    ),
    ReportSpec(
        "monthly",
        MONTHLY_REPORT_KEY,
        build_monthly_report,
        (MONTHLY_KEY, FUNNEL_KEY, *MONTHLY_KEYS),
        "The monthly review for the partition's month",
    ),
)


def _report_asset(spec: ReportSpec, partitions_def: dg.TimeWindowPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=spec.key,
        deps=list(spec.deps),
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=GROUP,
        kinds={"markdown", "html"},
        description=f"{spec.description} (the last one of a range run), as Markdown and HTML.",
    )
    def _render(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        settings: ConfigResource,
        notifier: NotifierResource,
    ) -> dg.MaterializeResult:
        period = context.partition_key_range.end
        report = spec.build(warehouse, settings.load(), date.fromisoformat(period))
        markdown = render_markdown(report)
        paths = notifier.publish(spec.kind, period, {"md": markdown, "html": render_html(report)})
        keys = context.partition_key_range
        metadata: dict[str, object] = {"path": dg.MetadataValue.path(str(paths[0].resolve()))}
        if keys.start == keys.end:  # a backfill would copy the whole document onto every partition it covers
            metadata["report"] = dg.MetadataValue.md(markdown)
        return dg.MaterializeResult(metadata=metadata)

    return _render


def build_report_assets(partitions: Partitions) -> list[dg.AssetsDefinition]:
    return [_report_asset(spec, getattr(partitions, spec.kind)) for spec in REPORTS]
