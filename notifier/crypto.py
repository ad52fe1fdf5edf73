"""`ContactCipher`: contacts encrypted at rest (MultiFernet) and a keyed hash for look-ups."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def normalise_phone(phone: str) -> str:
    """E.164-ish canonical form: keep a leading '+' and the digits; everything else goes."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"+{digits}" if digits else ""


class ContactCipher:
    """Encrypts with the first key, decrypts with any; hashes phones with a separate HMAC key.

    Rotation: put the new key first, keep the old ones after it, run `rotate()` on every stored
    token (the `recipients rotate-keys` command does), then drop the old keys.
    """

    def __init__(self, keys: list[str], hash_key: bytes | None = None) -> None:
        if not keys:
            raise ValueError("at least one Fernet key is needed")
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._hash_key = hash_key or _derive_hash_key(keys[0])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()

    def rotate(self, token: str) -> str:
        """Re-encrypt `token` under the primary (first) key."""
        return self._fernet.rotate(token.encode()).decode()

    def phone_hash(self, phone: str) -> str:
        """HMAC-SHA256 of the normalised phone: the look-up column for inbound senders."""
        canonical = normalise_phone(phone).encode()
        return hmac.new(self._hash_key, canonical, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "ContactCipher(<keys hidden>)"


def _derive_hash_key(fernet_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"rw-notifier-phone-hash")
    return hkdf.derive(fernet_key.encode())
