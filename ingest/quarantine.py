"""Rejected messages kept encrypted at rest (Fernet), for a limited time, to inspect and replay.

A raw HL7 message holds names and MRNs, so it is never logged and never written in clear: each
rejected message is one file holding a Fernet token of its bytes and its reason. Keys come from
the environment, comma-separated: the first encrypts, all decrypt (MultiFernet), so a key is
rotated by putting the new one first and dropping the old one after the retention period.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ingest.config import ConfigError, Quarantine

_SUFFIX = ".rwq"


@dataclass(frozen=True)
class Entry:
    id: str
    received_at: datetime
    control_id: str
    sender: str
    reason: str
    raw: bytes


def fernet_from_env(name: str) -> MultiFernet:
    keys = [k.strip() for k in os.environ.get(name, "").split(",") if k.strip()]
    if not keys:
        raise ConfigError(f"the quarantine key ${name} is not set (a Fernet key, see docs)")
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError:
        raise ConfigError(f"${name} holds something that is not a Fernet key") from None


class QuarantineStore:
    def __init__(self, settings: Quarantine, fernet: MultiFernet) -> None:
        self.folder, self.retention = settings.path, timedelta(days=settings.retention_days)
        self._fernet = fernet

    @classmethod
    def from_settings(cls, settings: Quarantine) -> QuarantineStore:
        return cls(settings, fernet_from_env(settings.key_env))

    def put(
        self, raw: bytes, reason: str, now: datetime, control_id: str = "", sender: str = ""
    ) -> str:
        """Keep `raw` encrypted; returns the entry id (time and a digest: no data)."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        entry_id = f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{hashlib.sha256(raw).hexdigest()[:16]}"
        body = {
            "received_at": now.isoformat(),
            "control_id": control_id,
            "sender": sender,
            "reason": reason,
            "raw": base64.b64encode(raw).decode(),
        }
        path = self.folder / f"{entry_id}{_SUFFIX}"
        path.write_bytes(self._fernet.encrypt(json.dumps(body).encode()))
        path.chmod(0o600)
        return entry_id

    def entries(self) -> list[Entry]:
        if not self.folder.exists():
            return []
        return [self.get(p.name[: -len(_SUFFIX)]) for p in sorted(self.folder.glob(f"*{_SUFFIX}"))]

    def get(self, entry_id: str) -> Entry:
        path = self.folder / f"{entry_id}{_SUFFIX}"
        try:
            body = json.loads(self._fernet.decrypt(path.read_bytes()))
        except FileNotFoundError:
            raise KeyError(entry_id) from None
        except InvalidToken:
            reason = f"quarantine entry {entry_id} does not decrypt with these keys"
            raise ConfigError(reason) from None
        return Entry(
            entry_id,
            datetime.fromisoformat(body["received_at"]),
            body["control_id"],
            body["sender"],
            body["reason"],
            base64.b64decode(body["raw"]),
        )

    def remove(self, entry_id: str) -> None:
        (self.folder / f"{entry_id}{_SUFFIX}").unlink(missing_ok=True)

    def purge(self, now: datetime) -> int:
        """Delete entries older than the retention period (by the time in their name)."""
        if not self.folder.exists():
            return 0
        cutoff, removed = now - self.retention, 0
        for path in self.folder.glob(f"*{_SUFFIX}"):
            stamp = datetime.strptime(path.name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            if stamp < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
