with source as (
    select * from {{ source('raw', 'ukpn_flexibility_dispatches') }}
),

renamed as (
    select
        interval_start_utc as start_utc,
        interval_end_utc as end_utc,
        company_name,
        fu_id as flexible_unit_id,
        zone as flex_zone,
        product as product_source_value,
        standard_product_key,
        -- The publisher writes 0 for "not applicable" prices and availability.
        nullif(availability_mw_req, 0) as availability_mw,
        utilisation_mw_req as utilisation_mw,
        nullif(availability_price, 0) as availability_price_gbp_per_mw_h,
        nullif(utilisation_price, 0) as utilisation_price_gbp_per_mwh,
        nullif(availability_mwh_req, 0) as availability_mwh,
        utilisation_mwh_req as utilisation_mwh,
        technology as technology_source_value,
        dispatch_type,
        hours_requested as duration_h,
        dispatch_method,
        source_file,
        source_row,
        partition_date,
        source_file_sha256,
        ingested_at
    from source
)

select * from renamed
