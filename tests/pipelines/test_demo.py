"""The demo data set is what new users, the docs and the benchmark run on: it must be deterministic, follow
the file contract exactly, and contain every situation the reports are built to show."""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines.demo import (
    AD_SPEND_COLUMNS,
    DEAL_COLUMNS,
    FX_COLUMNS,
    LEAD_COLUMNS,
    OTHER_COST_COLUMNS,
    DemoSize,
    write_demo,
)

END = date(2026, 10, 31)
FILES = {
    "leads.csv": LEAD_COLUMNS,
    "deals.csv": DEAL_COLUMNS,
    "ad_spend.csv": AD_SPEND_COLUMNS,
    "other_costs.csv": OTHER_COST_COLUMNS,
    "fx_rates.csv": FX_COLUMNS,
}
# The contract of inputs.md, spelled out here so a change to the module's constants cannot hide a break.
CONTRACT = {
    "leads.csv": "lead_id,created_at,source,utm_source,utm_medium,utm_campaign,mql_at,sql_at,disqualified_at,"
    "disqualification_reason,updated_at",
    "deals.csv": "deal_id,lead_id,amount,currency,won_at",
    "ad_spend.csv": "date,platform,campaign_id,currency,spend,account_id,campaign_name,impressions,clicks,"
    "platform_leads",
    "other_costs.csv": "month,channel,amount,currency",
    "fx_rates.csv": "date,currency,rate",
}
MATCH_FIELDS = ("source", "utm_source", "utm_medium", "utm_campaign")
TIMESTAMP_COLUMNS = ("created_at", "mql_at", "sql_at", "disqualified_at", "updated_at")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo(tmp_path_factory.mktemp("demo"), seed=7, end=END)


@pytest.fixture(scope="module")
def config(demo: Path) -> dict:
    return yaml.safe_load(demo.read_text(encoding="utf-8"))


def _read(demo: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(demo.parent / "data" / name, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def leads(demo: Path) -> pd.DataFrame:
    frame = _read(demo, "leads.csv")
    for col in TIMESTAMP_COLUMNS:
        frame[f"{col}_ts"] = pd.to_datetime(frame[col].replace("", None), utc=True, format="ISO8601")
    return frame


@pytest.fixture(scope="module")
def ad_spend(demo: Path) -> pd.DataFrame:
    return _read(demo, "ad_spend.csv")


def _channel_of(frame: pd.DataFrame, rules: list[dict]) -> pd.Series:
    """Tiny version of the pipeline's channel rules: the first rule whose fields all match wins."""
    values = {f: frame[f].str.strip().str.lower() for f in MATCH_FIELDS}
    channel = pd.Series("other", index=frame.index)
    done = pd.Series(False, index=frame.index)
    for rule in rules:
        match = rule.get("match")
        if not match:
            continue
        hit = ~done
        for field, allowed in match.items():
            hit &= values[field].isin([str(v).lower() for v in allowed])
        channel[hit] = rule["channel"]
        done |= hit
    return channel


def _files(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_same_seed_is_byte_identical_and_another_seed_differs(tmp_path: Path) -> None:
    write_demo(tmp_path / "a", seed=11, end=END)
    write_demo(tmp_path / "b", seed=11, end=END)
    write_demo(tmp_path / "c", seed=12, end=END)
    a, b, c = (_files(tmp_path / x) for x in "abc")
    assert sorted(a) == ["config.yaml", *(f"data/{name}" for name in sorted(FILES))]
    assert a == b
    assert a["data/leads.csv"] != c["data/leads.csv"]
    assert a["data/ad_spend.csv"] != c["data/ad_spend.csv"]


def test_every_file_has_exactly_the_contract_columns(demo: Path) -> None:
    for name, columns in FILES.items():
        with (demo.parent / "data" / name).open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh))
        assert header == list(columns) == CONTRACT[name].split(","), name


def test_config_shape(config: dict, demo: Path) -> None:
    text = demo.read_text(encoding="utf-8")
    assert text.startswith("#") and "SYNTHETIC" in text.splitlines()[0]
    assert "mpulse demo --seed 7" in text
    assert config["start_date"] == date(2026, 2, 1)
    assert config["reporting"] == {"currency": "USD", "timezone": "Europe/Moscow", "gross_margin": 0.8}
    assert config["sources"] == {"files": {"path": "./data"}}
    teams = {r["channel"]: r["team"] for r in config["channels"]}
    assert set(teams.values()) == {"inbound", "outbound"}
    assert teams["other"] == "inbound" and "match" not in config["channels"][-1]
    # Months are quoted strings in the file, not something YAML could read as a number or date.
    assert re.search(r'month: "2026-02"', text)
    assert all(isinstance(row["month"], str) for row in config["plan"])


def test_four_specialists_own_channels_or_campaigns(config: dict, ad_spend: pd.DataFrame) -> None:
    specialists = config["specialists"]
    assert len(specialists) == 4
    assert {s["team"] for s in specialists} == {"inbound", "outbound"}
    known = {f"{p}:{c}" for p, c in zip(ad_spend.platform, ad_spend.campaign_id, strict=True)}
    channels = {r["channel"] for r in config["channels"]}
    for s in specialists:
        assert s.get("channels") or s.get("campaigns")
        assert set(s.get("channels", [])) <= channels
        assert set(s.get("campaigns", [])) <= known
        assert s["mql_target"] > 0 and s["cost_per_mql_target"] > 0
    assert any(s.get("campaigns") for s in specialists)


def test_plan_is_near_actual_volumes(config: dict, leads: pd.DataFrame) -> None:
    plan = pd.DataFrame(config["plan"])
    months = [f"2026-{m:02d}" for m in range(2, 11)]
    assert sorted(plan.month.unique()) == months
    assert not plan.duplicated(["month", "channel"]).any()
    leads = leads.assign(
        channel=_channel_of(leads, config["channels"]),
        month=leads.created_at_ts.dt.tz_convert("Europe/Moscow").dt.strftime("%Y-%m"),
    )
    actual = leads.groupby(["month", "channel"]).size().rename("actual").reset_index()
    both = plan.merge(actual, on=["month", "channel"])
    assert len(both) == len(plan)
    ratio = both.leads / both.actual
    assert ratio.between(0.8, 1.2).all()
    assert (ratio > 1).any() and (ratio < 1).any()  # some months over plan, some under
    assert (plan.budget > 0).any() and (plan.budget == 0).any()


def test_leads_per_month_vary_within_400_800(leads: pd.DataFrame) -> None:
    per_month = leads.created_at_ts.dt.tz_convert("Europe/Moscow").dt.strftime("%Y-%m").value_counts()
    assert sorted(per_month.index) == [f"2026-{m:02d}" for m in range(2, 11)]
    assert per_month.between(400, 800).all(), per_month.to_dict()
    assert per_month.max() - per_month.min() > 50  # seasonality and growth, not a flat line
    weekday = leads.created_at_ts.dt.tz_convert("Europe/Moscow").dt.day_of_week
    assert (weekday >= 5).mean() < 0.15  # fewer leads on weekends
    assert leads.lead_id.is_unique


def test_every_channel_appears_through_the_rules(leads: pd.DataFrame, config: dict) -> None:
    channel = _channel_of(leads, config["channels"])
    expected = {
        "google_ads", "facebook_ads", "organic_search", "content", "email", "abm", "referral", "events",
        "direct", "other",
    }  # fmt: skip
    assert expected <= set(channel)
    assert {r["channel"] for r in config["channels"]} == expected
    assert 0.01 <= (channel == "other").mean() <= 0.04
    assert (leads.utm_source.str.lower() == "tiktok").any()


def test_ad_campaigns_ids_and_rows(ad_spend: pd.DataFrame, leads: pd.DataFrame) -> None:
    campaigns = ad_spend.drop_duplicates(["platform", "campaign_id"])
    assert len(campaigns) >= 10
    assert set(campaigns.platform) == {"google_ads", "facebook_ads"}
    assert not ad_spend.duplicated(["platform", "campaign_id", "date"]).any()
    google = ad_spend[ad_spend.platform == "google_ads"]
    facebook = ad_spend[ad_spend.platform == "facebook_ads"]
    assert set(google.currency) == {"USD"} and set(facebook.currency) == {"EUR"}
    assert google.account_id.str.fullmatch(r"\d{10}").all()
    assert google.campaign_id.str.fullmatch(r"\d{11}").all()
    assert facebook.account_id.str.fullmatch(r"\d+").all()
    assert facebook.campaign_id.str.fullmatch(r"\d{17}").all()
    assert ad_spend.spend.str.fullmatch(r"\d+\.\d{2}").all()
    numbers = ad_spend[["impressions", "clicks", "platform_leads"]].astype(int)
    assert (numbers.clicks <= numbers.impressions).all()
    nothing = (ad_spend.spend.astype(float) == 0) & (numbers.sum(axis=1) == 0)
    assert not nothing.any()  # rows only where something is non-zero
    assert ad_spend.date.min() == "2026-02-01" and ad_spend.date.max() == END.isoformat()
    # Most ad leads carry the campaign id; one campaign's leads carry its exact name instead.
    ad_leads = leads[leads.source.isin(["paid_search", "paid_social"])]
    assert ad_leads.utm_campaign.isin(campaigns.campaign_id).mean() > 0.7
    by_name = ad_leads[ad_leads.utm_campaign.isin(campaigns.campaign_name)]
    assert len(by_name) > 50 and by_name.utm_campaign.nunique() == 1


def test_one_campaign_spends_every_day_without_leads(ad_spend: pd.DataFrame, leads: pd.DataFrame) -> None:
    rows = ad_spend[ad_spend.campaign_name == "Display - Awareness"]
    assert rows.campaign_id.nunique() == 1
    assert len(rows) == (END - date(2026, 2, 1)).days + 1
    assert (rows.spend.astype(float) > 0).all()
    assert (rows.platform_leads.astype(int) == 0).all()
    referencing = leads.utm_campaign.isin([rows.campaign_id.iloc[0], "Display - Awareness"])
    assert not referencing.any()


def test_one_campaign_cpl_drifts_up(ad_spend: pd.DataFrame, leads: pd.DataFrame) -> None:
    rows = ad_spend[ad_spend.campaign_name == "Lookalike - Customers"]
    campaign_id = rows.campaign_id.iloc[0]
    spend = rows.assign(spend=rows.spend.astype(float)).groupby(rows.date.str[:7]).spend.sum()
    own = leads[leads.utm_campaign == campaign_id]
    per_month = own.groupby(own.created_at_ts.dt.strftime("%Y-%m")).size()
    first = pd.to_datetime(rows.date.min())
    launch = own[own.created_at_ts.dt.tz_localize(None) < first + timedelta(days=14)]
    launch_cpl = rows[rows.date < (first + timedelta(days=14)).strftime("%Y-%m-%d")].spend.astype(float).sum()
    launch_cpl /= max(len(launch), 1)
    last_cpl = spend.iloc[-2:].sum() / per_month.iloc[-2:].sum()
    spend_growth = spend.iloc[-3:].sum() / spend.iloc[1:4].sum()
    lead_growth = per_month.iloc[-3:].sum() / per_month.iloc[1:4].sum()
    assert spend_growth > 1.8  # spend grows steadily ...
    assert lead_growth < 1.8  # ... while leads stay about flat ...
    assert spend_growth / lead_growth > 2.0  # ... so the CPL at least doubles
    assert last_cpl > 1.5 * launch_cpl


def test_lifecycle_mix(leads: pd.DataFrame) -> None:
    has = {c: leads[c] != "" for c in ("mql_at", "sql_at", "disqualified_at")}
    n = len(leads)
    assert 0.33 <= has["mql_at"].mean() <= 0.47
    skipped = has["sql_at"] & ~has["mql_at"]
    assert 0.03 <= skipped.mean() <= 0.07  # created straight as SQL
    assert 0.11 <= has["disqualified_at"].mean() <= 0.19
    after = has["disqualified_at"] & has["mql_at"]
    assert after.sum() > 0.01 * n
    assert (leads.disqualified_at_ts[after] > leads.mql_at_ts[after]).all()
    before = has["disqualified_at"] & ~has["mql_at"]
    assert before.sum() > after.sum()
    assert not (has["disqualified_at"] & has["sql_at"]).any()
    reasons = set(leads.disqualification_reason[has["disqualified_at"]])
    assert reasons == {"no budget", "student", "competitor", "spam"}
    assert (leads.disqualification_reason[~has["disqualified_at"]] == "").all()
    mql = has["mql_at"]
    lag = leads.mql_at_ts[mql] - leads.created_at_ts[mql]
    assert (lag >= timedelta(0)).all() and (lag <= timedelta(days=10, minutes=11)).all()
    sql = has["sql_at"] & mql
    lag = leads.sql_at_ts[sql] - leads.mql_at_ts[sql]
    assert (lag >= timedelta(days=1)).all() and (lag <= timedelta(days=14)).all()


def test_updated_at_is_the_latest_timestamp(leads: pd.DataFrame) -> None:
    latest = leads[[f"{c}_ts" for c in TIMESTAMP_COLUMNS[:-1]]].max(axis=1)
    assert (leads.updated_at_ts == latest).all()


def test_timestamps_mix_formats_and_none_is_after_end(leads: pd.DataFrame, demo: Path) -> None:
    created = leads.created_at
    assert created.str.endswith("Z").mean() > 0.6
    assert created.str.endswith("+03:00").any()
    assert created.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").any()  # naive: taken as UTC
    # The end of `end` in the reporting timezone (Moscow, UTC+3 all year).
    limit = pd.Timestamp(END + timedelta(days=1), tz="UTC") - pd.Timedelta(hours=3)
    for col in TIMESTAMP_COLUMNS:
        assert (leads[f"{col}_ts"].dropna() < limit).all(), col
    deals = _read(demo, "deals.csv")
    won = pd.to_datetime(deals.won_at.replace("", None), utc=True, format="ISO8601").dropna()
    assert (won < limit).all()


def test_deals(demo: Path, leads: pd.DataFrame) -> None:
    deals = _read(demo, "deals.csv")
    assert deals.deal_id.is_unique
    assert set(deals.currency) == {"USD", "EUR"}
    assert 0.2 <= (deals.currency == "EUR").mean() <= 0.4
    assert deals.amount.str.fullmatch(r"\d+\.\d{2}").all()
    assert deals.amount.astype(float).between(2000, 30000).all()
    open_share = (deals.won_at == "").mean()
    assert 0.08 <= open_share <= 0.3
    by_id = leads.set_index("lead_id")
    assert deals.lead_id.isin(by_id.index).all()
    assert (by_id.loc[deals.lead_id, "sql_at"] != "").all()  # deals only come from SQLs
    won = deals[deals.won_at != ""]
    won_at = pd.to_datetime(won.won_at, utc=True, format="ISO8601").to_numpy()
    sql_at = by_id.loc[won.lead_id, "sql_at_ts"].to_numpy()
    lag = pd.Series(won_at - sql_at)
    assert lag.between(pd.Timedelta(days=7), pd.Timedelta(days=45)).all()
    sqls = (leads.sql_at != "").sum()
    assert 0.2 <= len(won) / sqls <= 0.4


def test_other_costs_and_fx(demo: Path) -> None:
    costs = _read(demo, "other_costs.csv")
    assert costs.month.str.fullmatch(r"2026-(0[2-9]|10)").all()
    assert {"content", "events", "abm"} <= set(costs.channel)
    assert set(costs.currency) == {"USD", "EUR"}
    assert set(costs[costs.channel == "events"].currency) == {"EUR"}
    fx = _read(demo, "fx_rates.csv")
    assert set(fx.currency) == {"EUR"}
    days = pd.to_datetime(fx.date)
    assert (days.dt.day_of_week < 5).all()  # weekends are missing on purpose
    assert days.min() >= pd.Timestamp(date(2026, 2, 1) - timedelta(days=7))
    assert days.min() <= pd.Timestamp(date(2026, 2, 1) - timedelta(days=3))
    assert days.max() == pd.Timestamp(END - timedelta(days=1))  # END is a Saturday
    rate = fx.rate.astype(float)
    assert rate.between(1.0, 1.16).all()
    assert rate.diff().abs().max() < 0.03  # a smooth walk, not noise
    weekday_count = pd.bdate_range(days.min(), END).size
    assert len(fx) == weekday_count


def test_partial_last_month_and_default_end(tmp_path: Path) -> None:
    mid = date(2026, 10, 14)
    path = write_demo(tmp_path / "mid", seed=3, end=mid, size=DemoSize(months=2, leads_per_month=300))
    leads = _read(path, "leads.csv")
    created = pd.to_datetime(leads.created_at, utc=True, format="ISO8601").dt.tz_convert("Europe/Moscow")
    assert created.min().date() >= date(2026, 9, 1) and created.max().date() <= mid
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["start_date"] == date(2026, 9, 1)
    default = write_demo(tmp_path / "default", size=DemoSize(months=1, leads_per_month=50))
    spend = _read(default, "ad_spend.csv")
    assert spend.date.max() == (date.today() - timedelta(days=1)).isoformat()


def test_large_size_runs(tmp_path: Path) -> None:
    size = DemoSize(months=3, leads_per_month=50_000, accounts_per_platform=20)
    path = write_demo(tmp_path / "big", seed=1, end=END, size=size)
    leads = pd.read_csv(path.parent / "data" / "leads.csv", usecols=["lead_id"], dtype=str)
    assert 105_000 <= len(leads) <= 195_000
    spend = pd.read_csv(path.parent / "data" / "ad_spend.csv", usecols=["platform", "campaign_id"], dtype=str)
    campaigns = spend.drop_duplicates()
    assert len(campaigns) == 20 * (6 + 5)
    assert not campaigns.duplicated("campaign_id").any()
