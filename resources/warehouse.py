"""The warehouse: one SQLAlchemy URL (DuckDB file by default, PostgreSQL in production), bulk loads, and
delete-then-insert writes so every asset run is idempotent."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

DEFAULT_WAREHOUSE_URL = "duckdb:///data/warehouse.duckdb"
COPY_SLICE_ROWS = 250_000  # rows per CSV slice written into a PostgreSQL COPY
SCHEMAS = ("raw", "staging", "marts", "quality")  # quality: quarantine and check results (assets/quality.py)

# Every table of every layer registers here (assets/*/tables.py), so one create_all builds the model.
METADATA = sa.MetaData()

_engines: dict[str, sa.Engine] = {}
_ready: set[str] = set()
_lock = threading.Lock()


def warehouse_url_from_env() -> str:
    return os.environ.get("MPULSE_WAREHOUSE_URL") or DEFAULT_WAREHOUSE_URL


def _engine(url: str) -> sa.Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("duckdb:///"):
                path = url.removeprefix("duckdb:///")
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Closes pooled connections, so a DuckDB file is unlocked for other processes."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _ready.clear()


def ensure_tables(engine: sa.Engine) -> None:
    """Creates the schemas and every registered table that does not exist yet."""
    key = str(engine.url)
    if key in _ready:
        return
    with engine.begin() as conn:
        for schema in SCHEMAS:
            conn.execute(sa.text(f"create schema if not exists {schema}"))
        METADATA.create_all(conn, checkfirst=True)
    _ready.add(key)


def _arrow_for(table: sa.Table, rows: pa.Table | pd.DataFrame) -> pa.Table:
    """Orders and casts the batch to the table's columns, so both loaders see the same typed data."""
    if isinstance(rows, pd.DataFrame):
        rows = pa.Table.from_pandas(rows, preserve_index=False)
    arrays = []
    for column in table.columns:
        target = _arrow_type(column.type)
        if column.name in rows.column_names:
            arr = rows.column(column.name)
            if arr.null_count == len(arr):  # pandas gives an all-missing column as float NaN
                arr = pa.nulls(len(arr), type=target)
            elif arr.type != target:
                arr = arr.cast(target)
        else:
            arr = pa.nulls(rows.num_rows, type=target)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=[c.name for c in table.columns])


def _arrow_type(sql_type: sa.types.TypeEngine[Any]) -> pa.DataType:
    if isinstance(sql_type, sa.Numeric) and not isinstance(sql_type, sa.Float):
        return pa.decimal128(sql_type.precision or 38, sql_type.scale or 0)
    if isinstance(sql_type, sa.Float | sa.Double):
        return pa.float64()
    if isinstance(sql_type, sa.BigInteger | sa.Integer):
        return pa.int64()
    if isinstance(sql_type, sa.Boolean):
        return pa.bool_()
    if isinstance(sql_type, sa.DateTime):
        return pa.timestamp("us")
    if isinstance(sql_type, sa.Date):
        return pa.date32()
    return pa.string()


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: pa.Table | pd.DataFrame) -> int:
    """Appends a batch with the database's native bulk path: DuckDB scans Arrow, PostgreSQL runs COPY."""
    batch = _arrow_for(table, rows)
    if batch.num_rows == 0:
        return 0
    names = ", ".join(f'"{c}"' for c in batch.column_names)
    target = f"{table.schema}.{table.name}"
    dialect = conn.dialect.name
    dbapi = conn.connection.driver_connection
    if dialect == "duckdb":
        view = f"_mp_batch_{threading.get_ident()}"
        dbapi.register(view, batch)
        try:
            conn.exec_driver_sql(f"insert into {target} ({names}) select {names} from {view}")
        finally:
            dbapi.unregister(view)
    elif dialect == "postgresql":
        # CSV slice by slice into one COPY: memory stays one slice, not the whole batch as text.
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        with (
            dbapi.cursor() as cursor,
            cursor.copy(f"copy {target} ({names}) from stdin (format csv)") as copy,
        ):
            for start in range(0, batch.num_rows, COPY_SLICE_ROWS):
                buffer = io.BytesIO()
                pacsv.write_csv(batch.slice(start, COPY_SLICE_ROWS), buffer, options)
                copy.write(buffer.getbuffer())
    else:  # any other SQLAlchemy backend: executemany in chunks, still one statement per chunk
        records = batch.to_pylist()
        for start in range(0, len(records), 10_000):
            conn.execute(table.insert(), records[start : start + 10_000])
    return batch.num_rows


class WarehouseResource(dg.ConfigurableResource):
    """The SQL warehouse every asset reads and writes; BI tools read its `marts` schema."""

    url: str = DEFAULT_WAREHOUSE_URL

    @property
    def engine(self) -> sa.Engine:
        engine = _engine(self.url)
        ensure_tables(engine)
        return engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def replace_rows(
        self,
        table: sa.Table,
        rows: pa.Table | pd.DataFrame,
        where: sa.ColumnElement[bool] | None = None,
    ) -> int:
        """Deletes `where` (everything when None) and bulk-inserts `rows`, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(where) if where is not None else table.delete())
            return bulk_insert(conn, table, rows)

    def replace_with_sql(
        self,
        table: sa.Table,
        insert_select: str,
        params: Mapping[str, Any] | None = None,
        where: sa.ColumnElement[bool] | None = None,
    ) -> int:
        """Rebuilds `table` (or the `where` slice of it) from a SELECT run inside the warehouse."""
        columns = ", ".join(f'"{c.name}"' for c in table.columns)
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(where) if where is not None else table.delete())
            conn.execute(
                sa.text(f"insert into {table.schema}.{table.name} ({columns})\n{insert_select}"),
                dict(params or {}),
            )
            count = sa.select(sa.func.count()).select_from(table)
            return int(conn.execute(count.where(where) if where is not None else count).scalar_one())

    def query(self, sql: str | sa.Executable, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """A SELECT as a DataFrame (reports, previews, tests)."""
        statement = sa.text(sql) if isinstance(sql, str) else sql
        with self.engine.connect() as conn:
            result = conn.execute(statement, dict(params or {}))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
