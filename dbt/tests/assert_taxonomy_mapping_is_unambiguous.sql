-- A source value (after normalisation) must map to one target only. Returns ambiguous values.
select source_id, field, {{ normalise_value('source_value') }} as value_key, target_kind,
    count(distinct target_value) as targets
from {{ ref('source_value_mappings') }}
group by 1, 2, 3, 4
having count(distinct target_value) > 1
