-- Weekly (ISO, Monday) or monthly sums of the daily mart, so every coarser period adds up exactly to the
-- days inside it. {grain} is `week` or `month`, chosen by code (never user input).
with totals as (
    select cast(date_trunc('{grain}', period_start) as date) as period_start, campaign_key, channel,
           sum(spend) as spend, sum(other_costs) as other_costs,
           sum(impressions) as impressions, sum(clicks) as clicks, sum(platform_leads) as platform_leads,
           sum(leads) as leads, sum(mql) as mql, sum(sql) as sql, sum(disqualified) as disqualified,
           sum(won_deals) as won_deals, sum(revenue) as revenue
    from marts.metrics_daily
    where period_start >= :start and period_start < :end
    group by cast(date_trunc('{grain}', period_start) as date), campaign_key, channel
)
