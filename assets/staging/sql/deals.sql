-- One row per deal, attributed to the channel and campaign of the lead it came from, won day in the
-- reporting timezone, amount converted at the rate of that day. A deal whose lead is unknown is kept
-- (lead_found = false) under `other:(none)` so revenue is never lost. A CRM deal without a currency is in
-- the reporting currency (the CRM's account currency) and one without an amount is worth 0.
with unioned as (
    select 'files' as source_system, deal_id, lead_id, amount, currency, won_at from raw.files__deals
    union all
    select 'hubspot', deal_id, lead_id, amount, currency, won_at from raw.hubspot__deals
    union all
    select 'amocrm', deal_id, lead_id, amount, currency, won_at from raw.amocrm__deals
    union all
    select 'bitrix24', deal_id, lead_id, amount, currency, won_at from raw.bitrix24__deals
),
d as (
    select source_system, deal_id, coalesce(lead_id, '') as lead_id,
           coalesce(amount, 0) as amount,
           coalesce(currency, :reporting_currency) as currency,
           cast((won_at at time zone 'UTC') at time zone :timezone as date) as won_day
    from unioned
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
