"""Raw tables: what the sources returned, typed, with load metadata. One table per source object."""

from __future__ import annotations

import sqlalchemy as sa

from resources.csv_files import FILE_CONTRACTS, Kind
from resources.warehouse import METADATA

_SQL_TYPES: dict[Kind, sa.types.TypeEngine] = {
    "text": sa.Text(),
    "slug": sa.Text(),
    "currency": sa.Text(),
    "timestamp": sa.DateTime(),
    "date": sa.Date(),
    "month": sa.Date(),
    "money": sa.Numeric(20, 6),
    "number": sa.Numeric(20, 6),
    "rate": sa.Numeric(24, 10),
    "count": sa.BigInteger(),
}


def _file_table(name: str) -> sa.Table:
    contract = FILE_CONTRACTS[name]
    return sa.Table(
        f"files__{name}",
        METADATA,
        *(sa.Column(c.name, _SQL_TYPES[c.kind], nullable=not c.required) for c in contract.columns),
        sa.Column("_source_file", sa.Text, nullable=False),
        sa.Column("_row_number", sa.BigInteger, nullable=False),
        sa.Column("_loaded_at", sa.DateTime, nullable=False),
        schema="raw",
    )


RAW_FILE_TABLES: dict[str, sa.Table] = {name: _file_table(name) for name in FILE_CONTRACTS}


def _ad_platform_table(name: str) -> sa.Table:
    """Campaign-day rows of one ad platform (resources/ad_rows.py), as the API returned them."""
    return sa.Table(
        name,
        METADATA,
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("campaign_id", sa.Text, nullable=False),
        sa.Column("campaign_name", sa.Text),
        sa.Column("campaign_status", sa.Text),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("spend", sa.Numeric(20, 6), nullable=False),
        sa.Column("impressions", sa.BigInteger, nullable=False),
        sa.Column("clicks", sa.BigInteger, nullable=False),
        sa.Column("platform_leads", sa.Double, nullable=False),
        sa.Column("api_version", sa.Text, nullable=False),
        sa.Column("fetched_at", sa.DateTime, nullable=False),
        schema="raw",
    )


RAW_AD_TABLES: dict[str, sa.Table] = {
    "google_ads": _ad_platform_table("google_ads__campaign_stats"),
    "facebook_ads": _ad_platform_table("facebook_ads__campaign_insights"),
}


def _crm_tables(crm: str) -> tuple[sa.Table, sa.Table]:
    """Leads and deals of one CRM (resources/crm_rows.py), current state, no personal data."""
    leads = sa.Table(
        f"{crm}__leads",
        METADATA,
        sa.Column("lead_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        *(sa.Column(c, sa.Text) for c in ("source", "utm_source", "utm_medium", "utm_campaign")),
        *(sa.Column(c, sa.DateTime) for c in ("mql_at", "sql_at", "disqualified_at")),
        sa.Column("disqualification_reason", sa.Text),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("email_hash", sa.Text),
        sa.Column("_loaded_at", sa.DateTime, nullable=False),
        schema="raw",
    )
    deals = sa.Table(
        f"{crm}__deals",
        METADATA,
        sa.Column("deal_id", sa.Text, nullable=False),
        sa.Column("lead_id", sa.Text),
        sa.Column("amount", sa.Numeric(20, 6)),
        sa.Column("currency", sa.Text),
        sa.Column("won_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("_loaded_at", sa.DateTime, nullable=False),
        schema="raw",
    )
    return leads, deals


CRMS = ("hubspot", "amocrm", "bitrix24")
RAW_CRM_TABLES: dict[str, tuple[sa.Table, sa.Table]] = {crm: _crm_tables(crm) for crm in CRMS}

# Where each incremental source resumes: written in the same transaction as the rows it covers.
sync_cursors = sa.Table(
    "sync_cursors",
    METADATA,
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("cursor", sa.Text),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    schema="raw",
)
