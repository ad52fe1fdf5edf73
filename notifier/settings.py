"""`NotifierSettings`: the notifier's one settings class, read from `RW_*` environment variables."""

from __future__ import annotations

import warnings
from contextvars import ContextVar
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.templates import clinic_name_problem
from streams.kafka_security import KafkaSecurity
from streams.settings import KafkaBootstrap

# Well-known, public, *insecure* secrets used only when RW_ALLOW_DEV_KEY=1 (embedded runs, tests).
DEV_ENCRYPTION_KEY = "cnctZGV2LWtleS1ub3QtZm9yLXByb2R1Y3Rpb24tISE="
DEV_INBOUND_SECRET = "rw-dev-inbound-secret"
DEV_ADMIN_TOKEN = "rw-dev-admin-token"
DEV_CALLBACK_NUMBER = "+1 555 0100"

MIN_SECRET_LENGTH = 32  # 32 characters of token_urlsafe: ~190 bits
MIN_DISTINCT_CHARACTERS = 8  # refuses "aaaa...", "abababab..."
_PLACEHOLDERS = frozenset({"", "secret", "password", "placeholder", "todo", "xxx", "token"})
SECRET_RULE = (
    f"each secret needs at least {MIN_SECRET_LENGTH} characters with at least "
    f"{MIN_DISTINCT_CHARACTERS} different ones (e.g. "
    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
)
FERNET_HELP = (
    "make one with `python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'`"
)
NO_CARE_TEAM = (
    "RW_CARE_TEAM_URLS is empty: set it (Apprise URLs), or RW_NO_CARE_TEAM=1 to run knowingly "
    "without a care-team channel (self-harm and delivery alerts then reach no one)"
)
# Set while the settings of a notifier that will run are read (`read(running=True)`): a
# missing care-team channel is then one more problem in the same message, not a second start.
_FOR_RUNNING: ContextVar[bool] = ContextVar("notifier_settings_for_running", default=False)
# Fields left at their defaults on a second reading, so the checks across fields (secrets)
# still run when some field is invalid (`read`).
_WITHOUT: ContextVar[frozenset[str]] = ContextVar("notifier_settings_without", default=frozenset())


# The embedded default: its folder is made at start (make_engine); a path the user names must exist.
DEFAULT_DATABASE_URL = "sqlite:///./var/notifier.db"
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
DB_URL_HELP = "write it as postgresql+psycopg://USER:PASSWORD@HOST:5432/DB or sqlite:///PATH"


def check_database_url(value: str) -> str:
    """A URL of a database the notifier can use, else a ValueError that never repeats the value
    (it may hold a password): a supported scheme, and for SQLite an existing folder."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError(f"is not a URL (value not shown); {DB_URL_HELP}") from None
    if url.drivername not in DATABASE_SCHEMES:
        what = "driver" if "+" in url.drivername else "scheme"
        raise ValueError(
            f"{what} {url.drivername!r} is not supported: only sqlite, postgresql and "
            f"postgresql+psycopg; {DB_URL_HELP}"
        )
    path = url.database or ""
    if url.drivername == "sqlite" and path and path != ":memory:" and not path.startswith("file:"):
        folder = Path(path).parent
        if not folder.is_dir():
            raise ValueError(f"folder {folder} does not exist; create it, or use another path")
    return value


def _looks_like_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return lowered in _PLACEHOLDERS or lowered.startswith(("change", "rw-dev-", "<"))


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class NotifierSettings(BaseSettings, KafkaSecurity):  # RW_KAFKA_SSL_*, RW_KAFKA_SASL_*: shared
    """Everything the notifier reads from its environment; built once at start-up."""

    # hide_input_in_errors: a validation error never repeats a setting's value (a key, a URL
    # with credentials); it names the setting and the rule.
    model_config = SettingsConfigDict(env_prefix="RW_", extra="ignore", hide_input_in_errors=True)

    kafka_bootstrap: KafkaBootstrap = "127.0.0.1:9092"
    topic_prefix: str = "rw."
    consumer_group: str = "rw-notifier"
    kafka_session_timeout_ms: int = 10_000
    kafka_rebalance_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 1_000
    kafka_fetch_max_wait_ms: int = Field(
        default=500,
        ge=1,
        description="How long a fetch may wait for data (ms). Kafka answers as soon as data "
        "arrives; the embedded tansu broker holds the fetch for the whole wait, so embedded "
        "runs use about 20.",
    )
    database_url: str = DEFAULT_DATABASE_URL

    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    contact_hash_key: SecretStr | None = None
    allow_dev_key: bool = False
    inbound_secret: SecretStr | None = None
    admin_token: SecretStr | None = None

    email_url: str | None = None
    sms_url: str | None = None
    care_team_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    no_care_team: bool = Field(
        default=False,
        description="1: run without a care-team channel, knowingly (self-harm and delivery "
        "alerts then reach no one). Without it, `notifier` and `up` refuse to start when "
        "RW_CARE_TEAM_URLS is empty.",
    )

    crisis_sms: dict[str, str] = Field(
        default_factory=dict,
        description="JSON, per language: the crisis-resources SMS to send instead of the "
        'built-in US one (911, 988), e.g. {"es": "{clinic}: si corre peligro, llame al 112. '
        '... {phone}. {stop}"}. Placeholders {clinic}, {phone}, {stop}; one GSM-7 segment.',
    )
    crisis_email: dict[str, str] = Field(
        default_factory=dict,
        description="JSON, per language: the crisis-resources e-mail body instead of the "
        "built-in US one. Placeholders {clinic}, {phone}.",
    )
    clinic_name: str = "Your clinic"
    callback_number: str | None = None
    portal_url: str | None = None

    send_window_start: time = Field(
        default=time(8, 0),
        description="Start (HH:MM, the patient's local time) of the daily window in which "
        "reminders may go out (47 CFR 64.1200(c)(1): 8 a.m.); a recipient's own window wins.",
    )
    send_window_end: time = Field(
        default=time(21, 0),
        description="End (HH:MM, the patient's local time, excluded) of that sending window "
        "(21:00; Florida 20:00); outside [start, end) a reminder waits. Equal values: no limit.",
    )
    quiet_start: time | None = Field(
        default=None,
        description="Deprecated alias of RW_SEND_WINDOW_START (it always meant the start of "
        "the *allowed* window); warns at start-up.",
    )
    quiet_end: time | None = Field(
        default=None, description="Deprecated alias of RW_SEND_WINDOW_END; warns at start-up."
    )
    sms_daily_cap: int = Field(default=1, ge=0)
    sms_weekly_cap: int = Field(default=3, ge=0)
    cap_policy: Literal["defer", "email"] = "defer"
    max_attempts: int = Field(
        default=5,
        ge=1,
        description="Send attempts before a reply to a patient is given up. Reminders are "
        "retried until their due window closes; care-team alerts until delivered.",
    )
    backoff_base_seconds: float = Field(default=60.0, gt=0)
    retry_max_backoff_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Longest wait between two tries of a failing delivery (seconds): a channel "
        "that recovers is used again within it.",
    )
    send_concurrency: int = Field(
        default=16,
        ge=1,
        description="Sending threads (one SMTP session each; also sizes the DB pool) and the "
        "most deliveries leased and not yet recorded at once.",
    )
    dispatch_batch: int = Field(
        default=200,
        ge=1,
        description="Deliveries handled per dispatcher pass, at most; they are leased a few at "
        "a time, never more than RW_SEND_CONCURRENCY.",
    )
    dispatch_interval_seconds: float = Field(default=1.0, gt=0)
    sending_stale_seconds: float = Field(default=300.0, gt=0)
    tls_ca_directory: bool = True  # see notifier/tls.py: 25 ms less CPU per e-mail
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8081, ge=0, le=65535)
    public_url: str = Field(
        default="http://127.0.0.1:8081",
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="Where patients reach the notifier's HTTP server (scheme, host, optional "
        "path, no query): check-in e-mails link to {RW_PUBLIC_URL}/checkin/<signed token>. "
        "Use https in production.",
    )

    @classmethod
    def read(cls, *, running: bool = False, **overrides: Any) -> NotifierSettings:
        """The settings from the environment (and `overrides`), every problem in one
        ValidationError: a wrong field no longer hides the missing secrets behind it, and with
        `running` (`notifier`, `up`) a missing care-team channel is named with them."""
        running_token = _FOR_RUNNING.set(running)
        try:
            try:
                return cls(**overrides)
            except ValidationError as exc:
                if any(not e["loc"] for e in exc.errors()):
                    raise  # the checks across fields ran: nothing is hidden
                fields = frozenset(str(e["loc"][0]) for e in exc.errors())
                without_token = _WITHOUT.set(fields)
                try:
                    cls(**overrides)
                except ValidationError as more:
                    details = [_detail(e) for e in exc.errors()]
                    details += [_detail(e) for e in more.errors() if not e["loc"]]
                    raise ValidationError.from_exception_data(
                        exc.title,
                        details,
                        hide_input=True,
                    ) from None
                finally:
                    _WITHOUT.reset(without_token)
                raise exc from None
        finally:
            _FOR_RUNNING.reset(running_token)

    @model_validator(mode="before")
    @classmethod
    def _leave_out(cls, data: Any) -> Any:
        without = _WITHOUT.get()
        if without and isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in without}
        return data

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        return _comma_list(value)

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str) -> str:
        if value == DEFAULT_DATABASE_URL:
            return value
        return check_database_url(value)

    @field_validator("clinic_name")
    @classmethod
    def _neutral_clinic_name(cls, value: str) -> str:
        # Every SMS and subject carries it: no diagnosis word (models.templates).
        problem = clinic_name_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("care_team_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        return _comma_list(value)

    @model_validator(mode="after")
    def _window_aliases(self) -> NotifierSettings:
        for old, new in (("quiet_start", "send_window_start"), ("quiet_end", "send_window_end")):
            value = getattr(self, old)
            if value is None:
                continue
            if new in self.model_fields_set and getattr(self, new) != value:
                raise ValueError(
                    f"RW_{old.upper()} (deprecated) and RW_{new.upper()} disagree: "
                    f"keep only RW_{new.upper()}"
                )
            warnings.warn(
                f"RW_{old.upper()} is deprecated: it sets the window in which messages are "
                f"*allowed*; use RW_{new.upper()}",
                FutureWarning,
                stacklevel=2,
            )
            setattr(self, new, value)
        return self

    @model_validator(mode="after")
    def _secrets_present(self) -> NotifierSettings:
        """Every missing, placeholder or weak secret, a key that is not a Fernet key and (when
        it will run) a missing care-team channel, in one ValueError that quotes no value."""
        problems: list[str] = []
        if self.allow_dev_key:
            self.encryption_keys = self.encryption_keys or [SecretStr(DEV_ENCRYPTION_KEY)]
            self.inbound_secret = self.inbound_secret or SecretStr(DEV_INBOUND_SECRET)
            self.admin_token = self.admin_token or SecretStr(DEV_ADMIN_TOKEN)
            self.callback_number = self.callback_number or DEV_CALLBACK_NUMBER
        else:
            problems += self._placeholder_problems()
        for key in self.encryption_keys:
            try:
                Fernet(key.get_secret_value())
            except ValueError:
                problems.append(
                    f"RW_ENCRYPTION_KEYS holds a value that is not a Fernet key; {FERNET_HELP}"
                )
                break
        if _FOR_RUNNING.get() and not self.care_team_urls and not self.no_care_team:
            problems.append(NO_CARE_TEAM)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _placeholder_problems(self) -> list[str]:
        """Every missing, placeholder or weak secret at once, so one start-up names them all,
        each by its variable name, with the rule once; no value is ever quoted."""
        problems: list[str] = []
        if not self.callback_number:
            problems.append(
                "RW_CALLBACK_NUMBER is required: every message names a call-back number"
            )
        keys = [k.get_secret_value() for k in self.encryption_keys]
        if not keys:
            problems.append(
                f"RW_ENCRYPTION_KEYS is required (a Fernet key: {FERNET_HELP}; or "
                "RW_ALLOW_DEV_KEY=1 for dev runs)"
            )
        elif DEV_ENCRYPTION_KEY in keys:
            problems.append("RW_ENCRYPTION_KEYS holds the public dev key outside dev mode")
        seen: dict[str, str] = {key: "RW_ENCRYPTION_KEYS" for key in keys}
        needs_rule = False
        for name in ("inbound_secret", "admin_token", "contact_hash_key"):
            secret: SecretStr | None = getattr(self, name)
            if secret is None and name == "contact_hash_key":
                continue  # derived from the first key (HKDF): distinct by construction
            if secret is None or _looks_like_placeholder(secret.get_secret_value()):
                problems.append(f"RW_{name.upper()} is missing or a placeholder")
                needs_rule = True
                continue
            value = secret.get_secret_value()
            if len(value) < MIN_SECRET_LENGTH or len(set(value)) < MIN_DISTINCT_CHARACTERS:
                problems.append(f"RW_{name.upper()} is too short or too repetitive")
                needs_rule = True
            elif value in seen:
                problems.append(f"RW_{name.upper()} must differ from {seen[value]}")
            seen.setdefault(value, f"RW_{name.upper()}")
        if needs_rule:  # said with the first round of problems, so there is no second
            problems.append(SECRET_RULE)
        return problems

    def topic(self, name: str) -> str:
        """The full topic name: `{prefix}{name}.v1`."""
        return f"{self.topic_prefix}{name}.v1"


def _detail(error: Any) -> Any:
    """A pydantic error as `ValidationError.from_exception_data` takes it back."""
    detail = {"type": error["type"], "loc": error["loc"], "input": error.get("input")}
    if "ctx" in error:
        detail["ctx"] = error["ctx"]
    return detail
