"""The facts Remission Watch knows: frozen, typed events, one class per kind, past tense.

Every event carries a stable `event_id` (its idempotency key, derived upstream from the
source system's identifiers), a pseudonymous `patient_id` (never a name, phone or email),
`occurred_at` (when it happened; the fold orders by it) and `recorded_at` (when the source
recorded it), both timezone-aware. The wire format is the JSON of these models; JSON Schemas
are generated into `schemas/` by `remission-watch schemas`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from models.criteria import Assessment
from models.stages import STAGE_PATTERN, stage_problem

SCHEMA_VERSION: Final = 1

# Instants and days a fact may carry: the journal keeps whole seconds since 1970 in 32 unsigned
# bits (until 2106), and schedules add years to them; outside this range a date is an error
# upstream (a default such as 1900-01-01 or 9999-12-31), never a fact to fold.
EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)


def _instant_in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise PydanticCustomError("date_out_of_range", "outside 1970-01-01 to 2099-12-31")
    return value


def _day_in_range(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise PydanticCustomError("date_out_of_range", "outside 1970-01-01 to 2099-12-31")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_instant_in_range)]
Day = Annotated[date, AfterValidator(_day_in_range)]

PatientId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
EventId = Annotated[str, Field(min_length=1, max_length=200)]
ItemCode = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]{0,63}$")]


# A cancer site on the wire: one of `CancerSite` (those with a surveillance protocol) or any
# other site in the same spelling ("pancreas"), which is enrolled with no surveillance protocol
# and one care-team notice (models.clocks), never refused.
SiteCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]


class CancerSite(StrEnum):
    """The sites that have a surveillance protocol in `models/protocols/data/`."""

    BREAST = "breast"
    COLORECTAL = "colorectal"
    HODGKIN = "hodgkin"
    DLBCL = "dlbcl"
    THYROID = "thyroid"
    LUNG = "lung"
    PROSTATE = "prostate"
    MELANOMA = "melanoma"
    OVARIAN = "ovarian"
    TESTICULAR = "testicular"
    MYELOMA = "myeloma"
    AML = "aml"


class Intent(StrEnum):
    CURATIVE = "curative"
    PALLIATIVE = "palliative"


class ReceptorStatus(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNKNOWN = "unknown"


class Flag(StrEnum):
    """Facts about a patient that switch protocol rules on or off."""

    BILATERAL_MASTECTOMY = "bilateral_mastectomy"
    RECONSTRUCTED_BREAST = "reconstructed_breast"
    ON_TAMOXIFEN = "on_tamoxifen"
    UTERUS_PRESENT = "uterus_present"
    HIGH_RISK = "high_risk"
    MARKER_INITIALLY_RAISED = "marker_initially_raised"
    NECK_RADIATION = "neck_radiation"
    CHEST_RADIATION = "chest_radiation"
    PROSTATECTOMY = "prostatectomy"
    PROSTATE_RADIOTHERAPY = "prostate_radiotherapy"
    NO_PREOPERATIVE_COLONOSCOPY = "no_preoperative_colonoscopy"
    ADJUVANT_CHEMOTHERAPY = "adjuvant_chemotherapy"
    METASTATIC = "metastatic"
    TG_ANTIBODIES = "tg_antibodies"
    NPM1_MUTATED = "npm1_mutated"
    # The ATA response to therapy is not excellent (indeterminate, biochemical or structural
    # incomplete): derived by the fold from ATA assessments, or set at enrolment when known.
    ATA_INCOMPLETE_RESPONSE = "ata_incomplete_response"


class Modality(StrEnum):
    SURGERY = "surgery"
    CHEMOTHERAPY = "chemotherapy"
    RADIOTHERAPY = "radiotherapy"
    ENDOCRINE = "endocrine"
    TARGETED = "targeted"
    IMMUNOTHERAPY = "immunotherapy"
    TRANSPLANT = "transplant"
    RADIOIODINE = "radioiodine"
    OTHER = "other"


class TreatmentRole(StrEnum):
    """Why a treatment is given. Maintenance therapy does not pause surveillance."""

    NEOADJUVANT = "neoadjuvant"
    PRIMARY = "primary"
    ADJUVANT = "adjuvant"
    SALVAGE = "salvage"
    MAINTENANCE = "maintenance"


class DeclaredStatus(StrEnum):
    """A clinician's judgement (mCODE CancerDiseaseStatus, LOINC 97509-4), apart from criteria."""

    NO_EVIDENCE_OF_DISEASE = "no_evidence_of_disease"
    COMPLETE_REMISSION = "complete_remission"
    PARTIAL_REMISSION = "partial_remission"
    STABLE = "stable"
    PROGRESSION = "progression"
    RECURRENCE = "recurrence"
    UNDETERMINED = "undetermined"


class ResultStatus(StrEnum):
    """HL7 OBX-11 / FHIR Observation.status, reduced to what moves clocks."""

    FINAL = "final"
    CORRECTED = "corrected"
    PRELIMINARY = "preliminary"
    PENDING = "pending"
    CANNOT_OBTAIN = "cannot_obtain"


class ScanFinding(StrEnum):
    NO_EVIDENCE_OF_DISEASE = "no_evidence_of_disease"
    INDETERMINATE = "indeterminate"
    SUSPICIOUS = "suspicious"
    PROGRESSION = "progression"


class OverrideAction(StrEnum):
    POSTPONE = "postpone"
    DONE_ELSEWHERE = "done_elsewhere"
    CHANGE_FREQUENCY = "change_frequency"
    DISCONTINUE = "discontinue"
    RESUME = "resume"


class Language(StrEnum):
    EN = "en"
    ES = "es"


class EventBase(BaseModel):
    """Fields every event has. Subclasses add a `type` literal and their own facts."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", use_enum_values=False, allow_inf_nan=False
    )

    event_id: EventId
    patient_id: PatientId
    occurred_at: Instant
    recorded_at: Instant
    source: Annotated[str, Field(min_length=1, max_length=100)]
    schema_version: Literal[1] = SCHEMA_VERSION


class Receptors(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    er: ReceptorStatus = ReceptorStatus.UNKNOWN
    pr: ReceptorStatus = ReceptorStatus.UNKNOWN
    her2: ReceptorStatus = ReceptorStatus.UNKNOWN


class PatientEnrolled(EventBase):
    """A patient joins surveillance. Re-enrolment replaces the profile (a correction of facts)."""

    type: Literal["patient.enrolled"] = "patient.enrolled"
    site: SiteCode
    subtype: Annotated[str, Field(max_length=64)] | None = None
    receptors: Receptors = Receptors()
    # An AJCC 8th edition stage group of `site` (models.stages), or less detail of one.
    stage: Annotated[str, Field(pattern=STAGE_PATTERN)] | None = None
    intent: Intent = Intent.CURATIVE
    time_zone: str = "UTC"
    language: Language = Language.EN
    flags: frozenset[Flag] = frozenset()
    protocol: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _stage_of_site(self) -> PatientEnrolled:
        if self.stage is not None:
            problem = stage_problem(self.site, self.stage)
            if problem is not None:
                raise ValueError(problem)
        return self


class TreatmentStarted(EventBase):
    type: Literal["treatment.started"] = "treatment.started"
    treatment_id: EventId
    modality: Modality
    role: TreatmentRole = TreatmentRole.PRIMARY


class TreatmentCompleted(EventBase):
    type: Literal["treatment.completed"] = "treatment.completed"
    treatment_id: EventId
    modality: Modality


class ResponseAssessed(EventBase):
    """A response judged by a criteria system from its raw measurements."""

    type: Literal["response.assessed"] = "response.assessed"
    assessment: Assessment


class DiseaseStatusDeclared(EventBase):
    """A clinician's declared status; kept apart from criteria-derived responses."""

    type: Literal["status.declared"] = "status.declared"
    status: DeclaredStatus


class ScanScheduled(EventBase):
    type: Literal["scan.scheduled"] = "scan.scheduled"
    order_id: EventId
    item: ItemCode
    scheduled_for: Instant


class ScanCompleted(EventBase):
    """The scan was done (images acquired); its result may still be pending."""

    type: Literal["scan.completed"] = "scan.completed"
    order_id: EventId
    item: ItemCode


class ScanResulted(EventBase):
    type: Literal["scan.resulted"] = "scan.resulted"
    order_id: EventId
    item: ItemCode
    finding: ScanFinding


class ScanCancelled(EventBase):
    """A scheduled scan was cancelled (HL7 SIU^S15, FHIR Appointment cancelled): no pre-scan
    check-in for it any more. A scan already done stays done."""

    type: Literal["scan.cancelled"] = "scan.cancelled"
    order_id: EventId
    item: ItemCode


class VisitCompleted(EventBase):
    """A clinic visit or procedure that is not a scan or a lab (history and physical, exam)."""

    type: Literal["visit.completed"] = "visit.completed"
    item: ItemCode = "history_physical"


class LabResulted(EventBase):
    type: Literal["lab.resulted"] = "lab.resulted"
    order_id: EventId
    loinc: Annotated[str, Field(pattern=r"^[0-9]{1,7}-[0-9]$")]
    value: float | None = None
    unit: Annotated[str, Field(max_length=32)] | None = None
    status: ResultStatus = ResultStatus.FINAL
    performing_lab: Annotated[str, Field(max_length=100)] | None = None
    method: Annotated[str, Field(max_length=100)] | None = None
    comparator: Literal["<", "<=", ">", ">="] | None = None


class CheckinAnswered(EventBase):
    """A fear-of-recurrence check-in answer: FCR-1r, one item scored 0-10."""

    type: Literal["checkin.answered"] = "checkin.answered"
    instrument: Literal["fcr1r"] = "fcr1r"
    score: Annotated[int, Field(ge=0, le=10)] | None = None
    free_text: bool = False
    self_harm: bool = False


class ClinicianOverride(EventBase):
    """A clinician changes one surveillance item for this patient."""

    type: Literal["override.recorded"] = "override.recorded"
    item: ItemCode
    action: OverrideAction
    until: Day | None = None
    done_on: Day | None = None
    every_months: Annotated[int, Field(ge=1, le=120)] | None = None
    reason: Annotated[str, Field(max_length=200)] | None = None

    def model_post_init(self, _context: object) -> None:
        needed = {
            OverrideAction.POSTPONE: ("until", self.until),
            OverrideAction.DONE_ELSEWHERE: ("done_on", self.done_on),
            OverrideAction.CHANGE_FREQUENCY: ("every_months", self.every_months),
        }.get(self.action)
        if needed and needed[1] is None:
            raise ValueError(f"override {self.action.value!r} needs {needed[0]!r}")


class PatientDeceased(EventBase):
    type: Literal["patient.deceased"] = "patient.deceased"


class PatientTransferred(EventBase):
    type: Literal["patient.transferred"] = "patient.transferred"


class SurveillanceDischarged(EventBase):
    type: Literal["patient.discharged"] = "patient.discharged"


class EventRetracted(EventBase):
    """An earlier event was wrong (wrong patient, entered in error): fold as if it never was."""

    type: Literal["event.retracted"] = "event.retracted"
    target_event_id: EventId
    reason: Annotated[str, Field(max_length=200)] | None = None


Fact = Annotated[
    PatientEnrolled
    | TreatmentStarted
    | TreatmentCompleted
    | ResponseAssessed
    | DiseaseStatusDeclared
    | ScanScheduled
    | ScanCompleted
    | ScanResulted
    | ScanCancelled
    | VisitCompleted
    | LabResulted
    | CheckinAnswered
    | ClinicianOverride
    | PatientDeceased
    | PatientTransferred
    | SurveillanceDischarged
    | EventRetracted,
    Field(discriminator="type"),
]


class EventCorrected(EventBase):
    """An earlier event is replaced by `replacement` (e.g. HL7 OBX-11 "C"): the old one is void."""

    type: Literal["event.corrected"] = "event.corrected"
    target_event_id: EventId
    replacement: Fact


Event = Annotated[Fact | EventCorrected, Field(discriminator="type")]

EVENT_TYPES: tuple[type[EventBase], ...] = (
    PatientEnrolled,
    TreatmentStarted,
    TreatmentCompleted,
    ResponseAssessed,
    DiseaseStatusDeclared,
    ScanScheduled,
    ScanCompleted,
    ScanResulted,
    VisitCompleted,
    LabResulted,
    CheckinAnswered,
    ClinicianOverride,
    PatientDeceased,
    PatientTransferred,
    SurveillanceDischarged,
    EventRetracted,
    EventCorrected,
    ScanCancelled,
)

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(raw: str | bytes | dict[str, object]) -> Event:
    """Validate one event from JSON text/bytes or a dict; raises pydantic.ValidationError."""
    if isinstance(raw, dict):
        return _EVENT_ADAPTER.validate_python(raw)
    return _EVENT_ADAPTER.validate_json(raw)


def event_json_schema() -> dict[str, object]:
    """The JSON Schema of the whole event union (what `schemas/events.schema.json` holds)."""
    return _EVENT_ADAPTER.json_schema()


# The input topic (its stem: `rw.<stem>.v1`) of each fact type, as docs/wire-format.md lists them.
TOPIC_STEMS: Final[dict[str, str]] = {
    "patient.enrolled": "patients",
    "treatment.started": "patients",
    "treatment.completed": "patients",
    "status.declared": "patients",
    "override.recorded": "patients",
    "visit.completed": "patients",
    "patient.deceased": "patients",
    "patient.transferred": "patients",
    "patient.discharged": "patients",
    "response.assessed": "assessments",
    "scan.scheduled": "scans",
    "scan.completed": "scans",
    "scan.resulted": "scans",
    "scan.cancelled": "scans",
    "lab.resulted": "labs",
    "checkin.answered": "checkins",
}


def topic_stems(event: Event) -> frozenset[str]:
    """The input topics `event` may arrive on: its type's own; a correction goes to its
    replacement's (or to `patients`, where mappers route what is not a first report), a
    retraction (whose target's type it does not name) to any."""
    if isinstance(event, EventCorrected):
        return frozenset({TOPIC_STEMS[event.replacement.type], "patients"})
    if isinstance(event, EventRetracted):
        return frozenset(TOPIC_STEMS.values())
    return frozenset({TOPIC_STEMS[event.type]})
