"""How every service connects to Kafka securely: TLS and SASL settings, in one place.

`KafkaSecurity` is mixed into each service's settings class (`StreamsSettings` for the worker,
ticker, rebuild, publish and the topics job; `NotifierSettings` for the notifier), so the
same `RW_KAFKA_*` variables mean the same thing everywhere. Its two outputs are the keyword
arguments every aiokafka client takes (`kafka_client_options`) and Faust's
`broker_credentials` (`faust_credentials`).

- `RW_KAFKA_SECURITY_PROTOCOL`: PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL.
- TLS: `RW_KAFKA_SSL_CAFILE` (the CA that signed the brokers' certificates; unset: the
  system's), and for mutual TLS `RW_KAFKA_SSL_CERTFILE` + `RW_KAFKA_SSL_KEYFILE` (PEM),
  with `RW_KAFKA_SSL_KEY_PASSWORD` when the key is encrypted.
- SASL: `RW_KAFKA_SASL_MECHANISM` (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512),
  `RW_KAFKA_SASL_USERNAME`, `RW_KAFKA_SASL_PASSWORD`. PLAIN sends the password as it is:
  only over SASL_SSL.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import BaseModel, Field, SecretStr, model_validator

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecurity(BaseModel):
    """The Kafka client security settings shared by every service (a settings mixin)."""

    kafka_security_protocol: Protocol = Field(
        default="PLAINTEXT",
        description="PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL over TLS).",
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates; unset: the "
        "system's trusted CAs. Used with SSL and SASL_SSL.",
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None,
        description="Client certificate (PEM) for brokers that require mutual TLS; needs "
        "RW_KAFKA_SSL_KEYFILE.",
    )
    kafka_ssl_keyfile: Path | None = Field(
        default=None, description="Private key (PEM) of RW_KAFKA_SSL_CERTFILE. Secret."
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="Secret. Password of an encrypted RW_KAFKA_SSL_KEYFILE."
    )
    kafka_sasl_mechanism: Mechanism = Field(
        default="SCRAM-SHA-512",
        description="SASL mechanism with SASL_PLAINTEXT or SASL_SSL: PLAIN, SCRAM-SHA-256 "
        "or SCRAM-SHA-512.",
    )
    kafka_sasl_username: str | None = Field(
        default=None, description="SASL user name; required with SASL_*."
    )
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="Secret. SASL password; required with SASL_*."
    )

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecurity:
        protocol = self.kafka_security_protocol
        tls = protocol in ("SSL", "SASL_SSL")
        sasl = protocol.startswith("SASL_")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(
                f"RW_KAFKA_SECURITY_PROTOCOL={protocol} needs RW_KAFKA_SASL_USERNAME and "
                "RW_KAFKA_SASL_PASSWORD"
            )
        if not sasl and (self.kafka_sasl_username or self.kafka_sasl_password):
            raise ValueError(
                "RW_KAFKA_SASL_USERNAME/PASSWORD are set but RW_KAFKA_SECURITY_PROTOCOL is "
                f"{protocol}: set it to SASL_SSL (or SASL_PLAINTEXT)"
            )
        files = (self.kafka_ssl_cafile, self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
        if not tls and any(files):
            raise ValueError(
                f"RW_KAFKA_SSL_* files are set but RW_KAFKA_SECURITY_PROTOCOL is {protocol}: "
                "set it to SSL or SASL_SSL"
            )
        if bool(self.kafka_ssl_certfile) != bool(self.kafka_ssl_keyfile):
            raise ValueError("RW_KAFKA_SSL_CERTFILE and RW_KAFKA_SSL_KEYFILE go together")
        for name, path in zip(("CAFILE", "CERTFILE", "KEYFILE"), files, strict=True):
            if path is not None and not path.is_file():
                raise ValueError(f"RW_KAFKA_SSL_{name}: no file at {path}")
        return self

    def kafka_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for SSL and SASL_SSL (hostnames checked), else None."""
        if self.kafka_security_protocol not in ("SSL", "SASL_SSL"):
            return None
        password = self.kafka_ssl_key_password
        return create_ssl_context(
            cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None,
            certfile=str(self.kafka_ssl_certfile) if self.kafka_ssl_certfile else None,
            keyfile=str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None,
            password=password.get_secret_value() if password else None,
        )

    def kafka_client_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka producer, consumer or admin client."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        context = self.kafka_ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.kafka_security_protocol.startswith("SASL_"):
            assert self.kafka_sasl_password is not None  # the validator saw to it
            options |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": self.kafka_sasl_password.get_secret_value(),
            }
        return options

    def faust_credentials(self) -> Any:
        """Faust's `broker_credentials` for these settings (None for PLAINTEXT)."""
        import faust  # only the worker needs Faust; the notifier must not import it

        protocol = self.kafka_security_protocol
        if protocol == "PLAINTEXT":
            return None
        context = self.kafka_ssl_context()
        if protocol == "SSL":
            return faust.SSLCredentials(context)
        assert self.kafka_sasl_password is not None
        credentials = faust.SASLCredentials(
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=self.kafka_sasl_mechanism,
        )
        return credentials


def explain_kafka_auth(
    text: str, protocol: str = "PLAINTEXT", client_cert: bool = False
) -> str | None:
    """A one-line reason for a TLS or SASL failure in a Kafka client's error text (or in
    what aiokafka logged: its exception says only "Unable to bootstrap"), or None."""
    lowered = text.lower()
    if "sasl" in lowered and ("authentication" in lowered or "credentials" in lowered):
        return (
            "the Kafka broker refused the SASL credentials: check RW_KAFKA_SASL_USERNAME, "
            "RW_KAFKA_SASL_PASSWORD and RW_KAFKA_SASL_MECHANISM"
        )
    if "certificate verify failed" in lowered or "certificate_verify_failed" in lowered:
        return (
            "the Kafka broker's TLS certificate is not trusted: set RW_KAFKA_SSL_CAFILE to "
            "the CA that signed it"
        )
    if "certificate required" in lowered or "alert_certificate_required" in lowered:
        return (
            "the Kafka broker requires a client certificate: set RW_KAFKA_SSL_CERTFILE and "
            "RW_KAFKA_SSL_KEYFILE"
        )
    if protocol in ("SSL", "SASL_SSL") and "closed" in lowered and not client_cert:
        # TLS 1.3: a broker that wants a client certificate just closes the connection
        return (
            "the Kafka broker closed the TLS connection: if it requires mutual TLS, set "
            "RW_KAFKA_SSL_CERTFILE and RW_KAFKA_SSL_KEYFILE"
        )
    return None
