"""Signed, expiring links to the one-question check-in page (check-ins that work by e-mail).

Nothing reads e-mail replies, so a check-in e-mail carries a link instead:
`{RW_PUBLIC_URL}/checkin/{token}`. The token is `{reminder_id}.{expires}.{signature}`:

- `reminder_id` is the check-in's opaque id (`rem-` and 24 hex characters); no patient id,
  name or contact detail is in the URL. The page looks the patient up from the delivery row.
- `expires` is Unix seconds (14 days after the e-mail, the window in which a check-in answer
  counts, `notifier.inbox.CHECKIN_WINDOW`).
- `signature` is base64url HMAC-SHA256 over `{reminder_id}.{expires}` with a key derived
  (HKDF-SHA256, its own `info`) from RW_INBOUND_SECRET, compared in constant time. Deriving
  keeps the two uses apart: a webhook signature is never a valid link, nor the reverse.

One answer per link: the answer is stored under the message id `web-{reminder_id}`, and the
inbox refuses a second one (see `InboundHandler.handle_web`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from notifier.inbox import CHECKIN_WINDOW

LINK_LIFETIME: timedelta = CHECKIN_WINDOW
_REMINDER_ID = re.compile(r"^[a-z]{1,16}-[0-9a-f]{8,64}$")
_EXPIRES = re.compile(r"^[0-9]{1,12}$")


class LinkRefused(ValueError):
    """A link that is malformed, forged or expired; `reason` says which (no token in it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CheckinLinks:
    """Makes and checks check-in links. `key` comes from `derive_link_key`."""

    key: bytes
    public_url: str
    lifetime: timedelta = LINK_LIFETIME

    def _signature(self, reminder_id: str, expires: int) -> str:
        mac = hmac.new(self.key, f"{reminder_id}.{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def token(self, reminder_id: str, now: float) -> str:
        """The token for `reminder_id`, valid until `now` (Unix seconds) + the lifetime."""
        if not _REMINDER_ID.match(reminder_id):
            raise ValueError("a check-in link carries an opaque reminder id only")
        expires = int(now + self.lifetime.total_seconds())
        return f"{reminder_id}.{expires}.{self._signature(reminder_id, expires)}"

    def url(self, reminder_id: str, now: float) -> str:
        return f"{self.public_url.rstrip('/')}/checkin/{self.token(reminder_id, now)}"

    def verify(self, token: str, now: float) -> str:
        """The reminder id the token was made for; raises `LinkRefused` otherwise."""
        parts = token.split(".")
        if len(parts) != 3 or not _REMINDER_ID.match(parts[0]) or not _EXPIRES.match(parts[1]):
            raise LinkRefused("malformed")
        reminder_id, expires, signature = parts[0], int(parts[1]), parts[2]
        expected = self._signature(reminder_id, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise LinkRefused("forged")
        if now >= expires:
            raise LinkRefused("expired")
        return reminder_id


def derive_link_key(inbound_secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"rw-notifier-checkin-link")
    return hkdf.derive(inbound_secret.encode())
