"""What ingest remembers between messages: control ids already acknowledged and correction chains.

Both live in one SQLite file (stdlib, no server) so that a restart keeps them: a re-sent message
is recognised after a restart, and a correction of a correction still targets the replacement
made by the earlier correction. `MemoryLedger` is the twin for tests and one-off file loads.
`Staged` holds a message's writes in memory until Kafka has acknowledged its events: the ledger
says only what Kafka has, so a message that failed leaves no trace for the ones after it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

Link = tuple[str, str, str, str]  # (stamp, control_id, target, replacement)

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


_ABSENT = object()


class Staged:
    """Writes held in memory over another ledger (`under`), which sees none of them until
    `commit`: call it once Kafka has acknowledged the events the writes follow from. Reads see
    the held writes first, so the messages of one backfill chunk map against each other's links.
    Dropping it (or `discard`) forgets the writes; `batch` is all or none, as the port says."""

    def __init__(self, under: Ledger) -> None:
        self.under = under
        self._seen: dict[tuple[str, str], str] = {}
        self._links: dict[str, dict[str, Link]] = {}
        self._facts: dict[tuple[str, str], str] = {}
        self._undo: list[tuple[dict[Any, Any], Any, object]] | None = None

    def seen(self, sender: str, control_id: str) -> str | None:
        held = self._seen.get((sender, control_id))
        return held if held is not None else self.under.seen(sender, control_id)

    def remember(self, sender: str, control_id: str, digest: str) -> None:
        if self.seen(sender, control_id) is None:  # the first digest stays, as below
            self._write(self._seen, (sender, control_id), digest)

    def chain(self, observation: str) -> list[Link]:
        below = self.under.chain(observation)
        held = self._links.get(observation)
        if not held:
            return below
        known = {link[1] for link in below}
        return sorted(below + [link for control, link in held.items() if control not in known])

    def add_correction(
        self, observation: str, stamp: str, control_id: str, target: str, replacement: str
    ) -> None:
        if any(link[1] == control_id for link in self.chain(observation)):
            return  # the first link of a control id stays, as below
        links = self._links.get(observation)
        if links is None:
            links = self._write(self._links, observation, {})
        self._write(links, control_id, (stamp, control_id, target, replacement))

    def get(self, ns: str, key: str) -> str | None:
        held = self._facts.get((ns, key))
        return held if held is not None else self.under.get(ns, key)

    def put(self, ns: str, key: str, value: str) -> None:
        self._write(self._facts, (ns, key), value)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        outer, self._undo = self._undo, []
        try:
            yield
        except BaseException:
            for where, key, before in reversed(self._undo):
                if before is _ABSENT:
                    del where[key]
                else:
                    where[key] = before
            raise
        else:
            if outer is not None:
                outer.extend(self._undo)
        finally:
            self._undo = outer

    def commit(self) -> None:
        """Hand every held write to the ledger below, in one of its batches, and hold none."""
        with self.under.batch():
            for (sender, control_id), digest in self._seen.items():
                self.under.remember(sender, control_id, digest)
            for observation, links in self._links.items():
                for link in links.values():
                    self.under.add_correction(observation, *link)
            for (ns, key), value in self._facts.items():
                self.under.put(ns, key, value)
        self.discard()

    def discard(self) -> None:
        self._seen, self._links, self._facts = {}, {}, {}

    def _write(self, where: dict[Any, Any], key: object, value: Any) -> Any:
        if self._undo is not None:
            self._undo.append((where, key, where.get(key, _ABSENT)))
        where[key] = value
        return value
