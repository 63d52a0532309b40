-- Every utilisation line settled against a dispatch (dispatch_ref) ties to that dispatch in
-- fct_dispatch, for the same asset and operator. Returns the lines that do not.
select
    s.settlement_id,
    s.dispatch_ref,
    s.asset_id as settled_asset_id,
    d.asset_id as dispatched_asset_id,
    s.operator_id,
    d.instruction_source
from {{ ref('fct_settlement') }} as s
left join {{ ref('fct_dispatch') }} as d
    on s.dispatch_ref = d.dispatch_id
where s.line_type = 'utilisation'
    and s.dispatch_ref is not null
    and (
        d.dispatch_id is null
        or d.asset_id <> s.asset_id
        or d.operator_id <> s.operator_id
    )
