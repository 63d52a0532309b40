"""The SFE registry: users, organisations, assets, products and consultations.

A transactional database (SQLAlchemy 2 + Alembic) separate from the warehouse: registration never
writes to DuckDB. The warehouse reads a sanitised snapshot of it (see ``snapshot``).
"""
