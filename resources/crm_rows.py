"""The one shape every CRM connector returns: the lead lifecycle of metrics.md, without personal data."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# Leads: one row per CRM lead (contact / lead record). Timestamps are naive UTC datetimes or None.
#   lead_id                 str   the CRM's id, unique within the CRM
#   created_at              datetime
#   source                  str | None  CRM source field (HubSpot hs_analytics_source, Bitrix24 SOURCE_ID)
#   utm_source, utm_medium, utm_campaign   str | None
#   mql_at, sql_at, disqualified_at        datetime | None
#   disqualification_reason str | None
#   updated_at              datetime    last-modified time in the CRM (drives the incremental cursor)
#   email_hash              str | None  salted sha256 of the lower-cased email, only when the config asks
#   is_deleted              bool        True for a record the CRM reports deleted/merged away
CRM_LEAD_COLUMNS: tuple[str, ...] = (
    "lead_id",
    "created_at",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "mql_at",
    "sql_at",
    "disqualified_at",
    "disqualification_reason",
    "updated_at",
    "email_hash",
    "is_deleted",
)

# Deals: one row per CRM deal.
#   deal_id    str
#   lead_id    str | None  the lead/contact the deal came from (same id space as CRM_LEAD_COLUMNS.lead_id)
#   amount     decimal.Decimal | None
#   currency   str | None  ISO 4217
#   won_at     datetime | None   set only for won deals
#   updated_at datetime
#   is_deleted bool
CRM_DEAL_COLUMNS: tuple[str, ...] = (
    "deal_id",
    "lead_id",
    "amount",
    "currency",
    "won_at",
    "updated_at",
    "is_deleted",
)


@dataclass(frozen=True)
class CrmBatch:
    """What one incremental sync returned, and the cursor to resume from next time."""

    leads: pd.DataFrame  # columns exactly CRM_LEAD_COLUMNS
    deals: pd.DataFrame  # columns exactly CRM_DEAL_COLUMNS
    cursor: str | None  # opaque; pass back as `since_cursor` on the next sync
