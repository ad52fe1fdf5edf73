"""The cheap-TLS switch touches only Apprise's SMTP module and keeps verification on."""

from __future__ import annotations

import ssl

import pytest

from notifier import tls


def test_only_apprise_smtp_gets_the_directory_context() -> None:
    if tls.system_ca_directory() is None:
        pytest.skip("no hashed system CA directory here")
    assert tls.prefer_ca_directory()
    from apprise.plugins.email import smtp

    context = smtp.ssl.create_default_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert ssl.create_default_context is not smtp.ssl.create_default_context  # global untouched


def test_a_custom_ca_file_is_left_alone(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    bundle = tmp_path / "private-ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert tls.system_ca_directory() is None
