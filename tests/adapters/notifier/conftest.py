"""Fixtures for the notifier's adapter tests: the same cases on SQLite and on PostgreSQL.

PostgreSQL is the real server at 127.0.0.1:5432 (RW_TEST_PG_URL overrides); each test session
creates its own database `rw_notifier_test_<pid>` and drops it at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, text

from notifier.clock import FakeClock
from notifier.crypto import ContactCipher
from notifier.database import make_engine, upgrade_schema
from notifier.tables import NOTIFIER_METADATA

PG_SERVER = os.environ.get("RW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin_exec(sql: str) -> None:
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session, migrated to head; dropped afterwards."""
    name = f"rw_notifier_test_{os.getpid()}"
    try:
        _admin_exec(f"DROP DATABASE IF EXISTS {name}")
        _admin_exec(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as exc:
        reason = (
            f"PostgreSQL not reachable at RW_TEST_PG_URL ({type(exc).__name__}); "
            "start it as the README says, or set RW_TEST_PG_URL"
        )
        if os.environ.get("RW_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    url = PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    upgrade_schema(url)
    yield url
    _admin_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated notifier database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'notifier.db'}"
        upgrade_schema(url)
        yield url
        return
    url = request.getfixturevalue("pg_url")
    yield url
    tables = ", ".join(t.name for t in NOTIFIER_METADATA.sorted_tables)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
    engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cipher() -> ContactCipher:
    return ContactCipher([Fernet.generate_key().decode()])


@pytest.fixture
def clock() -> FakeClock:
    # A Wednesday, 15:00 UTC = 11:00 in New York: inside default quiet hours everywhere tested.
    return FakeClock(datetime(2027, 3, 10, 15, 0, tzinfo=UTC))
