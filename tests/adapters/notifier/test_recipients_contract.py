"""SqlRecipients contract (SQLite and PostgreSQL): encryption at rest, keyed look-up, consent."""

from __future__ import annotations

from datetime import timedelta

from cryptography.fernet import Fernet
from notifier_factories import EMAIL, PHONE, enrol
from sqlalchemy import Engine, text

from notifier.clock import FakeClock
from notifier.crypto import ContactCipher
from notifier.recipient_store import SqlRecipients
from notifier.recipients import Channel, Consent


def test_contacts_are_encrypted_at_rest(
    engine: Engine, cipher: ContactCipher, clock: FakeClock
) -> None:
    enrol(SqlRecipients(engine, cipher), clock())
    with engine.connect() as conn:
        dump = " ".join(
            str(v) for row in conn.execute(text("SELECT * FROM recipients")) for v in row
        )
    assert "201" not in dump.replace(cipher.phone_hash(PHONE), "")
    assert "pat.smith" not in dump and "example.org" not in dump


def test_round_trip_and_lookup_by_keyed_hash(
    engine: Engine, cipher: ContactCipher, clock: FakeClock
) -> None:
    store = SqlRecipients(engine, cipher)
    enrol(store, clock())
    got = store.get("p-1")
    assert got is not None
    assert got.phone == "+15552017788" and got.email == EMAIL
    assert store.find_by_phone("+1 555 201 7788") == "p-1"
    assert store.find_by_phone("+1 555 201 7789") is None


def test_latest_consent_per_channel_wins(
    engine: Engine, cipher: ContactCipher, clock: FakeClock
) -> None:
    store = SqlRecipients(engine, cipher)
    enrol(store, clock())
    later = clock() + timedelta(days=1)
    store.record_consent("p-1", Consent(Channel.SMS, False, "sms STOP", later), later)
    # recorded afterwards but it happened earlier: does not undo the revocation
    store.record_consent(
        "p-1", Consent(Channel.SMS, True, "old form", clock() - timedelta(days=9), True), later
    )
    got = store.get("p-1")
    assert got is not None
    assert not got.consents[Channel.SMS].granted
    assert got.consents[Channel.EMAIL].granted


def test_key_rotation_keeps_contacts_readable(engine: Engine, clock: FakeClock) -> None:
    old = Fernet.generate_key().decode()
    enrol(SqlRecipients(engine, ContactCipher([old], b"h" * 32)), clock())
    new = Fernet.generate_key().decode()
    rotating = SqlRecipients(engine, ContactCipher([new, old], b"h" * 32))
    assert rotating.rotate_keys() == 1
    only_new = SqlRecipients(engine, ContactCipher([new], b"h" * 32))
    got = only_new.get("p-1")
    assert got is not None and got.email == EMAIL
    assert only_new.find_by_phone(PHONE) == "p-1"


def test_update_keeps_unchanged_fields(
    engine: Engine, cipher: ContactCipher, clock: FakeClock
) -> None:
    from notifier.recipient_store import RecipientUpdate

    store = SqlRecipients(engine, cipher)
    enrol(store, clock())
    store.upsert("p-1", RecipientUpdate(language="es"), clock())
    got = store.get("p-1")
    assert got is not None and got.language == "es" and got.email == EMAIL
