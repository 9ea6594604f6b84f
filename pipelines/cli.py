"""The `mpulse` command line (interface.md). Problems print as one readable line each on stderr and exit
non-zero; `--debug` adds tracebacks."""

from __future__ import annotations

import os
import sys
import traceback
from datetime import date
from pathlib import Path

import click

from resources.errors import MpulseError

DEFAULT_DAGSTER_HOME = ".dagster_home"


def _fail(lines: list[str], code: int = 1) -> None:
    for line in lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(code)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-10-31", param_hint=option) from None


class _Group(click.Group):
    """Turns user errors anywhere below into one line per problem."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MpulseError as exc:
            if ctx.params.get("debug") or os.environ.get("MPULSE_DEBUG"):
                traceback.print_exc()
            _fail(exc.problems)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:
            if os.environ.get("MPULSE_DEBUG"):
                traceback.print_exc()
            _fail([f"{type(exc).__name__}: {exc} (set MPULSE_DEBUG=1 for the traceback)"])


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Marketing Pulse: spend -> leads -> MQL -> deals -> revenue, every morning."""


def main() -> None:
    """Console entry point: runs the command, then exits without interpreter teardown.

    Once DuckDB and Great Expectations are loaded, their native extensions print dozens of bogus
    "nanobind: leaked instance" lines while Python tears modules down. Everything that matters is closed and
    flushed here first, so skipping that teardown loses nothing and keeps stderr for real problems.
    """
    try:
        cli(standalone_mode=True)
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    from resources.warehouse import dispose_engines

    dispose_engines()
    if isinstance(code, str):
        click.echo(code, err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


@cli.command()
@click.option("--out", "out_dir", default="demo", show_default=True, help="Folder for config.yaml and data/.")
@click.option("--seed", default=7, show_default=True, help="Random seed; the same seed gives the same files.")
@click.option("--end", "end", default=None, help="Last day of data (default: yesterday).")
def demo(out_dir: str, seed: int, end: str | None) -> None:
    """Write a deterministic, synthetic demo data set and its config."""
    from pipelines.demo import write_demo

    config_path = write_demo(Path(out_dir), seed=seed, end=_day(end, "--end"))
    click.echo(f"demo data written: {config_path} (synthetic, seed {seed})")


@cli.command("check-config")
@click.argument("path", required=False)
def check_config(path: str | None) -> None:
    """Validate a config and its files; exit 1 listing every problem."""
    from pipelines.checks import check_config_and_files

    config, problems = check_config_and_files(path)
    if problems:
        _fail(problems)
    click.echo(f"{config.config_path}: OK")


@cli.command()
@click.option("--config", "config_path", default=None, help="Config file (default: $MPULSE_CONFIG or demo).")
@click.option("--start", default=None, help="First day (default: the config's start_date).")
@click.option("--end", default=None, help="Last day (default: yesterday in the reporting timezone).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def run(config_path: str | None, start: str | None, end: str | None, debug: bool) -> None:
    """Materialize every asset for every partition overlapping the range, in process."""
    import dagster as dg

    from pipelines.runner import default_range, run_range
    from resources.config import load_config
    from resources.warehouse import warehouse_url_from_env

    config = load_config(config_path)
    days = default_range(config, _day(start, "--start"), _day(end, "--end"))
    prepare_dagster_home()
    click.echo(f"config {config.config_path}; warehouse {_safe_url(warehouse_url_from_env())}")
    with dg.DagsterInstance.get() as instance:
        summary = run_range(config, days, instance, echo=click.echo, debug=debug)
    if not summary.ok:
        _fail(summary.problems)
    click.echo(f"done: {summary.materializations} materializations")


@cli.command()
@click.argument("kind", type=click.Choice(["daily", "weekly", "monthly"]))
@click.option("--date", "day", default=None, help="Report date (default: yesterday).")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md", show_default=True)
@click.option("--out", "out", default=None, help="Write to this file instead of stdout.")
@click.option("--config", "config_path", default=None, help="Config file (default: $MPULSE_CONFIG or demo).")
def report(kind: str, day: str | None, fmt: str, out: str | None, config_path: str | None) -> None:
    """Render a standup report from the warehouse."""
    from pipelines.reports import render_report

    text = render_report(kind, _day(day, "--date"), fmt, config_path)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"report written: {out}")
    else:
        click.echo(text, nl=False)


def prepare_dagster_home() -> Path:
    """$DAGSTER_HOME (default ./.dagster_home) with a dagster.yaml; telemetry off (runs offline)."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(DEFAULT_DAGSTER_HOME).resolve())))
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    return home


def _safe_url(url: str) -> str:
    """The warehouse URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
