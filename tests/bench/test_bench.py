"""`make bench` cannot rot: the harness runs end to end at `--size ci`, produces its tables and proves
that the lower bound computes the same marts.metrics_daily as the pipeline. No timing is asserted (timings
live in the benchmark's output, not in tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KEPT = "## Validation share\n\nWritten by someone else; bench/run.py must keep it.\n"


def test_ci_size_runs_end_to_end_and_equals_the_lower_bound(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text(f"# Benchmarks\n\n{KEPT}", encoding="utf-8")
    results = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--size", "ci", "--work", str(tmp_path / "work"),
         "--out", str(out), "--json", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    data = json.loads(results.read_text(encoding="utf-8"))
    equality = data["equality"]
    assert equality["equal"] and equality["rows_only_on_one_side"] == 0
    assert equality["days"] == 61  # 2026-03-01 .. 2026-04-30
    assert data["rebuild_duckdb"]["result"]["ok"] and data["daily_duckdb"]["result"]["ok"]
    ingested = data["ingest_duckdb"]["result"]["tables"]
    assert {name: t["rows"] for name, t in ingested.items()} == {
        n: f["rows"] for n, f in data["files"].items()
    }

    text = out.read_text(encoding="utf-8")
    assert KEPT in text  # another section of the document survives the rewrite
    for heading in ("### Against the targets", "### Ingest per raw table", "### Runs", "### Profile"):
        assert heading in text
    for row in (
        "Ingest into DuckDB",
        "Full rebuild on DuckDB",
        "Peak RSS",
        "Incremental daily run",
        "Peer: dlt",
        "Validation share",
    ):
        assert row in text
    assert "| raw.files__ad_spend |" in text
    assert "**equal**" in text

    rerun = out.read_text(encoding="utf-8")
    from importlib import util

    spec = util.spec_from_file_location("bench_report", REPO / "bench" / "report.py")
    assert spec is not None and spec.loader is not None
    report = util.module_from_spec(spec)
    spec.loader.exec_module(report)
    begin, end = (line for line in rerun.splitlines() if line.startswith("<!-- bench:results:"))
    report.update_document(out, "new section\n", begin, end)
    assert out.read_text(encoding="utf-8").count(begin) == 1 and KEPT in out.read_text(encoding="utf-8")
    assert "new section" in out.read_text(encoding="utf-8")
