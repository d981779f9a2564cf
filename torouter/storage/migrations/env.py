"""Alembic environment: run by `torouter.storage.migrate` inside an open connection.

There is no alembic.ini: `migrate.py` builds the configuration and passes the (synchronous
facade of the) async connection in `config.attributes["connection"]`.
"""

from __future__ import annotations

from alembic import context

from torouter.storage.tables import metadata


def _include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # Tables that are not ours (left by an operator in a shared PostgreSQL database) are
    # neither compared nor dropped.
    return not (type_ == "table" and reflected and compare_to is None)


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
