"""Engines and schema: SQLite by default, PostgreSQL in deployment; Alembic owns the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def make_engine(url: str, pool_size: int = 10) -> Engine:
    """An engine for `url`; makes the SQLite file's folder and turns on WAL and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ALEMBIC_INI.with_name("migrations")))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_schema(url: str, revision: str = "head") -> None:
    """`alembic upgrade head` for the notifier's tables."""
    command.upgrade(alembic_config(url), revision)


def insert_for(engine: Engine) -> Any:
    """The dialect's INSERT (both offer ON CONFLICT ... DO NOTHING / DO UPDATE ... WHERE)."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
