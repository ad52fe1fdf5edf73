"""NotifierSettings fail fast on missing or placeholder secrets; the cipher rotates keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from notifier.crypto import ContactCipher
from notifier.settings import DEV_ENCRYPTION_KEY, NotifierSettings

GOOD = {
    "encryption_keys": Fernet.generate_key().decode(),
    "inbound_secret": "a1b2c3d4e5f6a7b8c9d0e1f2-inbound-Qx7",
    "admin_token": "f0e1d2c3b4a5f6e7d8c9b0a1-admin-Zr9k",
    "callback_number": "+1 555 0100",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("RW_"):
            monkeypatch.delenv(name)


def test_production_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key2 = Fernet.generate_key().decode()
    monkeypatch.setenv("RW_ENCRYPTION_KEYS", f"{GOOD['encryption_keys']}, {key2}")
    monkeypatch.setenv("RW_INBOUND_SECRET", GOOD["inbound_secret"])
    monkeypatch.setenv("RW_ADMIN_TOKEN", GOOD["admin_token"])
    monkeypatch.setenv("RW_CALLBACK_NUMBER", "+1 555 0100")
    monkeypatch.setenv("RW_CARE_TEAM_URLS", "json://a.example/x, mailto://b.example")
    monkeypatch.setenv("RW_SEND_WINDOW_END", "20:00")
    settings = NotifierSettings()
    assert len(settings.encryption_keys) == 2
    assert settings.care_team_urls == ["json://a.example/x", "mailto://b.example"]
    assert settings.send_window_end.hour == 20
    assert settings.topic("reminders") == "rw.reminders.v1"
    assert GOOD["admin_token"] not in repr(settings)


@pytest.mark.parametrize(
    "change",
    [
        {"encryption_keys": ""},
        {"encryption_keys": "not-a-key"},
        {"encryption_keys": DEV_ENCRYPTION_KEY},
        {"inbound_secret": "changeme"},
        {"admin_token": None},
        {"admin_token": "short"},
        {"admin_token": "aaaaaaaaaaaaaaaa"},  # the weak secret
        {"admin_token": "a" * 40},  # long, but one character
        {"admin_token": "f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c"},  # 31 characters
        {"admin_token": GOOD["inbound_secret"]},  # one value for both
        {"contact_hash_key": GOOD["admin_token"]},
        {"contact_hash_key": GOOD["encryption_keys"]},
        {"callback_number": None},
    ],
)
def test_missing_or_placeholder_secrets_fail_fast(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        NotifierSettings(**{**GOOD, **change})  # type: ignore[arg-type]


def test_every_missing_or_weak_secret_is_named_in_one_error() -> None:
    weak = "aaaaaaaaaaaaaaaa"
    with pytest.raises(ValidationError) as caught:
        NotifierSettings(inbound_secret=weak)  # type: ignore[arg-type]
    message = str(caught.value)
    for name in ("RW_CALLBACK_NUMBER", "RW_ENCRYPTION_KEYS", "RW_INBOUND_SECRET", "RW_ADMIN_TOKEN"):
        assert name in message, name
    assert weak not in message


def test_the_default_database_needs_no_folder_on_a_fresh_clone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A clean clone has no ./var: the embedded default's folder is made at start, not refused.
    monkeypatch.chdir(tmp_path)
    settings = NotifierSettings(allow_dev_key=True)
    assert settings.database_url.startswith("sqlite:///")
    with pytest.raises(ValidationError, match="does not exist"):
        NotifierSettings(allow_dev_key=True, database_url="sqlite:///./elsewhere/x.db")


def test_dev_mode_is_explicit() -> None:
    settings = NotifierSettings(allow_dev_key=True)
    assert settings.encryption_keys[0].get_secret_value() == DEV_ENCRYPTION_KEY
    assert settings.inbound_secret is not None and settings.admin_token is not None


def test_cipher_rotation_and_stable_phone_hash() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = ContactCipher([old]).encrypt("+15550001111")
    both = ContactCipher([new, old], b"k" * 32)
    rotated = both.rotate(token)
    assert ContactCipher([new]).decrypt(rotated) == "+15550001111"
    assert both.phone_hash("+1 (555) 000-1111") == ContactCipher([new], b"k" * 32).phone_hash(
        "+15550001111"
    )
    assert "+1555" not in repr(both)


def test_old_quiet_hour_names_still_work_but_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RW_QUIET_START", "09:00")  # it always meant: sending allowed from
    with pytest.warns(FutureWarning, match="RW_SEND_WINDOW_START"):
        settings = NotifierSettings(allow_dev_key=True)
    assert settings.send_window_start.hour == 9


def test_old_and_new_window_names_that_disagree_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RW_QUIET_END", "20:00")
    monkeypatch.setenv("RW_SEND_WINDOW_END", "21:00")
    with pytest.raises(ValidationError, match="disagree"):
        NotifierSettings(allow_dev_key=True)


@pytest.mark.parametrize(
    "change",
    [
        {"encryption_keys": "not-a-key-but-a-secret-value-0123456789"},
        {"admin_token": "short-secret-value"},
        {"inbound_secret": GOOD["admin_token"]},
    ],
)
def test_a_settings_error_never_echoes_the_value(change: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as caught:
        NotifierSettings(**{**GOOD, **change})  # type: ignore[arg-type]
    (value,) = change.values()
    assert value not in str(caught.value) and value[:8] not in str(caught.value)
    assert GOOD["encryption_keys"][:8] not in str(caught.value)


def test_crisis_text_per_language_comes_from_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from models.templates import MessageContext, MessageKind
    from notifier.messages import MessageRenderer

    spain = (
        "{clinic}: si corre peligro, llame al 112. Apoyo 24 h: 024. Le llamaremos: {phone}. {stop}"
    )
    monkeypatch.setenv("RW_CRISIS_SMS", json.dumps({"es": spain}))
    settings = NotifierSettings(allow_dev_key=True)
    renderer = MessageRenderer(
        MessageContext("Clínica Sur", "+34 910 000 000"), crisis_sms=settings.crisis_sms
    )
    es = renderer.for_reply(MessageKind.CRISIS_RESOURCES, "es-ES").body
    assert "112" in es and "024" in es and "911" not in es and "988" not in es
    assert es.startswith("Clinica Sur:") and es.endswith("Responda STOP para darse de baja")
    en = renderer.for_reply(MessageKind.CRISIS_RESOURCES, "en").body
    assert "988" in en  # not configured for English: the built-in text


@pytest.mark.parametrize(
    "texts",
    [
        {"fr": "{clinic} {stop}"},
        {"es": "{clinic}: {name} {stop}"},
        {"es": "{clinic}: llame al 112. {phone}."},  # no opt-out line
        {"es": "{clinic}: " + "x" * 150 + " {stop}"},
    ],
)
def test_crisis_texts_that_would_not_render_are_refused(texts: dict[str, str]) -> None:
    from models.templates import MessageContext
    from notifier.messages import MessageRenderer

    with pytest.raises(ValueError, match="crisis"):
        MessageRenderer(MessageContext("Clinic", "+1 555 0100"), crisis_sms=texts)
