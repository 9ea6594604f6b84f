"""The one shape every ad-platform connector returns, so staging treats all platforms alike."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# One row per (account_id, campaign_id, date) as the platform reports it (account timezone and currency).
#   date            datetime.date   day in the ad account's own timezone
#   account_id      str             customer id / ad account id, digits only (no "act_" prefix, no dashes)
#   campaign_id     str
#   campaign_name   str | None
#   campaign_status str | None      e.g. ENABLED / PAUSED / ACTIVE
#   currency        str             ISO 4217 of the account
#   spend           decimal.Decimal money in the account currency, exact
#   impressions     int
#   clicks          int
#   platform_leads  float           Google conversions (may be fractional) / Facebook lead actions
#   api_version     str             e.g. "v26" / "v26.0"
#   fetched_at      datetime        naive UTC time of the fetch
AD_ROW_COLUMNS: tuple[str, ...] = (
    "date",
    "account_id",
    "campaign_id",
    "campaign_name",
    "campaign_status",
    "currency",
    "spend",
    "impressions",
    "clicks",
    "platform_leads",
    "api_version",
    "fetched_at",
)


@dataclass(frozen=True)
class AccountFailure:
    """An account whose fetch failed; the others' rows are still returned."""

    account_id: str
    message: str


@dataclass(frozen=True)
class AdFetchResult:
    rows: pd.DataFrame  # columns exactly AD_ROW_COLUMNS
    failures: tuple[AccountFailure, ...] = field(default_factory=tuple)

    @staticmethod
    def empty_rows() -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in AD_ROW_COLUMNS})
