-- One row per CRM lead: its channel (ordered rules), campaign key (utm_campaign = a campaign id or exact
-- name of the lead's ad platform), and lifecycle days in the reporting timezone. Lifecycle rules:
--   * a skipped stage counts as passed at the next stage's time (SQL or a won deal implies MQL and SQL);
--   * stages after disqualification do not count; an MQL before it stays an MQL.
with raw_leads as (
    select 'files' as source_system, lead_id, created_at, source, utm_source, utm_medium,
           trim(utm_campaign) as utm_campaign, mql_at, sql_at, disqualified_at, disqualification_reason
    from raw.files__leads
    union all
    select 'hubspot', lead_id, created_at, source, utm_source, utm_medium, trim(utm_campaign),
           mql_at, sql_at, disqualified_at, disqualification_reason
    from raw.hubspot__leads
    union all
    select 'amocrm', lead_id, created_at, source, utm_source, utm_medium, trim(utm_campaign),
           mql_at, sql_at, disqualified_at, disqualification_reason
    from raw.amocrm__leads
    union all
    select 'bitrix24', lead_id, created_at, source, utm_source, utm_medium, trim(utm_campaign),
           mql_at, sql_at, disqualified_at, disqualification_reason
    from raw.bitrix24__leads
),
won_deals as (
    select 'files' as source_system, lead_id, won_at from raw.files__deals
    union all
    select 'hubspot', lead_id, won_at from raw.hubspot__deals
    union all
    select 'amocrm', lead_id, won_at from raw.amocrm__deals
    union all
    select 'bitrix24', lead_id, won_at from raw.bitrix24__deals
),
first_won as (
    select source_system, lead_id, min(won_at) as won_at
    from won_deals
    where won_at is not null and lead_id is not null
    group by source_system, lead_id
),
fields as (
    select source_system, lead_id, 'source' as field, lower(trim(source)) as value
    from raw_leads where source is not null
    union all
    select source_system, lead_id, 'utm_source', lower(trim(utm_source)) from raw_leads where utm_source is not null
    union all
    select source_system, lead_id, 'utm_medium', lower(trim(utm_medium)) from raw_leads where utm_medium is not null
    union all
    select source_system, lead_id, 'utm_campaign', lower(utm_campaign) from raw_leads where utm_campaign is not null
),
matched as (
    select f.source_system, f.lead_id, r.rule_order, r.field_count, count(distinct r.field) as fields_matched
    from fields f
    join staging.channel_rules r on r.field = f.field and r.value = f.value
    group by f.source_system, f.lead_id, r.rule_order, r.field_count
),
winner as (
    select source_system, lead_id, min(rule_order) as rule_order
    from matched
    where fields_matched = field_count
    group by source_system, lead_id
),
rule_channel as (
    select distinct rule_order, channel from staging.channel_rules
),
assigned as (
    select l.*, coalesce(rc.channel, 'other') as channel
    from raw_leads l
    left join winner w on w.source_system = l.source_system and w.lead_id = l.lead_id
    left join rule_channel rc on rc.rule_order = w.rule_order
),
campaign_names as (
    select platform, campaign_name, min(campaign_key) as campaign_key
    from (select distinct platform, campaign_name, campaign_key from staging.ad_spend
          where campaign_name is not null) n
    group by platform, campaign_name
),
attributed as (
    select a.*,
           coalesce(by_id.campaign_key, by_name.campaign_key, a.channel || ':(none)') as campaign_key
    from assigned a
    left join staging.channels ch on ch.channel = a.channel
    left join staging.campaigns by_id
           on ch.is_ad_platform and by_id.platform = a.channel and by_id.campaign_id = a.utm_campaign
    left join campaign_names by_name
           on ch.is_ad_platform and by_name.platform = a.channel and by_name.campaign_name = a.utm_campaign
),
lifecycle as (
    select a.*,
           least(a.sql_at, fw.won_at) as sql_eff,
           least(a.mql_at, a.sql_at, fw.won_at) as mql_eff
    from attributed a
    left join first_won fw on fw.source_system = a.source_system and fw.lead_id = a.lead_id
)
select source_system,
       lead_id,
       channel,
       campaign_key,
       utm_campaign,
       created_at,
       cast((created_at at time zone 'UTC') at time zone :timezone as date) as created_day,
       case when disqualified_at is null or mql_eff <= disqualified_at
            then cast((mql_eff at time zone 'UTC') at time zone :timezone as date) end as mql_day,
       case when disqualified_at is null or sql_eff <= disqualified_at
            then cast((sql_eff at time zone 'UTC') at time zone :timezone as date) end as sql_day,
       cast((disqualified_at at time zone 'UTC') at time zone :timezone as date) as disqualified_day,
       disqualification_reason
from lifecycle
