"""Which connectors are on, and what their resources are built from (no secret values in definitions)."""

from __future__ import annotations

import dagster as dg

from pipelines.connectors import enabled_connectors
from resources.config import MpulseConfig

BASE = {"start_date": "2026-01-01", "reporting": {"currency": "USD", "timezone": "UTC"}}
ALL_SECRETS = {
    "GOOGLE_ADS_DEVELOPER_TOKEN": "d",
    "GOOGLE_ADS_CLIENT_ID": "c",
    "GOOGLE_ADS_CLIENT_SECRET": "s",
    "GOOGLE_ADS_REFRESH_TOKEN": "r",
    "FACEBOOK_ACCESS_TOKEN": "f",
    "HUBSPOT_ACCESS_TOKEN": "h",
    "AMOCRM_ACCESS_TOKEN": "a",
    "AMOCRM_BASE_URL": "https://x.amocrm.ru",
    "BITRIX24_WEBHOOK_URL": "https://x.bitrix24.ru/rest/1/t/",
}
ALL_SOURCES = {
    "google_ads": {"customer_ids": ["1234567890"], "login_customer_id": "111-222-3333"},
    "facebook_ads": {"ad_account_ids": ["act_1"]},
    "hubspot": {},
    "amocrm": {"currency": "RUB"},
    "bitrix24": {},
}


def _config(sources: dict) -> MpulseConfig:
    return MpulseConfig.model_validate({**BASE, "sources": sources})


def test_a_connector_needs_both_its_config_section_and_its_secrets():
    on = enabled_connectors(_config(ALL_SOURCES), ALL_SECRETS)
    assert on.ad_platforms == ["google_ads", "facebook_ads"]
    assert on.crms == ["hubspot", "amocrm", "bitrix24"]
    assert enabled_connectors(_config(ALL_SOURCES), {}).resources == {}
    assert enabled_connectors(_config({}), ALL_SECRETS).resources == {}
    partial = {k: v for k, v in ALL_SECRETS.items() if k != "GOOGLE_ADS_REFRESH_TOKEN"}
    assert enabled_connectors(_config(ALL_SOURCES), partial).ad_platforms == ["facebook_ads"]


def test_secrets_are_env_vars_not_values_and_the_config_login_id_is_used():
    resources = enabled_connectors(_config(ALL_SOURCES), ALL_SECRETS).resources
    google = resources["google_ads"]
    assert (
        isinstance(google.developer_token, dg.EnvVar)
        and google.developer_token == "GOOGLE_ADS_DEVELOPER_TOKEN"
    )
    assert google.login_customer_id == "1112223333"
    assert isinstance(resources["facebook_ads"].access_token, dg.EnvVar)
    assert isinstance(resources["bitrix24"].webhook_url, dg.EnvVar)
