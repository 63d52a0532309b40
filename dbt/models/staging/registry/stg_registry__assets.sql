-- Registry snapshot: assets (an empty table of the declared columns when the file is absent).
{{ registry_snapshot('assets') }}
