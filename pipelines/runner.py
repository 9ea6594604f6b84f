"""`mpulse run`: every asset for every partition overlapping a day range, in-process, as one Dagster run
per grain (single-run backfills), so a year of history costs three runs, not hundreds."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import dagster as dg

from pipelines.definitions import build_definitions
from pipelines.jobs import DAILY_JOB, MONTHLY_JOB, WEEKLY_JOB
from pipelines.windows import DayRange
from resources.config import MpulseConfig
from resources.errors import MpulseError

USER_ERRORS = tuple(cls.__name__ for cls in (MpulseError, *MpulseError.__subclasses__()))
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunSummary:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    materializations: int = 0


def default_range(config: MpulseConfig, start: date | None, end: date | None) -> DayRange:
    """start_date .. yesterday in the reporting timezone, unless given."""
    yesterday = config.yesterday()
    first = max(start or config.start_date, config.start_date)
    last = min(end or yesterday, yesterday)
    if last < first:
        raise MpulseError(
            f"nothing to run: the range {first}..{last} is empty (start_date {config.start_date})"
        )
    return DayRange(first, last)


def _failure_lines(result: dg.ExecuteInProcessResult, debug: bool) -> list[str]:
    lines: list[str] = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        if error is None:
            lines.append(f"{event.step_key}: failed")
            continue
        root = error
        while root.cause is not None:
            root = root.cause
        if debug:
            lines.append(f"{event.step_key}: {error.to_string()}")
        elif root.cls_name == "DagsterAssetCheckFailedError":
            lines.extend(line for line in _blocking_check_lines(result) if line not in lines)
        elif root.cls_name in USER_ERRORS:
            message = (
                root.message.split(": ", 1)[-1]
                if root.message.startswith(("resources.", root.cls_name))
                else root.message
            )
            lines.extend(line for line in message.strip().splitlines() if line)
        else:
            first = root.message.strip().splitlines()[0] if root.message.strip() else root.cls_name or "error"
            lines.append(f"{event.step_key}: {first} (run with --debug for the traceback)")
    return lines or ["the run failed (run with --debug for details)"]


def _blocking_check_lines(result: dg.ExecuteInProcessResult) -> list[str]:
    """A blocking check stopped the run: its description names the table, the check, example rows and
    what to do (assets/checks.py), and nothing downstream of the table was written."""
    return [
        f"{evaluation.description or evaluation.check_name} Nothing downstream was updated."
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed
        and evaluation.blocking
        and evaluation.severity == dg.AssetCheckSeverity.ERROR
    ]


def _warning_lines(result: dg.ExecuteInProcessResult) -> list[str]:
    """Checks of severity WARN that failed (the run goes on): shown, so nothing is held back silently."""
    return [
        evaluation.description or f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}"
        for evaluation in result.get_asset_check_evaluations()
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    ]


def _failed_check_lines(result: dg.ExecuteInProcessResult) -> list[str]:
    """Non-blocking checks of severity ERROR that failed: the run goes on, but the exit code says so."""
    lines = []
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            key = evaluation.asset_key.to_user_string()
            lines.append(
                f"{key} check {evaluation.check_name} failed: {evaluation.description or 'see the UI'}"
            )
    return lines


def run_range(
    config: MpulseConfig,
    days: DayRange,
    instance: dg.DagsterInstance,
    warehouse_url: str | None = None,
    echo: Callable[[str], None] = print,
    debug: bool = False,
) -> RunSummary:
    defs = build_definitions(config, warehouse_url)
    summary = RunSummary()
    plan = (
        (DAILY_JOB, days, f"{days.days} days"),
        (WEEKLY_JOB, days.weeks, "ISO weeks"),
        (MONTHLY_JOB, days.months, "months"),
    )
    for job_name, window, what in plan:
        echo(f"→ {job_name}: {window.first} .. {window.last} ({what})")
        started = time.monotonic()
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, tags=window.tags(), raise_on_error=False, run_config=QUIET_LOGS
        )
        materialized = result.get_asset_materialization_events()
        summary.materializations += len(materialized)
        if not result.success:
            summary.ok = False
            summary.problems += _failure_lines(result, debug)
            return summary
        for line in _failed_check_lines(result):
            summary.ok = False
            summary.problems.append(line)
        latest = {event.asset_key.to_user_string(): event.materialization.metadata for event in materialized}
        for key, meta in latest.items():
            rows = meta.get("dagster/row_count") or meta.get("window_row_count")
            echo(f"   {key}: {f'{rows.value:,} rows' if rows is not None else 'done'}")
        checks = result.get_asset_check_evaluations()
        warnings = _warning_lines(result)
        if checks:
            passed = sum(evaluation.passed for evaluation in checks)
            echo(f"   checks: {passed} of {len(checks)} passed, warnings: {len(warnings)}")
        for line in warnings:
            echo(f"   ⚠ {line}")
        echo(
            f"   ✓ {len(latest)} assets, {len(materialized)} partition materializations, "
            f"{time.monotonic() - started:.1f}s"
        )
    return summary
