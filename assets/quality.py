"""The `quality` schema: rows held back by a row-level rule (quarantine) and the latest result of every data
check, so `mpulse report` and SQL users see the same data-quality status as the Dagster UI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from resources.warehouse import METADATA, WarehouseResource, bulk_insert

SCHEMA = "quality"

# One row per held-back row and rule; rebuilt with the table it guards, so it shows the current state.
quarantine = sa.Table(
    "quarantine",
    METADATA,
    sa.Column("table_name", sa.Text, nullable=False, comment="table the row was held back from"),
    sa.Column("check_name", sa.Text, nullable=False, comment="the row-level rule it broke"),
    sa.Column(
        "row_key", sa.Text, nullable=False, comment="the row's key, e.g. lead_id=L8, source_system=files"
    ),
    sa.Column("reason", sa.Text, nullable=False, comment="why, with the offending values"),
    sa.Column("row_data", sa.Text, nullable=False, comment="the checked columns of the row, as JSON"),
    sa.Column("run_id", sa.Text, nullable=False, comment="Dagster run that held it back"),
    sa.Column("loaded_at", sa.DateTime, nullable=False, comment="when it was held back (UTC)"),
    schema=SCHEMA,
)

# The latest outcome of every check, one row per (table, check).
check_results = sa.Table(
    "check_results",
    METADATA,
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("check_name", sa.Text, nullable=False),
    sa.Column("severity", sa.Text, nullable=False, comment="block, warn or quarantine"),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("failed_rows", sa.BigInteger, nullable=False),
    sa.Column("checked_rows", sa.BigInteger, nullable=False),
    sa.Column("message", sa.Text, nullable=False, comment="one line: table, check, examples, what to do"),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("checked_at", sa.DateTime, nullable=False, comment="UTC"),
    schema=SCHEMA,
)


@dataclass(frozen=True)
class HeldRow:
    """One row held back by one rule."""

    check_name: str
    index: int  # which expectation of the rule it broke
    key: tuple
    row_key: str
    reason: str
    row_data: str


@dataclass(frozen=True)
class CheckOutcome:
    """A check's result as the report and the runner read it."""

    table_name: str
    check_name: str
    severity: str
    passed: bool
    failed_rows: int
    checked_rows: int
    message: str


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def hold_back(
    warehouse: WarehouseResource,
    table: sa.Table,
    key_columns: Sequence[str],
    rows: Sequence[HeldRow],
    run_id: str,
) -> int:
    """Moves `rows` out of `table` into the quarantine in one transaction, replacing what earlier runs held
    back from that table (the table is rebuilt whole, so the quarantine always shows the current state)."""
    name = f"{table.schema}.{table.name}"
    now = utc_now()
    batch = pa.table(
        {
            "table_name": [name] * len(rows),
            "check_name": [r.check_name for r in rows],
            "row_key": [r.row_key for r in rows],
            "reason": [r.reason for r in rows],
            "row_data": [r.row_data for r in rows],
            "run_id": [run_id] * len(rows),
            "loaded_at": pa.array([now] * len(rows), type=pa.timestamp("us")),
        }
    )
    keys = sorted({r.key for r in rows}, key=repr)
    key = sa.tuple_(*(table.c[c] for c in key_columns))
    with warehouse.engine.begin() as conn:
        conn.execute(quarantine.delete().where(quarantine.c.table_name == name))
        bulk_insert(conn, quarantine, batch)
        for start in range(0, len(keys), 1000):
            conn.execute(table.delete().where(key.in_(keys[start : start + 1000])))
    return len(keys)


def record_outcomes(
    warehouse: WarehouseResource, table_name: str, outcomes: Sequence[CheckOutcome], run_id: str
) -> None:
    """Replaces the stored status of every check on `table_name` with this run's outcomes."""
    now = utc_now()
    frame = pd.DataFrame(
        [{**o.__dict__, "run_id": run_id, "checked_at": now} for o in outcomes],
        columns=[c.name for c in check_results.columns],
    )
    warehouse.replace_rows(check_results, frame, where=check_results.c.table_name == table_name)


def latest_outcomes(warehouse: WarehouseResource) -> pd.DataFrame:
    """Every stored check outcome, failures first (the daily report's data-quality section)."""
    return warehouse.query(
        sa.select(check_results).order_by(
            check_results.c.passed, check_results.c.table_name, check_results.c.check_name
        )
    )


def quarantine_counts(warehouse: WarehouseResource) -> pd.DataFrame:
    """Rows held back now, per table and rule."""
    q = quarantine.c
    return warehouse.query(
        sa.select(
            q.table_name, q.check_name, sa.func.count().label("rows"), sa.func.max(q.run_id).label("run_id")
        )
        .group_by(q.table_name, q.check_name)
        .order_by(q.table_name, q.check_name)
    )


def status_lines(warehouse: WarehouseResource) -> list[str]:
    """The daily report's data-quality lines: the last checks' outcome, every failure, quarantine counts."""
    outcomes = latest_outcomes(warehouse)
    if outcomes.empty:
        return ["Data quality: no checks have run yet."]
    failed = outcomes[~outcomes.passed.astype(bool)]
    blocking = failed[failed.severity == "block"]
    checked_at = pd.Timestamp(outcomes.checked_at.max())
    lines = [
        f"Data quality (checked {checked_at:%Y-%m-%d %H:%M} UTC): {len(outcomes) - len(failed)} of "
        f"{len(outcomes)} checks passed; warnings: {len(failed) - len(blocking)}, blocking: {len(blocking)}."
    ]
    lines += [f"{'✖' if r.severity == 'block' else '⚠'} {r.message}" for r in failed.itertuples()]
    held = quarantine_counts(warehouse)
    if held.empty:
        lines.append("Quarantine: no rows held back.")
    else:
        parts = ", ".join(f"{r.table_name} {r.check_name}: {int(r.rows):,}" for r in held.itertuples())
        lines.append(
            f"Quarantine: {int(held.rows.sum()):,} rows held back ({parts}); see quality.quarantine."
        )
    return lines
