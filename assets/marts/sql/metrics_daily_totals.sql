-- Every event in the day it happened (activity view): spend and other costs on their day, leads on their
-- created day, MQL/SQL/disqualified on those days, deals on their won day, for days in [start, end).
with events as (
    select day, campaign_key, channel, spend, 0 as other_costs, impressions, clicks, platform_leads,
           0 as leads, 0 as mql, 0 as sql, 0 as disqualified, 0 as won_deals, 0 as revenue
    from staging.ad_spend
    where day >= :start and day < :end
    union all
    select day, campaign_key, channel, 0, amount, 0, 0, 0, 0, 0, 0, 0, 0, 0
    from staging.other_costs_daily
    where day >= :start and day < :end
    union all
    select created_day, campaign_key, channel, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0
    from staging.leads
    where created_day >= :start and created_day < :end
    union all
    select mql_day, campaign_key, channel, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0
    from staging.leads
    where mql_day >= :start and mql_day < :end
    union all
    select sql_day, campaign_key, channel, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0
    from staging.leads
    where sql_day >= :start and sql_day < :end
    union all
    select disqualified_day, campaign_key, channel, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0
    from staging.leads
    where disqualified_day >= :start and disqualified_day < :end
    union all
    select won_day, campaign_key, channel, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, amount
    from staging.deals
    where won_day >= :start and won_day < :end
),
totals as (
    select day as period_start, campaign_key, channel,
           sum(spend) as spend, sum(other_costs) as other_costs,
           sum(impressions) as impressions, sum(clicks) as clicks, sum(platform_leads) as platform_leads,
           sum(leads) as leads, sum(mql) as mql, sum(sql) as sql, sum(disqualified) as disqualified,
           sum(won_deals) as won_deals, sum(revenue) as revenue
    from events
    group by day, campaign_key, channel
)
