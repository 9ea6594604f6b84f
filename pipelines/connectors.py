"""Which API connectors are on: a source is on when its config section exists and its secrets are set
(interface.md). Secrets go to resources as dg.EnvVar, so their values never reach the UI or run config."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from resources.amocrm import AmocrmResource
from resources.bitrix24 import Bitrix24Resource
from resources.config import MpulseConfig
from resources.facebook_ads import FacebookAdsResource
from resources.google_ads import GoogleAdsResource
from resources.hubspot import HubspotResource

log = logging.getLogger("marketing_pulse")

AD_PLATFORMS = ("google_ads", "facebook_ads")
CRMS = ("hubspot", "amocrm", "bitrix24")


@dataclass(frozen=True)
class Connectors:
    ad_platforms: list[str]
    crms: list[str]
    resources: dict[str, dg.ConfigurableResource]


def _env(name: str, environ: Mapping[str, str]) -> str | None:
    value = (environ.get(name) or "").strip()
    return value or None


def _secret(name: str, environ: Mapping[str, str]) -> Any:
    return dg.EnvVar(name) if _env(name, environ) else None


def _candidates(config: MpulseConfig, environ: Mapping[str, str]) -> dict[str, dg.ConfigurableResource]:
    google = config.sources.google_ads
    # the config's manager account wins over GOOGLE_ADS_LOGIN_CUSTOMER_ID: it belongs with the customer ids
    login = {"login_customer_id": google.login_customer_id} if google and google.login_customer_id else {}
    return {
        "google_ads": GoogleAdsResource.from_env(environ, **login),
        "facebook_ads": FacebookAdsResource(
            access_token=_secret("FACEBOOK_ACCESS_TOKEN", environ),
            graph_url=_env("FACEBOOK_GRAPH_URL", environ),
        ),
        "hubspot": HubspotResource(
            access_token=_secret("HUBSPOT_ACCESS_TOKEN", environ), base_url=_env("HUBSPOT_BASE_URL", environ)
        ),
        "amocrm": AmocrmResource(
            access_token=_secret("AMOCRM_ACCESS_TOKEN", environ), base_url=_env("AMOCRM_BASE_URL", environ)
        ),
        "bitrix24": Bitrix24Resource(webhook_url=_secret("BITRIX24_WEBHOOK_URL", environ)),
    }


def enabled_connectors(config: MpulseConfig, environ: Mapping[str, str] | None = None) -> Connectors:
    environ = os.environ if environ is None else environ
    resources: dict[str, dg.ConfigurableResource] = {}
    for name, resource in _candidates(config, environ).items():
        configured = getattr(config.sources, name) is not None
        has_secrets = resource.is_configured()
        if configured and has_secrets:
            resources[name] = resource
        elif configured:
            log.warning("sources.%s is in the config but its secrets are not set: the connector is off", name)
    return Connectors(
        ad_platforms=[n for n in AD_PLATFORMS if n in resources],
        crms=[n for n in CRMS if n in resources],
        resources=resources,
    )
