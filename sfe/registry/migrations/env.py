"""Alembic environment for the SFE registry (run through ``sfe.registry.db.migrate``)."""

from alembic import context
from sqlalchemy import create_engine

from sfe.registry import (
    models_conflicts,  # noqa: F401  (registers the conflict notice and status tables)
    models_notices,  # noqa: F401  (registers the organisation inbox's notices)
    models_prequal,  # noqa: F401  (registers the prequalification and contract tables)
    models_rules,  # noqa: F401  (registers the rules and library tables)
    models_taxonomy,  # noqa: F401  (registers the taxonomy mapping overrides)
)
from sfe.registry.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        # render_as_batch: SQLite cannot ALTER most things; batch mode recreates tables instead.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
