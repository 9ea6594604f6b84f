"""Config models: valid configs load with defaults, invalid ones name every bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.config import parse_config
from resources.errors import ConfigError
from tests.conftest import SMALL_CONFIG


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        parse_config(path)
    return [line.split(": ", 1)[1] for line in info.value.problems]


def test_fixture_config_loads_with_resolved_paths_and_teams():
    config = parse_config(SMALL_CONFIG)
    assert config.reporting.currency == "USD" and config.reporting.gross_margin == 0.8
    assert config.resolve(config.sources.files.path) == SMALL_CONFIG.parent.resolve() / "data"
    assert config.channel_teams() == {
        "google_ads": "inbound",
        "facebook_ads": "inbound",
        "abm": "outbound",
        "content": "inbound",
        "other": "inbound",
    }
    assert config.rerun_days == 7


def test_rerun_window_follows_the_longest_platform_lookback(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "start_date: 2026-01-01\nreporting: {currency: usd, timezone: UTC}\n"
        "sources:\n  google_ads: {customer_ids: ['123-456-7890'], lookback_days: 30}\n"
        "  facebook_ads: {ad_account_ids: [act_42]}\n"
    )
    config = parse_config(path)
    assert config.reporting.currency == "USD"
    assert config.sources.google_ads.customer_ids == ["1234567890"]
    assert config.sources.facebook_ads.ad_account_ids == ["42"]
    assert config.rerun_days == 30


def test_every_problem_is_reported_with_its_key(tmp_path):
    problems = _problems(
        tmp_path,
        "start_date: 2026-01-01\n"
        "reporting: {currency: EURO, timezone: Mars/Base, gross_margin: 2}\n"
        "channels:\n  - {channel: google_ads, match: {utm_sourc: [google]}}\n  - {channel: Bad Name}\n"
        "specialists:\n  - {name: Anna}\n"
        "plan:\n  - {month: 2026-01, channel: google_ads}\n  - {month: 2026-01, channel: google_ads}\n"
        "sources: {foo: {}}\n",
    )
    assert "reporting.currency: 'EURO' is not an ISO 4217 currency code" in problems
    assert "reporting.timezone: 'Mars/Base' is not an IANA time zone (e.g. Europe/Moscow)" in problems
    assert any(p.startswith("reporting.gross_margin:") for p in problems)
    assert any(p.startswith("channels[0].match.utm_sourc: unknown match field") for p in problems)
    assert any(p.startswith("channels[1].channel: 'Bad Name'") for p in problems)
    assert "specialists[0]: a specialist needs channels and/or campaigns" in problems
    assert "sources.foo: unknown key" in problems


def test_missing_keys_and_bad_yaml(tmp_path):
    assert "reporting: required key is missing" in _problems(tmp_path, "start_date: 2026-01-01\n")
    path = tmp_path / "broken.yaml"
    path.write_text("start_date: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config(path)
