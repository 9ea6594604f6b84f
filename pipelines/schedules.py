"""Schedules in the reporting timezone: every morning the daily job re-runs yesterday plus the re-run
window; on Mondays and on the 1st the finished week and month are rolled up."""

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from pipelines.jobs import daily_job, monthly_job, weekly_job
from pipelines.windows import DayRange, daily_rerun_window
from resources.config import MpulseConfig

DAILY_CRON = "0 6 * * *"
WEEKLY_CRON = "30 6 * * 1"
MONTHLY_CRON = "30 6 1 * *"


def _schedule(
    config: MpulseConfig,
    name: str,
    cron: str,
    job: Any,  # what define_asset_job returns; its class is not public API
    partitions: Callable[[DayRange], DayRange],
    description: str,
) -> dg.ScheduleDefinition:
    """A schedule whose run covers the partitions of the re-run window ending yesterday."""
    tz = config.reporting.timezone

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        execution_timezone=tz,
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=description,
    )
    def _evaluate(context: dg.ScheduleEvaluationContext):
        today = context.scheduled_execution_time.astimezone(ZoneInfo(tz)).date()
        days = daily_rerun_window(config, today)
        if days is None:
            return dg.SkipReason(f"start_date {config.start_date} is not reached yet")
        return dg.RunRequest(run_key=f"{name}-{days.last}", tags=partitions(days).tags())

    return _evaluate


def build_schedules(config: MpulseConfig) -> list[dg.ScheduleDefinition]:
    return [
        _schedule(
            config,
            "daily_schedule",
            DAILY_CRON,
            daily_job,
            lambda days: days,
            "Yesterday and the re-run window before it, in one run.",
        ),
        _schedule(
            config,
            "weekly_schedule",
            WEEKLY_CRON,
            weekly_job,
            lambda days: days.weeks,
            "The ISO weeks the re-run window touches, ending with the week that just finished.",
        ),
        _schedule(
            config,
            "monthly_schedule",
            MONTHLY_CRON,
            monthly_job,
            lambda days: days.months,
            "The months the re-run window touches, ending with the month that just finished.",
        ),
    ]
