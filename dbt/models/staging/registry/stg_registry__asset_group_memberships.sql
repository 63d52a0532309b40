-- Registry snapshot: asset_group_memberships (an empty table of the declared columns when the file is absent).
{{ registry_snapshot('asset_group_memberships') }}
