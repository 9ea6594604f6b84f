-- Monthly manual costs spread evenly over the calendar days of their month, to 6 decimals, with the
-- rounding remainder on the last day so each month sums exactly; booked on `<channel>:(none)`.
with costs as (
    select "month" as month_start, channel, currency, amount, _row_number as cost_id
    from raw.files__other_costs
),
days as (
    select c.cost_id, c.channel, c.currency, c.amount, cast(g.d as date) as day
    from costs c,
         generate_series(cast(c.month_start as timestamp),
                         cast(c.month_start as timestamp) + interval '1 month' - interval '1 day',
                         interval '1 day') as g(d)
),
numbered as (
    select cost_id, channel, currency, amount, day,
           count(*) over (partition by cost_id) as n_days,
           row_number() over (partition by cost_id order by day) as day_no
    from days
),
prorated as (
    select day, channel, currency,
           case when day_no < n_days
                then cast(round(amount / n_days, 6) as decimal(20, 6))
                else amount - cast(round(amount / n_days, 6) as decimal(20, 6)) * (n_days - 1)
           end as amount_local
    from numbered
)
select p.day,
       p.channel,
       p.channel || ':(none)' as campaign_key,
       p.currency,
       p.amount_local,
       case when p.currency = :reporting_currency then 1 else fx.rate end as fx_rate,
       round(p.amount_local * case when p.currency = :reporting_currency then 1 else fx.rate end, 6) as amount
from prorated p
left join staging.fx_rates_daily fx on fx.currency = p.currency and fx.day = p.day
