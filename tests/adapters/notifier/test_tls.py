"""The cheap-TLS switch touches only Apprise's SMTP module and keeps verification on."""

from __future__ import annotations

import ssl
import warnings
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from models.templates import Message
from notifier import tls
from notifier.channels import AppriseChannel
from notifier.recipients import Channel
from notifier.sinks import free_port


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


def test_plain_smtp_never_builds_the_context_and_settings_are_replayed() -> None:
    built: list[ssl.SSLContext] = []

    def build() -> ssl.SSLContext:
        built.append(ssl.create_default_context())
        return built[-1]

    context: Any = tls._DeferredContext(build)
    context.check_hostname = False  # what Apprise does for verify=no, in this order
    context.verify_mode = ssl.CERT_NONE
    assert built == []  # plain SMTP stops here: nothing parsed, nothing built
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert len(built) == 1 and built[0].verify_mode == ssl.CERT_NONE
    context.verify_mode = ssl.CERT_REQUIRED  # after it is built, writes go straight to it
    assert built[0].verify_mode == ssl.CERT_REQUIRED


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return server


def test_starttls_still_verifies_through_the_deferred_context(tmp_path: Path) -> None:
    """STARTTLS builds the real context: an untrusted certificate is refused unless the URL
    says verify=no (settings made before the context existed are applied to it)."""
    if not tls.prefer_ca_directory():
        pytest.skip("no hashed system CA directory here")
    received: list[str] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.extend(envelope.rcpt_tos)
            return "250 OK"

    port = free_port()
    controller = Controller(
        Handler(), hostname="127.0.0.1", port=port, tls_context=_self_signed(tmp_path)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiosmtpd start-up on 3.11
        controller.start()
    try:
        url = f"mailto://127.0.0.1:{port}?from=clinic@example.org&mode=starttls&cto=5"
        message = Message("subject", "body")
        trusting = AppriseChannel(Channel.EMAIL, [url + "&verify=no"])
        assert trusting.send("pat@example.org", message).ok
        trusting.close()  # QUIT its session before the server stops
        checking = AppriseChannel(Channel.EMAIL, [url])
        assert not checking.send("other@example.org", message).ok  # self-signed: refused
        checking.close()
    finally:
        controller.stop()
    assert received == ["pat@example.org"]
