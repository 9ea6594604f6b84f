"""The Markdown of `make bench`: the targets table, the per-table ingest figures, the runs and their profile
(seconds per Dagster step), written between two marks of docs/benchmarks.md so that every other section of
that file (hand-written analysis, the validation notes of assets/checks.py) is kept as it is."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

PROFILE_ROWS = 12
BIG_TABLE_ROWS = 100_000  # per-table ingest rates are judged only where fixed costs do not dominate


def _rate(rows: float, seconds: float) -> float:
    return rows / seconds if seconds > 0 else float("inf")


def _fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("**met**" if ok else "**missed**")


def _ingest_totals(step: dict[str, Any] | None) -> tuple[int, float] | None:
    if not step:
        return None
    tables = step["result"]["tables"]
    rows = sum(t["rows"] for t in tables.values())
    seconds = sum(t["read_s"] + t["load_s"] for t in tables.values())
    return rows, seconds


def _table_rate(step: dict[str, Any] | None, name: str) -> tuple[float, dict[str, float]] | None:
    if not step:
        return None
    t = step["result"]["tables"].get(name)
    if t is None:
        return None
    return _rate(t["rows"], t["read_s"] + t["load_s"]), t


def validation_seconds(step: dict[str, Any] | None) -> float | None:
    """Validation time of a pipeline step: what the assets report, else the process total, else None."""
    if not step:
        return None
    result = step["result"]
    total = result.get("validation_process_s")
    if total:  # in-process executor: everything assets/checks.py timed, the GE import included
        return float(total)
    by_asset = result.get("validation_by_asset") or {}
    return float(sum(by_asset.values())) if by_asset else None


def summary(results: dict[str, Any], targets: Any) -> list[dict[str, Any]]:
    """One row per target (and the peer and validation rows): measure, ours, reference, target, verdict."""
    t = asdict(targets)
    rows: list[dict[str, Any]] = []
    for key, label, target in (
        ("ingest_duckdb", "Ingest into DuckDB, all raw tables", t["ingest_duckdb_rows_s"]),
        ("ingest_postgres", "Ingest into PostgreSQL, all raw tables", t["ingest_postgres_rows_s"]),
    ):
        totals = _ingest_totals(results.get(key))
        rate = _rate(*totals) if totals else None
        rows.append(
            {
                "measure": label,
                "ours": f"{_fmt_rate(rate)} rows/s" if rate is not None else "not measured",
                "reference": f"{totals[0]:,} rows in {totals[1]:.1f} s" if totals else "",
                "target": f">= {target:,.0f} rows/s",
                "ok": None if rate is None else rate >= target,
            }
        )
    rebuild, bound = results.get("rebuild_duckdb"), results.get("lower_bound")
    ratio = rebuild["wall_s"] / bound["wall_s"] if rebuild and bound else None
    rows.append(
        {
            "measure": "Full rebuild on DuckDB (raw -> staging -> marts, process incl. Dagster)",
            "ours": f"{rebuild['wall_s']:.1f} s" if rebuild else "not measured",
            "reference": f"lower bound {bound['wall_s']:.1f} s; ratio {ratio:.2f}x" if ratio else "",
            "target": f"<= {t['rebuild_vs_lower_bound']:.1f}x lower bound",
            "ok": None if ratio is None else ratio <= t["rebuild_vs_lower_bound"],
        }
    )
    rows.append(
        {
            "measure": "Peak RSS of the full rebuild (largest process)",
            "ours": f"{rebuild['peak_rss_mb']:,.0f} MB" if rebuild else "not measured",
            "reference": f"lower bound {bound['peak_rss_mb']:,.0f} MB" if bound else "",
            "target": f"<= {t['peak_rss_mb']:,.0f} MB",
            "ok": None if not rebuild else rebuild["peak_rss_mb"] <= t["peak_rss_mb"],
        }
    )
    daily = results.get("daily_duckdb")
    window = results.get("daily_window") or ["?", "?"]
    rows.append(
        {
            "measure": f"Incremental daily run on DuckDB ({window[0]} .. {window[1]}, process incl. Dagster)",
            "ours": f"{daily['wall_s']:.1f} s" if daily else "not measured",
            "reference": (
                f"Dagster runs {daily['result']['run_s']:.1f} s; peak RSS {daily['peak_rss_mb']:,.0f} MB"
                if daily
                else ""
            ),
            "target": f"<= {t['daily_run_s']:.0f} s",
            "ok": None if not daily else daily["wall_s"] <= t["daily_run_s"],
        }
    )
    ours_ingest, peer = _ingest_totals(results.get("ingest_duckdb")), _ingest_totals(results.get("dlt"))
    peer_ratio = _rate(*ours_ingest) / _rate(*peer) if ours_ingest and peer else None
    rows.append(
        {
            "measure": "Peer: dlt loading the same CSVs into DuckDB (pyarrow table)",
            "ours": f"ours / dlt = {peer_ratio:.2f}x rows/s" if peer_ratio else "not measured",
            "reference": f"dlt {_fmt_rate(_rate(*peer))} rows/s" if peer else "",
            "target": "(comparison)",
            "ok": None,
        }
    )
    seconds = validation_seconds(daily)
    rows.append(
        {
            "measure": "Validation share of the daily run (Great Expectations checks)",
            "ours": f"{seconds / daily['result']['run_s']:.0%} ({seconds:.1f} s)"
            if seconds is not None and daily
            else "no validation time reported",
            "reference": "time inside `assets.checks.timed()`: GE import, suites, quarantine, reconciliation"
            if seconds is not None
            else "no asset reports `validation_seconds` yet",
            "target": "(measured, no target)",
            "ok": None,
        }
    )
    return rows


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _profile(step: dict[str, Any] | None, title: str) -> list[str]:
    if not step:
        return []
    steps: dict[str, float] = step["result"].get("steps") or {}
    total = step["result"]["run_s"]
    top = sorted(steps.items(), key=lambda kv: kv[1], reverse=True)[:PROFILE_ROWS]
    rest = sum(steps.values()) - sum(s for _, s in top)
    rows = [[f"`{key}`", f"{sec:.2f}", f"{sec / total:.0%}"] for key, sec in top]
    if rest > 0:
        rows.append([f"{len(steps) - len(top)} other steps", f"{rest:.2f}", f"{rest / total:.0%}"])
    outside = total - sum(steps.values())
    rows.append(
        ["Dagster outside steps (run start, planning, event log)", f"{outside:.2f}", f"{outside / total:.0%}"]
    )
    return [
        f"**{title}** — {total:.1f} s in {step['result']['runs']} Dagster runs "
        f"(+ {step['result']['import_s']:.1f} s of imports; process {step['wall_s']:.1f} s):",
        "",
        *_md_table(["step", "seconds", "share of the runs"], rows),
        "",
    ]


def render_section(results: dict[str, Any], targets: Any) -> str:
    env = results["environment"]
    files = results["files"]
    lines = [
        f"## Results: `--size {results['size']}` ({results['started'][:10]})",
        "",
        f"- Command: `{results.get('command', 'python bench/run.py')}`; started {results['started']} UTC, "
        f"finished {results.get('finished', '?')} UTC.",
        f"- Machine: {env['cpus']} cores, {env['memory_gib']} GiB; Python {env['python']}, Dagster "
        f"{env['dagster']}, DuckDB {env['duckdb']}, pyarrow {env['pyarrow']}, psycopg {env['psycopg']}; "
        f"{env['platform']}.",
        f"- Inputs (`pipelines/demo.py` DemoSize {results['demo_size']}, days {results['range'][0]} .. "
        f"{results['range'][1]}): "
        + ", ".join(
            f"{name}.csv {f['rows']:,} rows ({f['bytes'] / 1e6:,.1f} MB)" for name, f in sorted(files.items())
        )
        + ".",
        "- Each step runs in a fresh process; wall time and peak RSS are that process's (the largest process "
        "of its tree). Shared machine: quote ratios rather than absolute seconds.",
        "",
        "### Against the targets",
        "",
    ]
    rows = summary(results, targets)
    lines += _md_table(
        ["measure", "ours", "reference", "target", "verdict"],
        [[r["measure"], r["ours"], r["reference"], r["target"], _verdict(r["ok"])] for r in rows],
    )
    missed = [r["measure"] for r in rows if r["ok"] is False]
    lines += ["", f"Missed: {'; '.join(missed)}." if missed else "Every target is met.", ""]

    eq = results["equality"]
    lines += [
        "### Ours equals the lower bound",
        "",
        f"marts.metrics_daily per-day totals ({eq['days']} days x {eq['columns']} columns: row count and "
        f"every additive column) are {'**equal**' if eq['equal'] else '**DIFFERENT**'}; "
        f"{eq['rows_only_on_one_side']} rows differ in a full-row comparison (EXCEPT ALL both ways). "
        f"{eq['ours_total_rows']:,} mart rows, spend {float(eq['ours_total_spend']):,.2f}, "
        f"revenue {float(eq['ours_total_revenue']):,.2f} (reporting currency).",
        "",
    ]
    pg = results.get("rebuild_postgres")
    if pg and pg["result"].get("totals"):
        pg_eq = pg["result"]["totals"]
        lines += [
            "The PostgreSQL rebuild's per-day totals are "
            f"{'**equal**' if pg_eq['equal'] else '**DIFFERENT**'} to the lower bound's too.",
            "",
        ]

    lines += ["### Ingest per raw table", "", "rows/s = rows / (read + validate + type the CSV, then load); "
              "seconds as read / load.", ""]  # fmt: skip
    ingest_rows = []
    for name in results["ingest_duckdb"]["result"]["tables"]:
        cells = [f"raw.files__{name}"]
        duck = _table_rate(results.get("ingest_duckdb"), name)
        rows_n = duck[1]["rows"] if duck else 0
        cells.append(f"{rows_n:,}")
        for key in ("ingest_duckdb", "ingest_postgres", "dlt"):
            value = _table_rate(results.get(key), name)
            cells.append(
                f"{_fmt_rate(value[0])} ({value[1]['read_s']:.2f} / {value[1]['load_s']:.2f} s)"
                if value
                else "not measured"
            )
        peer = _table_rate(results.get("dlt"), name)
        cells.append(f"{duck[0] / peer[0]:.2f}x" if duck and peer else "—")
        ingest_rows.append(cells)
    lines += _md_table(
        ["raw table", "rows", "ours -> DuckDB rows/s", "ours -> PostgreSQL rows/s", "dlt -> DuckDB rows/s",
         "ours / dlt"],
        ingest_rows,
    )  # fmt: skip
    big = [c for c in ingest_rows if int(c[1].replace(",", "")) >= BIG_TABLE_ROWS]
    if big:
        lines += [
            "",
            f"Tables of {BIG_TABLE_ROWS:,}+ rows are where the rates mean something; the small ones are "
            "dominated by the fixed cost of a transaction.",
        ]
    dlt = results.get("dlt")
    if dlt:
        lines += [
            "",
            f"dlt {dlt['result'].get('dlt_version')}: `pyarrow.csv.read_csv` (types inferred by pyarrow; "
            "timestamps kept as text because the files mix `Z`, `+03:00` and naive forms) then "
            "`pipeline.run(table, write_disposition='replace')` into a DuckDB file. It checks nothing; ours "
            "validates every cell.",
        ]
    lines += ["", "### Runs", ""]
    run_rows = []
    for key, label in (
        ("rebuild_duckdb", "full rebuild, ours on DuckDB"),
        ("lower_bound", "lower bound: DuckDB read_csv + bench/lower_bound.sql"),
        ("rebuild_postgres", "full rebuild, ours on PostgreSQL (multiprocess executor)"),
        ("daily_duckdb", "daily run, ours on DuckDB"),
    ):
        step = results.get(key)
        if not step:
            continue
        inner = step["result"].get("run_s")
        runs = step["result"].get("wall_runs_s")
        run_rows.append(
            [
                label,
                f"{step['wall_s']:.1f}"
                + (f" (runs: {', '.join(str(r) for r in runs)})" if runs and len(runs) > 1 else ""),
                f"{inner:.1f}" if inner is not None else "—",
                f"{step['peak_rss_mb']:,.0f}",
            ]
        )
    lines += _md_table(["run", "process wall s", "work s (Dagster runs / script)", "peak RSS MB"], run_rows)
    lines += ["", "### Profile: seconds per Dagster step", ""]
    lines += _profile(results.get("rebuild_duckdb"), "Full rebuild on DuckDB")
    lines += _profile(results.get("daily_duckdb"), "Daily run on DuckDB")
    validation = (results.get("daily_duckdb") or {}).get("result", {}).get("validation_by_asset") or {}
    if validation:
        lines += ["Validation seconds per asset in the daily run (metadata `validation_seconds`):", ""]
        lines += _md_table(
            ["asset", "seconds"],
            [[f"`{k}`", f"{v:.2f}"] for k, v in sorted(validation.items(), key=lambda kv: -kv[1])],
        )
        lines.append("")
    for note in results.get("notes") or []:
        lines.append(f"- {note}")
    return "\n".join(lines).rstrip() + "\n"


HEADER = """# Benchmarks

`make bench` (`python bench/run.py --size large --out docs/benchmarks.md`) measures Marketing Pulse on
generated inputs at the scale of a large marketing department, against the lower bound (the same marts
computed straight from the CSVs by one DuckDB script, bench/lower_bound.sql) and a peer (dlt loading the same
CSVs into DuckDB). Sizes: `--size ci` (seconds; run by the test suite so the harness cannot rot), `small`,
`large`. The section between the marks below is rewritten by each run; everything else is kept.
"""


def update_document(path: Path, section: str, begin: str, end: str) -> None:
    """Writes `section` between the marks of `path`, keeping every other section of the file."""
    block = f"{begin}\n{section}{end}\n"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{HEADER}\n{block}", encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        path.write_text(head + block.rstrip("\n") + tail, encoding="utf-8")
    else:
        path.write_text(text.rstrip("\n") + "\n\n" + block, encoding="utf-8")
