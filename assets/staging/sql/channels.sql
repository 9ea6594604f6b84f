-- One row per channel: its team (the first rule naming it with a team, else `unassigned`) and whether it
-- is an ad platform (a platform that reports spend, or one of the built-in connectors).
with named as (
    select channel, team, rule_order from staging.channel_rules
    union all
    select distinct platform, cast(null as varchar), 1000000000 from staging.ad_spend
    union all
    select distinct channel, cast(null as varchar), 1000000000 from raw.files__other_costs
    union all
    select 'other', cast(null as varchar), 1000000000
    union all
    select 'google_ads', cast(null as varchar), 1000000000
    union all
    select 'facebook_ads', cast(null as varchar), 1000000000
),
ranked as (
    select channel, team,
           row_number() over (
               partition by channel order by case when team is null then 1 else 0 end, rule_order
           ) as rn
    from named
)
select r.channel,
       coalesce(r.team, 'unassigned') as team,
       (r.channel in ('google_ads', 'facebook_ads')
        or r.channel in (select platform from staging.ad_spend)) as is_ad_platform
from ranked r
where r.rn = 1
