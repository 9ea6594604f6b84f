"""Raw assets of the CRM connectors: leads and deals synced incrementally. Each sync upserts by id (a
changed record replaces its old row, a deleted one is removed) and stores the cursor in the same
transaction, so a failed run resumes without a gap and a repeated run adds nothing twice."""

from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from assets.ingestion.tables import RAW_CRM_TABLES, sync_cursors
from assets.metadata import table_metadata
from resources.config import MpulseConfig
from resources.crm_rows import CrmBatch
from resources.warehouse import WarehouseResource, bulk_insert

LABELS = {"hubspot": "HubSpot", "amocrm": "amoCRM", "bitrix24": "Bitrix24"}
ID_CHUNK = 10_000


def raw_crm_keys(crm: str) -> tuple[dg.AssetKey, dg.AssetKey]:
    leads, deals = RAW_CRM_TABLES[crm]
    return dg.AssetKey(["raw", leads.name]), dg.AssetKey(["raw", deals.name])


def _read_cursor(conn: sa.Connection, source: str) -> str | None:
    query = sa.select(sync_cursors.c.cursor).where(sync_cursors.c.source == source)
    return conn.execute(query).scalar_one_or_none()


def _upsert(conn: sa.Connection, table: sa.Table, key: str, frame: pd.DataFrame, loaded_at: datetime) -> int:
    """Deletes every id in the batch (changed and deleted records), then inserts the live ones."""
    ids = frame[key].astype(str).unique().tolist()
    for start in range(0, len(ids), ID_CHUNK):
        conn.execute(table.delete().where(table.c[key].in_(ids[start : start + ID_CHUNK])))
    live = frame[~frame["is_deleted"].astype(bool)].drop(columns=["is_deleted"]).copy()
    live["_loaded_at"] = loaded_at
    return bulk_insert(conn, table, pa.Table.from_pandas(live, preserve_index=False))


def write_batch(warehouse: WarehouseResource, crm: str, batch: CrmBatch) -> tuple[int, int]:
    """Applies one sync and moves the cursor, atomically."""
    leads_table, deals_table = RAW_CRM_TABLES[crm]
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    with warehouse.engine.begin() as conn:
        leads = _upsert(conn, leads_table, "lead_id", batch.leads, loaded_at)
        deals = _upsert(conn, deals_table, "deal_id", batch.deals, loaded_at)
        conn.execute(sync_cursors.delete().where(sync_cursors.c.source == crm))
        conn.execute(sync_cursors.insert().values(source=crm, cursor=batch.cursor, updated_at=loaded_at))
    return leads, deals


def _crm_asset(crm: str, kinds: set[str]) -> dg.AssetsDefinition:
    leads_key, deals_key = raw_crm_keys(crm)
    leads_table, deals_table = RAW_CRM_TABLES[crm]
    label = LABELS[crm]

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                leads_key,
                group_name=crm,
                kinds={crm, *kinds},
                description=f"One row per {label} lead: source and UTM fields and lifecycle timestamps "
                "(UTC). Names, emails and phones are never stored.",
            ),
            dg.AssetSpec(
                deals_key,
                group_name=crm,
                kinds={crm, *kinds},
                description=f"One row per {label} deal: its lead, amount, currency and won time.",
            ),
        ],
        name=f"{crm}_sync",
        pool=f"{crm}_api",
        required_resource_keys={crm, "warehouse", "settings"},
    )
    def _sync(context: dg.AssetExecutionContext):
        config: MpulseConfig = context.resources.settings.load()
        warehouse: WarehouseResource = context.resources.warehouse
        with warehouse.engine.connect() as conn:
            cursor = _read_cursor(conn, crm)
        batch = getattr(context.resources, crm).sync(getattr(config.sources, crm), cursor)
        leads, deals = write_batch(warehouse, crm, batch)
        context.log.info(
            f"{label}: {leads} leads and {deals} deals changed since {cursor or 'the beginning'}"
        )
        shared = {"cursor_before": cursor or "", "cursor_after": batch.cursor or ""}
        deleted = {
            "leads": int(batch.leads["is_deleted"].astype(bool).sum()) if len(batch.leads) else 0,
            "deals": int(batch.deals["is_deleted"].astype(bool).sum()) if len(batch.deals) else 0,
        }
        for key, table, changed, kind in (
            (leads_key, leads_table, leads, "leads"),
            (deals_key, deals_table, deals, "deals"),
        ):
            total = int(warehouse.query(sa.select(sa.func.count()).select_from(table)).iloc[0, 0])
            yield dg.MaterializeResult(
                asset_key=key,
                metadata=table_metadata(
                    warehouse, table, total, changed_rows=changed, deleted_rows=deleted[kind], **shared
                ),
            )

    return _sync


def build_crm_assets(enabled: list[str], kinds: set[str]) -> list[dg.AssetsDefinition]:
    return [_crm_asset(crm, kinds) for crm in enabled]
