-- Registry snapshot: asset_groups (an empty table of the declared columns when the file is absent).
{{ registry_snapshot('asset_groups') }}
