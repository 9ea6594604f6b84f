"""The raw writers of the API connectors: exactly the fetched accounts and days are replaced; CRM batches
upsert by id, remove deleted records and move the cursor in the same transaction."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pandas as pd

from assets.ingestion.ad_platforms import write_fetch
from assets.ingestion.crm import write_batch
from assets.ingestion.tables import RAW_AD_TABLES, RAW_CRM_TABLES, sync_cursors
from resources.ad_rows import AD_ROW_COLUMNS, AccountFailure, AdFetchResult
from resources.crm_rows import CRM_DEAL_COLUMNS, CRM_LEAD_COLUMNS, CrmBatch
from tests.conftest import warehouse

FETCHED = datetime(2026, 3, 10, 6, 0)


def _ad_rows(*rows: tuple[str, str, date, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            dict(
                zip(
                    AD_ROW_COLUMNS,
                    (
                        day,
                        account,
                        campaign,
                        "C",
                        "ENABLED",
                        "USD",
                        Decimal(spend),
                        10,
                        1,
                        0.0,
                        "v26",
                        FETCHED,
                    ),
                    strict=True,
                )
            )
            for account, campaign, day, spend in rows
        ],
        columns=list(AD_ROW_COLUMNS),
    )


def test_ad_fetch_replaces_answered_accounts_and_keeps_failed_ones(warehouse_url):
    wh = warehouse(warehouse_url)
    table = RAW_AD_TABLES["google_ads"]
    first = _ad_rows(
        ("A", "1", date(2026, 3, 1), "1.00"),
        ("A", "1", date(2026, 3, 2), "2.00"),
        ("B", "2", date(2026, 3, 2), "5.00"),
    )
    write_fetch(wh, table, AdFetchResult(first), ["A", "B"], date(2026, 3, 1), date(2026, 3, 2))
    # second fetch: A answers with 03-02 only (03-01 restated to nothing), B fails
    second = _ad_rows(("A", "1", date(2026, 3, 2), "2.50"))
    result = AdFetchResult(second, (AccountFailure("B", "denied"),))
    write_fetch(wh, table, result, ["A", "B"], date(2026, 3, 1), date(2026, 3, 2))
    rows = wh.query("select account_id, date, spend from raw.google_ads__campaign_stats order by 1, 2")
    assert [(r.account_id, r.date, Decimal(str(r.spend))) for r in rows.itertuples()] == [
        ("A", date(2026, 3, 2), Decimal("2.5")),
        ("B", date(2026, 3, 2), Decimal("5")),  # kept: B did not answer
    ]


def _batch(leads: list[dict], deals: list[dict], cursor: str) -> CrmBatch:
    return CrmBatch(
        pd.DataFrame(leads, columns=list(CRM_LEAD_COLUMNS)),
        pd.DataFrame(deals, columns=list(CRM_DEAL_COLUMNS)),
        cursor,
    )


def _lead(lead_id: str, source: str, deleted: bool = False) -> dict:
    return {
        "lead_id": lead_id,
        "created_at": datetime(2026, 3, 1),
        "source": source,
        "updated_at": datetime(2026, 3, 2),
        "is_deleted": deleted,
    }


def test_crm_batches_upsert_delete_and_keep_the_cursor(warehouse_url):
    wh = warehouse(warehouse_url)
    deal = {
        "deal_id": "D1",
        "lead_id": "1",
        "amount": Decimal("10"),
        "currency": "EUR",
        "won_at": datetime(2026, 3, 3),
        "updated_at": datetime(2026, 3, 3),
        "is_deleted": False,
    }
    write_batch(wh, "hubspot", _batch([_lead("1", "a"), _lead("2", "b")], [deal], "c1"))
    write_batch(wh, "hubspot", _batch([_lead("1", "changed"), _lead("2", "b", deleted=True)], [], "c2"))
    write_batch(wh, "hubspot", _batch([_lead("1", "changed")], [], "c3"))  # a rerun adds nothing
    leads = wh.query("select lead_id, source from raw.hubspot__leads order by lead_id")
    assert list(leads.itertuples(index=False, name=None)) == [("1", "changed")]
    assert int(wh.query("select count(*) as n from raw.hubspot__deals").n[0]) == 1
    cursor = wh.query(f"select source, cursor from {sync_cursors.schema}.{sync_cursors.name}")
    assert list(cursor.itertuples(index=False, name=None)) == [("hubspot", "c3")]
    assert RAW_CRM_TABLES["hubspot"][0].name == "hubspot__leads"
