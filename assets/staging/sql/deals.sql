-- One row per deal, attributed to the channel and campaign of the lead it came from, won day in the
-- reporting timezone, amount converted at the rate of that day. A deal whose lead is unknown is kept
-- (lead_found = false) under `other:(none)` so revenue is never lost.
with d as (
    select 'files' as source_system, deal_id, lead_id, amount, currency,
           cast((won_at at time zone 'UTC') at time zone :timezone as date) as won_day
    from raw.files__deals
)
select d.source_system,
       d.deal_id,
       d.lead_id,
       coalesce(l.channel, 'other') as channel,
       coalesce(l.campaign_key, 'other:(none)') as campaign_key,
       d.won_day,
       d.currency,
       d.amount as amount_local,
       case when d.currency = :reporting_currency then 1 else fx.rate end as fx_rate,
       round(d.amount * case when d.currency = :reporting_currency then 1 else fx.rate end, 6) as amount,
       l.lead_id is not null as lead_found
from d
left join staging.leads l on l.source_system = d.source_system and l.lead_id = d.lead_id
left join staging.fx_rates_daily fx on fx.currency = d.currency and fx.day = d.won_day
