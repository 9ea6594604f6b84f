"""`mpulse report`: the standup documents rendered straight from the warehouse."""

from __future__ import annotations

from datetime import date

from assets.reports.daily import build_daily_report
from assets.reports.periodic import build_monthly_report, build_weekly_report
from assets.reports.render import render
from resources.config import load_config
from resources.errors import MpulseError
from resources.warehouse import WarehouseResource, warehouse_url_from_env


def render_report(kind: str, day: date | None, fmt: str, config_path: str | None = None) -> str:
    config = load_config(config_path)
    if day is None:
        day = config.yesterday()
    warehouse = WarehouseResource(url=warehouse_url_from_env())
    builders = {"daily": build_daily_report, "weekly": build_weekly_report, "monthly": build_monthly_report}
    if kind not in builders:
        raise MpulseError(f"unknown report {kind!r}: use daily, weekly or monthly")
    return render(builders[kind](warehouse, config, day), fmt)
