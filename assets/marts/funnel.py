"""`marts.funnel_cohorts_monthly`: the end-to-end view (spend -> lead -> MQL -> deal -> revenue) by the
month leads were created. Cohorts keep moving as leads progress, so the table is rebuilt whole after
each daily run (it is months x campaigns, small)."""

import dagster as dg

from assets.marts.metrics import DAILY_KEY
from assets.marts.tables import funnel_cohorts_monthly
from assets.metadata import table_metadata
from assets.sql import read_sql
from assets.staging.assets import staging_key
from resources.config import ConfigResource
from resources.warehouse import WarehouseResource

FUNNEL_KEY = dg.AssetKey(["marts", "funnel_cohorts_monthly"])


def build_funnel_asset(kinds: set[str]) -> dg.AssetsDefinition:
    @dg.asset(
        key=FUNNEL_KEY,
        deps=[DAILY_KEY, staging_key("leads"), staging_key("deals")],
        group_name="marts",
        kinds={"sql", *kinds},
        description="One row per cohort month (month the leads were created) and campaign key: how far the "
        "cohort has got by today (MQL, SQL, won deals, revenue) against the cost of its month.",
    )
    def funnel_cohorts(warehouse: WarehouseResource, settings: ConfigResource) -> dg.MaterializeResult:
        params = {"gross_margin": settings.load().reporting.gross_margin}
        sql = read_sql("assets.marts", "funnel_cohorts_monthly")
        count = warehouse.replace_with_sql(funnel_cohorts_monthly, sql, params)
        return dg.MaterializeResult(metadata=table_metadata(warehouse, funnel_cohorts_monthly, count))

    return funnel_cohorts
