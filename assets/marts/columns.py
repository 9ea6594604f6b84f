"""Columns of the period marts, written once: SQL types for the tables and texts for the Dagster UI and docs
(metrics.md is the contract)."""

from __future__ import annotations

import sqlalchemy as sa

MONEY = sa.Numeric(20, 6)

# name, type, description
PERIOD_COLUMNS: tuple[tuple[str, sa.types.TypeEngine, str], ...] = (
    ("period_start", sa.Date(), "first day of the day / ISO week (Monday) / calendar month"),
    ("team", sa.Text(), "team of the channel (`unassigned` when no rule gives one)"),
    ("channel", sa.Text(), "channel the cost or lead came from"),
    ("platform", sa.Text(), "ad platform (google_ads, facebook_ads, ...) or null for non-ad channels"),
    ("campaign_key", sa.Text(), "<platform>:<campaign_id>, or <channel>:(none)"),
    ("campaign_name", sa.Text(), "latest known campaign name; null for (none) keys"),
    ("spend", MONEY, "ad platform spend, reporting currency"),
    ("other_costs", MONEY, "manual costs prorated evenly over the month's days, on <channel>:(none)"),
    ("total_cost", MONEY, "spend + other_costs"),
    ("impressions", sa.BigInteger(), "ad impressions"),
    ("clicks", sa.BigInteger(), "ad clicks"),
    ("platform_leads", sa.BigInteger(), "leads as the ad platform reports them"),
    ("leads", sa.BigInteger(), "CRM leads created in the period"),
    ("mql", sa.BigInteger(), "leads that became MQL in the period"),
    ("sql", sa.BigInteger(), "leads that became SQL in the period"),
    ("disqualified", sa.BigInteger(), "leads disqualified in the period"),
    ("won_deals", sa.BigInteger(), "deals won in the period"),
    ("revenue", MONEY, "amount of deals won in the period, reporting currency"),
    ("ctr", sa.Double(), "clicks / impressions"),
    ("cpc", sa.Double(), "spend / clicks"),
    ("cpl", sa.Double(), "total_cost / leads"),
    ("cost_per_mql", sa.Double(), "total_cost / mql"),
    ("disqualified_rate", sa.Double(), "disqualified / leads"),
    ("romi", sa.Double(), "(revenue * gross_margin - total_cost) / total_cost"),
)

ADDITIVE = tuple(
    name
    for name, type_, _ in PERIOD_COLUMNS
    if isinstance(type_, sa.Numeric | sa.BigInteger) and name != "period_start"
)
RATIOS = ("ctr", "cpc", "cpl", "cost_per_mql", "disqualified_rate", "romi")
