-- One row per (cohort month, campaign key): the leads created that month and how far they have got by
-- today, with the cost of the cohort month. Deals count in their lead's cohort, whenever they were won.
with lead_cohorts as (
    select cast(date_trunc('month', created_day) as date) as cohort_month, campaign_key, channel,
           count(*) as leads, count(mql_day) as mql, count(sql_day) as sql,
           count(disqualified_day) as disqualified
    from staging.leads
    group by cast(date_trunc('month', created_day) as date), campaign_key, channel
),
deal_cohorts as (
    select cast(date_trunc('month', l.created_day) as date) as cohort_month, l.campaign_key, l.channel,
           count(*) as won_deals, sum(d.amount) as revenue
    from staging.deals d
    join staging.leads l on l.source_system = d.source_system and l.lead_id = d.lead_id
    where d.won_day is not null
    group by cast(date_trunc('month', l.created_day) as date), l.campaign_key, l.channel
),
costs as (
    select cast(date_trunc('month', period_start) as date) as cohort_month, campaign_key, channel,
           sum(total_cost) as total_cost
    from marts.metrics_daily
    group by cast(date_trunc('month', period_start) as date), campaign_key, channel
    having sum(total_cost) <> 0
),
cohort_keys as (
    select cohort_month, campaign_key, channel from lead_cohorts
    union
    select cohort_month, campaign_key, channel from costs
),
joined as (
    select k.cohort_month, k.campaign_key, k.channel,
           coalesce(lc.leads, 0) as leads, coalesce(lc.mql, 0) as mql, coalesce(lc.sql, 0) as sql,
           coalesce(lc.disqualified, 0) as disqualified,
           coalesce(dc.won_deals, 0) as won_deals, coalesce(dc.revenue, 0) as revenue,
           coalesce(c.total_cost, 0) as total_cost
    from cohort_keys k
    left join lead_cohorts lc
           on lc.cohort_month = k.cohort_month and lc.campaign_key = k.campaign_key and lc.channel = k.channel
    left join deal_cohorts dc
           on dc.cohort_month = k.cohort_month and dc.campaign_key = k.campaign_key and dc.channel = k.channel
    left join costs c
           on c.cohort_month = k.cohort_month and c.campaign_key = k.campaign_key and c.channel = k.channel
)
select j.cohort_month,
       coalesce(ch.team, 'unassigned') as team,
       j.channel,
       case when ch.is_ad_platform then j.channel end as platform,
       j.campaign_key,
       cp.campaign_name,
       j.leads, j.mql, j.sql, j.disqualified, j.won_deals, j.revenue, j.total_cost,
       cast(j.mql as double precision) / nullif(j.leads, 0) as lead_to_mql,
       cast(j.sql as double precision) / nullif(j.mql, 0) as mql_to_sql,
       cast(j.won_deals as double precision) / nullif(j.sql, 0) as sql_to_won,
       (cast(j.revenue as double precision) * :gross_margin - cast(j.total_cost as double precision))
           / nullif(cast(j.total_cost as double precision), 0) as cohort_romi
from joined j
left join staging.channels ch on ch.channel = j.channel
left join staging.campaigns cp on cp.campaign_key = j.campaign_key
