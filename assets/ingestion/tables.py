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
