"""The ingest configuration: one YAML file, one entry per feed, validated with readable errors."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.events import ScanFinding

Loinc = Annotated[str, Field(pattern=r"^[0-9]{1,7}-[0-9]$")]
Item = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")]
FeedName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")]
HL7_STATUSES = frozenset("CDFIPRSUWXANV")


class ConfigError(ValueError):
    """The configuration file is missing or wrong; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MrnRule(_Strict):
    """Which patient identifier is the MRN: HL7 PID-3 by type code and assigning authority,
    FHIR `Patient.identifier` by type code and `system`."""

    type: str | None = "MR"  # None: any type (feeds that send no PID-3.5)
    assigning_authority: str | None = None  # HL7 PID-3.4 (first component); None: any
    system: str | None = None  # FHIR identifier.system; None: any


class Pseudonym(_Strict):
    """patient_id = prefix + HMAC-SHA256(key, feed's MRN namespace + MRN), 32 hex digits.

    The key comes from the environment, never from this file. Rotating it changes every
    pseudonym: see docs/ingest.md, "Rotating the pseudonym key"."""

    key_env: str = "RW_INGEST_PSEUDONYM_KEY"
    prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$")] = "p-"

    def key(self) -> bytes:
        value = os.environ.get(self.key_env, "")
        if len(value) < 32:
            raise ConfigError(
                f"the pseudonym key in ${self.key_env} is missing or shorter than 32 characters"
            )
        return value.encode()


class Feed(_Strict):
    name: FeedName  # events carry source "hl7:<name>" or "fhir:<name>"
    kind: Literal["hl7", "fhir"] = "hl7"
    sending_facility: str | None = None  # MSH-4 (first component); required for HL7 feeds
    sending_application: str | None = None  # MSH-3 (first component); None: any
    fhir_base: str | None = None  # FHIR feeds: the server's base URL (the poller reads it)
    fhir_token_env: str | None = None  # FHIR feeds: env var with a bearer token for the server
    poll_seconds: Annotated[float, Field(gt=0)] | None = None  # FHIR feeds: poll this often
    poll_overlap_seconds: Annotated[float, Field(ge=0)] = 300  # re-read this far back
    poll_types: tuple[str, ...] = (
        "Patient",
        "Observation",
        "DiagnosticReport",
        "Appointment",
        "ImagingStudy",
    )
    mrn: MrnRule = MrnRule()
    mrn_namespace: str | None = None  # keys the pseudonym; feeds sharing an MRN space share it
    time_zone: str = "UTC"  # for timestamps sent without an offset
    processing_ids: frozenset[Literal["P", "D", "T"]] = frozenset({"P"})
    accepted_statuses: frozenset[str] = frozenset("FCWDX")
    max_message_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    # surveillance: only lab results whose LOINC some protocol or marker value set uses reach
    # Kafka (minimum necessary: no blood counts, no glucose); all: every LOINC result
    labs: Literal["surveillance", "all"] = "surveillance"
    loinc: dict[str, Loinc] = {}  # local OBX-3 / Observation.code → LOINC
    procedures: dict[str, Item] = {}  # OBR-4 / AIS-3 / FHIR procedure code → surveillance item
    findings: dict[str, ScanFinding] = {}  # coded radiology finding → scan.resulted finding

    def wants_lab(self, loinc: str, known_lab: Callable[[str], bool] | None) -> bool:
        """Whether a result under this LOINC may reach Kafka: every one for `labs: all`, else
        only those some protocol or marker value set uses (`known_lab`; None knows all)."""
        return self.labs == "all" or known_lab is None or known_lab(loinc)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("accepted_statuses")
    @classmethod
    def _statuses(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - HL7_STATUSES)
        if unknown:
            raise ValueError(f"not HL7 OBX-11 result statuses: {', '.join(unknown)}")
        return value

    @property
    def source(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def pseudonym(self, key: bytes, prefix: str, mrn: str) -> str:
        namespace = self.mrn_namespace or self.mrn.assigning_authority or self.mrn.system or ""
        digest = hmac.new(key, f"{namespace}|{mrn}".encode(), hashlib.sha256).hexdigest()
        return f"{prefix}{digest[:32]}"


class Quarantine(_Strict):
    path: Path = Path("quarantine")
    key_env: str = "RW_INGEST_QUARANTINE_KEY"  # a Fernet key; several, comma-separated, rotate
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 30


class IngestConfig(_Strict):
    pseudonym: Pseudonym = Pseudonym()
    quarantine: Quarantine = Quarantine()
    ledger: Path = Path("ingest-ledger.sqlite3")  # control ids seen, correction chains
    feeds: Annotated[list[Feed], Field(min_length=1)]

    @field_validator("feeds")
    @classmethod
    def _unique(cls, feeds: list[Feed]) -> list[Feed]:
        names = [f.name for f in feeds]
        if len(set(names)) != len(names):
            raise ValueError("two feeds have the same name")
        for feed in feeds:
            if feed.kind == "hl7" and not feed.sending_facility:
                raise ValueError(f"HL7 feed {feed.name!r} needs sending_facility (MSH-4)")
        return feeds

    def hl7_feed(self, facility: str, application: str) -> Feed | None:
        """The feed of a message by MSH-4 (and MSH-3 when the feed names one)."""
        for feed in self.feeds:
            if feed.kind != "hl7" or feed.sending_facility != facility:
                continue
            if feed.sending_application in (None, application):
                return feed
        return None

    def fhir_feed(self, name: str) -> Feed | None:
        return next((f for f in self.feeds if f.kind == "fhir" and f.name == name), None)


def load_config(path: Path) -> IngestConfig:
    """Read and validate the YAML file; every problem becomes one ConfigError line."""
    if not path.exists():
        raise ConfigError(
            f"no feed configuration: {path} does not exist. Pass --config FILE or set "
            "RW_INGEST_CONFIG (docs/ingest.md has an example; deploy/ingest.example.yaml too)"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}{_yaml_problem(exc)}") from None
    try:
        return IngestConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: "
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        ]
        raise ConfigError(
            f"{path} has {len(problems)} problem(s): " + "; ".join(problems)
        ) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, on one line: `:LINE:COLUMN: is not valid YAML: PROBLEM` (1-based)."""
    mark = getattr(exc, "problem_mark", None)
    where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or type(exc).__name__
    return f"{where}: is not valid YAML: {' '.join(str(problem).split())}"
