-- Registry snapshot: asset_market_ids (an empty table of the declared columns when the file is absent).
{{ registry_snapshot('asset_market_ids') }}
