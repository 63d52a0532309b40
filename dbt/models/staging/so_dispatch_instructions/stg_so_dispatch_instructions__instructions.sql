-- Dispatch instruction versions: the raw layer keeps, per instruction_id and day, the version with the latest
-- issued_at. setpoint_mw is the set point converted from kW where the SO sent kW.
with source as (
    select * from {{ source('raw', 'so_dispatch_instructions') }}
),

renamed as (
    select
        instruction_id,
        issued_at as issued_at_utc,
        operator_id,
        system_operator,
        product as product_source_value,
        contract_ref,
        competition_id,
        participant as participant_name,
        asset_ref,
        lower(direction) as direction,
        setpoint_mw,
        setpoint as setpoint_as_sent,
        unit as setpoint_unit_as_sent,
        interval_start_utc as start_utc,
        interval_end_utc as end_utc,
        lower(status) as status,
        reason_code,
        rationale,
        utilisation_price_gbp_per_mwh,
        cast(merit_order_rank as integer) as merit_order_rank,
        cast(cheaper_offers_skipped as integer) as cheaper_offers_skipped,
        source_file,
        source_row,
        partition_date,
        source_file_sha256,
        ingested_at
    from source
)

select * from renamed
