"""Deterministic synthetic demo data set: the CSV files of inputs.md plus a config that reads them.

Why synthetic: the project must be runnable, testable and benchmarkable offline without anyone's CRM or ad
accounts. The data are shaped so that every report has something to say: inbound and outbound teams, all
default channels plus unmatched leads (`other`), seasonality and growth, a campaign that spends without
leads, a campaign whose CPL drifts up, stage skipping, disqualification before and after MQL, deals in two
currencies and FX rates with weekend gaps.

Everything is vectorized numpy/pyarrow (no Python loop per lead or per ad row) because the benchmark calls
`write_demo` with millions of rows. The same (seed, end, size) always gives byte-identical files.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from resources.csv_files import FILE_CONTRACTS


def _columns(name: str) -> tuple[str, ...]:
    return tuple(column.name for column in FILE_CONTRACTS[name].columns)


LEAD_COLUMNS = _columns("leads")
DEAL_COLUMNS = _columns("deals")
AD_SPEND_COLUMNS = _columns("ad_spend")
OTHER_COST_COLUMNS = _columns("other_costs")
FX_COLUMNS = _columns("fx_rates")

REPORTING_CURRENCY = "USD"
REPORTING_TIMEZONE = "Europe/Moscow"
_TZ_OFFSET_S = 3 * 3600  # Moscow is UTC+3 all year (no DST), so local times need no tz database
_DAY_S = 86400
_EUR_MEAN = 1.08  # USD per EUR; used for plans/targets and as the centre of the FX random walk


@dataclass(frozen=True)
class DemoSize:
    """How much data to generate; the defaults are a realistic small company, the bench scales them up."""

    months: int = 9
    leads_per_month: int = 600  # average; actual months vary 400-800 with seasonality
    google_campaigns: int = 6  # per account
    facebook_campaigns: int = 5  # per account
    accounts_per_platform: int = 1  # bench uses more; campaign ids stay unique per platform


# ----------------------------------------------------------------------------------------------------------
# Channels and how their leads look in a CRM export.

# (channel, team, match rule as YAML flow text or None). Order matters: the first matching rule wins.
_RULES: tuple[tuple[str, str, str | None], ...] = (
    ("google_ads", "inbound", "{utm_source: [google], utm_medium: [cpc, ppc]}"),
    ("facebook_ads", "inbound", "{utm_source: [facebook, fb, instagram], utm_medium: [cpc, paid_social]}"),
    ("email", "outbound", "{utm_medium: [email]}"),
    ("abm", "outbound", "{source: [abm]}"),
    ("events", "outbound", "{source: [event, conference]}"),
    ("referral", "outbound", "{source: [referral, partner]}"),
    ("organic_search", "inbound", "{utm_medium: [organic]}"),
    ("content", "inbound", "{utm_medium: [content, blog]}"),
    ("direct", "inbound", "{source: [direct]}"),
    ("other", "inbound", None),
)
_CHANNEL_NAMES = [r[0] for r in _RULES]
# Channel index of each ad platform (platform 0 = Google Ads, 1 = Facebook Ads).
_PLATFORM_CHANNEL = np.array([_CHANNEL_NAMES.index("google_ads"), _CHANNEL_NAMES.index("facebook_ads")])

_GOOGLE_SHARE = 0.20  # share of all leads from Google Ads when every campaign runs
_FACEBOOK_SHARE = 0.18

# Non-ad channels: (name, base share, mql multiplier, disqualification multiplier). Shares are renormalized
# daily so that they fill whatever the running ad campaigns leave; `other` stays ~2%.
_ORGANIC: tuple[tuple[str, float, float, float], ...] = (
    ("organic_search", 0.14, 1.0, 0.8),
    ("content", 0.08, 0.9, 1.0),
    ("email", 0.08, 0.9, 1.0),
    ("abm", 0.05, 1.4, 0.5),
    ("referral", 0.07, 1.5, 0.4),
    ("events", 0.05, 1.2, 0.8),
    ("direct", 0.13, 1.1, 1.0),
    ("other", 0.02, 0.6, 1.8),
)

# How leads of each non-ad channel look: (source, utm_source, utm_medium, utm_campaign, weight).
_VARIANTS: dict[str, tuple[tuple[str | None, str | None, str | None, str | None, float], ...]] = {
    "organic_search": (
        ("organic", "google", "organic", None, 0.7),
        ("organic", "yandex", "organic", None, 0.2),
        (None, "bing", "organic", None, 0.1),
    ),
    "content": (
        ("content", "blog", "blog", None, 0.5),
        (None, "linkedin", "content", "whitepaper-benchmarks", 0.3),
        ("content", "medium", "blog", None, 0.2),
    ),
    "email": (
        ("email", "newsletter", "email", "monthly-digest", 0.5),
        ("outbound", "outreach", "email", "cold-sequence-a", 0.3),
        (None, "hubspot", "email", "nurture", 0.2),
    ),
    "abm": (("abm", None, None, None, 0.8), ("ABM", "linkedin", "abm_outreach", None, 0.2)),
    "events": (("event", None, None, "saas-summit", 0.6), ("conference", None, None, None, 0.4)),
    "referral": (("referral", None, None, None, 0.6), ("partner", "partner-site", "referral", None, 0.4)),
    "direct": (("direct", None, None, None, 1.0),),
    "other": (
        (None, "tiktok", "paid_social", "spring-promo", 0.7),
        (None, "linkedin", "paid_social", None, 0.2),
        ("webinar", None, None, None, 0.1),
    ),
}

# Ad campaign templates: (name, lead weight, CPL in account currency, CPC, CTR, start frac, end frac).
# The first template of account 0 runs all period on each platform, so every day has ad leads.
_GOOGLE_TEMPLATES: tuple[tuple[str, float, float, float, float, float, float], ...] = (
    ("Search - Brand", 3.0, 45.0, 1.6, 0.09, 0.0, 1.0),
    ("Display - Awareness", 0.5, 50.0, 0.45, 0.004, 0.0, 1.0),  # account 0's: spends daily, never gets leads
    ("Search - Generic", 3.0, 95.0, 4.5, 0.035, 0.0, 1.0),
    ("Search - Competitors", 1.5, 140.0, 6.5, 0.03, 0.0, 0.7),
    ("Performance Max", 2.0, 85.0, 2.2, 0.02, 0.35, 1.0),
    ("Search - Retargeting", 1.0, 60.0, 2.8, 0.05, 0.1, 1.0),
)
_FACEBOOK_TEMPLATES: tuple[tuple[str, float, float, float, float, float, float], ...] = (
    ("Lead Ads - Webinar", 2.0, 38.0, 0.9, 0.012, 0.0, 1.0),  # leads carry the campaign NAME
    ("Lookalike - Customers", 2.5, 40.0, 1.1, 0.010, -1.0, 1.0),  # CPL drifts up; -1 = launch a bit late
    ("Lead Ads - Ebook", 4.5, 25.0, 0.7, 0.014, 0.0, 1.0),  # cheap, many students/spam: high DQ rate
    ("Retargeting - Website Visitors", 1.0, 45.0, 1.4, 0.02, 0.0, 1.0),
    ("Video - Testimonials", 0.7, 60.0, 0.5, 0.008, 0.0, 0.55),
)
_NO_LEAD_NAME = "Display - Awareness"
_DRIFT_NAME = "Lookalike - Customers"
_NAMED_UTM_NAME = "Lead Ads - Webinar"
_HIGH_DQ_NAME = "Lead Ads - Ebook"

_DQ_REASONS_BEFORE = (("spam", 0.35), ("student", 0.30), ("competitor", 0.15), ("no budget", 0.20))
_DQ_REASONS_AFTER = (("no budget", 0.60), ("competitor", 0.25), ("student", 0.15))

# Calendar-month seasonality of lead volume (B2B: summer and December dips, autumn peak).
_SEASON = {1: -0.05, 2: 0.0, 3: 0.05, 4: 0.05, 5: 0.0, 6: -0.05, 7: -0.08, 8: -0.12, 9: 0.05, 10: 0.08}
_SEASON |= {11: 0.06, 12: -0.10}
_WEEKDAY_WEIGHT = np.array([1.0, 1.05, 1.05, 1.0, 0.9, 0.35, 0.3])  # Monday..Sunday
# Lead creation hour in Moscow time, 08..22 (so the UTC and Moscow calendar day are the same).
_HOUR_WEIGHT = np.array([2, 4, 7, 9, 9, 8, 8, 9, 8, 7, 5, 4, 3, 3, 2], dtype=float)

# Timestamp styles of the CRM export: UTC with Z, Moscow offset, naive (taken as UTC).
_TS_STYLE_P = np.array([0.80, 0.12, 0.08])
_SUFFIX_BYTES = np.array([list(b"Z\0\0\0\0\0"), list(b"+03:00"), [0] * 6], dtype=np.uint8)  # per style
_SUFFIX_LEN = np.array([1, 6, 0])

# No value we write contains a comma, quote or newline; "none" makes Arrow raise if one ever does.
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")


# ----------------------------------------------------------------------------------------------------------
# Small vectorized helpers.


def _rng(seed: int, part: int) -> np.random.Generator:
    """One independent stream per part, so changing one part's draws never shifts another's."""
    return np.random.default_rng([seed, part])


def _choice(rng: np.random.Generator, n: int, weights: np.ndarray | list[float]) -> np.ndarray:
    """Vectorized categorical draw of n codes."""
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def _vocab_take(vocab: list[str | None], codes: np.ndarray) -> pa.Array:
    """Strings for integer codes; None entries in the vocabulary become CSV nulls (empty cells).

    A dictionary array, not materialized strings: the CSV writer decodes it batch by batch, which keeps
    memory and time low for millions of rows.
    """
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int32()), pa.array(vocab, type=pa.string()))


def _fixed(units: np.ndarray, decimals: int) -> pa.Array:
    """Non-negative integers in 10**-decimals units as '123.45' strings (exact, no float formatting)."""
    scale = 10**decimals
    whole = pa.array(units // scale).cast(pa.string())
    frac = pc.utf8_lpad(pa.array(units % scale).cast(pa.string()), decimals, "0")
    return pc.binary_join_element_wise(whole, frac, ".")


@cache
def _clock_bytes() -> np.ndarray:
    """86400 x 8 ASCII bytes: "HH:MM:SS" for every second of a day (a lookup beats formatting per row)."""
    sod = np.arange(_DAY_S)
    parts = (sod // 3600, sod // 60 % 60, sod % 60)
    out = np.full((_DAY_S, 8), ord(":"), dtype=np.uint8)
    for i, part in enumerate(parts):
        out[:, 3 * i] = ord("0") + part // 10
        out[:, 3 * i + 1] = ord("0") + part % 10
    return out


def _iso(ts: np.ndarray, valid: np.ndarray, style: np.ndarray) -> pa.Array:
    """ISO 8601 strings of epoch seconds in each row's style; invalid rows become nulls.

    Built as raw bytes from a per-day and a per-second lookup table: several times faster than formatting
    each timestamp, which matters at millions of leads.
    """
    st = style[valid]
    day, sod = np.divmod(ts[valid] + np.where(st == 1, _TZ_OFFSET_S, 0), _DAY_S)
    n = len(day)
    d0 = int(day.min()) if n else 0
    span = int(day.max()) - d0 + 1 if n else 1
    dates = np.datetime_as_string(np.arange(d0, d0 + span).astype("datetime64[D]")).astype("S10")
    buf = np.empty((n, 25), dtype=np.uint8)
    buf[:, :10] = dates.view(np.uint8).reshape(span, 10)[day - d0]
    buf[:, 10] = ord("T")
    buf[:, 11:19] = _clock_bytes()[sod]
    buf[:, 19:] = _SUFFIX_BYTES[st]
    lengths = 19 + _SUFFIX_LEN[st]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = buf[np.arange(25)[None, :] < lengths[:, None]]
    text = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    pos = np.cumsum(valid, dtype=np.int64) - 1
    return pa.DictionaryArray.from_arrays(pa.array(pos, mask=~valid, type=pa.int64()), text)


def _ids(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """n distinct random integers in [low, high), in draw order (ids must be unique per platform)."""
    out = np.empty(0, dtype=np.int64)
    while len(out) < n:  # loops once in practice; only re-draws on collisions
        draw = rng.integers(low, high, size=2 * (n - len(out)) + 8, dtype=np.int64)
        merged = np.concatenate([out, draw])
        _, first = np.unique(merged, return_index=True)
        out = merged[np.sort(first)][:n]
    return out


def _write(table: pa.Table, path: Path) -> None:
    """Plain CSV with an unquoted header row (Arrow would quote the header names)."""
    with path.open("wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode("utf-8"))
        pacsv.write_csv(table, fh, write_options=_CSV_OPTIONS)


def _month_start(d: date, back: int) -> date:
    index = d.year * 12 + d.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


# ----------------------------------------------------------------------------------------------------------
# Calendar and lead volume.


@dataclass(frozen=True)
class _Calendar:
    start: date
    end: date
    day_epoch: np.ndarray  # epoch seconds at 00:00 UTC of each day
    month_of_day: np.ndarray  # month index 0..months-1 per day
    months: list[str]  # "YYYY-MM"
    month_days: np.ndarray  # calendar days of each month
    covered_days: np.ndarray  # days of each month inside the data

    @property
    def n_days(self) -> int:
        return len(self.day_epoch)


def _calendar(end: date, months: int) -> _Calendar:
    start = _month_start(end, months - 1)
    n_days = (end - start).days + 1
    d0 = np.datetime64(start.isoformat(), "D")
    days = d0 + np.arange(n_days)
    month_idx = days.astype("datetime64[M]").astype(np.int64) - d0.astype("datetime64[M]").astype(np.int64)
    labels = [_month_start(end, months - 1 - m).strftime("%Y-%m") for m in range(months)]
    month_days = np.array([calendar.monthrange(int(s[:4]), int(s[5:]))[1] for s in labels])
    covered = np.bincount(month_idx, minlength=months)
    return _Calendar(start, end, days.astype(np.int64) * _DAY_S, month_idx, labels, month_days, covered)


def _daily_leads(cal: _Calendar, size: DemoSize, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Expected and actual leads per day: monthly target (growth + seasonality) split by weekday weights."""
    m = np.arange(len(cal.months))
    growth = 0.87 + 0.26 * m / max(len(m) - 1, 1) if len(m) > 1 else np.ones(1)
    season = np.array([_SEASON[int(s[5:])] for s in cal.months])
    factor = np.clip(growth + season + rng.normal(0.0, 0.03, len(m)), 0.70, 1.30)
    weekday = (cal.day_epoch // _DAY_S + 3) % 7  # 1970-01-01 was a Thursday
    weight = _WEEKDAY_WEIGHT[weekday] * rng.gamma(25.0, 1 / 25.0, cal.n_days)
    # Weight of a full month: covered days' weight plus the average weekday weight for missing days.
    covered_w = np.bincount(cal.month_of_day, weights=weight, minlength=len(m))
    full_w = covered_w + (cal.month_days - cal.covered_days) * _WEEKDAY_WEIGHT.mean()
    month_n = np.rint(size.leads_per_month * factor * covered_w / full_w).astype(np.int64)
    p_day = weight / covered_w[cal.month_of_day]
    expected = month_n[cal.month_of_day] * p_day
    actual = np.zeros(cal.n_days, dtype=np.int64)
    for k in m:  # one multinomial per month (a handful of months), each vectorized over its days
        sel = cal.month_of_day == k
        actual[sel] = rng.multinomial(month_n[k], p_day[sel] / p_day[sel].sum())
    return expected, actual


# ----------------------------------------------------------------------------------------------------------
# Ad campaigns.


@dataclass(frozen=True)
class _Campaigns:
    platform: np.ndarray  # 0 google, 1 facebook
    account: np.ndarray  # account index within the platform
    account_id: list[str]
    campaign_id: list[str]
    name: list[str]
    weight: np.ndarray  # relative lead weight (0 = never gets leads)
    cpl: np.ndarray
    cpc: np.ndarray
    ctr: np.ndarray
    first_day: np.ndarray
    last_day: np.ndarray
    drift: np.ndarray  # bool
    by_name: np.ndarray  # bool: leads carry the campaign name as utm_campaign
    high_dq: np.ndarray  # bool
    share: np.ndarray  # expected share of all leads while running

    def __len__(self) -> int:
        return len(self.platform)


def _campaigns(size: DemoSize, n_days: int, rng: np.random.Generator) -> _Campaigns:
    """Campaign catalogue: account 0 holds the named story campaigns, further accounts are generic copies."""
    parts: list[dict[str, np.ndarray]] = []
    names: list[str] = []
    for platform, templates, n in (
        (0, _GOOGLE_TEMPLATES, size.google_campaigns),
        (1, _FACEBOOK_TEMPLATES, size.facebook_campaigns),
    ):
        extra = "Search - Generic" if platform == 0 else "Lead Ads - Offer"
        cpl_extra = 90.0 if platform == 0 else 45.0
        specs = list(templates[:n]) + [
            (f"{extra} {j + 2}", 1.0, cpl_extra, 3.0 / (1 + platform), 0.03, 0.0, 1.0)
            for j in range(n - len(templates))
        ]
        accounts = size.accounts_per_platform
        k = np.tile(np.arange(n), accounts)
        account = np.repeat(np.arange(accounts), n)
        spec = [np.array([row[j] for row in specs])[k] for j in range(1, 7)]
        weight, cpl, cpc, ctr, s_frac, e_frac = spec
        # Campaigns beyond the templates start late / stop early at random, like a real account's history.
        is_extra = k >= len(templates)
        s_frac = np.where(is_extra & (rng.random(len(k)) < 0.4), rng.uniform(0.0, 0.5, len(k)), s_frac)
        e_frac = np.where(is_extra & (rng.random(len(k)) < 0.3), rng.uniform(0.8, 1.0, len(k)) * 0.99, e_frac)
        story = account == 0
        base = np.array([row[0] for row in specs])[k]
        names += [str(b) if a == 0 else f"{b} #{a + 1}" for b, a in zip(base, account, strict=True)]
        first = np.where(s_frac < 0, min(21, n_days // 5), (np.maximum(s_frac, 0) * n_days).astype(np.int64))
        last = np.where(e_frac >= 1.0, n_days - 1, np.maximum(first, (e_frac * n_days).astype(np.int64) - 1))
        parts.append(
            {
                "platform": np.full(len(k), platform),
                "account": account,
                "weight": np.where(story & (base == _NO_LEAD_NAME), 0.0, weight),  # one no-lead campaign
                "cpl": cpl,
                "cpc": cpc,
                "ctr": ctr,
                "first_day": first,
                "last_day": last,
                "drift": story & (base == _DRIFT_NAME),
                "by_name": story & (base == _NAMED_UTM_NAME),
                "high_dq": story & (base == _HIGH_DQ_NAME),
            }
        )
    col = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    platform = col["platform"]
    is_google = platform == 0
    accounts = size.accounts_per_platform
    campaign_id = np.empty(len(platform), dtype=np.int64)
    # Google campaign ids have ~11 digits, Facebook ones 17 (like 23851234567890123).
    campaign_id[is_google] = _ids(rng, int(is_google.sum()), 10**10, 10**11)
    campaign_id[~is_google] = _ids(rng, int((~is_google).sum()), 23_850 * 10**12, 23_860 * 10**12)
    google_acc = _ids(rng, accounts, 10**9, 10**10)  # 10-digit customer ids
    fb_acc = _ids(rng, accounts, 10**14, 10**15)  # ad account ids without "act_"
    account_id = np.where(is_google, google_acc[col["account"]], fb_acc[col["account"]])
    share = np.zeros(len(platform))
    for p, total in ((0, _GOOGLE_SHARE), (1, _FACEBOOK_SHARE)):
        sel = platform == p
        share[sel] = total * col["weight"][sel] / col["weight"][sel].sum()
    return _Campaigns(
        account_id=account_id.astype(str).tolist(),
        campaign_id=campaign_id.astype(str).tolist(),
        name=names,
        share=share,
        **col,
    )


def _running(camps: _Campaigns, n_days: int) -> np.ndarray:
    """days x campaigns: True while a campaign is scheduled."""
    day = np.arange(n_days)[:, None]
    return (day >= camps.first_day[None, :]) & (day <= camps.last_day[None, :])


def _campaign_leads(
    cal: _Calendar, camps: _Campaigns, running: np.ndarray, expected: np.ndarray
) -> np.ndarray:
    """days x campaigns expected CRM leads: a fixed share of the day's volume while running.

    The drift campaign instead gets a flat rate (weekday pattern only, no growth) with a launch honeymoon
    (fresh audience: +30% in its first 14 days), so that its CPL clearly rises as its spend ramps up.
    """
    exp = expected[:, None] * camps.share[None, :] * running
    if camps.drift.any():
        weekday = _WEEKDAY_WEIGHT[(cal.day_epoch // _DAY_S + 3) % 7]
        flat = expected.mean() * weekday / _WEEKDAY_WEIGHT.mean()
        since = np.arange(cal.n_days)[:, None] - camps.first_day[None, camps.drift]
        honeymoon = np.where(since < 14, 1.3, 1.0)
        rate = flat[:, None] * honeymoon * camps.share[None, camps.drift]
        exp[:, camps.drift] = rate * running[:, camps.drift]
    return exp


# ----------------------------------------------------------------------------------------------------------
# Leads, lifecycle and deals.


@dataclass(frozen=True)
class _Leads:
    created: np.ndarray  # epoch seconds, UTC
    channel: np.ndarray  # index into _RULES names
    campaign: np.ndarray  # campaign index or -1
    campaign_tagged: np.ndarray  # bool: utm_campaign names the campaign (id or name)
    mql: np.ndarray
    sql: np.ndarray
    dq: np.ndarray
    has_mql: np.ndarray
    has_sql: np.ndarray
    has_dq: np.ndarray
    per_campaign_day: np.ndarray  # days x campaigns: leads created


def _leads(
    cal: _Calendar,
    camps: _Campaigns,
    camp_leads: np.ndarray,
    expected: np.ndarray,
    daily: np.ndarray,
    event_month: np.ndarray,
    seed: int,
) -> tuple[_Leads, pa.Table]:
    rng = _rng(seed, 3)
    n_org = len(_ORGANIC)
    # Stream probabilities per day: running campaigns take their share, organic channels fill the rest.
    camp_p = camp_leads / np.maximum(expected, 1e-9)[:, None]
    org_w = np.tile(np.array([o[1] for o in _ORGANIC]), (cal.n_days, 1))
    events_col = [o[0] for o in _ORGANIC].index("events")
    org_w[:, events_col] *= np.where(event_month[cal.month_of_day], 2.5, 0.6)  # leads follow the events
    other_col = [o[0] for o in _ORGANIC].index("other")
    rest = np.maximum(1.0 - camp_p.sum(axis=1), 0.05)
    fixed_other = 0.02
    org_w[:, other_col] = 0.0
    org_p = org_w / org_w.sum(axis=1, keepdims=True) * (rest - fixed_other)[:, None]
    org_p[:, other_col] = fixed_other
    p = np.concatenate([org_p, camp_p], axis=1)
    p = np.clip(p, 0.0, None)
    p /= p.sum(axis=1, keepdims=True)
    counts = rng.multinomial(daily, p)  # days x streams
    n = int(counts.sum())
    flat = counts.ravel()
    day = np.repeat(np.repeat(np.arange(cal.n_days), p.shape[1]), flat)
    stream = np.repeat(np.tile(np.arange(p.shape[1]), cal.n_days), flat)
    hour = _choice(rng, n, _HOUR_WEIGHT) + 8
    created = cal.day_epoch[day] + hour * 3600 + rng.integers(0, 3600, n) - _TZ_OFFSET_S
    order = np.argsort(created, kind="stable")
    created, stream = created[order], stream[order]

    is_camp = stream >= n_org
    campaign = np.where(is_camp, stream - n_org, -1)
    org_channel = np.array([_CHANNEL_NAMES.index(o[0]) for o in _ORGANIC])
    cidx = np.maximum(campaign, 0)
    channel = np.where(
        is_camp, _PLATFORM_CHANNEL[camps.platform[cidx]], org_channel[np.minimum(stream, n_org - 1)]
    )

    # --- source fields --------------------------------------------------------------------------------
    vocab: list[str | None] = [None]
    index: dict[str | None, int] = {None: 0}

    def code(value: str | None) -> int:
        if value not in index:
            index[value] = len(vocab)
            vocab.append(value)
        return index[value]

    src = np.zeros(n, dtype=np.int64)
    usrc = np.zeros(n, dtype=np.int64)
    umed = np.zeros(n, dtype=np.int64)
    ucmp = np.zeros(n, dtype=np.int64)
    for j, (name, *_rest) in enumerate(_ORGANIC):
        sel = ~is_camp & (stream == j)
        variants = _VARIANTS[name]
        pick = _choice(rng, int(sel.sum()), [v[4] for v in variants])
        for field, arr in ((0, src), (1, usrc), (2, umed), (3, ucmp)):
            arr[sel] = np.array([code(v[field]) for v in variants])[pick]
    g = is_camp & (camps.platform[cidx] == 0)
    f = is_camp & (camps.platform[cidx] == 1)
    src[g] = code("paid_search")
    usrc[g] = np.array([code("google"), code("Google")])[_choice(rng, int(g.sum()), [0.9, 0.1])]
    umed[g] = np.array([code("cpc"), code("ppc")])[_choice(rng, int(g.sum()), [0.85, 0.15])]
    src[f] = code("paid_social")
    fb_src = [code("facebook"), code("fb"), code("instagram")]
    usrc[f] = np.array(fb_src)[_choice(rng, int(f.sum()), [0.6, 0.25, 0.15])]
    umed[f] = np.array([code("paid_social"), code("cpc")])[_choice(rng, int(f.sum()), [0.7, 0.3])]
    # utm_campaign: the campaign id, the exact name for the by-name campaign, lost (empty) for ~2%.
    id_codes = np.array([code(x) for x in camps.campaign_id])
    name_codes = np.array([code(x) for x in camps.name])
    tagged = is_camp & (rng.random(n) >= 0.02)
    ucmp[is_camp] = 0
    ucmp[tagged] = np.where(camps.by_name[cidx[tagged]], name_codes[cidx[tagged]], id_codes[cidx[tagged]])

    # --- lifecycle ------------------------------------------------------------------------------------
    mql_mult = np.ones(len(_CHANNEL_NAMES))
    dq_mult = np.ones(len(_CHANNEL_NAMES))
    mql_mult[_PLATFORM_CHANNEL[1]], dq_mult[_PLATFORM_CHANNEL[1]] = 0.8, 1.4  # facebook: cheap, lower quality
    for name, _share, mm, dm in _ORGANIC:
        mql_mult[_CHANNEL_NAMES.index(name)] = mm
        dq_mult[_CHANNEL_NAMES.index(name)] = dm
    lc = _rng(seed, 4)
    u = lc.random((5, n))
    direct_sql = u[0] < 0.05 * np.where(channel == _CHANNEL_NAMES.index("other"), 0.3, 1.0)
    p_mql = np.clip(0.40 / 0.95 * mql_mult[channel], 0.0, 0.9)
    has_mql = ~direct_sql & (u[1] < p_mql)
    mql = created + np.minimum(lc.exponential(2.0 * _DAY_S, n), 10 * _DAY_S).astype(np.int64) + 600
    to_sql = has_mql & (u[2] < 0.35)
    sql = np.where(
        direct_sql,
        created + lc.integers(300, 2 * _DAY_S, n),
        mql + (_DAY_S + 13 * _DAY_S * lc.beta(1.5, 3.0, n)).astype(np.int64),
    )
    has_sql = direct_sql | to_sql
    high_dq = is_camp & camps.high_dq[cidx]
    dq_after = has_mql & ~to_sql & (u[3] < 0.12)
    p_before = np.clip(0.216 * dq_mult[channel] * np.where(high_dq, 2.2, 1.0), 0.0, 0.8)
    dq_before = ~has_mql & ~has_sql & (u[4] < p_before)
    dq = np.where(
        dq_after,
        mql + lc.integers(_DAY_S, 21 * _DAY_S, n),
        created + lc.integers(180, 7 * _DAY_S, n),
    )
    has_dq = dq_after | dq_before
    reason_after = np.array([code(r) for r, _ in _DQ_REASONS_AFTER])[
        _choice(lc, n, [w for _, w in _DQ_REASONS_AFTER])
    ]
    reason_before = np.array([code(r) for r, _ in _DQ_REASONS_BEFORE])[
        _choice(lc, n, [w for _, w in _DQ_REASONS_BEFORE])
    ]
    # Nothing may happen after the last day of data (end of that day in the reporting timezone).
    cutoff = cal.day_epoch[-1] + _DAY_S - _TZ_OFFSET_S
    has_mql &= mql < cutoff
    has_sql &= sql < cutoff
    has_sql &= has_mql | direct_sql  # an SQL after a clipped MQL cannot exist either
    has_dq &= dq < cutoff
    reason_code = np.where(has_dq, np.where(dq_after, reason_after, reason_before), 0)
    updated = np.maximum.reduce(
        [created, np.where(has_mql, mql, 0), np.where(has_sql, sql, 0), np.where(has_dq, dq, 0)]
    )

    style = _choice(lc, n, _TS_STYLE_P)
    always = np.ones(n, dtype=bool)
    lead_ids = pa.array(np.arange(10_000_001, 10_000_001 + n)).cast(pa.string())
    table = pa.table(
        {
            "lead_id": lead_ids,
            "created_at": _iso(created, always, style),
            "source": _vocab_take(vocab, src),
            "utm_source": _vocab_take(vocab, usrc),
            "utm_medium": _vocab_take(vocab, umed),
            "utm_campaign": _vocab_take(vocab, ucmp),
            "mql_at": _iso(mql, has_mql, style),
            "sql_at": _iso(sql, has_sql, style),
            "disqualified_at": _iso(dq, has_dq, style),
            "disqualification_reason": _vocab_take(vocab, reason_code),
            "updated_at": _iso(updated, always, style),
        }
    )
    per_campaign_day = counts[:, n_org:]
    leads = _Leads(
        created, channel, campaign, tagged, mql, sql, dq, has_mql, has_sql, has_dq, per_campaign_day
    )
    return leads, table


def _deals(leads: _Leads, cal: _Calendar, seed: int) -> pa.Table:
    """~30% of SQLs win 7-45 days later, ~15% of deals stay open or are lost (no won_at)."""
    rng = _rng(seed, 5)
    n = len(leads.created)
    u = rng.random(n)
    won = leads.has_sql & (u < 0.30)
    open_ = leads.has_sql & (u >= 0.30) & (u < 0.325)  # plus won deals clipped at `end`
    won_at = leads.sql + (7 * _DAY_S + 38 * _DAY_S * rng.beta(2.0, 3.0, n)).astype(np.int64)
    cutoff = cal.day_epoch[-1] + _DAY_S - _TZ_OFFSET_S
    won_valid = won & (won_at < cutoff)  # not won yet by the end of the data: the deal is still open
    has_deal = won | open_
    idx = np.nonzero(has_deal)[0]
    k = len(idx)
    eur = rng.random(n)[idx] < 0.30
    amount = np.clip(rng.lognormal(np.log(8000.0), 0.6, n)[idx], 2000.0, 30000.0)
    cents = np.rint(amount * 100).astype(np.int64)
    style = _choice(rng, n, _TS_STYLE_P)[idx]
    return pa.table(
        {
            "deal_id": pa.array(np.arange(50_000_001, 50_000_001 + k)).cast(pa.string()),
            "lead_id": pa.array(10_000_001 + idx).cast(pa.string()),
            "amount": _fixed(cents, 2),
            "currency": _vocab_take(["USD", "EUR"], eur.astype(np.int64)),
            "won_at": _iso(won_at[idx], won_valid[idx], style),
        }
    )


# ----------------------------------------------------------------------------------------------------------
# Ad spend, other costs, FX.


def _ad_spend(
    cal: _Calendar,
    camps: _Campaigns,
    running: np.ndarray,
    exp_leads: np.ndarray,
    realized: np.ndarray,
    seed: int,
) -> tuple[pa.Table, np.ndarray]:
    """One row per campaign per day it delivered; returns the table and days x campaigns spend (cents).

    Spend follows target-CPA bidding: partly the campaign's expected leads, partly the leads it really got.
    That keeps a campaign's CPL steady apart from the one that drifts on purpose, so the daily report's
    "CPL over 1.5x launch" list shows the story rather than Poisson noise of a few leads a week.
    """
    rng = _rng(seed, 6)
    shape = running.shape
    day = np.arange(cal.n_days)[:, None]
    launch = camps.first_day[None, :]
    ramp_len = np.maximum(cal.n_days - 1 - (launch + 30), 1)
    drift = 1.0 + 4.0 * np.clip((day - launch - 30) / ramp_len, 0.0, 1.0) * camps.drift[None, :]
    noise = rng.lognormal(0.0, 0.12, shape)
    # follow a trailing week of realised leads, not each day's: daily lead counts are noisy enough to fake
    # 3x spend spikes (which the data-quality checks rightly flag)
    kernel = np.ones(7) / 7.0
    smooth = np.apply_along_axis(lambda col: np.convolve(col, kernel)[: len(col)], 0, realized.astype(float))
    spend = (0.25 * exp_leads + 0.75 * smooth) * camps.cpl[None, :] * drift * noise
    no_lead = camps.weight == 0
    weekday = (cal.day_epoch // _DAY_S + 3) % 7
    budget = 45.0 * np.where(weekday < 5, 1.0, 0.8)[:, None] * rng.lognormal(0.0, 0.1, shape)
    spend = np.where(no_lead[None, :], budget, spend) * running
    paused = (rng.random(shape) < 0.015) & ~no_lead[None, :]  # budget caps / delivery gaps
    spend = np.where(paused, 0.0, spend)
    cents = np.rint(spend * 100).astype(np.int64)
    clicks = rng.poisson(cents / 100.0 / camps.cpc[None, :])
    impressions = clicks + rng.poisson(clicks / camps.ctr[None, :])
    # The platform's own lead count: most CRM leads plus some it credits that the CRM does not see.
    platform_leads = (rng.binomial(realized, 0.92) + rng.poisson(0.12 * exp_leads)) * (cents > 0)
    keep = running & ((cents > 0) | (clicks > 0) | (impressions > 0) | (platform_leads > 0))
    d_idx, c_idx = np.nonzero(keep)  # date-major order
    dates = [str(x) for x in np.datetime_as_string(cal.day_epoch.astype("datetime64[s]"), unit="D")]
    table = pa.table(
        {
            "date": _vocab_take(dates, d_idx),
            "platform": _vocab_take(["google_ads", "facebook_ads"], camps.platform[c_idx]),
            "campaign_id": _vocab_take(camps.campaign_id, c_idx),
            "currency": _vocab_take(["USD", "EUR"], camps.platform[c_idx]),
            "spend": _fixed(cents[d_idx, c_idx], 2),
            "account_id": _vocab_take(camps.account_id, c_idx),
            "campaign_name": _vocab_take(camps.name, c_idx),
            "impressions": pa.array(impressions[d_idx, c_idx]),
            "clicks": pa.array(clicks[d_idx, c_idx]),
            "platform_leads": pa.array(platform_leads[d_idx, c_idx]),
        }
    )
    return table, cents * keep


def _other_costs(cal: _Calendar, seed: int) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Monthly manual costs: the table, months x (content, events, abm, email) in USD, and event months."""
    rng = _rng(seed, 8)
    n = len(cal.months)
    event_month = (np.arange(n) % 3) == 1  # a conference every quarter
    content = np.rint(rng.uniform(2500, 3500, n) / 10) * 10
    events = np.where(event_month, np.rint(rng.uniform(4000, 9000, n) / 100) * 100, 0.0)
    abm = np.full(n, 1200.0)
    email = np.full(n, 350.0)
    month_rows, chan_rows, amount_rows, cur_rows = [], [], [], []
    for label, amounts in (("content", content), ("events", events), ("abm", abm), ("email", email)):
        sel = amounts > 0
        month_rows.append(np.nonzero(sel)[0])
        chan_rows.append(np.full(int(sel.sum()), label))
        amount_rows.append(amounts[sel])
        cur_rows.append(np.full(int(sel.sum()), "EUR" if label == "events" else "USD"))
    m_idx = np.concatenate(month_rows)
    order = np.argsort(m_idx, kind="stable")
    table = pa.table(
        {
            "month": _vocab_take(cal.months, m_idx[order]),
            "channel": pa.array(np.concatenate(chan_rows)[order].tolist(), type=pa.string()),
            "amount": _fixed(np.rint(np.concatenate(amount_rows)[order] * 100).astype(np.int64), 2),
            "currency": pa.array(np.concatenate(cur_rows)[order].tolist(), type=pa.string()),
        }
    )
    usd = np.stack([content, events * _EUR_MEAN, abm, email], axis=1)
    return table, usd, event_month


def _fx(cal: _Calendar, seed: int) -> pa.Table:
    """EUR->USD on weekdays only (weekends missing on purpose), from start-7 days to end."""
    rng = _rng(seed, 7)
    first = cal.start - timedelta(days=7)
    n = (cal.end - first).days + 1
    days = np.datetime64(first.isoformat(), "D") + np.arange(n)
    walk = np.cumsum(rng.normal(0.0, 0.0035, n))
    rate = _EUR_MEAN + 0.05 * np.tanh((walk - walk.mean()) / 0.05)  # smooth, bounded around 1.08
    weekday = (days.astype(np.int64) + 3) % 7
    sel = weekday < 5
    return pa.table(
        {
            "date": pa.array(np.datetime_as_string(days[sel], unit="D").tolist(), type=pa.string()),
            "currency": pa.array(["EUR"] * int(sel.sum()), type=pa.string()),
            "rate": _fixed(np.rint(rate[sel] * 10_000).astype(np.int64), 4),
        }
    )


# ----------------------------------------------------------------------------------------------------------
# Config: specialists and plan derived from the generated actuals (so plans are near reality).


def _nice(x: float, step: int) -> int:
    """Round to a figure a planner would type (never below one step)."""
    return int(max(step, np.rint(x / step) * step))


def _config_text(
    cal: _Calendar,
    camps: _Campaigns,
    leads: _Leads,
    spend_cents: np.ndarray,
    other_usd: np.ndarray,
    seed: int,
) -> str:
    rng = _rng(seed, 9)
    n_m = len(cal.months)
    n_ch = len(_CHANNEL_NAMES)
    created_month = cal.month_of_day[(leads.created + _TZ_OFFSET_S) // _DAY_S - cal.day_epoch[0] // _DAY_S]
    # An MQL happens at mql_at, or at sql_at for leads created straight as SQL (metrics.md).
    mql_time = np.where(leads.has_mql, leads.mql, leads.sql)
    is_mql = leads.has_mql | leads.has_sql
    mql_day = np.clip((mql_time + _TZ_OFFSET_S) // _DAY_S - cal.day_epoch[0] // _DAY_S, 0, cal.n_days - 1)
    mql_month = cal.month_of_day[mql_day]
    leads_mc = np.zeros((n_m, n_ch))
    np.add.at(leads_mc, (created_month, leads.channel), 1)
    mql_mc = np.zeros((n_m, n_ch))
    np.add.at(mql_mc, (mql_month[is_mql], leads.channel[is_mql]), 1)
    fx = np.where(camps.platform == 1, _EUR_MEAN, 1.0)
    spend_usd_dc = spend_cents / 100.0 * fx[None, :]
    cost_mc = np.zeros((n_m, n_ch))
    for p, c in enumerate(_PLATFORM_CHANNEL):
        per_day = spend_usd_dc[:, camps.platform == p].sum(axis=1)
        cost_mc[:, c] = np.bincount(cal.month_of_day, weights=per_day, minlength=n_m)
    for j, name in enumerate(("content", "events", "abm", "email")):
        cost_mc[:, _CHANNEL_NAMES.index(name)] = other_usd[:, j]
    # The last month may be partial: plan for the whole month (the daily report shows a run-rate forecast).
    scale = (cal.month_days / np.maximum(cal.covered_days, 1))[:, None]
    full_leads, full_mql = leads_mc * scale, mql_mc * scale
    full_cost = cost_mc.copy()
    full_cost[:, _PLATFORM_CHANNEL] *= scale  # ad spend accrues daily; other costs are per whole month

    lines = [
        "# SYNTHETIC demo data: every lead, deal, cost and rate here is made up; none of it is real.",
        f"# Generated by `mpulse demo --seed {seed}` with data through {cal.end.isoformat()}; do not edit.",
        f"start_date: {cal.start.isoformat()}        # first day of the data",
        f"reporting: {{currency: {REPORTING_CURRENCY}, timezone: {REPORTING_TIMEZONE}, gross_margin: 0.8}}",
        "channels:",
    ]
    for name, team, match in _RULES:
        if match is None:
            lines.append(
                f"  - {{channel: {name}, team: {team}}}   # no match: only declares the team of `other`"
            )
        else:
            lines.append(f"  - {{channel: {name}, team: {team}, match: {match}}}")

    # Specialists: targets near their actual monthly averages (full months only).
    full = cal.covered_days == cal.month_days
    full = full if full.any() else np.ones(n_m, dtype=bool)
    story_fb = (camps.platform == 1) & (camps.account == 0)
    fb_keys = [f"facebook_ads:{cid}" for cid, s in zip(camps.campaign_id, story_fb, strict=True) if s]
    in_keys = leads.campaign_tagged & (leads.campaign >= 0)
    in_keys &= story_fb[np.maximum(leads.campaign, 0)]
    ivan_mql = np.bincount(mql_month[is_mql & in_keys], minlength=n_m)
    ivan_cost = np.bincount(cal.month_of_day, weights=spend_usd_dc[:, story_fb].sum(axis=1), minlength=n_m)

    def ch(*names: str) -> list[int]:
        return [_CHANNEL_NAMES.index(x) for x in names]

    specs = [
        ("Anna Petrova", "inbound", "channels: [google_ads]", mql_mc[:, ch("google_ads")].sum(1),
         cost_mc[:, ch("google_ads")].sum(1)),
        ("Ivan Sokolov", "inbound", "campaigns: [" + ", ".join(f'"{k}"' for k in fb_keys) + "]", ivan_mql,
         ivan_cost),
        ("Maria Ivanova", "inbound", "channels: [organic_search, content, direct]",
         mql_mc[:, ch("organic_search", "content", "direct")].sum(1),
         cost_mc[:, ch("organic_search", "content", "direct")].sum(1)),
        ("Dmitry Kuznetsov", "outbound", "channels: [email, abm, events, referral]",
         mql_mc[:, ch("email", "abm", "events", "referral")].sum(1),
         cost_mc[:, ch("email", "abm", "events", "referral")].sum(1)),
    ]  # fmt: skip
    lines.append("specialists:   # 4 people; campaign keys are <platform>:<campaign_id>")
    for name, team, scope, mql_m, cost_m in specs:
        m_avg = float(mql_m[full].mean())
        c_avg = float(cost_m[full].sum() / max(mql_m[full].sum(), 1))
        target = _nice(m_avg * 1.05, 5)
        cpm = _nice(c_avg * 0.95, 5)
        lines.append(
            f"  - {{name: {name}, team: {team}, {scope}, mql_target: {target}, cost_per_mql_target: {cpm}}}"
        )

    lines.append("plan:          # one row per month per main channel: budget (USD), leads, mql")
    plan_channels = ch("google_ads", "facebook_ads", "organic_search", "content", "email", "abm", "events")
    plan_channels += ch("referral")
    jitter = rng.uniform(0.85, 1.15, (n_m, len(plan_channels), 3))
    for m, label in enumerate(cal.months):
        for k, c in enumerate(plan_channels):
            budget = _nice(full_cost[m, c] * jitter[m, k, 0], 100) if full_cost[m, c] > 0 else 0
            lead_plan = int(np.rint(full_leads[m, c] * jitter[m, k, 1]))
            mql_plan = int(np.rint(full_mql[m, c] * jitter[m, k, 2]))
            lines.append(
                f'  - {{month: "{label}", channel: {_CHANNEL_NAMES[c]}, budget: {budget}, '
                f"leads: {lead_plan}, mql: {mql_plan}}}"
            )
    lines += ["sources:", "  files: {path: ./data}", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------


def write_demo(out_dir: Path, seed: int = 7, end: date | None = None, size: DemoSize = DemoSize()) -> Path:
    """Writes out_dir/config.yaml and out_dir/data/{leads,deals,ad_spend,other_costs,fx_rates}.csv.

    `end` is the last day of data (default yesterday); the data cover `size.months` calendar months ending
    with end's month. Same (seed, end, size) gives byte-identical files. Returns the config path.
    """
    if size.months < 1 or size.leads_per_month < 1 or size.accounts_per_platform < 1:
        raise ValueError(f"DemoSize needs months, leads_per_month and accounts_per_platform >= 1: {size}")
    if size.google_campaigns < 1 or size.facebook_campaigns < 1:
        raise ValueError(f"DemoSize needs at least one campaign per platform: {size}")
    end = end if end is not None else date.today() - timedelta(days=1)
    out_dir = Path(out_dir)
    data_dir = out_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)

    cal = _calendar(end, size.months)
    expected, daily = _daily_leads(cal, size, _rng(seed, 1))
    camps = _campaigns(size, cal.n_days, _rng(seed, 2))
    running = _running(camps, cal.n_days)
    camp_leads = _campaign_leads(cal, camps, running, expected)
    other_table, other_usd, event_month = _other_costs(cal, seed)
    leads, leads_table = _leads(cal, camps, camp_leads, expected, daily, event_month, seed)
    ad_table, spend_cents = _ad_spend(cal, camps, running, camp_leads, leads.per_campaign_day, seed)

    _write(leads_table, data_dir / "leads.csv")
    _write(_deals(leads, cal, seed), data_dir / "deals.csv")
    _write(ad_table, data_dir / "ad_spend.csv")
    _write(other_table, data_dir / "other_costs.csv")
    _write(_fx(cal, seed), data_dir / "fx_rates.csv")
    config_path = out_dir / "config.yaml"
    text = _config_text(cal, camps, leads, spend_cents, other_usd, seed)
    config_path.write_text(text, encoding="utf-8")
    return config_path
