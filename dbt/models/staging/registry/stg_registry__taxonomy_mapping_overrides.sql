-- Registry snapshot: source values mapped by an admin in the app, in force (an empty table of the
-- declared columns when the file is absent).
{{ registry_snapshot('taxonomy_mapping_overrides') }}
