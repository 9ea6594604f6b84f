"""What a run records in the UI: a single day carries its row count and previews; a range run (backfill)
records the window's count once per partition under its own name, without copies of previews."""

from __future__ import annotations

from datetime import date

import dagster as dg

from pipelines.runner import run_range
from pipelines.windows import DayRange


def _latest(instance: dg.DagsterInstance, *path: str) -> list:
    return instance.fetch_materializations(dg.AssetKey(list(path)), limit=100).records


def test_range_and_single_day_metadata(small_config, tmp_path):
    url = f"duckdb:///{tmp_path}/w.duckdb"
    lines: list[str] = []
    with dg.DagsterInstance.ephemeral() as instance:
        assert run_range(
            small_config, DayRange(date(2026, 3, 1), date(2026, 3, 3)), instance, url, lines.append
        ).ok
        records = _latest(instance, "marts", "metrics_daily")
        assert sorted(r.partition_key for r in records) == ["2026-03-01", "2026-03-02", "2026-03-03"]
        meta = records[0].asset_materialization.metadata
        # 03-01: content; 03-02: abm, facebook, google (none), google 111, content; 03-03: 4 keys + content
        assert meta["window_row_count"].value == 1 + 5 + 4
        assert "dagster/row_count" not in meta and "preview" not in meta
        assert "   marts/metrics_daily: 10 rows" in lines
        assert "report" not in _latest(instance, "reports", "daily_standup")[0].asset_materialization.metadata

        assert run_range(
            small_config, DayRange(date(2026, 3, 3), date(2026, 3, 3)), instance, url, lines.append
        ).ok
        single = [r for r in _latest(instance, "marts", "metrics_daily") if r.partition_key == "2026-03-03"]
        newest = max(single, key=lambda r: r.storage_id).asset_materialization.metadata
        assert newest["dagster/row_count"].value == 4
        assert "google_ads:111" in newest["preview"].value
        report = _latest(instance, "reports", "daily_standup")
        newest_report = max(report, key=lambda r: r.storage_id).asset_materialization.metadata
        assert newest_report["report"].value.startswith("# Marketing Pulse — daily standup")
