"""`mpulse` as a user runs it: real processes, real exit codes, one line per problem on stderr."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SMALL_CONFIG


def mpulse(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], cwd=cwd, env=full_env, capture_output=True, text=True
    )


@pytest.fixture
def case(tmp_path: Path) -> Path:
    target = tmp_path / "case"
    shutil.copytree(SMALL_CONFIG.parent, target)
    return target


def test_run_then_report_from_someone_elses_files(case: Path, tmp_path: Path):
    env = {"MPULSE_WAREHOUSE_URL": f"duckdb:///{tmp_path}/w.duckdb", "DAGSTER_HOME": str(tmp_path / "home")}
    run = mpulse(
        "run",
        "--config",
        str(case / "config.yaml"),
        "--start",
        "2026-03-01",
        "--end",
        "2026-04-30",
        cwd=tmp_path,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert "marts/metrics_daily" in run.stdout and "done:" in run.stdout
    assert (tmp_path / "home" / "dagster.yaml").read_text().startswith("telemetry:")
    report = mpulse(
        "report",
        "daily",
        "--date",
        "2026-04-07",
        "--config",
        str(case / "config.yaml"),
        cwd=tmp_path,
        env=env,
    )
    assert report.returncode == 0, report.stderr
    # Brand Search spent 20.00 on 04-01 and got no lead in 04-01..04-07
    assert "Brand Search 2026 (google_ads:111): spent 20.00 with no leads" in report.stdout
    html = mpulse(
        "report",
        "daily",
        "--date",
        "2026-03-03",
        "--format",
        "html",
        "--out",
        str(tmp_path / "r.html"),
        "--config",
        str(case / "config.yaml"),
        cwd=tmp_path,
        env=env,
    )
    assert html.returncode == 0
    assert "<table" in (tmp_path / "r.html").read_text()


def test_a_bad_file_fails_the_run_with_one_line_per_problem(case: Path, tmp_path: Path):
    leads = case / "data" / "leads.csv"
    leads.write_text(leads.read_text() + "L8,yesterday,,,,,,,,,\n")
    env = {"MPULSE_WAREHOUSE_URL": f"duckdb:///{tmp_path}/w.duckdb", "DAGSTER_HOME": str(tmp_path / "home")}
    run = mpulse(
        "run",
        "--config",
        str(case / "config.yaml"),
        "--start",
        "2026-03-01",
        "--end",
        "2026-03-31",
        cwd=tmp_path,
        env=env,
    )
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert "error: leads.csv row 9, column created_at: 'yesterday' is not an ISO 8601 timestamp" in lines
    assert "Traceback" not in run.stderr


def test_check_config_lists_every_problem(tmp_path: Path):
    bad = tmp_path / "config.yaml"
    bad.write_text(
        "start_date: 2026-01-01\n"
        "reporting: {currency: EURO, timezone: Mars/Base}\n"
        "channels:\n  - {channel: google_ads, team: inbound, match: {utm_sourc: [google]}}\n"
        "plan:\n  - {month: 2026-13, channel: seo, budget: 1}\n"
    )
    result = mpulse("check-config", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert f"error: {bad}: reporting.currency: 'EURO' is not an ISO 4217 currency code" in lines
    assert any("reporting.timezone" in line for line in lines)
    assert any("channels[0].match.utm_sourc" in line for line in lines)
    assert any("plan[0].month" in line for line in lines)


def test_check_config_reads_the_files_too(case: Path, tmp_path: Path):
    assert mpulse("check-config", str(case / "config.yaml"), cwd=tmp_path).returncode == 0
    (case / "data" / "deals.csv").write_text("deal_id,lead_id,amount,currency\nD9,L1,abc,USD\n")
    result = mpulse("check-config", str(case / "config.yaml"), cwd=tmp_path)
    assert result.returncode == 1
    assert "error: deals.csv row 2, column amount: 'abc' is not a number" in result.stderr


def test_missing_default_config_says_what_to_do(tmp_path: Path):
    result = mpulse("run", cwd=tmp_path, env={"MPULSE_CONFIG": ""})
    assert result.returncode == 1
    assert "run `mpulse demo`" in result.stderr
