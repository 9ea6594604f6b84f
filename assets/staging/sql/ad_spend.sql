-- One row per campaign per day as the platform reports it (account timezone), with spend converted to the
-- reporting currency at that day's rate. Every source of ad spend is one branch of `unioned`.
with unioned as (
    select "date" as day, platform, account_id, campaign_id, campaign_name, currency,
           spend as spend_local,
           coalesce(impressions, 0) as impressions,
           coalesce(clicks, 0) as clicks,
           coalesce(platform_leads, 0) as platform_leads,
           'files' as source_system
    from raw.files__ad_spend
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
