"""The data-quality suites, written as data: for every staging table, what must hold, how bad it is when it
does not (block / warn / quarantine) and what a user should do. assets/checks.py turns them into Great
Expectations suites and Dagster asset checks; docs/data_quality.md is the same list for people.

- block: the rows would corrupt the marts (double counting, money that cannot be converted). The check
  fails the asset with ERROR severity and nothing downstream runs, so the marts keep their last good state.
- warn: a human should look; the run goes on.
- quarantine: the row breaks a row-level rule; it is moved to quality.quarantine with the reason and the
  run id, left out of the marts, and counted (asset metadata, a WARN check, the daily report).

Expectation arguments may be a `Param`, filled in at validation time (the run's clock, the config).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["block", "warn", "quarantine"]

# Check names: constants, so tests, docs and code point at the same check.
FX_KEYS_UNIQUE = "fx_rate_keys_unique"
FX_RATE_POSITIVE = "fx_rate_positive"
CURRENCY_KNOWN = "currency_known"
FX_RATE_AVAILABLE = "fx_rate_available"
AD_SPEND_KEYS_UNIQUE = "ad_spend_keys_unique"
AD_SPEND_REQUIRED = "ad_spend_required_columns"
SPEND_NON_NEGATIVE = "spend_non_negative"
PLATFORM_KNOWN = "platform_known"
CAMPAIGN_NAME_UNAMBIGUOUS = "campaign_name_unambiguous"
SPEND_SPIKE = "spend_spike"
SPEND_IN_FUTURE = "spend_dated_in_future"
CAMPAIGN_KEYS_UNIQUE = "campaign_keys_unique"
CHANNEL_KEYS_UNIQUE = "channel_keys_unique"
LEAD_KEYS_UNIQUE = "lead_keys_unique"
LEAD_REQUIRED = "lead_required_columns"
LEAD_IN_FUTURE = "lead_created_in_future"
LEAD_STAGE_BEFORE_CREATION = "lead_stage_before_creation"
UTM_CAMPAIGN_MATCHES = "utm_campaign_matches_campaign"
SPEND_WITHOUT_LEADS = "spend_without_leads_14d"
DEAL_KEYS_UNIQUE = "deal_keys_unique"
AMOUNT_NON_NEGATIVE = "amount_non_negative"
DEAL_WON_IN_FUTURE = "deal_won_in_future"
DEAL_LEAD_FOUND = "deal_lead_found"
OTHER_COST_NON_NEGATIVE = "other_cost_non_negative"

# Raw sources load every morning: a source whose last load is older than this shows WARN / FAIL in the UI.
RAW_FRESHNESS_WARN_HOURS = 26  # today's load is missing
RAW_FRESHNESS_FAIL_HOURS = 50  # two loads are missing

SPIKE_FACTOR = 3.0
SPIKE_LOOKBACK_DAYS = 14
SPIKE_MIN_DAYS = 7
NO_LEADS_DAYS = 14


@dataclass(frozen=True)
class Param:
    """A value known only when the check runs: now, today, tomorrow, currencies, platforms."""

    name: str


@dataclass(frozen=True)
class Expect:
    """One Great Expectations expectation: its class name in great_expectations.expectations and its
    arguments. `reason` (quarantine rules) explains one failing row; it is formatted with the row's columns
    and the params."""

    type: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class NotNull:
    """A row condition: the expectation only looks at rows where `column` has a value."""

    column: str


def expect(type_: str, reason: str = "", **kwargs: Any) -> Expect:
    return Expect(type_, kwargs, reason)


@dataclass(frozen=True)
class Check:
    name: str
    severity: Severity
    rule: str  # what must hold, in plain words
    problem: str  # what the failing rows have ("have no FX rate for their currency and day")
    action: str  # what a user should do
    expectations: tuple[Expect, ...]
    show: tuple[str, ...] = ()  # columns to show in examples, besides the key


@dataclass(frozen=True)
class Suite:
    """Checks over one frame (a SELECT) of one staging table; they run as the last step of that table's
    asset, so a blocking failure stops everything downstream of it."""

    table: str  # the staging table the checks are attached to
    key: tuple[str, ...]  # identifies a row in examples and in the quarantine
    sql: str  # the frame: the columns the checks read, with derived columns
    checks: tuple[Check, ...]


def _unique(name: str, key: tuple[str, ...], what: str, action: str) -> Check:
    return Check(
        name,
        "block",
        f"one row per {', '.join(key)}",
        f"are duplicates of another {what} (same {', '.join(key)})",
        action,
        (
            expect("ExpectCompoundColumnsToBeUnique", column_list=list(key))
            if len(key) > 1
            else expect("ExpectColumnValuesToBeUnique", column=key[0]),
        ),
    )


def _not_null(name: str, columns: tuple[str, ...], what: str) -> Check:
    return Check(
        name,
        "block",
        f"every {what} has {', '.join(columns)}",
        f"miss one of {', '.join(columns)}",
        "Fill in the missing values in the source (file or CRM/ad account) and run again.",
        tuple(expect("ExpectColumnValuesToNotBeNull", column=c) for c in columns),
    )


def _currency_known() -> Check:
    return Check(
        CURRENCY_KNOWN,
        "block",
        "the currency is an ISO 4217 code",
        "have an unknown currency",
        "Correct the currency code (ISO 4217, e.g. USD, EUR) in the source and run again.",
        (expect("ExpectColumnValuesToBeInSet", column="currency", value_set=Param("currencies")),),
        ("currency",),
    )


def _money_checks(
    non_negative: str, amount: str, what: str, show: tuple[str, ...], won_only: bool = False
) -> tuple[Check, ...]:
    """FX rate present (blocks: the amount could not be converted) and amount >= 0."""
    condition = {"row_condition": NotNull("won_day")} if won_only else {}
    return (
        Check(
            FX_RATE_AVAILABLE,
            "block",
            f"every {what} has a rate to the reporting currency for its currency and day",
            "have no FX rate for their currency on their day",
            "Add the missing rates to fx_rates.csv (a rate is carried forward at most 7 days) and run again.",
            (expect("ExpectColumnValuesToNotBeNull", column="fx_rate", **condition),),
            ("currency", *show),
        ),
        Check(
            non_negative,
            "block",
            f"{amount} is zero or more",
            f"have a negative {amount}",
            "Negative amounts are refunds or corrections; enter them as lower amounts on the same day.",
            (expect("ExpectColumnValuesToBeBetween", column=amount, min_value=0),),
            (amount, "currency"),
        ),
    )


FX_RATES = Suite(
    "staging.fx_rates_daily",
    ("day", "currency"),
    "select day, currency, cast(rate as double precision) as rate from staging.fx_rates_daily",
    (
        _unique(
            FX_KEYS_UNIQUE, ("day", "currency"), "rate", "Keep one rate per currency and day in fx_rates.csv."
        ),
        Check(
            FX_RATE_POSITIVE,
            "block",
            "every rate is greater than zero",
            "have a rate of zero or less",
            "Correct the rate in fx_rates.csv: units of reporting currency for one unit of the currency.",
            (expect("ExpectColumnValuesToBeBetween", column="rate", min_value=0, strict_min=True),),
            ("rate",),
        ),
    ),
)

# Ad spend is the biggest table (millions of rows at scale): the row frame keeps only what the row-level
# rules read; what is per campaign (platform, name, currency) is checked once per campaign below.
AD_SPEND = Suite(
    "staging.ad_spend",
    ("day", "campaign_key"),
    """
    select day, campaign_key, currency, cast(spend_local as double precision) as spend_local,
           cast(fx_rate as double precision) as fx_rate
    from staging.ad_spend
    """,
    (
        _unique(
            AD_SPEND_KEYS_UNIQUE,
            ("day", "campaign_key"),
            "spend row",
            "Two sources report the same campaign and day: keep it in one source (file or API) only.",
        ),
        _not_null(AD_SPEND_REQUIRED, ("day", "campaign_key", "currency", "spend_local"), "ad spend row"),
        *_money_checks(SPEND_NON_NEGATIVE, "spend_local", "ad spend row", ()),
        Check(
            SPEND_IN_FUTURE,
            "quarantine",
            "spend is not dated after tomorrow (platforms report in their account timezone)",
            "are dated in the future",
            "Correct the date in the source; the rows are left out of the marts until then.",
            (
                expect(
                    "ExpectColumnValuesToBeBetween",
                    column="day",
                    max_value=Param("tomorrow"),
                    reason="spend dated {day}, after {tomorrow}",
                ),
            ),
        ),
    ),
)

AD_CAMPAIGNS = Suite(
    "staging.ad_spend",
    ("campaign_key",),
    """
    with names as (
        select platform, campaign_name, count(distinct campaign_id) as ids
        from staging.ad_spend where campaign_name is not null group by platform, campaign_name
    )
    select s.campaign_key, s.platform, s.campaign_name, s.currency, count(*) as days,
           max(n.ids) as campaign_ids_with_this_name
    from staging.ad_spend s
    left join names n on n.platform = s.platform and n.campaign_name = s.campaign_name
    group by s.campaign_key, s.platform, s.campaign_name, s.currency
    """,
    (
        _currency_known(),
        Check(
            PLATFORM_KNOWN,
            "warn",
            "the platform is google_ads, facebook_ads or a channel of the config",
            "have a platform no channel rule knows (its spend goes to team `unassigned`, no lead matches)",
            "Fix a misspelt platform in ad_spend.csv, or add the platform as a channel to the config.",
            (expect("ExpectColumnValuesToBeInSet", column="platform", value_set=Param("platforms")),),
            ("platform",),
        ),
        Check(
            CAMPAIGN_NAME_UNAMBIGUOUS,
            "warn",
            "a campaign name belongs to one campaign id per platform",
            "share their name with another campaign id, so leads tagged with that name are ambiguous",
            "Rename one of the campaigns in the ad account, or tag leads with the campaign id instead.",
            (expect("ExpectColumnValuesToBeBetween", column="campaign_ids_with_this_name", max_value=1),),
            ("campaign_name",),
        ),
    ),
)

DAILY_SPEND = Suite(
    "staging.ad_spend",
    ("day",),
    f"""
    with daily as (select day, sum(spend) as spend from staging.ad_spend group by day),
    history as (
        select a.day, count(*) as days, percentile_cont(0.5) within group (order by b.spend) as median
        from daily a
        join daily b on b.day >= a.day - {SPIKE_LOOKBACK_DAYS} and b.day < a.day
        group by a.day
    ),
    ranked as (
        select day, campaign_key, spend,
               row_number() over (partition by day order by spend desc, campaign_key) as rn
        from staging.ad_spend
    )
    select d.day, cast(d.spend as double precision) as spend,
           cast(h.median as double precision) as trailing_median,
           case when h.days >= {SPIKE_MIN_DAYS} and h.median > 0
                then cast(d.spend / h.median as double precision) end as spend_vs_trailing_median,
           r.campaign_key as top_campaign, cast(r.spend as double precision) as top_campaign_spend
    from daily d
    left join history h on h.day = d.day
    left join ranked r on r.day = d.day and r.rn = 1
    """,
    (
        Check(
            SPEND_SPIKE,
            "warn",
            f"a day's total ad spend is at most {SPIKE_FACTOR:g}x the median of the previous "
            f"{SPIKE_LOOKBACK_DAYS} days (with at least {SPIKE_MIN_DAYS} days of history)",
            f"spent more than {SPIKE_FACTOR:g}x the trailing median of daily spend",
            "Check the budgets and bids of the day's top campaigns in the ad account (a typo in a budget, "
            "spend loaded in cents); if the spend is real, nothing to do.",
            (
                expect(
                    "ExpectColumnValuesToBeBetween", column="spend_vs_trailing_median", max_value=SPIKE_FACTOR
                ),
            ),
            ("spend", "trailing_median", "top_campaign", "top_campaign_spend"),
        ),
    ),
)

CAMPAIGNS = Suite(
    "staging.campaigns",
    ("campaign_key",),
    "select campaign_key from staging.campaigns",
    (_unique(CAMPAIGN_KEYS_UNIQUE, ("campaign_key",), "campaign", "Report this as a bug: campaigns.sql"),),
)

CHANNELS = Suite(
    "staging.channels",
    ("channel",),
    "select channel from staging.channels",
    (_unique(CHANNEL_KEYS_UNIQUE, ("channel",), "channel", "Report this as a bug: channels.sql"),),
)

LEADS = Suite(
    "staging.leads",
    ("source_system", "lead_id"),
    """
    select l.source_system, l.lead_id, l.channel, l.campaign_key, l.utm_campaign, l.created_at,
           l.created_day, l.mql_day, l.sql_day, l.disqualified_day,
           case when ch.is_ad_platform and l.campaign_key = l.channel || ':(none)'
                     and coalesce(l.utm_campaign, '') <> ''
                then l.utm_campaign end as unmatched_utm_campaign
    from staging.leads l
    left join staging.channels ch on ch.channel = l.channel
    """,
    (
        _unique(
            LEAD_KEYS_UNIQUE,
            ("source_system", "lead_id"),
            "lead",
            "Each lead must appear once per source: remove the duplicate rows from the CRM export.",
        ),
        _not_null(LEAD_REQUIRED, ("lead_id", "created_at"), "lead"),  # channel and campaign_key: coalesced
        Check(
            LEAD_IN_FUTURE,
            "quarantine",
            "a lead is not created after the run started",
            "are created in the future",
            "Correct created_at in the CRM (a wrong timezone or year?); the leads are left out until then.",
            (
                expect(
                    "ExpectColumnValuesToBeBetween",
                    column="created_at",
                    max_value=Param("now"),
                    reason="created_at {created_at} is after the run started ({now} UTC)",
                ),
            ),
        ),
        Check(
            LEAD_STAGE_BEFORE_CREATION,
            "quarantine",
            "a lead becomes MQL, SQL or disqualified on or after the day it was created",
            "reach a stage before the day they were created",
            "Correct the lead's dates in the CRM; the leads are left out until then.",
            tuple(
                expect(
                    "ExpectColumnPairValuesAToBeGreaterThanB",
                    column_A=column,
                    column_B="created_day",
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                    reason=f"{stage} on {{{column}}}, before it was created on {{created_day}}",
                )
                for column, stage in (
                    ("mql_day", "MQL"),
                    ("sql_day", "SQL"),
                    ("disqualified_day", "disqualified"),
                )
            ),
        ),
        Check(
            UTM_CAMPAIGN_MATCHES,
            "warn",
            "a lead from an ad platform with a utm_campaign matches one of that platform's campaigns",
            "carry a utm_campaign that is no campaign id or exact name of their ad platform",
            "Fix the campaign's UTM tags (utm_campaign = campaign id or exact name); the leads count under "
            "<platform>:(none) until then.",
            (expect("ExpectColumnValuesToBeNull", column="unmatched_utm_campaign"),),
            ("channel", "unmatched_utm_campaign"),
        ),
    ),
)

CAMPAIGN_ACTIVITY = Suite(
    "staging.leads",
    ("campaign_key",),
    f"""
    with last_day as (select max(day) as day from staging.ad_spend),
    recent_spend as (
        select s.campaign_key, sum(s.spend) as spend, sum(s.platform_leads) as platform_leads
        from staging.ad_spend s cross join last_day d
        where s.day > d.day - {NO_LEADS_DAYS}
        group by s.campaign_key
        having sum(s.spend) > 0
    ),
    recent_leads as (
        select l.campaign_key, count(*) as leads
        from staging.leads l cross join last_day d
        where l.created_day > d.day - {NO_LEADS_DAYS}
        group by l.campaign_key
    ),
    all_leads as (select campaign_key, count(*) as leads from staging.leads group by campaign_key)
    select r.campaign_key, c.campaign_name,
           cast(r.spend as double precision) as spend_14d,
           r.platform_leads as platform_leads_14d,
           coalesce(a.leads, 0) as crm_leads_ever,
           case when coalesce(rl.leads, 0) = 0 and (r.platform_leads > 0 or coalesce(a.leads, 0) > 0)
                then cast(r.spend as double precision) end as spend_14d_without_leads
    from recent_spend r
    left join recent_leads rl on rl.campaign_key = r.campaign_key
    left join all_leads a on a.campaign_key = r.campaign_key
    left join staging.campaigns c on c.campaign_key = r.campaign_key
    """,
    (
        Check(
            SPEND_WITHOUT_LEADS,
            "warn",
            f"a campaign that spent in the last {NO_LEADS_DAYS} days of data has CRM leads in them, unless "
            "it never had any (awareness campaigns are listed in the standup instead)",
            f"spent in the last {NO_LEADS_DAYS} days without a single CRM lead, although the platform "
            "reports leads or the campaign had leads before",
            "Check the campaign's UTM tags and the CRM form/integration: its leads are probably not arriving "
            "or not tagged.",
            (expect("ExpectColumnValuesToBeNull", column="spend_14d_without_leads"),),
            ("campaign_name", "spend_14d_without_leads", "platform_leads_14d", "crm_leads_ever"),
        ),
    ),
)

DEALS = Suite(
    "staging.deals",
    ("source_system", "deal_id"),
    """
    select source_system, deal_id, lead_id, won_day, currency,
           cast(amount_local as double precision) as amount_local,
           cast(fx_rate as double precision) as fx_rate, lead_found
    from staging.deals
    """,
    (
        _unique(
            DEAL_KEYS_UNIQUE,
            ("source_system", "deal_id"),
            "deal",
            "Each deal must appear once per source: remove the duplicate rows from the CRM export.",
        ),
        _currency_known(),
        *_money_checks(AMOUNT_NON_NEGATIVE, "amount_local", "won deal", ("won_day",), won_only=True),
        Check(
            DEAL_WON_IN_FUTURE,
            "quarantine",
            "a deal is not won after today",
            "are won in the future",
            "Correct won_at in the CRM; the deals are left out of revenue until then.",
            (
                expect(
                    "ExpectColumnValuesToBeBetween",
                    column="won_day",
                    max_value=Param("today"),
                    reason="won on {won_day}, after today ({today})",
                ),
            ),
        ),
        Check(
            DEAL_LEAD_FOUND,
            "warn",
            "every deal's lead is known",
            "belong to a lead that is not among the leads (their revenue counts under other:(none))",
            "Check the deal's lead_id in the CRM export, or whether the lead was held back in quarantine.",
            (expect("ExpectColumnValuesToBeInSet", column="lead_found", value_set=[True]),),
            ("lead_id",),
        ),
    ),
)

OTHER_COSTS = Suite(
    "staging.other_costs_daily",
    ("day", "channel", "currency"),
    """
    select day, channel, currency, cast(amount_local as double precision) as amount_local,
           cast(fx_rate as double precision) as fx_rate
    from staging.other_costs_daily
    """,
    (_currency_known(), *_money_checks(OTHER_COST_NON_NEGATIVE, "amount_local", "manual cost", ("channel",))),
)

SUITES: tuple[Suite, ...] = (
    FX_RATES,
    AD_SPEND,
    AD_CAMPAIGNS,
    DAILY_SPEND,
    CAMPAIGNS,
    CHANNELS,
    LEADS,
    CAMPAIGN_ACTIVITY,
    DEALS,
    OTHER_COSTS,
)


def suites_for(table: str) -> tuple[Suite, ...]:
    return tuple(s for s in SUITES if s.table == table)


def checks_for(table: str) -> tuple[Check, ...]:
    return tuple(c for s in suites_for(table) for c in s.checks)
