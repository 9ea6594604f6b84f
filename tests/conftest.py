"""Shared fixtures: a warehouse per test on DuckDB and on the local PostgreSQL (required when CI=true)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from pipelines.runner import RunSummary, run_range
from pipelines.windows import DayRange
from resources.config import MpulseConfig, parse_config
from resources.warehouse import SCHEMAS, WarehouseResource, dispose_engines

FIXTURES = Path(__file__).parent / "fixtures"
SMALL_CONFIG = FIXTURES / "small" / "config.yaml"
PG_SERVER = os.environ.get("MPULSE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
_EXIT_STATUS = pytest.StashKey[int]()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's config, warehouse or report folder."""
    monkeypatch.delenv("MPULSE_CONFIG", raising=False)
    monkeypatch.setenv("MPULSE_WAREHOUSE_URL", f"duckdb:///{tmp_path}/default.duckdb")
    monkeypatch.setenv("MPULSE_REPORTS_DIR", str(tmp_path / "reports"))
    yield
    dispose_engines()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL for this session; a failure (not a skip) under CI=true."""
    admin = sa.create_engine(
        f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"mpulse_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'create database "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL at {PG_SERVER} is not reachable: {str(exc).splitlines()[0]}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    yield f"{PG_SERVER}/{name}"
    dispose_engines()
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    admin.dispose()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """One self-signed localhost certificate per test process for the TLS fakes (Google Ads gRPC, OAuth).

    gRPC reads GRPC_DEFAULT_SSL_ROOTS_FILE_PATH once per process, at its first TLS handshake, so every
    test that talks to a gRPC fake must share this one certificate.
    """
    from tests.fakes.tls import make_self_signed_cert

    cert, key = make_self_signed_cert(tmp_path_factory.mktemp("tls"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", str(cert))
        yield cert, key


@pytest.fixture(params=["duckdb", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on the embedded DuckDB file and on PostgreSQL, each starting empty."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path}/warehouse.duckdb"
    url = request.getfixturevalue("postgres_database")
    dispose_engines()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for schema in SCHEMAS:
            conn.execute(sa.text(f"drop schema if exists {schema} cascade"))
    engine.dispose()
    return url


@pytest.fixture
def small_config() -> MpulseConfig:
    return parse_config(SMALL_CONFIG)


def build(config: MpulseConfig, url: str, first: date, last: date) -> RunSummary:
    """Runs the pipeline like `mpulse run` does, on a throwaway Dagster instance."""
    with dg.DagsterInstance.ephemeral() as instance:
        return run_range(config, DayRange(first, last), instance, warehouse_url=url, echo=lambda _: None)


def warehouse(url: str) -> WarehouseResource:
    return WarehouseResource(url=url)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Ends the process once pytest has printed its summary and cleaned up.

    DuckDB's and Great Expectations' native extensions print dozens of bogus "nanobind: leaked" lines while
    Python tears modules down, burying the summary that CI reads; there is nothing left to do here, so the
    interpreter's teardown is skipped (as `mpulse` itself does).
    """
    status = config.stash.get(_EXIT_STATUS, None)
    if status is not None:
        dispose_engines()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
