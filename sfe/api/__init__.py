"""SFE HTTP API (FastAPI): read-only access to the published warehouse.

Run with ``uvicorn sfe.api.app:app``. The API only reads ``lake().serving_db`` through
``sfe.serving`` / ``sfe.queries``; it never imports dagster, dbt or great_expectations.
"""
