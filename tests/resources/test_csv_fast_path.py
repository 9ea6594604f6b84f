"""The CSV reader's fast path (pyarrow) against its exact path (pandas): on every file the fast path accepts,
the typed rows must be identical; every file with a problem must go down the exact path (which names it)."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from resources.csv_files import FILE_CONTRACTS, _read_exact, _read_plain, read_contract_file

STAMP = datetime(2026, 5, 1, 12, 0)
IDS = ("lead_id", "deal_id", "campaign_id")

# A plain row per file, then odd spellings per kind: some valid for the contract, some not.
BASE = {
    "leads": {"lead_id": "L1", "created_at": "2026-03-02T23:30:00Z", "utm_source": "google", "mql_at": ""},
    "deals": {"deal_id": "D1", "lead_id": "L1", "amount": "100.50", "currency": "USD", "won_at": ""},
    "ad_spend": {
        "date": "2026-03-02",
        "platform": "google_ads",
        "campaign_id": "111",
        "currency": "USD",
        "spend": "10.25",
        "impressions": "100",
    },
    "other_costs": {"month": "2026-03", "channel": "content", "amount": "3000", "currency": "EUR"},
    "fx_rates": {"date": "2026-03-02", "currency": "EUR", "rate": "1.0825"},
}
ODD = {
    "text": ["a", " a ", "", "  ", "\ta", "ä", "\u00a0x\u00a0", "x\u3000", "A b", "\u2028y"],
    "timestamp": [
        "2026-03-02T23:30:00Z", "2026-03-03 08:00:00", "2026-03-01", "2026-03-01T10:00",
        "2026-03-01T10:00:00.123456+03:00", "2026-03-01T10:00:00.1234567Z", "2026-02-30T00:00:00Z",
        "2026-03-01T24:00:00", "2026-03-01t10:00:00z", "1600-01-01", "2300-01-01T00:00:00Z",
        "2026-03-01T10:00:00+0300", "2026-03-01T10:00:00+03", " 2026-03-01 ", "not a date", "",
        "2026-03-01T10:00:00-05:30", "2026-03-01 10:00:00.5", "2026-03-01T10:00:00+14:00", "2026-03-01Z",
    ],
    "money": ["0.10", "5", "5.", ".5", "+5", "-0", "-5", "1e3", "1,5", "12345678901234.123456", "1.1234567",
              "007", " 5 ", "", "0", "١٢"],
    "number": ["3", "3.5", "", "-1", "0.0000001"],
    "count": ["5", "5.0", "-0", "+3", "2.5", "9007199254740993", "0012", "", " 7", "1e2"],
    "rate": ["1,08", "0", "0.0", "1.0800000000", "0.00000000001", "1.08", "-1", "", "2"],
    "currency": ["usd", "EUR", "EURO", " usd ", "xxx", "", "Eur"],
    "slug": ["google_ads", "Google_Ads", "google-ads", "1abc", "\u01c5x", "", " fb "],
    "date": ["2026-03-02", "2026-3-2", "2026-02-30", "0000-01-01", " 2026-03-02", "2026-03-02T00:00:00", ""],
    "month": ["2026-03", "2026-3", "2026-13", " 2026-04", "2026-03-01", ""],
}  # fmt: skip


def _csv(header: list[str], rows: list[list[str]], newline: str = "\n") -> str:
    return newline.join([",".join(header), *(",".join(r) for r in rows)]) + newline


def _outcome(path: Path, name: str) -> tuple[str, Any]:
    try:
        return "table", _read_exact(path, FILE_CONTRACTS[name], STAMP)
    except Exception as exc:
        return "error", (type(exc).__name__, getattr(exc, "problems", str(exc)))


def _same(path: Path, name: str) -> bool:
    """Asserts the fast path agrees with the exact path; returns whether the fast path took the file."""
    fast = _read_plain(path, FILE_CONTRACTS[name], STAMP)
    if fast is None:
        return False
    kind, exact = _outcome(path, name)
    assert kind == "table", f"{path.read_text()!r}: fast path loaded a file the exact path rejects: {exact}"
    assert fast.schema.equals(exact.schema)
    assert fast.combine_chunks().equals(exact.combine_chunks()), path.read_text()
    return True


@pytest.mark.parametrize("name", sorted(BASE))
def test_every_odd_cell_reads_as_the_exact_path_reads_it(tmp_path: Path, name: str) -> None:
    contract = FILE_CONTRACTS[name]
    header = list(BASE[name])
    taken = 0
    for column in contract.columns:
        for value in ODD[column.kind]:
            row = dict(BASE[name], **{column.name: value})
            columns = header if column.name in header else [*header, column.name]
            path = tmp_path / f"{name}.csv"
            second = {**row, **{k: "2" for k in contract.unique if k in IDS}}
            if name == "fx_rates":
                second["date"] = "2026-03-03"
            path.write_text(
                _csv(columns, [[row.get(c, "") for c in columns], [second.get(c, "") for c in columns]]),
                encoding="utf-8",
            )
            taken += _same(path, name)
    assert taken > 0, "the fast path never took a file"


@pytest.mark.parametrize(
    "text",
    [
        "lead_id,created_at\nA,2026-03-01\n\nB,2026-03-02\n",  # blank line
        "lead_id,created_at\r\nA,2026-03-01\r\nB,2026-03-02\r\n",  # CRLF
        "lead_id,created_at\rA,2026-03-01\rB,2026-03-02\r",  # CR only
        "\ufefflead_id,created_at\nA,2026-03-01\n",  # BOM
        "Lead_ID , Created_At\nA,2026-03-01\n",  # header spelling
        "lead_id,created_at,email\nA,2026-03-01,x@y.z\n",  # extra column (never loaded)
        "lead_id,created_at,Lead_Id\nA,2026-03-01,B\n",  # the same column twice
        'lead_id,created_at,source\n"A",2026-03-01,"a, b"\n"B","2026-03-02","say ""hi"""\n',  # quoting
        'lead_id,created_at,source\nA,2026-03-01,"two\nlines"\n',  # newline inside quotes
        'lead_id,created_at,source\nA,2026-03-01,ab"c\n',  # a quote inside a cell
        'lead_id,created_at,source\nA,2026-03-01,"ab"c\n',  # text after a closing quote
        "lead_id,created_at\nA,2026-03-01,extra\n",  # ragged: one field too many
        "lead_id,created_at,source\nA,2026-03-01\n",  # ragged: one field missing
        "lead_id,created_at\nA,2026-03-01\nA,2026-03-02\n",  # duplicate key
        "lead_id,created_at\nA,2026-03-01\n a ,2026-03-02\n",  # duplicate after stripping
        "lead_id,created_at\n",  # header only
        "lead_id,created_at\nA,2026-03-01",  # no final newline
        "lead_id,created_at\nA,2026-03-01\x00\n",  # NUL byte
        "lead_id,,created_at\nA,x,2026-03-01\n",  # unnamed column
    ],
)
def test_csv_quirks_read_as_the_exact_path_reads_them(tmp_path: Path, text: str) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(text.encode("utf-8"))
    _same(path, "leads")


def test_invalid_utf8_in_a_column_not_loaded_still_fails_the_file(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(b"lead_id,created_at,email\nA,2026-03-01,\xff\xfe\n")
    assert _read_plain(path, FILE_CONTRACTS["leads"], STAMP) is None
    assert _outcome(path, "leads")[0] == "error"


def test_random_files_read_as_the_exact_path_reads_them(tmp_path: Path) -> None:
    rng = random.Random(20260501)
    for trial in range(60):
        name = rng.choice(sorted(BASE))
        contract = FILE_CONTRACTS[name]
        columns = [c.name for c in contract.columns if c.required or rng.random() < 0.6]
        rows = []
        for i in range(rng.randint(1, 40)):
            row = []
            for column in columns:
                kind = contract.columns[[c.name for c in contract.columns].index(column)].kind
                plain = BASE[name].get(column) or ODD[kind][0]
                value = rng.choice(ODD[kind]) if rng.random() < 0.05 else plain
                if column in IDS or (name == "fx_rates" and column == "date"):
                    value = f"2026-03-{i % 28 + 1:02d}" if column == "date" else f"K{i}"
                row.append(value)
            rows.append(row)
        path = tmp_path / f"{trial}_{name}.csv"
        path.write_text(_csv(columns, rows, rng.choice(["\n", "\r\n"])), encoding="utf-8")
        _same(path, name)


def test_the_public_reader_returns_the_fast_table_for_plain_files(tmp_path: Path) -> None:
    path = tmp_path / "ad_spend.csv"
    rows = [
        [f"2026-03-{d:02d}", "google_ads", str(c), "USD", f"{d}.{c:02d}"]
        for d in range(1, 29)
        for c in range(50)
    ]
    path.write_text(_csv(["date", "platform", "campaign_id", "currency", "spend"], rows), encoding="utf-8")
    table = read_contract_file(path, FILE_CONTRACTS["ad_spend"], STAMP)
    assert _same(path, "ad_spend")
    assert table.num_rows == 28 * 50
    assert table.column("_source_file").type == pa.string()
    assert set(table.column("_source_file").to_pylist()) == {str(path)}
    assert table.column("_row_number").to_pylist() == list(range(2, 28 * 50 + 2))
