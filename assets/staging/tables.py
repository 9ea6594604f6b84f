"""Staging: the clean star schema. Facts are typed, deduplicated, converted to the reporting currency and
bucketed into reporting-timezone days; dimensions name channels, teams and campaigns."""

from __future__ import annotations

import sqlalchemy as sa

from resources.warehouse import METADATA

MONEY = sa.Numeric(20, 6)
RATE = sa.Numeric(24, 10)

channel_rules = sa.Table(
    "channel_rules",
    METADATA,
    sa.Column("rule_order", sa.Integer, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("team", sa.Text),
    sa.Column("field", sa.Text),  # null for a rule that only declares a team
    sa.Column("value", sa.Text),
    sa.Column("field_count", sa.Integer, nullable=False),
    schema="staging",
)

channels = sa.Table(
    "channels",
    METADATA,
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("team", sa.Text, nullable=False),
    sa.Column("is_ad_platform", sa.Boolean, nullable=False),
    schema="staging",
)

fx_rates_daily = sa.Table(
    "fx_rates_daily",
    METADATA,
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("rate", RATE, nullable=False),
    sa.Column("rate_date", sa.Date, nullable=False),
    schema="staging",
)

ad_spend = sa.Table(
    "ad_spend",
    METADATA,
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("campaign_key", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("platform", sa.Text, nullable=False),
    sa.Column("account_id", sa.Text),
    sa.Column("campaign_id", sa.Text, nullable=False),
    sa.Column("campaign_name", sa.Text),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("spend_local", MONEY, nullable=False),
    sa.Column("fx_rate", RATE),
    sa.Column("spend", MONEY),
    sa.Column("impressions", sa.BigInteger, nullable=False),
    sa.Column("clicks", sa.BigInteger, nullable=False),
    sa.Column("platform_leads", sa.BigInteger, nullable=False),
    sa.Column("source_system", sa.Text, nullable=False),
    schema="staging",
)

campaigns = sa.Table(
    "campaigns",
    METADATA,
    sa.Column("campaign_key", sa.Text, nullable=False),
    sa.Column("platform", sa.Text, nullable=False),
    sa.Column("campaign_id", sa.Text, nullable=False),
    sa.Column("campaign_name", sa.Text),  # latest known name
    sa.Column("account_id", sa.Text),
    sa.Column("first_day", sa.Date, nullable=False),
    sa.Column("last_day", sa.Date, nullable=False),
    schema="staging",
)

leads = sa.Table(
    "leads",
    METADATA,
    sa.Column("source_system", sa.Text, nullable=False),
    sa.Column("lead_id", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("campaign_key", sa.Text, nullable=False),
    sa.Column("utm_campaign", sa.Text),
    sa.Column("created_at", sa.DateTime, nullable=False),  # UTC
    sa.Column("created_day", sa.Date, nullable=False),  # reporting timezone
    sa.Column("mql_day", sa.Date),
    sa.Column("sql_day", sa.Date),
    sa.Column("disqualified_day", sa.Date),
    sa.Column("disqualification_reason", sa.Text),
    schema="staging",
)

deals = sa.Table(
    "deals",
    METADATA,
    sa.Column("source_system", sa.Text, nullable=False),
    sa.Column("deal_id", sa.Text, nullable=False),
    sa.Column("lead_id", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("campaign_key", sa.Text, nullable=False),
    sa.Column("won_day", sa.Date),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("amount_local", MONEY, nullable=False),
    sa.Column("fx_rate", RATE),
    sa.Column("amount", MONEY),
    sa.Column("lead_found", sa.Boolean, nullable=False),
    schema="staging",
)

other_costs_daily = sa.Table(
    "other_costs_daily",
    METADATA,
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("campaign_key", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("amount_local", MONEY, nullable=False),
    sa.Column("fx_rate", RATE),
    sa.Column("amount", MONEY),
    schema="staging",
)

plan = sa.Table(
    "plan",
    METADATA,
    sa.Column("month", sa.Date, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("budget", MONEY, nullable=False),
    sa.Column("leads", sa.BigInteger, nullable=False),
    sa.Column("mql", sa.BigInteger, nullable=False),
    schema="staging",
)

specialist_assignments = sa.Table(
    "specialist_assignments",
    METADATA,
    sa.Column("specialist", sa.Text, nullable=False),
    sa.Column("team", sa.Text, nullable=False),
    sa.Column("channel", sa.Text),  # one of channel / campaign_key is set
    sa.Column("campaign_key", sa.Text),
    sa.Column("mql_target", sa.Double),
    sa.Column("cost_per_mql_target", sa.Double),
    schema="staging",
)
