"""`make bench`: Marketing Pulse at the scale of a large marketing department, against the lower bound (the
same marts straight from the CSVs in one DuckDB script) and a peer (dlt loading the same CSVs).

    python bench/run.py --size large --runs 3 --out docs/benchmarks.md   (about 15 minutes on 2 cores)
    python bench/run.py --size ci --skip-postgres                        (seconds; what the tests run)

Each measured step runs in a fresh interpreter (bench/steps.py), so its wall time and peak RSS are its own
(os.wait4 gives the peak RSS of the largest process of the step's tree). The lower bound's daily totals must
equal ours, or the run fails: a faster number for different results would not be a comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (str(REPO), str(HERE)):  # the project's packages, and bench/report.py beside this script
    if _path not in sys.path:
        sys.path.insert(0, _path)

from report import render_section, update_document  # noqa: E402

from pipelines.demo import DemoSize, write_demo  # noqa: E402

STEPS = Path(__file__).with_name("steps.py")
RESULT_PREFIX = "BENCH-RESULT "
SEED = 7
END = date(2026, 4, 30)  # fixed, so every size is the same data on every machine and day
BEGIN_MARK = "<!-- bench:results:begin (written by bench/run.py; edit outside these marks) -->"
END_MARK = "<!-- bench:results:end -->"

SIZES: dict[str, DemoSize] = {
    # CI: seconds, every code path (both platforms, two accounts, other costs, FX, deals).
    "ci": DemoSize(
        months=2, leads_per_month=1500, google_campaigns=6, facebook_campaigns=5, accounts_per_platform=2
    ),
    # A mid-size company: a year, ~120k leads, ~0.2M ad-spend rows (660 campaigns in 60 accounts).
    "small": DemoSize(
        months=12,
        leads_per_month=10_000,
        google_campaigns=12,
        facebook_campaigns=10,
        accounts_per_platform=30,
    ),
    # A large marketing department: two years, ~1M leads, ~5M ad-spend rows (8,000 campaigns in 400
    # accounts), ~60k deals in USD and EUR.
    "large": DemoSize(
        months=24,
        leads_per_month=42_000,
        google_campaigns=20,
        facebook_campaigns=20,
        accounts_per_platform=200,
    ),
}


@dataclass(frozen=True)
class Targets:
    """The issue's targets; the code is tuned to them, never the other way round."""

    ingest_duckdb_rows_s: float = 1_000_000
    ingest_postgres_rows_s: float = 200_000
    rebuild_vs_lower_bound: float = 2.0
    daily_run_s: float = 10.0
    peak_rss_mb: float = 1000.0  # 1 GB


TARGETS = Targets()


@dataclass
class Measured:
    """One step in its own process: wall seconds and peak RSS from outside, and what it printed."""

    step: str
    wall_s: float
    peak_rss_mb: float
    result: dict[str, Any] = field(default_factory=dict)
    ok: bool = True
    error: str = ""


class BenchError(RuntimeError):
    pass


# --- running steps --------------------------------------------------------------------------------------


def measure(step: str, args: dict[str, Any], log_dir: Path, env: dict[str, str] | None = None) -> Measured:
    """Runs `bench/steps.py step` in a fresh interpreter; wall time and peak RSS via os.wait4."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{step}.log"
    cmd = [sys.executable, str(STEPS), step, json.dumps(args)]
    with log.open("a", encoding="utf-8") as err:
        err.write(f"$ {' '.join(cmd)}\n")
        err.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        proc.stdout.close()
    peak_mb = usage.ru_maxrss * 1024 / 1e6  # Linux reports KiB
    lines = [line for line in out.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        return Measured(step, wall, peak_mb, ok=False, error="\n".join(tail))
    return Measured(step, wall, peak_mb, json.loads(lines[-1].removeprefix(RESULT_PREFIX)))


def median_of(runs: int, once: Callable[[], Measured]) -> Measured:
    """Runs a step `runs` times and keeps the run with the median wall time (the figure to quote)."""
    results = [once() for _ in range(max(1, runs))]
    failed = [r for r in results if not r.ok]
    if failed:
        return failed[0]
    ordered = sorted(results, key=lambda r: r.wall_s)
    chosen = ordered[len(ordered) // 2]
    chosen.result["wall_runs_s"] = [round(r.wall_s, 3) for r in results]
    return chosen


# --- inputs ---------------------------------------------------------------------------------------------


def ensure_data(size: str, work: Path) -> tuple[Path, Path, float | None]:
    """The generated files of `size` (reused while the size, seed, end and generator are unchanged)."""
    demo = work / "demo"
    generator = REPO / "pipelines" / "demo.py"
    stamp = json.dumps(
        {
            "size": asdict(SIZES[size]),
            "seed": SEED,
            "end": END.isoformat(),
            "generator": hashlib.sha256(generator.read_bytes()).hexdigest(),
        },
        sort_keys=True,
    )
    stamp_file = demo / ".bench-stamp"
    config = demo / "config.yaml"
    if config.exists() and stamp_file.exists() and stamp_file.read_text(encoding="utf-8") == stamp:
        return config, demo / "data", None
    shutil.rmtree(demo, ignore_errors=True)
    started = time.perf_counter()
    write_demo(demo, seed=SEED, end=END, size=SIZES[size])
    seconds = time.perf_counter() - started
    stamp_file.write_text(stamp, encoding="utf-8")
    return config, demo / "data", seconds


def _count_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return max(sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1, 0)


# --- PostgreSQL -----------------------------------------------------------------------------------------


def pg_server() -> str:
    return (
        os.environ.get("MPULSE_BENCH_PG")
        or os.environ.get("MPULSE_TEST_PG")
        or "postgresql+psycopg://postgres@127.0.0.1:5432"
    )


@contextlib.contextmanager
def pg_database(server: str) -> Iterator[str]:
    """A fresh database for one step, dropped afterwards; raises BenchError when the server is not there."""
    import sqlalchemy as sa

    admin = sa.create_engine(
        f"{server}/postgres", isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"mpulse_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'create database "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        raise BenchError(f"PostgreSQL at {server} is not reachable: {str(exc).splitlines()[0]}") from None
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


# --- comparing ours with the lower bound ----------------------------------------------------------------

ADDITIVE = (
    "spend", "other_costs", "total_cost", "impressions", "clicks", "platform_leads", "leads", "mql", "sql",
    "disqualified", "won_deals", "revenue",
)  # fmt: skip
_TOTALS_SQL = (
    "select period_start, count(*) as row_count, "
    + ", ".join(f"sum({c}) as {c}" for c in ADDITIVE)
    + " from marts.metrics_daily group by period_start order by period_start"
)


def _duckdb_totals(path: Path) -> list[tuple[Any, ...]]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return [tuple(row) for row in con.execute(_TOTALS_SQL).fetchall()]
    finally:
        con.close()


def _sqlalchemy_totals(url: str) -> list[tuple[Any, ...]]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(_TOTALS_SQL)).fetchall()]
    finally:
        engine.dispose()


def compare_totals(ours: list[tuple[Any, ...]], bound: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Per-day row counts and sums of every additive column of marts.metrics_daily, exactly equal."""
    from decimal import Decimal

    def norm(rows: list[tuple[Any, ...]]) -> dict[Any, tuple[Any, ...]]:
        return {
            str(r[0]): tuple(Decimal(str(v)) if v is not None else Decimal(0) for v in r[1:]) for r in rows
        }

    a, b = norm(ours), norm(bound)
    days = sorted(set(a) | set(b))
    diffs = [d for d in days if a.get(d) != b.get(d)]
    return {
        "equal": not diffs and bool(days),
        "days": len(days),
        "columns": len(ADDITIVE) + 1,
        "different_days": diffs[:10],
        "ours_total_rows": sum(int(v[0]) for v in a.values()),
        "ours_total_spend": str(sum((v[1] for v in a.values()), Decimal(0))),
        "ours_total_revenue": str(sum((v[12] for v in a.values()), Decimal(0))),
    }


def compare_rows(ours: Path, bound: Path) -> int:
    """Rows of marts.metrics_daily present in one side only (every column, ratios included)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"attach '{ours}' as ours (read_only)")
        con.execute(f"attach '{bound}' as bound (read_only)")
        sql = (
            "select count(*) from ((select * from ours.marts.metrics_daily except all "
            "select * from bound.marts.metrics_daily) union all (select * from bound.marts.metrics_daily "
            "except all select * from ours.marts.metrics_daily))"
        )
        row = con.execute(sql).fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


# --- the benchmark --------------------------------------------------------------------------------------


@dataclass
class Bench:
    size: str
    work: Path
    runs: int
    skip_postgres: bool
    postgres_rebuild: bool
    results: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        return self.work / "logs"

    def say(self, text: str) -> None:
        print(text, flush=True)

    def run(self) -> dict[str, Any]:
        self.work.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.logs, ignore_errors=True)
        from resources.config import parse_config

        self.say(f"bench: size {self.size}, work folder {self.work}")
        config_path, data_dir, generated_s = ensure_data(self.size, self.work)
        config = parse_config(config_path)
        first, last = config.start_date, END
        files = {p.stem: {"bytes": p.stat().st_size, "rows": _count_rows(p)} for p in data_dir.glob("*.csv")}
        self.results.update(
            size=self.size,
            demo_size=asdict(SIZES[self.size]),
            files=files,
            generated_s=generated_s,
            range=[first.isoformat(), last.isoformat()],
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            environment=environment(),
            targets=asdict(TARGETS),
        )
        listed = ", ".join(f"{name} {info['rows']:,}" for name, info in sorted(files.items()))
        self.say(f"  inputs: {listed}")
        common = {"data_dir": str(data_dir)}

        # Ingest: ours into DuckDB and PostgreSQL, dlt into DuckDB.
        def ingest_duckdb() -> Measured:
            db = self.work / "ingest.duckdb"
            db.unlink(missing_ok=True)
            return measure("ingest", {"url": f"duckdb:///{db}", **common}, self.logs)

        self.results["ingest_duckdb"] = self.step("ingest into DuckDB", ingest_duckdb, runs=self.runs)
        if self.skip_postgres:
            self.results["ingest_postgres"] = None
            self.notes.append("PostgreSQL was skipped (--skip-postgres).")
        else:
            self.results["ingest_postgres"] = self.with_postgres(
                "ingest into PostgreSQL",
                lambda url: measure("ingest", {"url": url, **common}, self.logs),
                runs=self.runs,
            )
        if importlib.util.find_spec("dlt") is None:
            self.results["dlt"] = None
            self.notes.append("dlt is not installed (`pip install -e .[bench]`): the peer row is empty.")
        else:

            def dlt_run() -> Measured:
                folder = self.work / "dlt"
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                return measure("dlt", {"work_dir": str(folder), **common}, self.logs)

            self.results["dlt"] = self.step("dlt into DuckDB", dlt_run, runs=self.runs)

        # Full rebuild (fresh warehouse and Dagster instance), then the daily run on top of it.
        warehouse = self.work / "warehouse.duckdb"
        home = self.work / "dagster_home"
        pipeline_args = {"config_path": str(config_path), "dagster_home": str(home)}
        window = daily_window(config, last)

        def rebuild() -> Measured:
            warehouse.unlink(missing_ok=True)
            warehouse.with_suffix(".duckdb.wal").unlink(missing_ok=True)
            shutil.rmtree(home, ignore_errors=True)
            args = {**pipeline_args, "url": f"duckdb:///{warehouse}", "first": str(first), "last": str(last)}
            return measure("pipeline", args, self.logs)

        self.results["rebuild_duckdb"] = self.step("full rebuild on DuckDB", rebuild)

        def daily() -> Measured:
            args = {
                **pipeline_args,
                "url": f"duckdb:///{warehouse}",
                "first": str(window[0]),
                "last": str(window[1]),
            }
            return measure("pipeline", args, self.logs)

        self.results["daily_window"] = [window[0].isoformat(), window[1].isoformat()]
        self.results["daily_duckdb"] = self.step(
            f"daily run {window[0]}..{window[1]} on DuckDB", daily, runs=max(self.runs, 1)
        )

        # The lower bound, and the check that it computes what we compute.
        bound = self.work / "lower_bound.duckdb"

        def lower() -> Measured:
            args = {
                "config_path": str(config_path),
                "db_path": str(bound),
                "first": str(first),
                "last": str(last),
            }
            return measure("lower_bound", {**args, **common}, self.logs)

        self.results["lower_bound"] = self.step(
            "lower bound (DuckDB read_csv + one script)", lower, runs=self.runs
        )
        self.results["equality"] = self.check_equality(warehouse, bound)

        if self.postgres_rebuild and not self.skip_postgres:

            def pg_rebuild(url: str) -> Measured:
                shutil.rmtree(self.work / "dagster_home_pg", ignore_errors=True)
                args = {
                    "config_path": str(config_path),
                    "dagster_home": str(self.work / "dagster_home_pg"),
                    "url": url,
                    "first": str(first),
                    "last": str(last),
                }
                measured = measure("pipeline", args, self.logs)
                if measured.ok and bound.exists():
                    measured.result["totals"] = compare_totals(_sqlalchemy_totals(url), _duckdb_totals(bound))
                return measured

            self.results["rebuild_postgres"] = self.with_postgres("full rebuild on PostgreSQL", pg_rebuild)
        self.results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.results["notes"] = self.notes
        return self.results

    def step(self, label: str, once: Callable[[], Measured], runs: int = 1) -> dict[str, Any]:
        self.say(f"  {label} ...")
        measured = median_of(runs, once)
        if not measured.ok:
            raise BenchError(f"{label} failed:\n{measured.error}")
        self.say(f"    {measured.wall_s:.1f} s wall, peak RSS {measured.peak_rss_mb:,.0f} MB")
        return asdict(measured)

    def with_postgres(
        self, label: str, once: Callable[[str], Measured], runs: int = 1
    ) -> dict[str, Any] | None:
        def in_fresh_database() -> Measured:
            with pg_database(pg_server()) as url:
                return once(url)

        try:
            return self.step(label, in_fresh_database, runs=runs)
        except BenchError as exc:
            if "not reachable" not in str(exc):
                raise
            self.notes.append(str(exc))
            self.say(f"    skipped: {exc}")
            return None

    def check_equality(self, ours: Path, bound: Path) -> dict[str, Any]:
        totals = compare_totals(_duckdb_totals(ours), _duckdb_totals(bound))
        totals["rows_only_on_one_side"] = compare_rows(ours, bound)
        verdict = "equal" if totals["equal"] and totals["rows_only_on_one_side"] == 0 else "DIFFERENT"
        self.say(
            f"  ours vs lower bound, marts.metrics_daily: {verdict} ({totals['days']} days x "
            f"{totals['columns']} totals; {totals['rows_only_on_one_side']} rows differ)"
        )
        return totals


def daily_window(config: Any, last: date) -> tuple[date, date]:
    """What the morning schedule runs on the day after `last`: yesterday plus the re-run window."""
    from pipelines.windows import daily_rerun_window

    window = daily_rerun_window(config, last + timedelta(days=1))
    assert window is not None
    return window.first, window.last


def environment() -> dict[str, Any]:
    import dagster
    import duckdb
    import pyarrow

    try:
        import psycopg

        pg_version = psycopg.__version__
    except ImportError:
        pg_version = None
    memory = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024**2, 1)
    return {
        "cpus": os.cpu_count(),
        "memory_gib": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "dagster": dagster.__version__,
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
        "psycopg": pg_version,
    }


# --- the report -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="small", help="input size (default: small)")
    parser.add_argument(
        "--out", type=Path, default=None, help="Markdown report to write (e.g. docs/benchmarks.md)"
    )
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: bench_out/<size>)")
    parser.add_argument("--json", type=Path, default=None, help="raw results (default: <work>/results.json)")
    parser.add_argument("--skip-postgres", action="store_true", help="measure DuckDB only")
    parser.add_argument(
        "--postgres-rebuild",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time the full rebuild on PostgreSQL (default: on, except for --size ci)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="runs of each ingest, the daily run and the lower bound; the median run is quoted (default 1)",
    )
    args = parser.parse_args(argv)

    work = (args.work or REPO / "bench_out" / args.size).resolve()
    bench = Bench(
        size=args.size,
        work=work,
        runs=args.runs,
        skip_postgres=args.skip_postgres,
        postgres_rebuild=args.size != "ci" if args.postgres_rebuild is None else args.postgres_rebuild,
    )
    command = "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        results = bench.run()
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    results["command"] = command.strip()
    json_path = args.json or work / "results.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    section = render_section(results, TARGETS)
    print()
    print(section)
    if args.out is not None:
        update_document(args.out, section, BEGIN_MARK, END_MARK)
        print(f"bench: wrote {args.out} and {json_path}")
    equality = results["equality"]
    if not (equality["equal"] and equality["rows_only_on_one_side"] == 0):
        print("bench: ours and the lower bound disagree on marts.metrics_daily", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
