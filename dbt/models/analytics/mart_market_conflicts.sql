-- Market conflicts (UC11): an asset committed or dispatched by two system operators in overlapping windows,
-- and stacking a product's rule forbids. One row per pair of activities (int_conflict_activities) that
-- overlap in time on the same asset:
--   cross_so_overlap     the two activities are for different SOs (always a conflict, rule or not; a matching
--                        stacking rule is named too);
--   forbidden_stacking   the same SO, different products, and a stacking rule (int_conflict_stacking_rules,
--                        which may be empty) forbids the pair.
-- An exclusivity rule with a margin also forbids the other product less than margin_min before or after
-- (the pair is reported with the gap between the windows, gap_minutes, and no overlap).
-- The same SO and product overlapping itself (e.g. two contracts of one unit) is the SO's own booking, not
-- a market conflict.
-- A dispatch that exercises a commitment shares its engagement: when a pair's commitment has a dispatch of
-- the same engagement that also conflicts with the other side in the same window, only the dispatch pair is
-- reported (one conflict per engagement pair and window, at its most severe).
-- Severity: high = both sides are dispatches; medium = a dispatch against a commitment; low = two
-- commitments, or same-SO stacking that a notify-mode rule flags. A block-mode rule raises the level by one.
-- Sides are ordered by engagement key, so conflict_id (a hash of the two activity keys) is stable across
-- rebuilds. A registered asset's conflicts name the registry groups it belongs to.
with activities as (
    select * from {{ ref('int_conflict_activities') }}
),

rules as (
    select
        *,
        cast(round(coalesce(margin_min, 0) * 60) as bigint) as margin_s
    from {{ ref('int_conflict_stacking_rules') }}
),

-- The widest margin any rule has: how far apart two activities may be and still be compared.
widest_margin as (
    select coalesce(max(margin_s), 0) as margin_s from rules
),

-- Only assets that can have a conflict are searched: those with activities for two SOs, or with an
-- activity in a product a rule restricts.
candidate_assets as (
    select asset_id from activities
    group by asset_id
    having count(distinct operator_id) > 1

    union

    select distinct asset_id from activities
    where product_id in (select product_id from rules)
),

-- Pairs are searched per asset and UTC day (an activity is in every day it or its widest margin
-- touches), not over an asset's whole history.
activity_days as (
    select
        a.activity_key,
        a.asset_id,
        a.engagement_key,
        a.operator_id,
        a.product_id,
        a.start_utc,
        a.end_utc,
        {{ utc_days_touched(
            dbt.dateadd('second', '-m.margin_s', 'a.start_utc'),
            dbt.dateadd('second', 'm.margin_s', 'a.end_utc')
        ) }} as bucket_date
    from activities as a
    cross join widest_margin as m
    inner join candidate_assets
        on a.asset_id = candidate_assets.asset_id
),

overlapping as (
    select distinct
        a.asset_id,
        a.activity_key as activity_key_a,
        b.activity_key as activity_key_b
    from activity_days as a
    cross join widest_margin as m
    inner join activity_days as b
        on a.asset_id = b.asset_id
        and a.bucket_date = b.bucket_date
        and a.engagement_key < b.engagement_key
        and a.start_utc < {{ dbt.dateadd('second', 'm.margin_s', 'b.end_utc') }}
        and b.start_utc < {{ dbt.dateadd('second', 'm.margin_s', 'a.end_utc') }}
        and (
            a.operator_id <> b.operator_id
            or (a.product_id <> b.product_id
                and (a.product_id in (select product_id from rules) or b.product_id in (select product_id from rules)))
        )
),

pairs as (
    select
        o.asset_id,
        a.activity_key as activity_key_a,
        a.activity_type as activity_type_a,
        a.activity_class as activity_class_a,
        a.operator_id as operator_id_a,
        a.market_id as market_id_a,
        a.product_id as product_id_a,
        a.source_ref as source_ref_a,
        a.source_asset_ref as source_asset_ref_a,
        a.participant_id as participant_id_a,
        a.engagement_key as engagement_key_a,
        a.start_utc as start_a_utc,
        a.end_utc as end_a_utc,
        a.power_mw as power_mw_a,
        a.source_id as source_id_a,
        b.activity_key as activity_key_b,
        b.activity_type as activity_type_b,
        b.activity_class as activity_class_b,
        b.operator_id as operator_id_b,
        b.market_id as market_id_b,
        b.product_id as product_id_b,
        b.source_ref as source_ref_b,
        b.source_asset_ref as source_asset_ref_b,
        b.participant_id as participant_id_b,
        b.engagement_key as engagement_key_b,
        b.start_utc as start_b_utc,
        b.end_utc as end_b_utc,
        b.power_mw as power_mw_b,
        b.source_id as source_id_b,
        -- The overlap, or for activities apart (within a rule's margin) the gap between them.
        least(greatest(a.start_utc, b.start_utc), least(a.end_utc, b.end_utc)) as overlap_start_utc,
        greatest(greatest(a.start_utc, b.start_utc), least(a.end_utc, b.end_utc)) as overlap_end_utc,
        a.start_utc < b.end_utc and b.start_utc < a.end_utc as is_overlapping,
        a.operator_id <> b.operator_id as is_cross_so,
        case when a.activity_class = 'dispatch' then 2 else 1 end as class_rank_a,
        case when b.activity_class = 'dispatch' then 2 else 1 end as class_rank_b
    from overlapping as o
    inner join activities as a
        on o.activity_key_a = a.activity_key
    inner join activities as b
        on o.activity_key_b = b.activity_key
),

-- A rule of either side's product that names the other side's product (or any product), for pairs that
-- overlap or are closer than the rule's margin.
rule_hits as (
    select p.activity_key_a, p.activity_key_b, r.rule_id, r.rule_name, r.mode, r.explanation, r.rule_source
    from pairs as p
    inner join rules as r
        on r.product_id = p.product_id_a
        and (r.other_product_id = p.product_id_b or r.other_product_id is null)
        and p.start_a_utc < {{ dbt.dateadd('second', 'r.margin_s', 'p.end_b_utc') }}
        and p.start_b_utc < {{ dbt.dateadd('second', 'r.margin_s', 'p.end_a_utc') }}

    union all

    select p.activity_key_a, p.activity_key_b, r.rule_id, r.rule_name, r.mode, r.explanation, r.rule_source
    from pairs as p
    inner join rules as r
        on r.product_id = p.product_id_b
        and (r.other_product_id = p.product_id_a or r.other_product_id is null)
        and p.start_a_utc < {{ dbt.dateadd('second', 'r.margin_s', 'p.end_b_utc') }}
        and p.start_b_utc < {{ dbt.dateadd('second', 'r.margin_s', 'p.end_a_utc') }}
),

strongest_rule as (
    select
        *,
        row_number() over (
            partition by activity_key_a, activity_key_b
            order by case when mode = 'block' then 0 else 1 end, rule_id
        ) as rule_pick
    from rule_hits
),

candidates as (
    select
        p.*,
        r.rule_id,
        r.rule_name,
        r.mode as rule_mode,
        r.explanation as rule_explanation,
        r.rule_source
    from pairs as p
    left join strongest_rule as r
        on p.activity_key_a = r.activity_key_a
        and p.activity_key_b = r.activity_key_b
        and r.rule_pick = 1
    where (p.is_cross_so and p.is_overlapping) or r.rule_id is not null
),

-- Pairs of the same two engagements where the other pair is more of a dispatch on one side and no less on
-- the other, in an overlapping window: the commitment-level pair is already reported through it.
dominated as (
    select distinct p.activity_key_a, p.activity_key_b
    from candidates as p
    inner join candidates as q
        on p.asset_id = q.asset_id
        and p.engagement_key_a = q.engagement_key_a
        and p.engagement_key_b = q.engagement_key_b
        and q.class_rank_a >= p.class_rank_a
        and q.class_rank_b >= p.class_rank_b
        and q.class_rank_a + q.class_rank_b > p.class_rank_a + p.class_rank_b
        and q.overlap_start_utc < p.overlap_end_utc
        and p.overlap_start_utc < q.overlap_end_utc
),

reported as (
    select
        c.*,
        case
            when (not c.is_cross_so or not c.is_overlapping) and c.rule_mode = 'notify' then 1
            else least(
                c.class_rank_a + c.class_rank_b - 1 + case when c.rule_mode = 'block' then 1 else 0 end, 3
            )
        end as severity_rank
    from candidates as c
    left join dominated as d
        on c.activity_key_a = d.activity_key_a
        and c.activity_key_b = d.activity_key_b
    where d.activity_key_a is null
),

-- The registry groups (portfolios) the asset belongs to now: a conflict on one member is the group's
-- conflict too, for the FSP that offers the group and the SOs that prequalified it (notices go to today's
-- parties, also for conflicts found in older data).
registered_assets as (
    select asset_id, registry_asset_id from {{ ref('dim_asset') }}
    where registry_asset_id is not null
),

memberships as (
    select m.registry_asset_id, m.group_id, g.group_name, m.valid_from_utc, m.valid_to_utc
    from {{ ref('stg_registry__asset_group_memberships') }} as m
    inner join {{ ref('stg_registry__asset_groups') }} as g
        on m.group_id = g.group_id
),

conflict_groups as (
    select
        r.activity_key_a,
        r.activity_key_b,
        {{ dbt.listagg('cast(m.group_id as varchar)', "', '", 'order by m.group_id') }} as registry_group_ids,
        {{ dbt.listagg('m.group_name', "' | '", 'order by m.group_id') }} as registry_group_names
    from reported as r
    inner join registered_assets as a
        on r.asset_id = a.asset_id
    inner join memberships as m
        on a.registry_asset_id = m.registry_asset_id
        and m.valid_to_utc is null
    group by r.activity_key_a, r.activity_key_b
),

annotated as (
    select
        r.*,
        a.registry_asset_id,
        g.registry_group_ids,
        g.registry_group_names
    from reported as r
    left join registered_assets as a
        on r.asset_id = a.asset_id
    left join conflict_groups as g
        on r.activity_key_a = g.activity_key_a
        and r.activity_key_b = g.activity_key_b
)

select
    {{ dbt.concat([
        "'CF-'",
        "upper(substring(" ~ dbt.hash(dbt.concat(["'asset|'", 'activity_key_a', "'|'", 'activity_key_b'])) ~ ", 1, 16))"
    ]) }} as conflict_id,
    case when is_cross_so and is_overlapping then 'cross_so_overlap' else 'forbidden_stacking' end as conflict_kind,
    case severity_rank when 3 then 'high' when 2 then 'medium' else 'low' end as severity,
    cast(severity_rank as integer) as severity_rank,
    'asset' as conflict_scope,
    asset_id,
    registry_asset_id,
    registry_group_ids,
    registry_group_names,
    operator_id_a,
    market_id_a,
    product_id_a,
    activity_type_a,
    activity_class_a,
    source_ref_a,
    source_asset_ref_a,
    participant_id_a,
    start_a_utc,
    end_a_utc,
    power_mw_a,
    source_id_a,
    operator_id_b,
    market_id_b,
    product_id_b,
    activity_type_b,
    activity_class_b,
    source_ref_b,
    source_asset_ref_b,
    participant_id_b,
    start_b_utc,
    end_b_utc,
    power_mw_b,
    source_id_b,
    overlap_start_utc,
    overlap_end_utc,
    case when is_overlapping then {{ dbt.datediff('overlap_start_utc', 'overlap_end_utc', 'minute') }} else 0 end
        as overlap_minutes,
    case when is_overlapping then 0 else {{ dbt.datediff('overlap_start_utc', 'overlap_end_utc', 'minute') }} end
        as gap_minutes,
    {{ dbt.concat([
        'upper(operator_id_a)', "' '", "replace(activity_type_a, '_', ' ')", "' '", 'source_ref_a',
        "' ('", 'product_id_a', "') and '",
        'upper(operator_id_b)', "' '", "replace(activity_type_b, '_', ' ')", "' '", 'source_ref_b',
        "' ('", 'product_id_b', "') '",
        "case when is_overlapping then 'overlap on the asset for ' else 'are within a rule''s margin on the asset: ' end",
        'cast(' ~ dbt.datediff('overlap_start_utc', 'overlap_end_utc', 'minute') ~ ' as varchar)',
        "case when is_overlapping then ' min from ' else ' min apart from ' end", 'cast(overlap_start_utc as varchar)',
        "coalesce(" ~ dbt.concat(["'; '", 'rule_name', "': '", 'rule_explanation']) ~ ", '')"
    ]) }} as explanation,
    rule_id as detected_rule_id,
    rule_name as detected_rule_name,
    rule_mode as detected_rule_mode,
    rule_explanation as detected_rule_explanation,
    rule_source as detected_rule_source,
    activity_key_a,
    activity_key_b,
    engagement_key_a,
    engagement_key_b
from annotated
