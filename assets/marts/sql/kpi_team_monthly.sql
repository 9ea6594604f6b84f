-- One row per (month, team) with activity or targets: the team's numbers (all its channels) against the
-- sum of its specialists' MQL targets; the cost-per-MQL target is the targets' MQL-weighted average.
with targets as (
    select team, sum(mql_target) as mql_target,
           sum(mql_target * cost_per_mql_target) / nullif(sum(case when cost_per_mql_target is not null
                                                               then mql_target end), 0) as cost_per_mql_target
    from (select specialist, min(team) as team, max(mql_target) as mql_target,
                 max(cost_per_mql_target) as cost_per_mql_target
          from staging.specialist_assignments group by specialist) p
    group by team
),
months as (
    select cast(g.d as date) as month
    from generate_series(cast(:start as timestamp), cast(:end as timestamp) - interval '1 day',
                         interval '1 month') as g(d)
),
sums as (
    select cast(date_trunc('month', period_start) as date) as month, team,
           sum(total_cost) as total_cost, sum(leads) as leads, sum(mql) as mql,
           sum(disqualified) as disqualified
    from marts.metrics_daily
    where period_start >= :start and period_start < :end
    group by cast(date_trunc('month', period_start) as date), team
),
team_months as (
    select month, team from sums
    union
    select mo.month, t.team from months mo cross join targets t
)
select k.month, k.team,
       coalesce(s.total_cost, 0) as total_cost, coalesce(s.leads, 0) as leads, coalesce(s.mql, 0) as mql,
       t.mql_target,
       cast(coalesce(s.mql, 0) as double precision) / nullif(t.mql_target, 0) as mql_attainment,
       cast(s.total_cost as double precision) / nullif(s.mql, 0) as cost_per_mql,
       t.cost_per_mql_target,
       cast(s.disqualified as double precision) / nullif(s.leads, 0) as disqualified_rate
from team_months k
left join sums s on s.month = k.month and s.team = k.team
left join targets t on t.team = k.team
