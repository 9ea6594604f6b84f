"""What every asset shows in the Dagster UI: row count, column schema and a small preview."""

from __future__ import annotations

from typing import Any

import dagster as dg
import sqlalchemy as sa

from resources.warehouse import WarehouseResource

PREVIEW_ROWS = 10


def table_schema(table: sa.Table) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=c.name, type=str(c.type).lower(), description=c.comment or None)
            for c in table.columns
        ]
    )


def table_metadata(
    warehouse: WarehouseResource,
    table: sa.Table,
    row_count: int,
    where: sa.ColumnElement[bool] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Metadata for a write of `row_count` rows into `table` (`where` picks the rows this run wrote)."""
    query = sa.select(table).limit(PREVIEW_ROWS)
    if where is not None:
        query = query.where(where)
    preview = warehouse.query(query)
    return {
        "dagster/row_count": dg.MetadataValue.int(row_count),
        "dagster/column_schema": table_schema(table),
        "dagster/table_name": f"{table.schema}.{table.name}",
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "_no rows_"),
        **extra,
    }


def window_metadata(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    table: sa.Table,
    row_count: int,
    where: sa.ColumnElement[bool] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Metadata for a partitioned write. A range run (a backfill) records the same metadata on every
    partition it covers, so there the count is the window's, under its own name, and the preview is left out
    (hundreds of copies of it would only slow the event log)."""
    keys = context.partition_key_range
    if keys.start == keys.end:
        return table_metadata(warehouse, table, row_count, where, **extra)
    return {
        "window_row_count": dg.MetadataValue.int(row_count),
        "window": f"{keys.start} .. {keys.end}",
        "dagster/table_name": f"{table.schema}.{table.name}",
        **extra,
    }
