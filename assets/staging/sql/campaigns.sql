-- One row per ad campaign: its latest known name and the days it had spend.
with ranked as (
    select campaign_key, platform, campaign_id, campaign_name, account_id,
           min(day) over (partition by campaign_key) as first_day,
           max(day) over (partition by campaign_key) as last_day,
           row_number() over (
               partition by campaign_key
               order by case when campaign_name is null then 1 else 0 end, day desc, campaign_name
           ) as rn
    from staging.ad_spend
)
select campaign_key, platform, campaign_id, campaign_name, account_id, first_day, last_day
from ranked
where rn = 1
