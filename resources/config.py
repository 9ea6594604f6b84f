"""The deployment's YAML config (inputs.md, interface.md) as typed models with one error line per bad key."""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from resources.amocrm import AmocrmSource
from resources.bitrix24 import Bitrix24Source
from resources.currencies import ISO_4217
from resources.errors import ConfigError
from resources.hubspot import HubspotSource

DEFAULT_CONFIG_PATH = Path("demo/config.yaml")
MATCH_FIELDS = ("source", "utm_source", "utm_medium", "utm_campaign")
_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str | int | float) else value


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(f"{value!r} must be lowercase letters, digits and '_' (e.g. google_ads)")
    return value


def _currency(value: str) -> str:
    code = str(value).strip().upper()
    if code not in ISO_4217:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


Slug = Annotated[str, BeforeValidator(lambda v: _slug(str(v)))]
Currency = Annotated[str, BeforeValidator(_currency)]
StrList = Annotated[list[str], BeforeValidator(_as_list)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reporting(_Strict):
    currency: Currency
    timezone: str
    gross_margin: float = Field(default=1.0, gt=0, le=1)
    rerun_days: int = Field(default=7, ge=1, le=90)  # days the daily schedule recomputes besides yesterday

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Moscow)") from None
        return value


class ChannelRule(_Strict):
    """Ordered rule: the first whose fields all match names the lead's channel. No `match` = team only."""

    channel: Slug
    team: Slug | None = None
    match: dict[Literal["source", "utm_source", "utm_medium", "utm_campaign"], StrList] = Field(
        default_factory=dict
    )

    @field_validator("match")
    @classmethod
    def _non_empty_values(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"match.{key} needs at least one value")
        return {k: [str(v).strip().lower() for v in vs] for k, vs in value.items()}


class Specialist(_Strict):
    name: str = Field(min_length=1)
    team: Slug | None = None
    channels: list[Slug] = Field(default_factory=list)
    campaigns: list[str] = Field(default_factory=list)  # campaign keys: <platform>:<campaign_id>
    mql_target: float | None = Field(default=None, ge=0)
    cost_per_mql_target: float | None = Field(default=None, ge=0)

    @field_validator("campaigns")
    @classmethod
    def _campaign_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not re.match(r"^[a-z][a-z0-9_]*:.+$", key):
                raise ValueError(f"{key!r} is not a campaign key like google_ads:123456")
        return value

    @model_validator(mode="after")
    def _owns_something(self) -> Specialist:
        if not self.channels and not self.campaigns:
            raise ValueError("a specialist needs channels and/or campaigns")
        return self


class PlanRow(_Strict):
    month: str
    channel: Slug
    budget: Decimal = Field(default=Decimal(0), ge=0)
    leads: int = Field(default=0, ge=0)
    mql: int = Field(default=0, ge=0)

    @field_validator("month", mode="before")
    @classmethod
    def _month(cls, value: Any) -> str:
        text = value.strftime("%Y-%m") if isinstance(value, date) else str(value)
        if not _MONTH.match(text):
            raise ValueError(f"{value!r} is not a month like 2026-10")
        return text


class FilesSource(_Strict):
    path: Path


class GoogleAdsSource(_Strict):
    customer_ids: Annotated[list[str], BeforeValidator(_as_list)] = Field(min_length=1)
    login_customer_id: str | None = None
    lookback_days: int = Field(default=30, ge=1, le=90)

    @field_validator("customer_ids", mode="after")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        out = [str(v).replace("-", "").strip() for v in value]
        for v in out:
            if not re.fullmatch(r"\d{10}", v):
                raise ValueError(f"{v!r} is not a 10-digit Google Ads customer id")
        return out

    @field_validator("login_customer_id", mode="before")
    @classmethod
    def _login(cls, value: Any) -> str | None:
        if value is None:
            return None
        v = str(value).replace("-", "").strip()
        if not re.fullmatch(r"\d{10}", v):
            raise ValueError(f"{value!r} is not a 10-digit manager customer id")
        return v


class FacebookAdsSource(_Strict):
    ad_account_ids: Annotated[list[str], BeforeValidator(_as_list)] = Field(min_length=1)
    lookback_days: int = Field(default=28, ge=1, le=90)
    lead_action_types: list[str] = Field(
        default_factory=lambda: ["lead", "onsite_conversion.lead_grouped", "offsite_conversion.fb_pixel_lead"]
    )

    @field_validator("ad_account_ids", mode="after")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        out = [str(v).strip().removeprefix("act_") for v in value]
        for v in out:
            if not v.isdigit():
                raise ValueError(f"{v!r} is not an ad account id like act_1234567890")
        return out


class Sources(_Strict):
    files: FilesSource | None = None
    google_ads: GoogleAdsSource | None = None
    facebook_ads: FacebookAdsSource | None = None
    hubspot: HubspotSource | None = None
    amocrm: AmocrmSource | None = None
    bitrix24: Bitrix24Source | None = None


class MpulseConfig(_Strict):
    start_date: date
    reporting: Reporting
    channels: list[ChannelRule] = Field(default_factory=list)
    specialists: list[Specialist] = Field(default_factory=list)
    plan: list[PlanRow] = Field(default_factory=list)
    sources: Sources = Field(default_factory=Sources)
    config_path: Path = Field(default=Path("config.yaml"), exclude=True)

    @model_validator(mode="after")
    def _unique_plan(self) -> MpulseConfig:
        seen: set[tuple[str, str]] = set()
        for row in self.plan:
            if (row.month, row.channel) in seen:
                raise ValueError(f"plan has two rows for month {row.month} and channel {row.channel}")
            seen.add((row.month, row.channel))
        return self

    @property
    def base_dir(self) -> Path:
        return self.config_path.parent

    def resolve(self, path: Path) -> Path:
        """Relative paths in the config are relative to the config file's folder."""
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def today(self) -> date:
        """Today in the reporting timezone: what "yesterday" and "month to date" mean for this deployment."""
        return datetime.now(ZoneInfo(self.reporting.timezone)).date()

    def yesterday(self) -> date:
        return self.today() - timedelta(days=1)

    def channel_teams(self) -> dict[str, str]:
        """Team of each channel: the first rule naming the channel with a team."""
        teams: dict[str, str] = {}
        for rule in self.channels:
            if rule.team and rule.channel not in teams:
                teams[rule.channel] = rule.team
        return teams

    @property
    def rerun_days(self) -> int:
        """Days the daily run recomputes: the longest restatement window of the enabled sources."""
        windows = [self.reporting.rerun_days]
        for source in (self.sources.google_ads, self.sources.facebook_ads):
            if source is not None:
                windows.append(source.lookback_days)
        return max(windows)


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith(("function-", "literal[")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _problem_lines(path: Path, error: ValidationError) -> list[str]:
    lines = []
    for err in error.errors():
        loc = _format_loc(tuple(p for p in err["loc"] if p != "[key]"))
        if "[key]" in err["loc"]:
            msg = f"unknown match field (use {', '.join(MATCH_FIELDS)})"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{path}: {loc}: {msg}")
    return lines


def parse_config(path: Path) -> MpulseConfig:
    """Reads and validates a config file; raises ConfigError listing every problem."""
    path = Path(path)
    if not path.is_file():
        hint = (
            " (run `mpulse demo` to create the demo, or set MPULSE_CONFIG)"
            if path == DEFAULT_CONFIG_PATH
            else ""
        )
        raise ConfigError(f"{path}: config file not found{hint}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping")
    try:
        return MpulseConfig.model_validate({**data, "config_path": path.resolve()})
    except ValidationError as exc:
        raise ConfigError(_problem_lines(path, exc)) from None


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int) -> MpulseConfig:
    return parse_config(Path(path))


def load_config(path: str | os.PathLike[str] | None = None) -> MpulseConfig:
    """The config at `path`, else $MPULSE_CONFIG, else the demo config; re-read when the file changes."""
    resolved = Path(path or os.environ.get("MPULSE_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        mtime = resolved.stat().st_mtime_ns
    except OSError:
        return parse_config(resolved)
    return _cached(str(resolved), mtime)


class ConfigResource(dg.ConfigurableResource):
    """Gives assets the parsed deployment config."""

    path: str

    def load(self) -> MpulseConfig:
        return load_config(self.path)
