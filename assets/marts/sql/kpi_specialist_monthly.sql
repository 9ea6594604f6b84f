-- One row per (month, specialist): the numbers of the channels and campaigns assigned to them (a row
-- matched both by channel and by campaign counts once), against their monthly targets. KPIs tie to MQL.
with people as (
    select specialist, min(team) as team, max(mql_target) as mql_target,
           max(cost_per_mql_target) as cost_per_mql_target
    from staging.specialist_assignments
    group by specialist
),
months as (
    select cast(g.d as date) as month
    from generate_series(cast(:start as timestamp), cast(:end as timestamp) - interval '1 day',
                         interval '1 month') as g(d)
),
matched as (
    select distinct a.specialist, m.period_start, m.campaign_key,
           m.total_cost, m.leads, m.mql, m.disqualified
    from marts.metrics_daily m
    join staging.specialist_assignments a on a.channel = m.channel or a.campaign_key = m.campaign_key
    where m.period_start >= :start and m.period_start < :end
),
sums as (
    select specialist, cast(date_trunc('month', period_start) as date) as month,
           sum(total_cost) as total_cost, sum(leads) as leads, sum(mql) as mql,
           sum(disqualified) as disqualified
    from matched
    group by specialist, cast(date_trunc('month', period_start) as date)
)
select mo.month, p.specialist, p.team,
       coalesce(s.total_cost, 0) as total_cost, coalesce(s.leads, 0) as leads, coalesce(s.mql, 0) as mql,
       p.mql_target,
       cast(coalesce(s.mql, 0) as double precision) / nullif(p.mql_target, 0) as mql_attainment,
       cast(s.total_cost as double precision) / nullif(s.mql, 0) as cost_per_mql,
       p.cost_per_mql_target,
       cast(s.disqualified as double precision) / nullif(s.leads, 0) as disqualified_rate
from months mo
cross join people p
left join sums s on s.month = mo.month and s.specialist = p.specialist
