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
