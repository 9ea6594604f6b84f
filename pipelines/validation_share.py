"""How much of a daily run is data validation, on the demo data set; writes the "Validation share" section
of docs/benchmarks.md (and only that section: bench/run.py writes the others).

    python -m pipelines.validation_share [--repeat 3] [--out docs/benchmarks.md]

Each measured run is a fresh interpreter, as a scheduled run is in production (one process per run), so the
Great Expectations import is paid once per run and counted. Validation time is what assets/checks.py and
assets/reconcile.py spend inside `timed()`: the GE import, reading each suite's frame, GE validation,
writing quarantine and check results, and the SQL reconciliation of the marts. The budget is 20% of the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

BUDGET = 0.20
END = date(2026, 10, 31)  # fixed, so the demo data are the same on every machine and day
SEED = 7
BEGIN = "<!-- validation-share:begin (written by `python -m pipelines.validation_share`; edit outside) -->"
FINISH = "<!-- validation-share:end -->"
HEADING = "## Validation share"


def _child(config_path: str, url: str, first: str, last: str) -> dict[str, Any]:
    """One daily_job run, in this (fresh) process, timed."""
    import dagster as dg

    from assets.checks import validation_timings
    from pipelines.definitions import build_definitions
    from pipelines.jobs import DAILY_JOB
    from pipelines.runner import QUIET_LOGS
    from pipelines.windows import DayRange
    from resources.config import parse_config

    config = parse_config(Path(config_path))
    days = DayRange(date.fromisoformat(first), date.fromisoformat(last))
    with dg.DagsterInstance.get() as instance:
        job = build_definitions(config, url).resolve_job_def(DAILY_JOB)
        wall, cpu = time.perf_counter(), time.process_time()
        result = job.execute_in_process(
            instance=instance, tags=days.tags(), raise_on_error=False, run_config=QUIET_LOGS
        )
        run_s, run_cpu_s = time.perf_counter() - wall, time.process_time() - cpu
        checks = result.get_asset_check_evaluations()
    spent = validation_timings()
    return {
        "ok": result.success,
        "days": days.days,
        "run_s": run_s,
        "run_cpu_s": run_cpu_s,
        "validation_s": spent["seconds"],
        "validation_cpu_s": spent["cpu_seconds"],
        "ge_import_s": spent["ge_import_seconds"],
        "checks": len(checks),
        "checks_passed": sum(c.passed for c in checks),
    }


def _run_child(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "pipelines.validation_share", "--child", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(repeat: int) -> dict[str, list[dict[str, Any]]]:
    """Median-ready samples of the two daily runs: a full history and a scheduled morning run."""
    from pipelines.demo import write_demo
    from resources.config import parse_config

    with tempfile.TemporaryDirectory(prefix="mpulse-validation-") as tmp:
        work = Path(tmp)
        config_path = write_demo(work / "demo", seed=SEED, end=END)
        config = parse_config(config_path)
        home = work / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        env = {**os.environ, "DAGSTER_HOME": str(home), "MPULSE_REPORTS_DIR": str(work / "reports")}
        morning = (END - timedelta(days=config.rerun_days), END)
        samples: dict[str, list[dict[str, Any]]] = {"history": [], "morning": []}
        for i in range(repeat):
            url = f"duckdb:///{work}/warehouse_{i}.duckdb"
            history = _run_child(env, str(config_path), url, config.start_date.isoformat(), END.isoformat())
            samples["history"].append(history)
            samples["morning"].append(
                _run_child(env, str(config_path), url, *(d.isoformat() for d in morning))
            )
        return samples


def _median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in rows)


METHOD = (
    "Method: `time.perf_counter()` (wall) and `time.process_time()` (CPU) around the daily job's "
    "`execute_in_process`, against the totals that `assets.checks.timed()` accumulates around every "
    "validation step: waiting for Great Expectations to be loaded, reading each suite's frame, GE "
    "validation, writing quality.quarantine and quality.check_results, and the SQL reconciliations of the "
    "marts. Each asset also reports its own `validation_seconds` in its metadata. Reproduce: "
    "`python -m pipelines.validation_share`.\n\n"
    "Reading: the GE import is a fixed cost per process (1.5-2 s here, after deferring scipy.stats, which GE "
    "imports for an expectation we never run), whatever the data size. The first raw asset of a run starts "
    "it in a background thread (`assets.checks.prewarm`), so it overlaps the file loads and the run waits "
    "for it only if staging is reached first: 'of which GE import' is the import's own time, mostly off the "
    "critical path, and 'validation wall' is what the run actually spends on validation. The import's CPU "
    "is still spent on the other core: counted in, validation takes about 45% of the morning run's CPU."
)
LABELS = {
    "history": "`mpulse run` on the whole demo (start_date .. end)",
    "morning": "scheduled morning run (yesterday + rerun window)",
}


def render(samples: dict[str, list[dict[str, Any]]]) -> str:
    rows = []
    for name, runs in samples.items():
        run_s, val_s, ge_s = (_median(runs, k) for k in ("run_s", "validation_s", "ge_import_s"))
        run_cpu, val_cpu = _median(runs, "run_cpu_s"), _median(runs, "validation_cpu_s")
        verdict = "within" if val_s / run_s < BUDGET else "over"
        cells = [
            LABELS[name],
            str(runs[0]["days"]),
            f"{run_s:.1f}",
            f"{val_s:.2f}",
            f"{ge_s:.2f}",
            f"**{val_s / run_s:.1%}** ({verdict})",
            f"{run_cpu:.1f}",
            f"{val_cpu:.2f}",
            f"{val_cpu / run_cpu:.1%}",
            f"{runs[0]['checks_passed']}/{runs[0]['checks']}",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    header = (
        "| run | days | run wall s | validation wall s | of which GE import s | validation share (wall) "
        "| run CPU s | validation CPU s | share (CPU) | checks passed |"
    )
    intro = (
        f"Daily job on the demo data set (`write_demo(seed={SEED}, end={END})`, default DemoSize), DuckDB, "
        f"median of {len(samples['history'])} runs, each in a fresh interpreter; measured {date.today()} on "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, great_expectations "
        f"{version('great_expectations')}. Budget: validation under {BUDGET:.0%} of the run."
    )
    return "\n".join([BEGIN, intro, "", header, "| --- |" + " ---: |" * 9, *rows, "", METHOD, FINISH])


def update_document(path: Path, section: str) -> None:
    """Replaces the text between our marks (or appends the section), leaving the rest of the file alone."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if BEGIN in text and FINISH in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(FINISH, 1)[1]
    elif HEADING in text:
        head, rest = text.split(HEADING, 1)
        tail = rest[rest.find("\n## ") :] if "\n## " in rest else "\n"
        text = f"{head}{HEADING}\n\n{section}\n{tail}"
    else:
        text = f"{text.rstrip()}\n\n{HEADING}\n\n{section}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--child", nargs=4, metavar=("CONFIG", "URL", "FIRST", "LAST"), help=argparse.SUPPRESS
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(*args.child)))
        return 0
    section = render(measure(args.repeat))
    update_document(args.out, section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
