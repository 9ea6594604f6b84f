"""Schedules in the reporting timezone: every morning the daily job re-runs yesterday plus the re-run
window; on Mondays and on the 1st the finished week and month are rolled up."""

from datetime import date
from zoneinfo import ZoneInfo

import dagster as dg

from pipelines.jobs import daily_job, monthly_job, weekly_job
from pipelines.windows import DayRange, daily_rerun_window
from resources.config import MpulseConfig

DAILY_CRON = "0 6 * * *"
WEEKLY_CRON = "30 6 * * 1"
MONTHLY_CRON = "30 6 1 * *"


def _today(context: dg.ScheduleEvaluationContext, tz: str) -> date:
    return context.scheduled_execution_time.astimezone(ZoneInfo(tz)).date()


def build_schedules(config: MpulseConfig) -> list[dg.ScheduleDefinition]:
    tz = config.reporting.timezone

    def window(context: dg.ScheduleEvaluationContext) -> DayRange | None:
        return daily_rerun_window(config, _today(context, tz))

    @dg.schedule(
        name="daily_schedule",
        cron_schedule=DAILY_CRON,
        execution_timezone=tz,
        job=daily_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Yesterday and the re-run window before it, in one run.",
    )
    def daily_schedule(context: dg.ScheduleEvaluationContext):
        days = window(context)
        if days is None:
            return dg.SkipReason(f"start_date {config.start_date} is not reached yet")
        return dg.RunRequest(run_key=f"daily-{days.last}", tags=days.tags())

    @dg.schedule(
        name="weekly_schedule",
        cron_schedule=WEEKLY_CRON,
        execution_timezone=tz,
        job=weekly_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="The ISO weeks the re-run window touches, ending with the week that just finished.",
    )
    def weekly_schedule(context: dg.ScheduleEvaluationContext):
        days = window(context)
        if days is None:
            return dg.SkipReason(f"start_date {config.start_date} is not reached yet")
        return dg.RunRequest(run_key=f"weekly-{days.last}", tags=days.weeks.tags())

    @dg.schedule(
        name="monthly_schedule",
        cron_schedule=MONTHLY_CRON,
        execution_timezone=tz,
        job=monthly_job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="The months the re-run window touches, ending with the month that just finished.",
    )
    def monthly_schedule(context: dg.ScheduleEvaluationContext):
        days = window(context)
        if days is None:
            return dg.SkipReason(f"start_date {config.start_date} is not reached yet")
        return dg.RunRequest(run_key=f"monthly-{days.last}", tags=days.months.tags())

    return [daily_schedule, weekly_schedule, monthly_schedule]
