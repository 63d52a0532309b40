-- No physical asset appears twice: asset_id is unique in dim_asset, an MPAN belongs to one asset only,
-- and no source id resolves to two assets. Returns the offending keys.
select 'asset_id' as key_kind, asset_id as key_value, count(*) as assets
from {{ ref('dim_asset') }}
group by asset_id
having count(*) > 1

union all

select 'mpan', mpan, count(distinct asset_id)
from {{ ref('dim_asset') }}
where mpan is not null
group by mpan
having count(distinct asset_id) > 1

union all

select 'source_id', source_id || '|' || ref_type || '|' || ref_namespace || '|' || source_asset_ref,
    count(distinct asset_id)
from {{ ref('bridge_asset_source_id') }}
group by source_id, ref_type, ref_namespace, source_asset_ref
having count(distinct asset_id) > 1
