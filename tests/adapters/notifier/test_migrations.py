"""Alembic: `upgrade head` on a fresh database creates exactly the SQLModel tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from notifier.database import ALEMBIC_INI, make_engine, upgrade_schema
from notifier.tables import NOTIFIER_METADATA


def _differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, NOTIFIER_METADATA))
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_head_matches_the_metadata_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade_schema(url)
    assert _tables(url) == set(NOTIFIER_METADATA.tables)
    assert _differences(url) == []


def test_upgrade_head_matches_the_metadata_on_postgresql(pg_url: str) -> None:
    # pg_url was migrated by `upgrade_schema` at session start; upgrading again is a no-op.
    upgrade_schema(pg_url)
    assert _tables(pg_url) == set(NOTIFIER_METADATA.tables)
    assert _differences(pg_url) == []


def test_the_alembic_command_line_works_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "RW_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "upgrade", "head"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _tables(url) == set(NOTIFIER_METADATA.tables)
