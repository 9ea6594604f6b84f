-- One row per campaign per day as the platform reports it (account timezone), with spend converted to the
-- reporting currency at that day's rate. API connectors are the source of truth for their platform: a
-- file row for a (platform, campaign, day) an API also reports is left out, so nothing is counted twice.
with api as (
    select "date" as day, 'google_ads' as platform, account_id, campaign_id, campaign_name, currency,
           spend as spend_local, impressions, clicks,
           cast(platform_leads as numeric(20, 6)) as platform_leads, 'google_ads_api' as source_system
    from raw.google_ads__campaign_stats
    union all
    select "date", 'facebook_ads', account_id, campaign_id, campaign_name, currency,
           spend, impressions, clicks, cast(platform_leads as numeric(20, 6)), 'facebook_ads_api'
    from raw.facebook_ads__campaign_insights
),
files as (
    select f."date" as day, f.platform, f.account_id, f.campaign_id, f.campaign_name, f.currency,
           f.spend as spend_local,
           coalesce(f.impressions, 0) as impressions,
           coalesce(f.clicks, 0) as clicks,
           coalesce(f.platform_leads, 0) as platform_leads,
           'files' as source_system
    from raw.files__ad_spend f
    where not exists (
        select 1 from api a where a.platform = f.platform and a.campaign_id = f.campaign_id and a.day = f."date"
    )
),
unioned as (
    select * from api
    union all
    select * from files
)
select u.day,
       u.platform || ':' || u.campaign_id as campaign_key,
       u.platform as channel,
       u.platform,
       u.account_id,
       u.campaign_id,
       u.campaign_name,
       u.currency,
       u.spend_local,
       case when u.currency = :reporting_currency then 1 else fx.rate end as fx_rate,
       round(u.spend_local * case when u.currency = :reporting_currency then 1 else fx.rate end, 6) as spend,
       u.impressions,
       u.clicks,
       cast(round(u.platform_leads, 0) as bigint) as platform_leads,
       u.source_system
from unioned u
left join staging.fx_rates_daily fx on fx.currency = u.currency and fx.day = u.day
