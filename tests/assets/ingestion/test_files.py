"""Raw file assets through Dagster: a bad file stops the run and loads nothing; re-imports replace."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from pipelines.definitions import build_definitions
from resources.config import parse_config
from tests.conftest import SMALL_CONFIG, warehouse


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "case"
    shutil.copytree(SMALL_CONFIG.parent, target)
    return target


def _load_files(folder, url):
    defs = build_definitions(parse_config(folder / "config.yaml"), url)
    selection = dg.AssetSelection.groups("files")
    job = dg.define_asset_job("load_files", selection=selection).resolve(
        asset_graph=defs.resolve_asset_graph()
    )
    return job.execute_in_process(
        resources=defs.resources, raise_on_error=False, instance=dg.DagsterInstance.ephemeral()
    )


def _count(url, table):
    return int(warehouse(url).query(f"select count(*) as n from raw.{table}").n[0])


def test_reimport_replaces_and_a_removed_file_empties_its_table(folder, warehouse_url):
    assert _load_files(folder, warehouse_url).success
    assert _count(warehouse_url, "files__leads") == 7
    leads = folder / "data" / "leads.csv"
    leads.write_text("\n".join(leads.read_text().splitlines()[:3]) + "\n")  # header + 2 leads
    assert _load_files(folder, warehouse_url).success
    assert _load_files(folder, warehouse_url).success  # rerun: still 2, nothing doubled
    assert _count(warehouse_url, "files__leads") == 2
    (folder / "data" / "deals.csv").unlink()
    assert _load_files(folder, warehouse_url).success
    assert _count(warehouse_url, "files__deals") == 0


def test_a_bad_row_fails_the_asset_and_keeps_the_previous_load(folder, warehouse_url):
    assert _load_files(folder, warehouse_url).success
    spend = folder / "data" / "ad_spend.csv"
    spend.write_text(spend.read_text() + "2026-04-02,google_ads,111,USD,-3,1234567890,x,1,1,0\n")
    result = _load_files(folder, warehouse_url)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    while failure.cause is not None:
        failure = failure.cause
    assert "ad_spend.csv row 7, column spend: '-3' is negative" in failure.message
    assert _count(warehouse_url, "files__ad_spend") == 5  # the earlier good import is untouched
