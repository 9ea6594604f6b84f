"""Mart tables: exactly the names and columns of metrics.md; BI tools read only this schema."""

from __future__ import annotations

import sqlalchemy as sa

from assets.marts.columns import PERIOD_COLUMNS
from resources.warehouse import METADATA


def _period_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        METADATA,
        *(
            sa.Column(col, type_, nullable=col not in ("period_start", "campaign_key"), comment=text)
            for col, type_, text in PERIOD_COLUMNS
        ),
        schema="marts",
    )


metrics_daily = _period_table("metrics_daily")
metrics_weekly = _period_table("metrics_weekly")
metrics_monthly = _period_table("metrics_monthly")
PERIOD_TABLES = {"daily": metrics_daily, "weekly": metrics_weekly, "monthly": metrics_monthly}


def _table(name: str, *columns: tuple[str, sa.types.TypeEngine, str]) -> sa.Table:
    return sa.Table(
        name, METADATA, *(sa.Column(c, type_, comment=text) for c, type_, text in columns), schema="marts"
    )


_MONEY = sa.Numeric(20, 6)
_COUNT = sa.BigInteger()
_RATIO = sa.Double()

funnel_cohorts_monthly = _table(
    "funnel_cohorts_monthly",
    ("cohort_month", sa.Date(), "month the leads were created"),
    ("team", sa.Text(), "team of the channel"),
    ("channel", sa.Text(), "channel"),
    ("platform", sa.Text(), "ad platform or null"),
    ("campaign_key", sa.Text(), "<platform>:<campaign_id> or <channel>:(none)"),
    ("campaign_name", sa.Text(), "latest known campaign name"),
    ("leads", _COUNT, "leads created in the cohort month"),
    ("mql", _COUNT, "of them, MQL by today"),
    ("sql", _COUNT, "of them, SQL by today"),
    ("disqualified", _COUNT, "of them, disqualified by today"),
    ("won_deals", _COUNT, "deals won by today from these leads"),
    ("revenue", _MONEY, "their amount, reporting currency"),
    ("total_cost", _MONEY, "cost of the cohort month"),
    ("lead_to_mql", _RATIO, "mql / leads"),
    ("mql_to_sql", _RATIO, "sql / mql"),
    ("sql_to_won", _RATIO, "won_deals / sql"),
    ("cohort_romi", _RATIO, "(revenue * gross_margin - total_cost) / total_cost"),
)

plan_vs_actual_monthly = _table(
    "plan_vs_actual_monthly",
    ("month", sa.Date(), "first day of the month"),
    ("channel", sa.Text(), "channel"),
    ("team", sa.Text(), "team of the channel"),
    ("budget_plan", _MONEY, "planned budget, reporting currency"),
    ("total_cost", _MONEY, "actual spend + other costs"),
    ("budget_used", _RATIO, "total_cost / budget_plan"),
    ("leads_plan", _COUNT, "planned leads"),
    ("leads", _COUNT, "actual leads"),
    ("mql_plan", _COUNT, "planned MQL"),
    ("mql", _COUNT, "actual MQL"),
    ("forecast_total_cost", _RATIO, "current month: actual / elapsed days * days in month; closed: actual"),
    ("forecast_leads", _RATIO, "run-rate forecast of leads"),
    ("forecast_mql", _RATIO, "run-rate forecast of MQL"),
)

_KPI_COLUMNS = (
    ("total_cost", _MONEY, "spend + other costs"),
    ("leads", _COUNT, "leads created"),
    ("mql", _COUNT, "MQL reached"),
    ("mql_target", _RATIO, "monthly MQL target"),
    ("mql_attainment", _RATIO, "mql / mql_target"),
    ("cost_per_mql", _RATIO, "total_cost / mql"),
    ("cost_per_mql_target", _RATIO, "target cost per MQL"),
    ("disqualified_rate", _RATIO, "disqualified / leads"),
)

kpi_specialist_monthly = _table(
    "kpi_specialist_monthly",
    ("month", sa.Date(), "first day of the month"),
    ("specialist", sa.Text(), "person accountable for channels and/or campaigns"),
    ("team", sa.Text(), "their team"),
    *_KPI_COLUMNS,
)

kpi_team_monthly = _table(
    "kpi_team_monthly",
    ("month", sa.Date(), "first day of the month"),
    ("team", sa.Text(), "team"),
    *_KPI_COLUMNS,
)
