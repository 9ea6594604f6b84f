"""Standup reports on the hand-made fixture (tests/fixtures/small; see tests/assets/marts/test_metrics.py)."""

from __future__ import annotations

from datetime import date

import pytest

from assets.reports.daily import build_daily_report
from assets.reports.periodic import build_monthly_report, build_weekly_report, volume_level
from assets.reports.render import render_html, render_markdown
from tests.conftest import build, warehouse


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> str:
    from resources.config import parse_config
    from tests.conftest import SMALL_CONFIG

    url = f"duckdb:///{tmp_path_factory.mktemp('reports')}/w.duckdb"
    assert build(parse_config(SMALL_CONFIG), url, date(2026, 3, 1), date(2026, 4, 30)).ok
    return url


def _section(report, title_start: str):
    return next(s for s in report.sections if s.title.startswith(title_start))


@pytest.mark.parametrize(
    ("leads", "level"),
    [
        (0, "under 500"),
        (499, "under 500"),
        (500, "500–1,000"),
        (999, "500–1,000"),
        (1_000, "1,000–10,000"),
        (10_000, "1,000–10,000"),
        (10_001, "over 10,000"),
    ],
)
def test_volume_levels(leads, level):
    assert volume_level(leads) == level


def test_daily_report_compares_yesterday_with_the_day_before(built, small_config):
    report = build_daily_report(warehouse(built), small_config, date(2026, 3, 3))
    table = _section(report, "Yesterday").table.set_index("channel")
    google = table.loc["google_ads"]
    # 03-03: 50.00 spend, L2 created; 03-02: L1 and L7; 7 days before 03-03: L1 and L7 -> 2/7 a day
    assert (google["cost"], google["leads"], google["leads, day before"]) == (50.0, 1, 2)
    assert google["leads, 7-day avg"] == pytest.approx(0.3)
    assert google["MQL"] == 1 and google["CPL"] == 50.0
    month = _section(report, "Month to date").table.set_index("channel").loc["google_ads"]
    # day 3 of 31: 150.00 so far -> 1,550.00 forecast against a budget of 300
    assert (month["cost"], month["budget"], month["cost forecast"]) == (150.0, 300.0, pytest.approx(1550.0))
    assert month["forecast vs MQL plan"] == "500%"  # 1 MQL -> 10 forecast against a plan of 2


def test_daily_report_flags_spend_without_leads(built, small_config):
    report = build_daily_report(warehouse(built), small_config, date(2026, 4, 7))
    bullets = _section(report, "Campaigns with spend and no leads").bullets
    assert bullets == ("Brand Search 2026 (google_ads:111): spent 20.00 with no leads",)
    markdown = render_markdown(report)
    assert markdown.startswith("# Marketing Pulse — daily standup, Tuesday 07 April 2026")
    assert "<h2>Campaigns with spend and no leads in the last 7 days</h2>" in render_html(report)


def test_weekly_review_by_team_channel_and_specialist(built, small_config):
    report = build_weekly_report(warehouse(built), small_config, date(2026, 3, 8))
    assert "2026-W10" in report.subtitle
    channels = _section(report, "By channel").table.set_index("channel")
    google = channels.loc["google_ads"]
    # week of 03-02: spend 150, leads L1, L2, L7; MQL L1; nothing the week before
    assert (google["cost"], google["leads"], google["MQL"], google["leads, week before"]) == (150.0, 3, 1, 0)
    assert google["cost per MQL"] == 150.0
    anna = _section(report, "By specialist").table.set_index("specialist").loc["Anna Petrova"]
    assert (anna["cost"], anna["leads"]) == (150.0, 3)
    teams = _section(report, "By team").table.set_index("team")
    assert teams.loc["outbound", "leads"] == 1 and teams.loc["outbound", "MQL"] == 1


def test_monthly_review(built, small_config):
    report = build_monthly_report(warehouse(built), small_config, date(2026, 3, 31))
    assert _section(report, "Lead volume").bullets == ("7 leads this month: volume level under 500.",)
    plan = _section(report, "Plan against actual").table.set_index("channel").loc["google_ads"]
    assert (float(plan["budget"]), float(plan["cost"]), plan["budget used"], plan["leads plan"]) == (
        300,
        180,
        0.6,
        4,
    )
    romi = _section(report, "ROMI by channel").table.set_index("channel").loc["google_ads"]
    # March: 1150 won on 180 of cost; the March cohort also won D3 in April: 1350
    assert romi["ROMI"] == pytest.approx((1150 * 0.8 - 180) / 180)
    assert romi["cohort ROMI"] == pytest.approx((1350 * 0.8 - 180) / 180)
    markdown = render_markdown(report)
    assert "| google_ads " in markdown and "60%" in markdown
