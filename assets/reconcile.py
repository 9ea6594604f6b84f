"""Mart reconciliation checks: plain SQL inside the warehouse (no Great Expectations, no data leaves the
database). Each compares a mart with an independent path to the same numbers, per period and measure, and
fails when they differ: money or leads lost or doubled in a join, or a rollup that does not add up.

All of them block: a failed daily check stops the standup, so nobody reads numbers that do not reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import dagster as dg
import pandas as pd

from assets.checks import timed
from assets.marts.columns import ADDITIVE
from assets.quality import CheckOutcome, record_outcomes
from resources.warehouse import WarehouseResource

SPEND_MATCHES_STAGING = "spend_matches_staging"
FUNNEL_MATCHES_STAGING = "funnel_matches_staging"
SUMS_MATCH_DAILY = "sums_match_daily"
TOLERANCE = 0.01  # money is stored to 6 decimals; a cent is a real difference
EXAMPLES = 3


@dataclass(frozen=True)
class Reconciliation:
    name: str
    rule: str
    action: str
    sql: str  # per (period_start, measure): mart_value, expected_value; :start/:end bound the window


def _compare(mart: str, expected: str, measures: tuple[str, ...]) -> str:
    """Rows where the `mart` CTE and the `expected` CTE disagree, one per (period, measure)."""
    branches = "\n    union all\n".join(
        f"    select coalesce(m.period_start, e.period_start) as period_start, '{name}' as measure,\n"
        f"           coalesce(m.{name}, 0) as mart_value, coalesce(e.{name}, 0) as expected_value\n"
        "    from mart m full outer join expected e on e.period_start = m.period_start"
        for name in measures
    )
    return (
        f"with mart as ({mart}),\nexpected as ({expected}),\ncompared as (\n{branches}\n)\n"
        "select period_start, measure, cast(mart_value as double precision) as mart_value,\n"
        "       cast(expected_value as double precision) as expected_value\n"
        f"from compared where abs(mart_value - expected_value) > {TOLERANCE}\n"
        "order by period_start, measure"
    )


def _sums(table: str, measures: tuple[str, ...], period: str = "period_start") -> str:
    columns = ", ".join(f"sum({m}) as {m}" for m in measures)
    return (
        f"select {period} as period_start, {columns} from {table} "
        f"where period_start >= :start and period_start < :end group by {period}"
    )


_MONEY = ("spend", "other_costs")
_FUNNEL = ("leads", "mql", "sql", "disqualified", "won_deals", "revenue")
_EVENTS = "\n        union all\n".join(
    f"        select {day} as period_start, {', '.join(values)} from {table}\n"
    f"        where {day} >= :start and {day} < :end"
    for day, table, values in (
        ("day", "staging.ad_spend", ("spend_local * fx_rate as spend", "0 as other_costs")),
        ("day", "staging.other_costs_daily", ("0", "amount_local * fx_rate")),
    )
)
_FUNNEL_EVENTS = "\n        union all\n".join(
    f"        select {day} as period_start, {', '.join(values)} from staging.{table}\n"
    f"        where {day} >= :start and {day} < :end"
    for day, table, values in (
        ("created_day", "leads", ("1 as leads", "0 as mql", "0 as sql", "0 as disqualified", "0 as won_deals",
                                 "0 as revenue")),
        ("mql_day", "leads", ("0", "1", "0", "0", "0", "0")),
        ("sql_day", "leads", ("0", "0", "1", "0", "0", "0")),
        ("disqualified_day", "leads", ("0", "0", "0", "1", "0", "0")),
        ("won_day", "deals", ("0", "0", "0", "0", "1", "amount")),
    )
)  # fmt: skip


def _from_events(events: str, measures: tuple[str, ...]) -> str:
    columns = ", ".join(f"sum({m}) as {m}" for m in measures)
    return f"select period_start, {columns} from (\n{events}\n    ) events group by period_start"


DAILY: tuple[Reconciliation, ...] = (
    Reconciliation(
        SPEND_MATCHES_STAGING,
        "each day's spend and other costs in metrics_daily equal the staged rows' local amounts times their "
        "FX rates",
        "A cost row was lost or doubled on its way to the mart: report it with the day and measure.",
        _compare(_sums("marts.metrics_daily", _MONEY), _from_events(_EVENTS, _MONEY), _MONEY),
    ),
    Reconciliation(
        FUNNEL_MATCHES_STAGING,
        "each day's leads, MQL, SQL, disqualified, won deals and revenue in metrics_daily equal the staged "
        "leads and deals (nothing lost in the channel and campaign joins)",
        "Leads or deals were lost or doubled in the mart's joins: report it with the day and measure.",
        _compare(_sums("marts.metrics_daily", _FUNNEL), _from_events(_FUNNEL_EVENTS, _FUNNEL), _FUNNEL),
    ),
)


def rollup(grain: str) -> tuple[Reconciliation, ...]:
    """Weekly or monthly sums equal the daily rows inside each period, for every additive column."""
    period = f"cast(date_trunc('{grain}', period_start) as date)"
    return (
        Reconciliation(
            SUMS_MATCH_DAILY,
            f"every additive column of metrics_{grain}ly equals the sum of the metrics_daily rows inside it",
            "The rollup does not add up to the days: rerun the days and the period; report it if it stays.",
            _compare(
                _sums(f"marts.metrics_{grain}ly", ADDITIVE),
                _sums("marts.metrics_daily", ADDITIVE, period),
                ADDITIVE,
            ),
        ),
    )


def reconciliations(grain: str) -> tuple[Reconciliation, ...]:
    return DAILY if grain == "day" else rollup(grain)


def reconcile_specs(asset_key: dg.AssetKey, grain: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(r.name, asset=asset_key, blocking=True, description=f"Blocking: {r.rule}.")
        for r in reconciliations(grain)
    ]


def _message(table: str, check: Reconciliation, diffs: pd.DataFrame, start: date, end: date) -> str:
    if diffs.empty:
        return f"{table}: check {check.name} passed for {start} .. {end} (exclusive)"
    examples = "; ".join(
        f"{r.period_start} {r.measure}: mart {r.mart_value:,.2f} vs expected {r.expected_value:,.2f}"
        for r in diffs.head(EXAMPLES).itertuples()
    )
    return (
        f"{table}: check {check.name} failed: {len(diffs)} period/measure values differ in {start} .. {end}, "
        f"e.g. {examples}. {check.action}"
    )


def reconcile(
    warehouse: WarehouseResource, table: str, grain: str, start: date, end: date, run_id: str
) -> list[dg.AssetCheckResult]:
    """Runs the grain's reconciliations over [start, end) and records their outcomes."""
    results, outcomes = [], []
    with timed():
        for check in reconciliations(grain):
            diffs = warehouse.query(check.sql, {"start": start, "end": end})
            message = _message(table, check, diffs, start, end)
            metadata = {
                "rule": check.rule,
                "differences": dg.MetadataValue.int(len(diffs)),
                "window": f"{start} .. {end} (exclusive)",
            }
            if len(diffs):
                metadata["examples"] = dg.MetadataValue.md(diffs.head(10).to_markdown(index=False))
            results.append(
                dg.AssetCheckResult(
                    check_name=check.name,
                    passed=diffs.empty,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=message,
                    metadata=metadata,
                )
            )
            outcomes.append(CheckOutcome(table, check.name, "block", diffs.empty, len(diffs), 0, message))
        record_outcomes(warehouse, table, outcomes, run_id)
    return results
