-- Every GB settlement day has 48 periods except clock-change days: 46 on the last Sunday of March,
-- 50 on the last Sunday of October. Returns the days that break the rule.
with days as (
    select settlement_date, count(*) as periods, min(periods_in_day) as declared
    from {{ ref('dim_settlement_period') }}
    group by settlement_date
),

expected as (
    select
        settlement_date,
        periods,
        declared,
        case
            when extract(month from settlement_date) = 3 and extract(dow from settlement_date) = 0
                and extract(day from settlement_date) > 24 then 46
            when extract(month from settlement_date) = 10 and extract(dow from settlement_date) = 0
                and extract(day from settlement_date) > 24 then 50
            else 48
        end as expected_periods
    from days
)

select * from expected
where periods != expected_periods or declared != expected_periods
