"""What ingest remembers between messages: control ids already acknowledged and correction chains.

Both live in one SQLite file (stdlib, no server) so that a restart keeps them: a re-sent message
is recognised after a restart, and a correction of a correction still targets the replacement
made by the earlier correction. `MemoryLedger` is the twin for tests and one-off file loads.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

_SCHEMA = """
create table if not exists seen (
    sender text not null, control_id text not null, digest text not null,
    primary key (sender, control_id));
create table if not exists corrections (
    observation text not null, stamp text not null, control_id text not null,
    target text not null, replacement text not null,
    primary key (observation, control_id));
create table if not exists facts (
    ns text not null, key text not null, value text not null, primary key (ns, key));
"""


class Ledger(Protocol):
    def seen(self, sender: str, control_id: str) -> str | None:
        """The digest of the message acknowledged under this control id, if any."""

    def remember(self, sender: str, control_id: str, digest: str) -> None: ...

    def chain(self, observation: str) -> list[tuple[str, str, str, str]]:
        """Corrections of an observation as (stamp, control_id, target, replacement), sorted."""

    def add_correction(
        self, observation: str, stamp: str, control_id: str, target: str, replacement: str
    ) -> None: ...

    def get(self, ns: str, key: str) -> str | None:
        """A small fact kept between messages (a FHIR patient's pseudonym, a version seen)."""

    def put(self, ns: str, key: str, value: str) -> None: ...

    def batch(self) -> AbstractContextManager[None]:
        """The writes inside are kept together: all or none when an exception leaves it."""


class MemoryLedger:
    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], str] = {}
        self._chains: dict[str, dict[str, tuple[str, str, str, str]]] = {}
        self._facts: dict[tuple[str, str], str] = {}

    def seen(self, sender: str, control_id: str) -> str | None:
        return self._seen.get((sender, control_id))

    def remember(self, sender: str, control_id: str, digest: str) -> None:
        self._seen[(sender, control_id)] = digest

    def chain(self, observation: str) -> list[tuple[str, str, str, str]]:
        return sorted(self._chains.get(observation, {}).values())

    def add_correction(
        self, observation: str, stamp: str, control_id: str, target: str, replacement: str
    ) -> None:
        links = self._chains.setdefault(observation, {})
        links.setdefault(control_id, (stamp, control_id, target, replacement))

    def get(self, ns: str, key: str) -> str | None:
        return self._facts.get((ns, key))

    def put(self, ns: str, key: str, value: str) -> None:
        self._facts[(ns, key)] = value

    def batch(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()


class SqliteLedger:
    def __init__(self, path: Path | str) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute("pragma synchronous=normal")
        self._db.executescript(_SCHEMA)
        self._depth = 0

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for the writes inside (one commit, not one per row: a message's
        results, or a backfill's chunk of messages); inside another batch, a savepoint. An
        exception leaving it undoes its writes. Commits with synchronous=normal in WAL mode
        are not fsynced one by one, and a batch makes them rarer still."""
        outer = not self._db.in_transaction
        self._depth += 1
        name = f"b{self._depth}"
        self._db.execute("begin" if outer else f"savepoint {name}")
        try:
            yield
        except BaseException:
            self._db.execute("rollback" if outer else f"rollback to {name}")
            if not outer:
                self._db.execute(f"release {name}")
            raise
        else:
            self._db.execute("commit" if outer else f"release {name}")
        finally:
            self._depth -= 1

    def seen(self, sender: str, control_id: str) -> str | None:
        row = self._db.execute(
            "select digest from seen where sender = ? and control_id = ?", (sender, control_id)
        ).fetchone()
        return None if row is None else str(row[0])

    def remember(self, sender: str, control_id: str, digest: str) -> None:
        self._db.execute(
            "insert or ignore into seen values (?, ?, ?)", (sender, control_id, digest)
        )

    def chain(self, observation: str) -> list[tuple[str, str, str, str]]:
        rows = self._db.execute(
            "select stamp, control_id, target, replacement from corrections"
            " where observation = ? order by stamp, control_id",
            (observation,),
        ).fetchall()
        return [(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]

    def add_correction(
        self, observation: str, stamp: str, control_id: str, target: str, replacement: str
    ) -> None:
        self._db.execute(
            "insert or ignore into corrections values (?, ?, ?, ?, ?)",
            (observation, stamp, control_id, target, replacement),
        )

    def get(self, ns: str, key: str) -> str | None:
        row = self._db.execute(
            "select value from facts where ns = ? and key = ?", (ns, key)
        ).fetchone()
        return None if row is None else str(row[0])

    def put(self, ns: str, key: str, value: str) -> None:
        self._db.execute("insert or replace into facts values (?, ?, ?)", (ns, key, value))
