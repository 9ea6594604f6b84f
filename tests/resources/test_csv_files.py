"""The file contract reader: types, timestamps, and errors that name file, row and column."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from resources.csv_files import FILE_CONTRACTS, read_contract_file
from resources.errors import InputError


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_leads_are_typed_and_timestamps_normalised_to_utc(tmp_path):
    path = _write(
        tmp_path,
        "leads.csv",
        "lead_id,created_at,utm_source,mql_at,email\n"
        "A,2026-03-02T23:30:00Z,google,2026-03-03T10:00:00+03:00,x@y.z\n"
        "B,2026-03-03 08:00:00,,,\n",
    )
    table = read_contract_file(path, FILE_CONTRACTS["leads"]).to_pylist()
    assert table[0]["created_at"] == datetime(2026, 3, 2, 23, 30)
    assert table[0]["mql_at"] == datetime(2026, 3, 3, 7, 0)  # +03:00 converted to UTC
    assert table[1]["created_at"] == datetime(2026, 3, 3, 8, 0)  # no offset: taken as UTC
    assert table[1]["utm_source"] is None and table[1]["mql_at"] is None
    assert "email" not in table[0]  # extra columns (personal data included) are never loaded
    assert [r["_row_number"] for r in table] == [2, 3]


def test_money_is_exact_and_currencies_upper_cased(tmp_path):
    path = _write(
        tmp_path,
        "ad_spend.csv",
        "date,platform,campaign_id,currency,spend,impressions\n2026-03-02,google_ads,1,usd,0.10,5\n"
        "2026-03-03,google_ads,1,EUR,123456789.123456,\n",
    )
    rows = read_contract_file(path, FILE_CONTRACTS["ad_spend"]).to_pylist()
    assert rows[0]["spend"] == Decimal("0.100000") and rows[0]["currency"] == "USD"
    assert rows[1]["spend"] == Decimal("123456789.123456") and rows[1]["impressions"] is None
    assert rows[0]["date"] == date(2026, 3, 2)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "leads.csv",
            "lead_id,created_at\nA,2026-03-01\nB,2026-13-01\n",
            "leads.csv row 3, column created_at: '2026-13-01' is not an ISO 8601 timestamp",
        ),
        (
            "leads.csv",
            "lead_id,created_at\nA,\n",
            "leads.csv row 2, column created_at: '' is empty but required",
        ),
        ("leads.csv", "lead_id\nA\n", "leads.csv: missing required column(s): created_at"),
        (
            "leads.csv",
            "lead_id,created_at\nA,2026-03-01\nA,2026-03-02\n",
            "leads.csv row 3, column lead_id: 'A' duplicates row 2",
        ),
        (
            "deals.csv",
            "deal_id,lead_id,amount,currency\nD,A,-5,USD\n",
            "deals.csv row 2, column amount: '-5' is negative",
        ),
        (
            "deals.csv",
            "deal_id,lead_id,amount,currency\nD,A,5,EURO\n",
            "deals.csv row 2, column currency: 'EURO' is not an ISO 4217 currency code",
        ),
        (
            "ad_spend.csv",
            "date,platform,campaign_id,currency,spend,clicks\n2026-03-02,google_ads,1,USD,1,2.5\n",
            "ad_spend.csv row 2, column clicks: '2.5' is not a whole number",
        ),
        (
            "other_costs.csv",
            "month,channel,amount,currency\n2026-3,content,1,USD\n",
            "other_costs.csv row 2, column month: '2026-3' is not a month like 2026-10",
        ),
        (
            "fx_rates.csv",
            "date,currency,rate\n2026-03-02,EUR,0\n",
            "fx_rates.csv row 2, column rate: '0' must be greater than zero",
        ),
    ],
)
def test_bad_cells_are_named_by_file_row_and_column(tmp_path, name, text, expected):
    contract = FILE_CONTRACTS[name.removesuffix(".csv")]
    with pytest.raises(InputError) as info:
        read_contract_file(_write(tmp_path, name, text), contract)
    assert expected in info.value.problems
    assert info.value.problems[-1] == f"{name}: nothing was loaded from this file"


def test_many_problems_are_counted_not_flooded(tmp_path):
    body = "".join(f"L{i},not-a-date\n" for i in range(50))
    with pytest.raises(InputError) as info:
        read_contract_file(
            _write(tmp_path, "leads.csv", "lead_id,created_at\n" + body), FILE_CONTRACTS["leads"]
        )
    assert len(info.value.problems) == 22
    assert info.value.problems[-2] == "leads.csv: ... and 30 more problems"


def test_header_only_file_is_empty_not_an_error(tmp_path):
    path = _write(tmp_path, "deals.csv", "deal_id,lead_id,amount,currency,won_at\n")
    assert read_contract_file(path, FILE_CONTRACTS["deals"]).num_rows == 0
