"""After every successful daily run, roll the days it wrote up into their weeks and months, so the week
and month in progress are current every morning (not only on Mondays and the 1st)."""

import dagster as dg

from pipelines.jobs import MONTHLY_JOB, WEEKLY_JOB, daily_job, monthly_job, weekly_job
from pipelines.windows import range_from_tags


@dg.run_status_sensor(
    name="rollups_after_daily",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[daily_job],
    request_jobs=[weekly_job, monthly_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests the weekly and monthly rollups of the days a daily run wrote.",
)
def rollups_after_daily(context: dg.RunStatusSensorContext):
    days = range_from_tags(context.dagster_run.tags)
    if days is None:
        return dg.SkipReason("the daily run had no partition range")
    run_id = context.dagster_run.run_id
    return [
        dg.RunRequest(job_name=WEEKLY_JOB, run_key=f"{run_id}-weekly", tags=days.weeks.tags()),
        dg.RunRequest(job_name=MONTHLY_JOB, run_key=f"{run_id}-monthly", tags=days.months.tags()),
    ]
