"""The measured steps of `make bench`. bench/run.py starts each one in a fresh interpreter
(`python bench/steps.py STEP JSON_ARGS`) so that its wall time and peak RSS belong to that step alone; the
step prints its inner timings as one JSON line on stdout.

Kept free of any benchmark logic (targets, tables, verdicts): a step only does the work and times it."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python bench/steps.py` puts bench/ first on the path, not the repo
    sys.path.insert(0, str(REPO))

LOWER_BOUND_SQL = Path(__file__).with_name("lower_bound.sql")
RESULT_PREFIX = "BENCH-RESULT "  # the line bench/run.py reads; anything else on stdout is log


def ingest(url: str, data_dir: str) -> dict[str, Any]:
    """What each raw.files__* asset does (read + validate + type the CSV, replace the raw table), per file."""
    from assets.ingestion.tables import RAW_FILE_TABLES
    from resources.csv_files import FILE_CONTRACTS, CsvFilesResource
    from resources.warehouse import WarehouseResource, dispose_engines

    warehouse = WarehouseResource(url=url)
    files = CsvFilesResource(path=data_dir)
    _ = warehouse.engine  # schemas and tables exist before the clock starts, as after a first run
    tables: dict[str, dict[str, float]] = {}
    for name, contract in FILE_CONTRACTS.items():
        started = time.perf_counter()
        rows = files.read(contract)
        read = time.perf_counter()
        count = warehouse.replace_rows(RAW_FILE_TABLES[name], rows)
        done = time.perf_counter()
        tables[name] = {"rows": count, "read_s": read - started, "load_s": done - read}
        del rows
    dispose_engines()
    return {"tables": tables}


def dlt_ingest(data_dir: str, work_dir: str) -> dict[str, Any]:
    """The peer: each CSV read into a pyarrow table and loaded by dlt into DuckDB (dlt's fastest path)."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from resources.csv_files import FILE_CONTRACTS

    work = Path(work_dir)
    pipeline = dlt.pipeline(
        pipeline_name="mpulse_bench",
        destination=dlt.destinations.duckdb(str(work / "dlt.duckdb")),
        dataset_name="raw",
        pipelines_dir=str(work / "dlt_pipelines"),
    )
    pipeline.run(pa.table({"x": [1]}), table_name="_warmup")  # dlt's one-off setup, off the clock
    tables: dict[str, dict[str, float]] = {}
    for name, contract in FILE_CONTRACTS.items():
        started = time.perf_counter()
        # Timestamps mix `Z`, `+03:00` and naive forms, which pyarrow's CSV reader cannot infer as one type,
        # so they stay text; every other column is inferred by pyarrow (numbers as float64).
        stamps = {c.name: pa.string() for c in contract.columns if c.kind == "timestamp"}
        table = pacsv.read_csv(
            Path(data_dir) / contract.filename, convert_options=pacsv.ConvertOptions(column_types=stamps)
        )
        read = time.perf_counter()
        pipeline.run(table, table_name=f"files__{name}", write_disposition="replace")
        done = time.perf_counter()
        tables[name] = {"rows": table.num_rows, "read_s": read - started, "load_s": done - read}
        del table
    return {"tables": tables, "dlt_version": dlt.__version__}


def _step_durations(instance: Any, run_ids: list[str]) -> dict[str, float]:
    """Seconds per Dagster step (asset) from the runs' event logs: the profile of a pipeline run."""
    import dagster as dg

    out: dict[str, float] = {}
    for run_id in run_ids:
        started: dict[str, float] = {}
        kinds = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
        kinds.add(dg.DagsterEventType.STEP_FAILURE)
        for entry in instance.all_logs(run_id, of_type=kinds):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                started[event.step_key] = entry.timestamp
            elif event.step_key in started:
                key = event.step_key
                out[key] = out.get(key, 0.0) + entry.timestamp - started.pop(key)
    return out


def _validation_by_asset(instance: Any, run_ids: list[str]) -> dict[str, float]:
    """Seconds of data validation per asset, as the assets report it (metadata `validation_seconds`, set by
    assets/checks.py around Great Expectations); empty while no asset validates."""
    import dagster as dg

    out: dict[str, float] = {}
    for run_id in run_ids:
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
            event = entry.dagster_event
            materialization = event.event_specific_data.materialization if event else None
            value = materialization.metadata.get("validation_seconds") if materialization else None
            if value is not None:
                key = materialization.asset_key.to_user_string()
                out[key] = out.get(key, 0.0) + float(value.value)
    return out


def pipeline(config_path: str, url: str, first: str, last: str, dagster_home: str) -> dict[str, Any]:
    """`mpulse run --start FIRST --end LAST` in process: the three Dagster runs of pipelines/runner.py."""
    home = Path(dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    imported = time.perf_counter()
    import dagster as dg

    from pipelines.runner import run_range
    from pipelines.windows import DayRange
    from resources.config import parse_config
    from resources.warehouse import dispose_engines

    config = parse_config(Path(config_path))
    days = DayRange(date.fromisoformat(first), date.fromisoformat(last))
    with dg.DagsterInstance.get() as instance:
        before = {run.run_id for run in instance.get_runs()}
        started = time.perf_counter()
        summary = run_range(config, days, instance, warehouse_url=url, echo=lambda _: None)
        run_s = time.perf_counter() - started
        run_ids = [run.run_id for run in instance.get_runs() if run.run_id not in before]
        steps = _step_durations(instance, run_ids)
        validation = _validation_by_asset(instance, run_ids)
    dispose_engines()
    try:  # the process-wide total of assets/checks.py (GE import included), when that module exists
        from assets.checks import validation_seconds

        validation_total: float | None = validation_seconds()
    except ImportError:
        validation_total = None
    return {
        "ok": summary.ok,
        "problems": summary.problems[:20],
        "import_s": started - imported,
        "run_s": run_s,
        "runs": len(run_ids),
        "materializations": summary.materializations,
        "steps": steps,
        "validation_by_asset": validation,
        "validation_process_s": validation_total,
    }


# --- the lower bound ------------------------------------------------------------------------------------

_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")  # SQLAlchemy's text() bind syntax


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return f"date '{value.isoformat()}'"
    if isinstance(value, int | float):
        return repr(value)
    if value is None:
        return "null"
    return "'" + str(value).replace("'", "''") + "'"


def bind_literals(sql: str, params: Mapping[str, Any]) -> str:
    """The repo's `:name` parameters as SQL literals, so a model runs as plain DuckDB SQL."""
    return _BIND.sub(lambda m: _literal(params[m.group(1)]), sql)


def _schema_ddl() -> str:
    """The repo's own CREATE TABLEs for what the staging and mart SQL reads and writes, minus raw.files__*
    (the lower bound creates those from read_csv)."""
    from duckdb_engine import Dialect
    from sqlalchemy.schema import CreateTable

    import pipelines.definitions  # noqa: F401  (registers every table of every layer in METADATA)
    from resources.warehouse import METADATA

    dialect = Dialect()
    tables = [t for t in METADATA.sorted_tables if not (t.schema == "raw" and t.name.startswith("files__"))]
    schemas = sorted({t.schema for t in tables if t.schema} | {"raw"})
    lines = [f"create schema {s};" for s in schemas]
    lines += [str(CreateTable(t).compile(dialect=dialect)).strip() + ";" for t in tables]
    return "\n".join(lines)


def _channel_rules_sql(config: Any) -> str:
    """The rows the staging.channel_rules asset writes: one per (rule, field, value), in rule order."""
    rows = []
    for order, rule in enumerate(config.channels):
        pairs = [(f, v) for f, values in rule.match.items() for v in values] or [(None, None)]
        rows += [(order, rule.channel, rule.team, f, v, len(rule.match)) for f, v in pairs]
    if not rows:
        return ""
    values = ",\n  ".join("(" + ", ".join(_literal(x) for x in row) + ")" for row in rows)
    return f"insert into staging.channel_rules values\n  {values};"


def lower_bound_script(config_path: str, data_dir: str, first: date, last: date) -> str:
    """bench/lower_bound.sql with its slots filled from the repo's SQL files and the config."""
    from assets.marts.metrics import period_sql
    from assets.partitions import month_start, week_start
    from assets.sql import read_sql
    from assets.staging.assets import _params as staging_params
    from resources.config import parse_config

    config = parse_config(Path(config_path))
    staging = staging_params(config)
    margin = config.reporting.gross_margin
    windows = {  # [start, end) of the partitions `mpulse run --start first --end last` writes, per grain
        "day": (first, last + timedelta(days=1)),
        "week": (week_start(first), week_start(last) + timedelta(days=7)),
        "month": (month_start(first), _next_month(month_start(last))),
    }

    def fill(match: re.Match[str]) -> str:
        kind, _, name = match.group(1).partition(":")
        if kind == "schema":
            return _schema_ddl()
        if kind == "channel_rules":
            return _channel_rules_sql(config)
        if kind == "data":
            return str(Path(data_dir).resolve()).replace("'", "''")
        if kind == "staging":
            return bind_literals(read_sql("assets.staging", name).strip().rstrip(";"), staging)
        if kind == "marts":
            start, end = windows[name]
            params = {"start": start, "end": end, "gross_margin": margin}
            return bind_literals(period_sql(name).strip().rstrip(";"), params)
        raise ValueError(f"unknown slot {{{{{match.group(1)}}}}} in {LOWER_BOUND_SQL.name}")

    slot = re.compile(r"\{\{([a-z_]+(?::[a-z_]+)?)\}\}")
    lines = LOWER_BOUND_SQL.read_text(encoding="utf-8").splitlines()
    return "\n".join(line if line.lstrip().startswith("--") else slot.sub(fill, line) for line in lines)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def lower_bound(config_path: str, data_dir: str, db_path: str, first: str, last: str) -> dict[str, Any]:
    """Runs the filled lower-bound script in a fresh DuckDB file; only the script's execution is timed."""
    import duckdb

    script = lower_bound_script(config_path, data_dir, date.fromisoformat(first), date.fromisoformat(last))
    Path(db_path).unlink(missing_ok=True)
    con = duckdb.connect(db_path)
    started = time.perf_counter()
    con.execute(script)
    con.execute("checkpoint")
    run_s = time.perf_counter() - started
    rows = con.execute("select count(*) from marts.metrics_daily").fetchone()
    con.close()
    return {"run_s": run_s, "mart_rows": rows[0] if rows else 0, "duckdb_version": duckdb.__version__}


STEPS: dict[str, Callable[..., dict[str, Any]]] = {
    "ingest": ingest,
    "dlt": dlt_ingest,
    "pipeline": pipeline,
    "lower_bound": lower_bound,
}


def main(argv: list[str]) -> int:
    name, args = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    result = STEPS[name](**args)
    sys.stdout.write(RESULT_PREFIX + json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
