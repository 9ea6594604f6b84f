"""`mpulse report`: the standup documents rendered straight from the warehouse."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from assets.reports.daily import build_daily_report
from assets.reports.render import render
from resources.config import load_config
from resources.errors import MpulseError
from resources.warehouse import WarehouseResource, warehouse_url_from_env


def render_report(kind: str, day: date | None, fmt: str, config_path: str | None = None) -> str:
    config = load_config(config_path)
    if day is None:
        day = datetime.now(ZoneInfo(config.reporting.timezone)).date() - timedelta(days=1)
    warehouse = WarehouseResource(url=warehouse_url_from_env())
    if kind == "daily":
        return render(build_daily_report(warehouse, config, day), fmt)
    raise MpulseError(f"the {kind} report is not available yet: only `mpulse report daily` is built so far")
