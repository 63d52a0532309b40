-- Settlement lines in force: the raw layer already keeps, per (statement_id, line_id), only the line
-- with the highest revision.
with source as (
    select * from {{ source('raw', 'so_settlement_statements') }}
),

renamed as (
    select
        statement_id,
        line_id,
        cast(revision as integer) as revision,
        statement_date,
        operator_id,
        system_operator,
        participant as participant_name,
        product as product_source_value,
        lower(line_type) as line_type,
        nullif(trim(contract_ref), '') as contract_ref,
        nullif(trim(dispatch_ref), '') as dispatch_ref,
        asset_ref,
        lower(asset_ref_type) as asset_ref_type,
        mpan,
        lower(direction) as direction,
        period_start_utc,
        period_end_utc,
        availability_mw,
        availability_hours as availability_h,
        availability_price_gbp_per_mw_h,
        availability_payment_gbp,
        instructed_mwh,
        delivered_mwh,
        utilisation_price_gbp_per_mwh,
        utilisation_payment_gbp,
        penalty_gbp,
        total_gbp,
        upper(currency) as currency,
        source_file,
        source_row,
        partition_date,
        source_file_sha256,
        ingested_at
    from source
)

select * from renamed
