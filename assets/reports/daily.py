"""The morning standup: yesterday against the day before and the trailing week, month-to-date against plan,
and the campaigns that need a look. Numbers come from marts.metrics_daily only."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pandas as pd

from assets.quality import status_lines
from assets.reports.render import Report, Section
from resources.config import MpulseConfig
from resources.warehouse import WarehouseResource

CPL_DRIFT_FACTOR = 1.5
LAUNCH_DAYS = 14
HIGH_DISQUALIFIED_RATE = 0.3
MIN_LEADS_FOR_RATE = 10

_SUMS = """
    sum(total_cost) as total_cost, sum(leads) as leads, sum(mql) as mql,
    sum(disqualified) as disqualified, sum(won_deals) as won_deals, sum(revenue) as revenue
"""


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    num = pd.to_numeric(num, errors="coerce").astype(float)
    den = pd.to_numeric(den, errors="coerce").astype(float)
    return (num / den.where(den != 0)).astype(float)


def _by_channel(wh: WarehouseResource, start: date, end: date) -> pd.DataFrame:
    return wh.query(
        f"select team, channel, {_SUMS} from marts.metrics_daily "
        "where period_start >= :start and period_start < :end group by team, channel",
        {"start": start, "end": end},
    )


def _yesterday_section(wh: WarehouseResource, day: date) -> Section:
    today = _by_channel(wh, day, day + timedelta(days=1)).set_index(["team", "channel"])
    before = _by_channel(wh, day - timedelta(days=1), day).set_index(["team", "channel"])
    week = _by_channel(wh, day - timedelta(days=7), day).set_index(["team", "channel"])
    index = today.index.union(before.index).union(week.index)
    if len(index) == 0:
        return Section(f"Yesterday ({day})", empty_text="No cost or leads recorded in the last 8 days.")
    t, b, w = (f.reindex(index).fillna(0) for f in (today, before, week))
    out = pd.DataFrame(
        {
            "cost": t.total_cost.astype(float),
            "leads": t.leads.astype(int),
            "leads, day before": b.leads.astype(int),
            "leads, 7-day avg": (w.leads.astype(float) / 7).round(1),
            "MQL": t.mql.astype(int),
            "MQL, day before": b.mql.astype(int),
            "MQL, 7-day avg": (w.mql.astype(float) / 7).round(1),
            "CPL": _ratio(t.total_cost, t.leads),
            "CPL, 7 days": _ratio(w.total_cost, w.leads),
        },
        index=index,
    ).reset_index()
    totals = out.drop(columns=["team", "channel"]).sum(numeric_only=True)
    note = (
        f"Total: cost {totals['cost']:,.2f}, {int(totals['leads'])} leads "
        f"({int(totals['leads, day before'])} the day before, "
        f"{totals['leads, 7-day avg']:.1f} a day over the "
        f"last 7 days), {int(totals['MQL'])} MQL."
    )
    return Section(f"Yesterday ({day}) by team and channel", out.sort_values(["team", "channel"]), note=note)


def _month_section(wh: WarehouseResource, config: MpulseConfig, day: date) -> Section:
    first = day.replace(day=1)
    elapsed = (day - first).days + 1
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    actual = (
        _by_channel(wh, first, day + timedelta(days=1))
        .groupby("channel")[["total_cost", "leads", "mql"]]
        .sum()
    )
    month = first.strftime("%Y-%m")
    plan = pd.DataFrame(
        [
            {"channel": p.channel, "budget": float(p.budget), "leads_plan": p.leads, "mql_plan": p.mql}
            for p in config.plan
            if p.month == month
        ],
        columns=["channel", "budget", "leads_plan", "mql_plan"],
    ).set_index("channel")
    index = actual.index.union(plan.index)
    if len(index) == 0:
        return Section(f"Month to date ({month})", empty_text="No cost, leads or plan for this month yet.")
    a = actual.reindex(index).fillna(0).astype(float)
    p = plan.reindex(index)
    scale = days_in_month / elapsed
    out = pd.DataFrame(
        {
            "cost": a.total_cost,
            "budget": p.budget,
            "cost forecast": a.total_cost * scale,
            "leads": a.leads.astype(int),
            "leads plan": p.leads_plan.astype("Int64"),
            "leads forecast": (a.leads * scale).round(0).astype("Int64"),
            "MQL": a.mql.astype(int),
            "MQL plan": p.mql_plan.astype("Int64"),
            "MQL forecast": (a.mql * scale).round(0).astype("Int64"),
        },
        index=index,
    )
    out["forecast vs MQL plan"] = (
        (_ratio(out["MQL forecast"], out["MQL plan"]) * 100)
        .round(0)
        .map(lambda v: "–" if pd.isna(v) else f"{v:.0f}%")
    )
    note = f"Day {elapsed} of {days_in_month}; forecast = actual / elapsed days × days in month."
    return Section(f"Month to date ({month}) against plan", out.reset_index(names="channel"), note=note)


def _campaign_window(wh: WarehouseResource, start: date, end: date) -> pd.DataFrame:
    return wh.query(
        f"select campaign_key, max(campaign_name) as campaign_name, sum(spend) as spend, {_SUMS} "
        "from marts.metrics_daily where period_start >= :start and period_start < :end "
        "and platform is not null group by campaign_key",
        {"start": start, "end": end},
    )


def _no_leads_section(wh: WarehouseResource, day: date) -> Section:
    recent = _campaign_window(wh, day - timedelta(days=6), day + timedelta(days=1))
    idle = recent[(recent.spend.astype(float) > 0) & (recent.leads.astype(int) == 0)]
    bullets = tuple(
        f"{r.campaign_name or r.campaign_key} ({r.campaign_key}): spent {float(r.spend):,.2f} with no leads"
        for r in idle.sort_values("spend", ascending=False).itertuples()
    )
    return Section(
        "Campaigns with spend and no leads in the last 7 days", bullets=bullets, empty_text="None."
    )


def _cpl_drift_section(wh: WarehouseResource, day: date) -> Section:
    launch = wh.query(
        """
        with first_lead as (
            select campaign_key, min(period_start) as first_day
            from marts.metrics_daily where leads > 0 and platform is not null and period_start <= :day
            group by campaign_key
        )
        select m.campaign_key, sum(m.total_cost) as cost, sum(m.leads) as leads
        from marts.metrics_daily m join first_lead f on f.campaign_key = m.campaign_key
        where m.period_start >= f.first_day and m.period_start < f.first_day + cast(:launch_days as integer)
        group by m.campaign_key
        """,
        {"day": day, "launch_days": LAUNCH_DAYS},
    ).set_index("campaign_key")
    recent = _campaign_window(wh, day - timedelta(days=6), day + timedelta(days=1)).set_index("campaign_key")
    joined = recent.join(launch.add_suffix("_launch"), how="inner")
    joined["cpl_now"] = _ratio(joined.total_cost, joined.leads)
    joined["cpl_launch"] = _ratio(joined.cost_launch, joined.leads_launch)
    drift = joined[joined.cpl_now > CPL_DRIFT_FACTOR * joined.cpl_launch]
    bullets = tuple(
        f"{r.campaign_name or key} ({key}): CPL {r.cpl_now:,.2f} over the last 7 days vs "
        f"{r.cpl_launch:,.2f} in its first {LAUNCH_DAYS} days ({r.cpl_now / r.cpl_launch:.1f}×)"
        for key, r in drift.sort_values("cpl_now", ascending=False).iterrows()
    )
    return Section(
        f"Campaigns whose CPL is over {CPL_DRIFT_FACTOR}× their launch CPL",
        bullets=bullets,
        empty_text="None.",
    )


def _disqualified_section(wh: WarehouseResource, day: date) -> Section:
    recent = wh.query(
        f"select campaign_key, max(campaign_name) as campaign_name, {_SUMS} from marts.metrics_daily "
        "where period_start >= :start and period_start < :end group by campaign_key",
        {"start": day - timedelta(days=6), "end": day + timedelta(days=1)},
    )
    recent["rate"] = _ratio(recent.disqualified, recent.leads)
    high = recent[(recent.leads.astype(int) >= MIN_LEADS_FOR_RATE) & (recent.rate > HIGH_DISQUALIFIED_RATE)]
    bullets = tuple(
        f"{r.campaign_name or r.campaign_key} ({r.campaign_key}): {int(r.disqualified)} disqualified of "
        f"{int(r.leads)} leads ({r.rate:.0%})"
        for r in high.sort_values("rate", ascending=False).itertuples()
    )
    return Section(
        "High disqualified rate (last 7 days)",
        bullets=bullets,
        note=f"Campaign keys with at least {MIN_LEADS_FOR_RATE} leads and over {HIGH_DISQUALIFIED_RATE:.0%} "
        "disqualified.",
        empty_text="None.",
    )


def _data_section(wh: WarehouseResource, day: date) -> Section:
    latest = wh.query(
        """
        select 'ad spend: ' || platform as source, max(day) as latest_day, count(*) as row_count
        from staging.ad_spend group by platform
        union all
        select 'leads (' || source_system || ')', max(created_day), count(*)
        from staging.leads group by source_system
        union all
        select 'won deals (' || source_system || ')', max(won_day), count(*) from staging.deals
        where won_day is not null group by source_system
        """
    )
    bullets = []
    for r in latest.itertuples():
        lag = (day - r.latest_day).days if r.latest_day is not None else None
        flag = "" if lag is not None and lag <= 1 else " ⚠ not current"
        bullets.append(f"{r.source}: latest {r.latest_day}, {int(r.row_count):,} rows{flag}")
    bullets += status_lines(wh)  # data-quality checks and quarantine (assets/quality.py)
    return Section("Data status", bullets=tuple(bullets), empty_text="The warehouse holds no data yet.")


def build_daily_report(warehouse: WarehouseResource, config: MpulseConfig, day: date) -> Report:
    reporting = config.reporting
    return Report(
        title=f"Marketing Pulse — daily standup, {day:%A %d %B %Y}",
        subtitle=f"Money in {reporting.currency}; days in {reporting.timezone}.",
        sections=(
            _yesterday_section(warehouse, day),
            _month_section(warehouse, config, day),
            _no_leads_section(warehouse, day),
            _cpl_drift_section(warehouse, day),
            _disqualified_section(warehouse, day),
            _data_section(warehouse, day),
        ),
    )
