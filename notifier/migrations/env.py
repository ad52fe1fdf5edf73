"""Alembic environment for the notifier: its own metadata, URL from config or RW_DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context

from notifier.database import make_engine
from notifier.tables import NOTIFIER_METADATA

config = context.config
target_metadata = NOTIFIER_METADATA


def _url() -> str:
    return (
        config.get_main_option("sqlalchemy.url")
        or os.environ.get("RW_DATABASE_URL")
        or "sqlite:///./var/notifier.db"
    )


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
