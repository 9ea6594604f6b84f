"""The weekly and monthly standups: the finished week against the week before and the 4-week average
(per team, channel and specialist), and the month's plan, ROMI, cohort ROMI, KPIs and lead volume level."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from assets.partitions import month_start, week_start
from assets.reports.render import Report, Section
from resources.config import MpulseConfig
from resources.warehouse import WarehouseResource

LABELS = {
    "budget_plan": "budget",
    "total_cost": "cost",
    "budget_used": "budget used",
    "leads_plan": "leads plan",
    "mql_plan": "MQL plan",
    "mql": "MQL",
    "forecast_mql": "MQL forecast",
    "won_deals": "won deals",
    "romi": "ROMI",
    "cohort_revenue": "cohort revenue",
    "cohort_romi": "cohort ROMI",
    "mql_target": "MQL target",
    "mql_attainment": "MQL attainment",
    "cost_per_mql": "cost per MQL",
    "cost_per_mql_target": "cost per MQL target",
    "disqualified_rate": "disqualified",
}
PERCENT = ("budget used", "MQL attainment", "disqualified", "ROMI", "cohort ROMI")
# upper bounds (inclusive) of the contract's volume levels: under 500, 500-1,000, 1,000-10,000, over 10,000
VOLUME_LEVELS = ((499, "under 500"), (999, "500–1,000"), (10_000, "1,000–10,000"))
_MEASURES = "sum(total_cost) as total_cost, sum(leads) as leads, sum(mql) as mql, sum(won_deals) as won_deals"


def volume_level(leads: int) -> str:
    """The month's lead volume level of the metric contract."""
    for bound, label in VOLUME_LEVELS:
        if leads <= bound:
            return label
    return "over 10,000"


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return num / den.where(den != 0)


def _weekly_by(wh: WarehouseResource, dimension: str, first: date, last: date) -> pd.DataFrame:
    """Weekly sums by `dimension` (team, channel or specialist) for weeks first..last."""
    if dimension == "specialist":
        source = (
            "(select distinct a.specialist, m.period_start, m.campaign_key, m.total_cost, m.leads, m.mql, "
            "m.won_deals from marts.metrics_weekly m join staging.specialist_assignments a "
            "on a.channel = m.channel or a.campaign_key = m.campaign_key) s"
        )
    else:
        source = "marts.metrics_weekly"
    return wh.query(
        f"select {dimension} as name, period_start, {_MEASURES} from {source} "
        "where period_start >= :first and period_start <= :last group by 1, 2",
        {"first": first, "last": last},
    )


def _week_comparison(wh: WarehouseResource, dimension: str, week: date) -> pd.DataFrame:
    frame = _weekly_by(wh, dimension, week - timedelta(weeks=4), week)
    for column in ("total_cost", "leads", "mql", "won_deals"):
        frame[column] = _num(frame, column)
    this = frame[frame.period_start == week].set_index("name")
    before = frame[frame.period_start == week - timedelta(weeks=1)].set_index("name")
    history = frame[frame.period_start < week].groupby("name")[["total_cost", "leads", "mql"]].sum() / 4
    names = this.index.union(before.index).union(history.index)
    t, b, h = (f.reindex(names).fillna(0) for f in (this, before, history))
    return pd.DataFrame(
        {
            "cost": t.total_cost,
            "cost, week before": b.total_cost,
            "leads": t.leads.astype(int),
            "leads, week before": b.leads.astype(int),
            "leads, 4-week avg": h.leads.round(1),
            "MQL": t.mql.astype(int),
            "MQL, week before": b.mql.astype(int),
            "MQL, 4-week avg": h.mql.round(1),
            "cost per MQL": _ratio(t.total_cost, t.mql),
            "cost per MQL, 4-week avg": _ratio(h.total_cost, h.mql),
        },
        index=names,
    ).reset_index(names=dimension)


def build_weekly_report(warehouse: WarehouseResource, config: MpulseConfig, day: date) -> Report:
    week = week_start(day)
    sections = tuple(
        Section(f"By {dimension}", _week_comparison(warehouse, dimension, week), empty_text="No activity.")
        for dimension in ("team", "channel", "specialist")
    )
    return Report(
        title=f"Marketing Pulse — weekly review, week of {week:%d %B %Y}",
        subtitle=f"ISO week {week:%G-W%V} ({week} .. {week + timedelta(days=6)}) against the week before "
        "and the "
        f"4 weeks before it. Money in {config.reporting.currency}.",
        sections=sections,
    )


def _frame(wh: WarehouseResource, sql: str, month: date, **params: object) -> pd.DataFrame:
    frame = wh.query(sql, {"month": month, **params}).rename(columns=LABELS)
    for column in ("leads plan", "MQL plan", "MQL forecast"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column]).round(0).astype("Int64")
    return frame


def build_monthly_report(warehouse: WarehouseResource, config: MpulseConfig, day: date) -> Report:
    month = month_start(day)
    leads = int(
        _frame(
            warehouse,
            "select coalesce(sum(leads), 0) as n from marts.metrics_monthly where period_start = :month",
            month,
        ).n[0]
    )
    plan = _frame(
        warehouse,
        "select channel, budget_plan, total_cost, budget_used, leads_plan, leads, mql_plan, mql, "
        "forecast_mql "
        "from marts.plan_vs_actual_monthly where month = :month order by channel",
        month,
    )
    romi = _frame(
        warehouse,
        """
        with m as (
            select channel, sum(total_cost) as total_cost, sum(revenue) as revenue,
                   sum(won_deals) as won_deals
            from marts.metrics_monthly where period_start = :month group by channel
        ),
        c as (
            select channel, sum(total_cost) as cohort_cost, sum(revenue) as cohort_revenue
            from marts.funnel_cohorts_monthly where cohort_month = :month group by channel
        )
        select coalesce(m.channel, c.channel) as channel, m.total_cost, m.won_deals, m.revenue,
               (cast(m.revenue as double precision) * :gross_margin
                - cast(m.total_cost as double precision)) / nullif(cast(m.total_cost as double precision), 0)
                   as romi,
               c.cohort_revenue,
               (cast(c.cohort_revenue as double precision) * :gross_margin
                - cast(c.cohort_cost as double precision))
                / nullif(cast(c.cohort_cost as double precision), 0)
                   as cohort_romi
        from m full outer join c on c.channel = m.channel
        order by 1
        """,
        month,
        gross_margin=config.reporting.gross_margin,
    )
    teams = _frame(
        warehouse,
        "select team, total_cost, leads, mql, mql_target, mql_attainment, cost_per_mql, cost_per_mql_target, "
        "disqualified_rate from marts.kpi_team_monthly where month = :month order by team",
        month,
    )
    people = _frame(
        warehouse,
        "select specialist, team, total_cost, leads, mql, mql_target, mql_attainment, cost_per_mql, "
        "cost_per_mql_target, disqualified_rate from marts.kpi_specialist_monthly where month = :month "
        "order by team, specialist",
        month,
    )
    return Report(
        title=f"Marketing Pulse — monthly review, {month:%B %Y}",
        subtitle=f"Money in {config.reporting.currency}; "
        f"ROMI with gross margin {config.reporting.gross_margin:g}.",
        sections=(
            Section(
                "Lead volume", bullets=(f"{leads:,} leads this month: volume level {volume_level(leads)}.",)
            ),
            Section(
                "Plan against actual", plan, empty_text="No plan or activity this month.", percent=PERCENT
            ),
            Section(
                "ROMI by channel",
                romi,
                note="ROMI: revenue won this month against this month's cost. "
                "Cohort ROMI: revenue won so far "
                "from the leads created this month against this month's cost.",
                percent=PERCENT,
            ),
            Section("Team KPIs", teams, empty_text="No team data.", percent=PERCENT),
            Section("Specialist KPIs", people, empty_text="No specialists configured.", percent=PERCENT),
        ),
    )
