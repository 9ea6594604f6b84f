"""Daily, ISO-weekly and monthly partitions in the reporting timezone, from the config's start_date.

Weeks and months include the one in progress (end_offset=1), so month-to-date marts exist for the reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from resources.config import MpulseConfig


@dataclass(frozen=True)
class Partitions:
    daily: dg.DailyPartitionsDefinition
    weekly: dg.WeeklyPartitionsDefinition
    monthly: dg.MonthlyPartitionsDefinition


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def build_partitions(config: MpulseConfig) -> Partitions:
    tz = config.reporting.timezone
    start = config.start_date
    return Partitions(
        daily=dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone=tz),
        weekly=dg.WeeklyPartitionsDefinition(
            start_date=week_start(start).isoformat(), day_offset=1, timezone=tz, end_offset=1
        ),
        monthly=dg.MonthlyPartitionsDefinition(
            start_date=month_start(start).isoformat(), timezone=tz, end_offset=1
        ),
    )
