"""Staging tables that come from the config rather than from a source: the monthly plan and who is
accountable for which channels and campaigns. In the warehouse, the marts can join them in SQL."""

from datetime import date

import dagster as dg
import pyarrow as pa

from assets.metadata import table_metadata
from assets.staging import tables as t
from resources.config import ConfigResource, MpulseConfig
from resources.warehouse import WarehouseResource

GROUP = "staging"


def plan_rows(config: MpulseConfig) -> pa.Table:
    return pa.table(
        {
            "month": pa.array([date.fromisoformat(f"{p.month}-01") for p in config.plan], type=pa.date32()),
            "channel": [p.channel for p in config.plan],
            "budget": pa.array([p.budget for p in config.plan], type=pa.decimal128(20, 6)),
            "leads": pa.array([p.leads for p in config.plan], type=pa.int64()),
            "mql": pa.array([p.mql for p in config.plan], type=pa.int64()),
        }
    )


def assignment_rows(config: MpulseConfig) -> pa.Table:
    """One row per (specialist, channel) and (specialist, campaign key) they are accountable for."""
    teams = config.channel_teams()
    rows = []
    for person in config.specialists:
        team = person.team or next((teams[c] for c in person.channels if c in teams), "unassigned")
        targets = (person.mql_target, person.cost_per_mql_target)
        rows += [(person.name, team, channel, None, *targets) for channel in person.channels]
        rows += [(person.name, team, None, key, *targets) for key in person.campaigns]
    names = [c.name for c in t.specialist_assignments.columns]
    return pa.table({name: pa.array([r[i] for r in rows]) for i, name in enumerate(names)})


@dg.asset(
    key=["staging", "plan"],
    group_name=GROUP,
    kinds={"yaml"},
    description="The config's monthly plan: one row per month and channel (budget, leads, MQL).",
)
def plan(warehouse: WarehouseResource, settings: ConfigResource) -> dg.MaterializeResult:
    count = warehouse.replace_rows(t.plan, plan_rows(settings.load()))
    return dg.MaterializeResult(metadata=table_metadata(warehouse, t.plan, count))


@dg.asset(
    key=["staging", "specialist_assignments"],
    group_name=GROUP,
    kinds={"yaml"},
    description="Who is accountable for what: one row per specialist and channel or campaign key, with "
    "their monthly MQL and cost-per-MQL targets.",
)
def specialist_assignments(warehouse: WarehouseResource, settings: ConfigResource) -> dg.MaterializeResult:
    count = warehouse.replace_rows(t.specialist_assignments, assignment_rows(settings.load()))
    return dg.MaterializeResult(metadata=table_metadata(warehouse, t.specialist_assignments, count))


CONFIG_TABLE_ASSETS = [plan, specialist_assignments]
