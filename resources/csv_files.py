"""The file source (inputs.md): CSV contracts, and a reader that types every column and names each bad cell
by file, row and column. A file with any bad cell loads nothing, so nothing is half-imported."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from resources.currencies import ISO_4217
from resources.errors import InputError

Kind = Literal["text", "timestamp", "date", "month", "money", "rate", "count", "number", "currency", "slug"]
MAX_LISTED_PROBLEMS = 20
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False


@dataclass(frozen=True)
class FileContract:
    name: str  # raw table is raw.files__<name>
    columns: tuple[Column, ...]
    unique: tuple[str, ...] = ()  # no two rows may share these values

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


FILE_CONTRACTS: dict[str, FileContract] = {
    c.name: c
    for c in (
        FileContract(
            "leads",
            (
                Column("lead_id", "text", True),
                Column("created_at", "timestamp", True),
                Column("source", "text"),
                Column("utm_source", "text"),
                Column("utm_medium", "text"),
                Column("utm_campaign", "text"),
                Column("mql_at", "timestamp"),
                Column("sql_at", "timestamp"),
                Column("disqualified_at", "timestamp"),
                Column("disqualification_reason", "text"),
                Column("updated_at", "timestamp"),
            ),
            unique=("lead_id",),
        ),
        FileContract(
            "deals",
            (
                Column("deal_id", "text", True),
                Column("lead_id", "text", True),
                Column("amount", "money", True),
                Column("currency", "currency", True),
                Column("won_at", "timestamp"),
            ),
            unique=("deal_id",),
        ),
        FileContract(
            "ad_spend",
            (
                Column("date", "date", True),
                Column("platform", "slug", True),
                Column("campaign_id", "text", True),
                Column("currency", "currency", True),
                Column("spend", "money", True),
                Column("account_id", "text"),
                Column("campaign_name", "text"),
                Column("impressions", "count"),
                Column("clicks", "count"),
                Column("platform_leads", "number"),
            ),
            unique=("platform", "campaign_id", "date"),
        ),
        FileContract(
            "other_costs",
            (
                Column("month", "month", True),
                Column("channel", "slug", True),
                Column("amount", "money", True),
                Column("currency", "currency", True),
            ),
        ),
        FileContract(
            "fx_rates",
            (
                Column("date", "date", True),
                Column("currency", "currency", True),
                Column("rate", "rate", True),
            ),
            unique=("date", "currency"),
        ),
    )
}

META_COLUMNS = ("_source_file", "_row_number", "_loaded_at")


class _Problems:
    def __init__(self, filename: str):
        self.filename = filename
        self.lines: list[tuple[int, str]] = []
        self.count = 0

    def add(self, rows: pd.Series, column: str, values: pd.Series, why: str) -> None:
        """Records one problem per bad row; `rows` are file line numbers (the header is row 1)."""
        for row, value in zip(rows.tolist(), values.tolist(), strict=True):
            self.count += 1
            if len(self.lines) < MAX_LISTED_PROBLEMS:
                self.lines.append((row, f"{self.filename} row {row}, column {column}: {value!r} {why}"))

    def raise_if_any(self) -> None:
        if self.count:
            more = self.count - len(self.lines)
            tail = [f"{self.filename}: ... and {more} more problems"] if more > 0 else []
            listed = [text for _, text in sorted(self.lines, key=lambda item: item[0])]
            raise InputError([*listed, *tail, f"{self.filename}: nothing was loaded from this file"])


def _parse(column: Column, text: pd.Series, line: pd.Series, problems: _Problems) -> pa.Array:
    present = text != ""
    if column.required:
        problems.add(line[~present], column.name, text[~present], "is empty but required")
    if column.kind in ("text",):
        return pa.array(text.where(present, None), type=pa.string())
    if column.kind == "slug":
        value = text.str.lower()
        bad = present & ~value.str.match(_SLUG)
        problems.add(line[bad], column.name, text[bad], "is not a lowercase name like google_ads")
        return pa.array(value.where(present, None), type=pa.string())
    if column.kind == "currency":
        value = text.str.upper()
        bad = present & ~value.isin(ISO_4217)
        problems.add(line[bad], column.name, text[bad], "is not an ISO 4217 currency code")
        return pa.array(value.where(present, None), type=pa.string())
    if column.kind == "timestamp":
        parsed = pd.to_datetime(text.where(present, None), utc=True, format="ISO8601", errors="coerce")
        bad = present & parsed.isna()
        problems.add(line[bad], column.name, text[bad], "is not an ISO 8601 timestamp")
        naive = parsed.dt.tz_convert(None).astype("datetime64[us]")
        return pa.array(naive, type=pa.timestamp("us"), from_pandas=True)
    if column.kind in ("date", "month"):
        fmt, pattern = (
            ("%Y-%m-%d", r"^\d{4}-\d{2}-\d{2}$") if column.kind == "date" else ("%Y-%m", r"^\d{4}-\d{2}$")
        )
        parsed = pd.to_datetime(
            text.where(present & text.str.match(pattern), None), format=fmt, errors="coerce"
        )
        bad = present & parsed.isna()
        what = "is not a date like 2026-10-31" if column.kind == "date" else "is not a month like 2026-10"
        problems.add(line[bad], column.name, text[bad], what)
        return pa.array(parsed.dt.date.where(parsed.notna(), None), type=pa.date32())
    # numbers: money and rates are exact decimals, counts integers
    plain = text.str.replace(",", ".", regex=False) if column.kind == "rate" else text
    numeric = present & plain.str.match(_DECIMAL)
    bad = present & ~numeric
    problems.add(line[bad], column.name, text[bad], "is not a number")
    as_float = pd.to_numeric(plain.where(numeric, None), errors="coerce")
    negative = numeric & (as_float < 0)
    problems.add(line[negative], column.name, text[negative], "is negative")
    if column.kind == "rate":
        zero = numeric & (as_float == 0)
        problems.add(line[zero], column.name, text[zero], "must be greater than zero")
    if column.kind == "count":
        fractional = numeric & (as_float % 1 != 0)
        problems.add(line[fractional], column.name, text[fractional], "is not a whole number")
        return pa.array(as_float.where(numeric & ~fractional, None).astype("Int64"), type=pa.int64())
    scale = 10 if column.kind == "rate" else 6
    strings = pa.array(plain.where(numeric, None), type=pa.string())
    wide = pc.round(strings.cast(pa.decimal128(38, 18)), ndigits=scale)
    return wide.cast(pa.decimal128(20 if scale == 6 else 24, scale))


def _unreadable(name: str, why: str) -> InputError:
    return InputError([f"{name}: {why}", f"{name}: nothing was loaded from this file"])


def read_contract_file(path: Path, contract: FileContract, loaded_at: datetime | None = None) -> pa.Table:
    """Reads one CSV of the file contract into a typed Arrow table; raises InputError on any bad cell."""
    name = path.name
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[], encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _unreadable(name, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except pd.errors.ParserError as exc:
        raise _unreadable(name, f"not a valid CSV file ({exc})") from None
    except pd.errors.EmptyDataError:
        raise _unreadable(name, "the file is empty (a header row is required)") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c.name for c in contract.columns if c.required and c.name not in frame.columns]
    if missing:
        raise _unreadable(name, f"missing required column(s): {', '.join(missing)}")
    problems = _Problems(name)
    line = pd.Series(range(2, len(frame) + 2), index=frame.index)
    arrays: dict[str, pa.Array] = {}
    for column in contract.columns:
        text = (
            frame[column.name].str.strip()
            if column.name in frame.columns
            else pd.Series("", index=frame.index)
        )
        arrays[column.name] = _parse(column, text, line, problems)
    if contract.unique and len(frame):
        key = frame[list(contract.unique)].apply(lambda s: s.str.strip())
        later = key.duplicated(keep="first")
        if later.any():
            _add_duplicates(problems, contract, key, line, later)
    problems.raise_if_any()
    stamp = (loaded_at or datetime.now(UTC)).replace(tzinfo=None)
    arrays["_source_file"] = pa.array([str(path)] * len(frame), type=pa.string())
    arrays["_row_number"] = pa.array(line.to_numpy(), type=pa.int64())
    arrays["_loaded_at"] = pa.array([stamp] * len(frame), type=pa.timestamp("us"))
    return pa.table(arrays)


def _add_duplicates(
    problems: _Problems, contract: FileContract, key: pd.DataFrame, line: pd.Series, later: pd.Series
) -> None:
    first = key.assign(_line=line).groupby(list(contract.unique))["_line"].transform("min")
    label = "/".join(contract.unique)
    for row, values, first_row in zip(
        line[later].tolist(), key[later].agg("/".join, axis=1).tolist(), first[later].tolist(), strict=True
    ):
        problems.count += 1
        if len(problems.lines) < MAX_LISTED_PROBLEMS:
            problems.lines.append(
                (row, f"{problems.filename} row {row}, column {label}: {values!r} duplicates row {first_row}")
            )


class CsvFilesResource(dg.ConfigurableResource):
    """The folder of CSV files of inputs.md (`sources.files.path` in the config)."""

    path: str | None = None  # None: the files source is off

    def file_path(self, contract: FileContract) -> Path:
        return Path(self.path or ".") / contract.filename

    def read(self, contract: FileContract) -> pa.Table | None:
        """The typed rows of one file, or None when the file is absent (all files are optional)."""
        path = self.file_path(contract)
        if not self.path or not path.exists():
            return None
        return read_contract_file(path, contract)
