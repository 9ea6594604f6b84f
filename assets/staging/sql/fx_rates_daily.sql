-- One row per (day, currency): units of reporting currency for one unit of `currency`.
-- A day without its own rate (weekend, holiday) takes the last earlier rate, at most max_carry_days old;
-- a day further from any rate has no row, so a conversion that needs it fails loudly downstream.
with rates as (
    select "date" as rate_date, currency, rate,
           lead("date") over (partition by currency order by "date") as next_date
    from raw.files__fx_rates
),
spans as (
    select rate_date, currency, rate,
           case when next_date is not null and next_date <= rate_date + cast(:max_carry_days as integer)
                then next_date
                else rate_date + cast(:max_carry_days as integer) + 1 end as valid_until
    from rates
),
bounds as (
    select min(rate_date) as lo, max(valid_until) as hi from spans
),
days as (
    select cast(g.d as date) as day
    from bounds b, generate_series(cast(b.lo as timestamp), cast(b.hi as timestamp), interval '1 day') as g(d)
    where b.lo is not null
)
select days.day, s.currency, s.rate, s.rate_date
from spans s
join days on days.day >= s.rate_date and days.day < s.valid_until
