-- Shared tail of every period mart: dimensions, total cost and ratios from the `totals` CTE. Ratios are
-- recomputed from sums (never averaged) and are NULL when their denominator is 0.
select t.period_start,
       coalesce(ch.team, 'unassigned') as team,
       t.channel,
       case when ch.is_ad_platform then t.channel end as platform,
       t.campaign_key,
       c.campaign_name,
       t.spend,
       t.other_costs,
       t.spend + t.other_costs as total_cost,
       t.impressions,
       t.clicks,
       t.platform_leads,
       t.leads,
       t.mql,
       t.sql,
       t.disqualified,
       t.won_deals,
       t.revenue,
       cast(t.clicks as double precision) / nullif(t.impressions, 0) as ctr,
       cast(t.spend as double precision) / nullif(t.clicks, 0) as cpc,
       cast(t.spend + t.other_costs as double precision) / nullif(t.leads, 0) as cpl,
       cast(t.spend + t.other_costs as double precision) / nullif(t.mql, 0) as cost_per_mql,
       cast(t.disqualified as double precision) / nullif(t.leads, 0) as disqualified_rate,
       (cast(t.revenue as double precision) * :gross_margin - cast(t.spend + t.other_costs as double precision))
           / nullif(cast(t.spend + t.other_costs as double precision), 0) as romi
from totals t
left join staging.channels ch on ch.channel = t.channel
left join staging.campaigns c on c.campaign_key = t.campaign_key
where t.spend <> 0 or t.other_costs <> 0 or t.impressions <> 0 or t.clicks <> 0 or t.platform_leads <> 0
   or t.leads <> 0 or t.mql <> 0 or t.sql <> 0 or t.disqualified <> 0 or t.won_deals <> 0 or t.revenue <> 0
