"""Which partitions a run covers. Shared by the schedules, the rollup sensor and `mpulse run`, so the
same day range always maps to the same daily, weekly and monthly partitions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from assets.partitions import month_start, week_start
from resources.config import MpulseConfig

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"


@dataclass(frozen=True)
class DayRange:
    first: date
    last: date  # inclusive

    def tags(self) -> dict[str, str]:
        return range_tags(self.first, self.last)

    @property
    def weeks(self) -> DayRange:
        """Monday keys of the ISO weeks that overlap the range."""
        return DayRange(week_start(self.first), week_start(self.last))

    @property
    def months(self) -> DayRange:
        """First-day keys of the months that overlap the range."""
        return DayRange(month_start(self.first), month_start(self.last))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def range_tags(first: date, last: date) -> dict[str, str]:
    return {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}


def range_from_tags(tags: Mapping[str, str]) -> DayRange | None:
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        return DayRange(date.fromisoformat(tags[RANGE_START_TAG]), date.fromisoformat(tags[RANGE_END_TAG]))
    if PARTITION_TAG in tags:
        day = date.fromisoformat(tags[PARTITION_TAG])
        return DayRange(day, day)
    return None


def daily_rerun_window(config: MpulseConfig, today: date) -> DayRange | None:
    """Yesterday plus the re-run window before it (late conversions, restated spend, updated leads)."""
    yesterday = today - timedelta(days=1)
    if yesterday < config.start_date:
        return None
    return DayRange(max(config.start_date, yesterday - timedelta(days=config.rerun_days)), yesterday)
