"""The notifier's settings and database as a new user gets them wrong: every problem in one
line (never a character of a secret), a driver named as it was written, and a command that only
reads never creates a database."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from remission_watch.cli import main


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("RW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RW_DATABASE_URL", f"sqlite:///{tmp_path / 'n.db'}")
    return monkeypatch


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_every_missing_setting_and_the_care_team_are_named_in_one_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["notifier"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("remission-watch notifier: settings: ")
    for name in ("RW_CALLBACK_NUMBER", "RW_ENCRYPTION_KEYS", "RW_INBOUND_SECRET",
                 "RW_ADMIN_TOKEN", "RW_CARE_TEAM_URLS", "RW_NO_CARE_TEAM=1"):  # fmt: skip
        assert name in line, name
    assert "at least 32 characters with at least 8 different ones" in line  # said at once


def test_weak_secrets_a_wrong_field_and_a_bad_key_come_in_the_same_message(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    weak = "Sh0rt-S3cret-Value"
    clean_env.setenv("RW_HTTP_PORT", "eighty")  # a field error hid the secrets before
    clean_env.setenv("RW_ENCRYPTION_KEYS", "not-a-fernet-key-" + weak)
    clean_env.setenv("RW_INBOUND_SECRET", weak)
    clean_env.setenv("RW_ADMIN_TOKEN", weak + "x")
    clean_env.setenv("RW_CALLBACK_NUMBER", "+1 555 0100")
    assert main(["notifier"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "RW_HTTP_PORT:" in line and "eighty" not in line
    assert "RW_ENCRYPTION_KEYS holds a value that is not a Fernet key" in line
    assert "RW_INBOUND_SECRET is too short" in line and "RW_ADMIN_TOKEN is too short" in line
    assert "RW_CARE_TEAM_URLS is empty" in line
    assert "S3cret" not in line and "Sh0rt" not in line


def test_admin_commands_do_not_ask_for_a_care_team_channel(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notifier-admin", "recipients", "show", "p-1"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "RW_ENCRYPTION_KEYS" in line and "RW_CARE_TEAM_URLS" not in line


def test_up_names_every_problem_with_the_care_team_before_starting(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("RW_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # not used: refused before
    assert main(["up"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("remission-watch up: settings: ")
    assert "RW_ADMIN_TOKEN" in line and "RW_CARE_TEAM_URLS is empty" in line


def test_an_unsupported_driver_is_named_as_written(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("RW_ALLOW_DEV_KEY", "1")
    clean_env.setenv("RW_DATABASE_URL", "postgresql+asyncpg://rw:Hunter2Pw@127.0.0.1/rw")
    assert main(["notifier-admin", "deliveries", "list", "--patient", "p-1"]) == 2
    line = one_line(capsys.readouterr().err)
    assert (
        "RW_DATABASE_URL: driver 'postgresql+asyncpg' is not supported: only sqlite, "
        "postgresql and postgresql+psycopg"
    ) in line
    assert "scheme 'postgresql' is not supported" not in line and "Hunter2Pw" not in line


@pytest.fixture
def production(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    clean_env.setenv("RW_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    clean_env.setenv("RW_INBOUND_SECRET", secrets.token_urlsafe(32))
    clean_env.setenv("RW_ADMIN_TOKEN", secrets.token_urlsafe(32))
    return clean_env


def test_listing_deliveries_never_creates_a_database(
    production: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = ["notifier-admin", "deliveries", "list", "--patient", "p-1"]
    assert main(listing) == 2
    line = one_line(capsys.readouterr().err)
    assert f"there is no notifier database at {tmp_path / 'n.db'}" in line
    assert "remission-watch notifier-admin db upgrade" in line
    assert not (tmp_path / "n.db").exists()

    (tmp_path / "empty.db").write_bytes(b"")  # a file, but no tables
    production.setenv("RW_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(listing) == 2
    assert "has no notifier tables yet" in one_line(capsys.readouterr().err)

    assert main(["notifier-admin", "db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(listing) == 0


def test_the_notifier_says_when_its_http_port_is_taken_or_impossible(
    production: pytest.MonkeyPatch, busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    production.setenv("RW_CALLBACK_NUMBER", "+1 555 0100")
    production.setenv("RW_NO_CARE_TEAM", "1")
    production.setenv("RW_HTTP_PORT", str(busy_port))
    assert main(["notifier"]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"cannot listen on 127.0.0.1:{busy_port}: address already in use" in line
    assert "RW_HTTP_PORT" in line
    production.setenv("RW_HTTP_PORT", "70000")
    assert main(["notifier"]) == 2
    assert "RW_HTTP_PORT: Input should be less than or equal to 65535" in one_line(
        capsys.readouterr().err
    )
