"""Runs the suites of assets/expectations.py with Great Expectations and reports them as Dagster asset checks.

This is the only module that imports great_expectations, and only inside `_gx()`: the import costs seconds
and hundreds of MB, so a process pays it only when a step actually validates (never when Definitions load).
Each staging asset calls `validate_table` right after it rebuilds its table: row-level rules move failing
rows to quality.quarantine first, then the remaining rows are validated and one AssetCheckResult per check
is returned (blocking checks fail with ERROR severity, which stops everything downstream).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from assets import expectations as ex
from assets.quality import CheckOutcome, HeldRow, hold_back, record_outcomes, utc_now
from resources.config import MpulseConfig
from resources.currencies import ISO_4217
from resources.errors import MpulseError
from resources.warehouse import WarehouseResource

EXAMPLES_IN_MESSAGE = 3
EXAMPLES_IN_METADATA = 10
BUILT_IN_PLATFORMS = ("google_ads", "facebook_ads")
SEVERITY = {"block": dg.AssetCheckSeverity.ERROR, "warn": dg.AssetCheckSeverity.WARN}

_spent = {"seconds": 0.0, "cpu_seconds": 0.0, "ge_import_seconds": 0.0}


@contextmanager
def timed() -> Iterator[None]:
    """Adds the wall and CPU time of the block to this process's validation totals (docs/benchmarks.md)."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        _spent["seconds"] += time.perf_counter() - wall
        _spent["cpu_seconds"] += time.process_time() - cpu


def validation_seconds() -> float:
    """Wall time this process has spent validating (GE import included)."""
    return _spent["seconds"]


def validation_timings() -> dict[str, float]:
    """Wall and CPU seconds spent validating, and the part of them that was the Great Expectations import."""
    return dict(_spent)


def check_specs(asset_key: dg.AssetKey, table: str) -> list[dg.AssetCheckSpec]:
    """The checks of `table` as Dagster declares them; only `block` checks are blocking."""
    label = {"block": "Blocking", "warn": "Warning", "quarantine": "Quarantine (warning)"}
    return [
        dg.AssetCheckSpec(
            check.name,
            asset=asset_key,
            blocking=check.severity == "block",
            description=f"{label[check.severity]}: {check.rule}. If it fails: {check.action}",
        )
        for check in ex.checks_for(table)
    ]


def with_raw_freshness(defs: dg.Definitions) -> dg.Definitions:
    """Every raw asset (files and connectors) gets a freshness policy, so a source that did not load
    this morning is visible in the UI."""
    policy = dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=ex.RAW_FRESHNESS_FAIL_HOURS),
        warn_window=timedelta(hours=ex.RAW_FRESHNESS_WARN_HOURS),
    )
    return defs.map_resolved_asset_specs(
        func=lambda spec: dg.apply_freshness_policy(spec, policy),
        selection=dg.AssetSelection.key_prefixes("raw"),
    )


@dataclass
class TableQuality:
    """What `validate_table` hands back to the asset."""

    check_results: list[dg.AssetCheckResult] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    quarantined: int = 0


@dataclass(frozen=True)
class Finding:
    """The outcome of one check over one frame."""

    check: ex.Check
    columns: tuple[str, ...]  # shown in the message: the row key, then the check's own columns
    failed: int
    checked: int
    examples: list[dict[str, Any]]
    expectations: list[str]  # every expectation of the check, described
    failing: list[str] = field(default_factory=list)  # the ones that failed
    error: str = ""


def _defer_scipy_stats() -> None:
    """Makes `scipy.stats` load on first use instead of at import. Great Expectations imports it at import
    time for one expectation we never run (KL divergence); deferring it saves ~0.7 s of the ~2 s import in
    every process that validates (docs/benchmarks.md). Anything that does use scipy.stats still gets it:
    the module executes on its first attribute access."""
    name = "scipy.stats"
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    scipy = importlib.import_module("scipy")
    scipy.stats = module  # so `from scipy import stats` finds it without touching it


_gx_lock = threading.Lock()
_prewarm: list[threading.Thread] = []


def prewarm() -> None:
    """Starts loading Great Expectations in a background thread, once per process: its ~1.5 s import then
    overlaps the raw loads instead of delaying the first validating step (the morning run is short)."""
    with _gx_lock:
        if _prewarm or "great_expectations" in sys.modules:
            return
        thread = threading.Thread(target=_prewarm_quietly, name="mpulse-gx-prewarm", daemon=True)
        _prewarm.append(thread)
        thread.start()


def _prewarm_quietly() -> None:
    with contextlib.suppress(Exception):  # the validating step raises the real error when it needs GE
        _gx()


def _gx() -> tuple[Any, Any, Any]:
    with _gx_lock:  # the prewarm thread and a validating step must not build two contexts
        return _load_gx()


@cache
def _load_gx() -> tuple[Any, Any, Any]:
    """(great_expectations, its expectations module, a whole-dataframe batch definition), built once per
    process: an ephemeral context (nothing written to disk), progress bars off, analytics off."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    started = time.perf_counter()
    try:
        _defer_scipy_stats()
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import ProgressBarsConfig
    except ImportError as exc:
        raise MpulseError(
            f"data validation needs Great Expectations ({exc}): pip install 'marketing-pulse[validation]'"
        ) from exc

    _spent["ge_import_seconds"] += time.perf_counter() - started
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in Dagster logs
    frames = context.data_sources.add_pandas("mpulse").add_dataframe_asset("frames")
    return gx, gxe, frames.add_batch_definition_whole_dataframe("whole")


def read_frame(warehouse: WarehouseResource, sql: str) -> pd.DataFrame:
    """A suite's frame; DuckDB hands it over as Arrow (no Python object per value), others via the DB-API."""
    if warehouse.dialect == "duckdb":
        with warehouse.engine.connect() as conn:
            return conn.connection.driver_connection.sql(sql).to_arrow_table().to_pandas()
    return warehouse.query(sql)


def run_params(config: MpulseConfig) -> dict[str, Any]:
    """Values the suites leave open (`Param`): this run's clock and what the config declares."""
    today = config.today()
    return {
        "now": utc_now().replace(microsecond=0),
        "today": today,
        "tomorrow": today + timedelta(days=1),
        "currencies": sorted(ISO_4217),
        "platforms": sorted({*BUILT_IN_PLATFORMS, *(rule.channel for rule in config.channels)}),
    }


def _resolve(value: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(value, ex.Param):
        return params[value.name]
    if isinstance(value, ex.NotNull):
        from great_expectations.expectations.row_conditions import Column

        return Column(value.column).is_not_null()
    return value


def _argument_text(value: Any) -> str:
    if isinstance(value, ex.Param):
        return value.name
    if isinstance(value, ex.NotNull):
        return f"{value.column} is not null"
    return str(value)


def _describe(spec: ex.Expect) -> str:
    args = ", ".join(f"{k}={_argument_text(v)}" for k, v in spec.kwargs.items())
    return f"{spec.type}({args})"


def _validate(
    suite: ex.Suite,
    frame: pd.DataFrame,
    checks: Sequence[ex.Check],
    params: Mapping[str, Any],
    complete: bool,
) -> dict[tuple[str, int], Any]:
    """Runs the checks' expectations over the frame in one GE validation; results by (check, index)."""
    if not checks:
        return {}
    gx, gxe, batch_definition = _gx()
    expectations = [
        getattr(gxe, spec.type)(
            **{k: _resolve(v, params) for k, v in spec.kwargs.items()}, meta={"check": check.name, "index": i}
        )
        for check in checks
        for i, spec in enumerate(check.expectations)
    ]
    shown = list(dict.fromkeys([*suite.key, *(c for check in checks for c in check.show)]))
    result_format = {
        "result_format": "COMPLETE" if complete else "SUMMARY",
        "unexpected_index_column_names": [c for c in shown if c in frame.columns],
        "partial_unexpected_count": EXAMPLES_IN_METADATA,
    }
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    suite_object = gx.ExpectationSuite(name=f"{suite.table}:{checks[0].name}", expectations=expectations)
    results = batch.validate(suite_object, result_format=result_format).results
    return {(r.expectation_config.meta["check"], r.expectation_config.meta["index"]): r for r in results}


def _error_text(result: Any) -> str:
    info = result.exception_info or {}
    messages = [v.get("exception_message") for v in info.values() if isinstance(v, dict)]
    messages.append(info.get("exception_message"))
    return next((m for m in messages if m), "the expectation could not be evaluated")


def _finding(
    suite: ex.Suite, check: ex.Check, results: Mapping[tuple[str, int], Any], checked: int
) -> Finding:
    failed, examples, errors, failing = 0, [], [], []
    for i, spec in enumerate(check.expectations):
        result = results[(check.name, i)]
        if result.success:
            continue
        failing.append(_describe(spec))
        count = result.result.get("unexpected_count")
        if count is None:
            errors.append(f"{_describe(spec)}: {_error_text(result)}")
            continue
        failed += int(count)
        examples += result.result.get("partial_unexpected_index_list") or []
    unique = list({json.dumps(_plain(e), sort_keys=True): e for e in examples}.values())
    described = [_describe(s) for s in check.expectations]
    columns = _columns(suite, check)
    return Finding(check, columns, failed, checked, unique, described, failing, "; ".join(errors))


def _columns(suite: ex.Suite, check: ex.Check) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*suite.key, *check.show]))


def _plain(row: Mapping[str, Any]) -> dict[str, str]:
    return {k: _fmt(v) for k, v in row.items()}


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return "empty"
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.6g}"
    return str(value)


def _row_text(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    return ", ".join(f"{c}={_fmt(row[c])}" for c in columns if c in row)


def _held_rows(
    suite: ex.Suite, check: ex.Check, results: Mapping[tuple[str, int], Any], params: Mapping[str, Any]
) -> list[HeldRow]:
    held: list[HeldRow] = []
    for i, spec in enumerate(check.expectations):
        result = results[(check.name, i)]
        for row in (result.result or {}).get("unexpected_index_list") or []:
            key = tuple(_key_value(row[c]) for c in suite.key)
            values = {**{k: _fmt(v) for k, v in params.items()}, **_plain(row)}
            held.append(
                HeldRow(
                    check_name=check.name,
                    index=i,
                    key=key,
                    row_key=_row_text(row, suite.key),
                    reason=spec.reason.format(**values) if spec.reason else check.problem,
                    row_data=json.dumps(_plain(row), sort_keys=True),
                )
            )
    return held


def _key_value(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


def _message(table: str, finding: Finding) -> str:
    """One line a marketer can act on: table, check, how many, example rows, what to do."""
    check = finding.check
    if finding.error:
        return f"{table}: check {check.name} could not run ({finding.error}). {check.action}"
    if not finding.failed:
        return f"{table}: check {check.name} passed ({finding.checked:,} rows: {check.rule})"
    verb = "held back" if check.severity == "quarantine" else "failed"
    examples = "; ".join(_row_text(e, finding.columns) for e in finding.examples[:EXAMPLES_IN_MESSAGE])
    share = f"{finding.failed / finding.checked:.1%}" if finding.checked else "n/a"
    return (
        f"{table}: check {check.name} {verb}: {finding.failed:,} of {finding.checked:,} rows ({share}) "
        f"{check.problem}, e.g. {examples}. {check.action}"
    )


def _result(table: str, finding: Finding) -> tuple[dg.AssetCheckResult, CheckOutcome]:
    check = finding.check
    passed = not finding.failed and not finding.error
    message = _message(table, finding)
    examples = pd.DataFrame([_plain(e) for e in finding.examples[:EXAMPLES_IN_METADATA]])
    metadata = {
        "rule": check.rule,
        "expectations": dg.MetadataValue.md("\n".join(f"- `{e}`" for e in finding.expectations)),
        "failing_expectations": dg.MetadataValue.md("\n".join(f"- `{e}`" for e in finding.failing) or "none"),
        "unexpected_count": dg.MetadataValue.int(finding.failed),
        "unexpected_percent": dg.MetadataValue.float(
            100.0 * finding.failed / finding.checked if finding.checked else 0.0
        ),
        "checked_rows": dg.MetadataValue.int(finding.checked),
        "what_to_do": check.action,
    }
    if len(examples):
        metadata["examples"] = dg.MetadataValue.md(examples.to_markdown(index=False))
    result = dg.AssetCheckResult(
        check_name=check.name,
        passed=passed,
        severity=SEVERITY.get(check.severity, dg.AssetCheckSeverity.WARN),
        description=message,
        metadata=metadata,
    )
    outcome = CheckOutcome(
        table, check.name, check.severity, passed, finding.failed, finding.checked, message
    )
    return result, outcome


def check_frame(
    suite: ex.Suite, frame: pd.DataFrame, params: Mapping[str, Any]
) -> tuple[list[Finding], list[HeldRow]]:
    """One suite over one frame, without touching the warehouse. Row-level rules are settled first and every
    other check sees only the rows they leave (a row held back must not also block the run). The usual
    case, nothing to hold back, takes one GE validation; otherwise the row-level rules are re-run for every
    failing row and the other checks for the rows left."""
    rowwise = [c for c in suite.checks if c.severity == "quarantine"]
    others = [c for c in suite.checks if c.severity != "quarantine"]
    results = _validate(suite, frame, suite.checks, params, complete=False)
    held: list[HeldRow] = []
    if any(not results[(c.name, i)].success for c in rowwise for i in range(len(c.expectations))):
        complete = _validate(suite, frame, rowwise, params, complete=True)
        held = [r for check in rowwise for r in _held_rows(suite, check, complete, params)]
    findings = [_held_finding(suite, check, held, len(frame)) for check in rowwise]
    if held:
        keys = {r.key for r in held}
        row_keys = frame[list(suite.key)].itertuples(index=False, name=None)
        frame = frame[[tuple(_key_value(v) for v in k) not in keys for k in row_keys]]
        results = _validate(suite, frame, others, params, complete=False)
    findings += [_finding(suite, check, results, len(frame)) for check in others]
    return findings, held


def _held_finding(suite: ex.Suite, check: ex.Check, held: Sequence[HeldRow], checked: int) -> Finding:
    own = [r for r in held if r.check_name == check.name]
    return Finding(
        check,
        (*_columns(suite, check), "reason"),
        len({r.key for r in own}),
        checked,
        [{**json.loads(r.row_data), "reason": r.reason} for r in own],
        [_describe(s) for s in check.expectations],
        sorted({_describe(check.expectations[r.index]) for r in own}),
    )


def validate_table(
    warehouse: WarehouseResource, table: sa.Table, config: MpulseConfig, run_id: str
) -> TableQuality:
    """Runs the table's suites; moves rows that break a row-level rule to the quarantine; records every
    outcome in quality.check_results. Returns the Dagster check results for the asset to hand back."""
    name = f"{table.schema}.{table.name}"
    suites = ex.suites_for(name)
    quality = TableQuality()
    if not suites:
        return quality
    started = time.perf_counter()
    with timed():
        params = run_params(config)
        findings: list[Finding] = []
        for suite in suites:
            found, held = check_frame(suite, read_frame(warehouse, suite.sql), params)
            findings += found
            if any(c.severity == "quarantine" for c in suite.checks):
                quality.quarantined += hold_back(warehouse, table, suite.key, held, run_id)
        pairs = [_result(name, f) for f in findings]
        record_outcomes(warehouse, name, [o for _, o in pairs], run_id)
    quality.check_results = [r for r, _ in pairs]
    quality.metadata = {
        "quarantined_rows": dg.MetadataValue.int(quality.quarantined),
        "checks_failed": dg.MetadataValue.int(sum(not r.passed for r in quality.check_results)),
        "validation_seconds": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
    }
    return quality
