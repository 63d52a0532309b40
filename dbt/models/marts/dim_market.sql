with markets as (
    select * from {{ ref('markets') }}
)

select
    cast(market_id as varchar) as market_id,
    cast(market_name as varchar) as market_name,
    cast(operator_id as varchar) as operator_id,
    cast(operator_name as varchar) as operator_name,
    cast(market_kind as varchar) as market_kind
from markets
