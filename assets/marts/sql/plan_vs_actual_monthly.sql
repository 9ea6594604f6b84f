-- One row per (month, channel) with a plan or any cost, lead or MQL: plan against actual, and a run-rate
-- forecast (actual / elapsed days * days in month) for the month in progress; a closed month's forecast
-- is its actual, a month not started has none. The window is [start, end) in months.
with actual as (
    select cast(date_trunc('month', period_start) as date) as month, channel,
           sum(total_cost) as total_cost, sum(leads) as leads, sum(mql) as mql
    from marts.metrics_daily
    where period_start >= :start and period_start < :end
    group by cast(date_trunc('month', period_start) as date), channel
),
planned as (
    select month, channel, budget, leads, mql from staging.plan where month >= :start and month < :end
),
month_keys as (
    select month, channel from actual
    union
    select month, channel from planned
),
joined as (
    select k.month, k.channel,
           p.budget as budget_plan, coalesce(a.total_cost, 0) as total_cost,
           p.leads as leads_plan, coalesce(a.leads, 0) as leads,
           p.mql as mql_plan, coalesce(a.mql, 0) as mql,
           case when k.month = cast(:as_of_month as date) then cast(:run_rate as double precision)
                when k.month < cast(:as_of_month as date) then 1.0 end as scale
    from month_keys k
    left join actual a on a.month = k.month and a.channel = k.channel
    left join planned p on p.month = k.month and p.channel = k.channel
)
select j.month, j.channel, coalesce(ch.team, 'unassigned') as team,
       j.budget_plan, j.total_cost,
       cast(j.total_cost as double precision) / nullif(cast(j.budget_plan as double precision), 0) as budget_used,
       j.leads_plan, j.leads, j.mql_plan, j.mql,
       cast(j.total_cost as double precision) * j.scale as forecast_total_cost,
       cast(j.leads as double precision) * j.scale as forecast_leads,
       cast(j.mql as double precision) * j.scale as forecast_mql
from joined j
left join staging.channels ch on ch.channel = j.channel
