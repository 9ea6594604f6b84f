-- The lower bound of `make bench`: the same CSV files and the same mart definitions, done directly in one
-- DuckDB script, with none of the pipeline around them (no per-cell validation, no Dagster, no Python in
-- the data path). bench/run.py fills the {{...}} slots and runs the script in a fresh process:
--   {{data}}                   folder of the CSV files
--   {{schema}}                 CREATE TABLE of every staging/marts table (and the empty raw tables of the API
--                              connectors the staging SQL unions in), from the repo's own table definitions
--   {{channel_rules}}          INSERT of the config's channel rules (what the staging.channel_rules asset writes)
--   {{staging:<name>}}         the repo's assets/staging/sql/<name>.sql, parameters bound as literals
--   {{marts:<grain>}}          the repo's period mart SELECT (assets/marts/metrics.py period_sql) for one grain
-- Raw tables hold only the columns the staging SQL reads; values are typed as the file contract types them.

-- Timestamps: read as TIMESTAMPTZ (naive ones in the session zone, UTC, as the file contract reads them),
-- then made naive UTC with timezone('UTC', ...). Not cast(... as timestamp): DuckDB 2.0 pushes that cast
-- into the CSV scan, which then drops the `+03:00` offsets.
set TimeZone = 'UTC';

{{schema}}

create table raw.files__fx_rates as
select "date", upper(currency) as currency, rate
from read_csv('{{data}}/fx_rates.csv', header = true, auto_detect = false,
              columns = {'date': 'DATE', 'currency': 'VARCHAR', 'rate': 'DECIMAL(24,10)'});

create table raw.files__ad_spend as
select "date", lower(platform) as platform, campaign_id, upper(currency) as currency, spend, account_id,
       campaign_name, impressions, clicks, platform_leads
from read_csv('{{data}}/ad_spend.csv', header = true, auto_detect = false,
              columns = {'date': 'DATE', 'platform': 'VARCHAR', 'campaign_id': 'VARCHAR',
                         'currency': 'VARCHAR', 'spend': 'DECIMAL(20,6)', 'account_id': 'VARCHAR',
                         'campaign_name': 'VARCHAR', 'impressions': 'BIGINT', 'clicks': 'BIGINT',
                         'platform_leads': 'DECIMAL(20,6)'});

create table raw.files__other_costs as
select cast("month" || '-01' as date) as "month", lower(channel) as channel, amount,
       upper(currency) as currency, row_number() over () + 1 as _row_number
from read_csv('{{data}}/other_costs.csv', header = true, auto_detect = false,
              columns = {'month': 'VARCHAR', 'channel': 'VARCHAR', 'amount': 'DECIMAL(20,6)',
                         'currency': 'VARCHAR'});

create table raw.files__leads as
select lead_id,
       timezone('UTC', created_at) as created_at,
       source, utm_source, utm_medium, utm_campaign,
       timezone('UTC', mql_at) as mql_at,
       timezone('UTC', sql_at) as sql_at,
       timezone('UTC', disqualified_at) as disqualified_at,
       disqualification_reason
from read_csv('{{data}}/leads.csv', header = true, auto_detect = false,
              columns = {'lead_id': 'VARCHAR', 'created_at': 'TIMESTAMPTZ', 'source': 'VARCHAR',
                         'utm_source': 'VARCHAR', 'utm_medium': 'VARCHAR', 'utm_campaign': 'VARCHAR',
                         'mql_at': 'TIMESTAMPTZ', 'sql_at': 'TIMESTAMPTZ', 'disqualified_at': 'TIMESTAMPTZ',
                         'disqualification_reason': 'VARCHAR', 'updated_at': 'VARCHAR'});

create table raw.files__deals as
select deal_id, lead_id, amount, upper(currency) as currency, timezone('UTC', won_at) as won_at
from read_csv('{{data}}/deals.csv', header = true, auto_detect = false,
              columns = {'deal_id': 'VARCHAR', 'lead_id': 'VARCHAR', 'amount': 'DECIMAL(20,6)',
                         'currency': 'VARCHAR', 'won_at': 'TIMESTAMPTZ'});

{{channel_rules}}

-- Staging, in the order of assets/staging/assets.py MODELS (each model reads only the ones before it).
insert into staging.fx_rates_daily {{staging:fx_rates_daily}};
insert into staging.ad_spend {{staging:ad_spend}};
insert into staging.campaigns {{staging:campaigns}};
insert into staging.channels {{staging:channels}};
insert into staging.leads {{staging:leads}};
insert into staging.deals {{staging:deals}};
insert into staging.other_costs_daily {{staging:other_costs_daily}};

-- The period marts over the whole range: days, then ISO weeks and months rolled up from the days.
insert into marts.metrics_daily {{marts:day}};
insert into marts.metrics_weekly {{marts:week}};
insert into marts.metrics_monthly {{marts:month}};
