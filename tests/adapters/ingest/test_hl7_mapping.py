"""Every sample shape through the HL7 intake: the events it makes and the ACK it answers."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

import hl7_samples as s
import pytest

from ingest.config import IngestConfig
from ingest.hl7_intake import Hl7Intake
from ingest.ledger import MemoryLedger
from ingest.quarantine import QuarantineStore
from ingest.sink import MemoryEventSink
from models.events import (
    EventCorrected,
    EventRetracted,
    LabResulted,
    ResultStatus,
    ScanCancelled,
    ScanCompleted,
    ScanFinding,
    ScanResulted,
    ScanScheduled,
    parse_event,
)
from models.state import replay

CST = timezone(timedelta(hours=-6))


def pseudonym(mrn: str, namespace: str) -> str:
    digest = hmac.new(b"k" * 40, f"{namespace}|{mrn}".encode(), hashlib.sha256).hexdigest()
    return "p-" + digest[:32]


def acks(raw: bytes) -> list[str]:
    return raw.decode("latin-1").split("\r")


async def test_tumour_markers_become_lab_results(intake: Hl7Intake, sink: MemoryEventSink) -> None:
    outcome = await intake.handle(s.tumour_markers())
    assert (outcome.code, outcome.events) == ("AA", 5)
    labs = {e.loinc: e for e in sink.events if isinstance(e, LabResulted)}
    assert set(labs) == {"2857-1", "2039-6", "3013-0", "8098-6", "6875-9"}
    psa = labs["2857-1"]
    assert psa.event_id == "hl7:MAIN-LAB:F12345:2857-1:1"
    assert psa.patient_id == pseudonym("MRN0003003", "CANCERCTR")
    assert (psa.value, psa.unit, psa.status) == (0.04, "ng/mL", ResultStatus.FINAL)
    assert psa.occurred_at == datetime(2027, 2, 3, 8, 15, tzinfo=CST)
    assert psa.recorded_at == datetime(2027, 2, 3, 14, 2, tzinfo=CST)
    assert psa.source == "hl7:MAIN-LAB" and psa.order_id == "F12345"
    assert psa.performing_lab == "Century Hospital"
    assert psa.method == "Chemiluminescent immunoassay"
    tg = labs["3013-0"]
    assert (tg.value, tg.comparator) == (0.1, "<")
    assert (labs["6875-9"].status, labs["6875-9"].value) == (ResultStatus.CANNOT_OBTAIN, None)
    # every event is valid on the wire and routed to the labs topic
    assert {kind for kind, _ in sink.sent} == {"lab.resulted"}
    for event in sink.events:
        assert parse_event(event.model_dump_json()) == event


async def test_no_name_or_mrn_reaches_the_events(intake: Hl7Intake, sink: MemoryEventSink) -> None:
    await intake.handle(s.tumour_markers())
    await intake.handle(s.psa_latin1())
    wire = " ".join(e.model_dump_json() for e in sink.events)
    for phi in ("MRN0003003", "Testpatient", "Ana", "Núñez", "19560211"):
        assert phi not in wire


async def test_correction_targets_the_original_then_the_latest_replacement(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    await intake.handle(s.tumour_markers())
    await intake.handle(s.psa_correction("RW-LAB-0057", "0.40", "20270205090000-0600"))
    await intake.handle(s.psa_correction("RW-LAB-0058", "0.41", "20270205100000-0600"))
    first, second = [e for e in sink.events if isinstance(e, EventCorrected)]
    original = "hl7:MAIN-LAB:F12345:2857-1:1"
    assert first.event_id == f"{original}:C:RW-LAB-0057"
    assert first.target_event_id == original
    assert first.replacement.event_id == f"{original}@RW-LAB-0057"
    assert second.target_event_id == f"{original}@RW-LAB-0057"
    assert isinstance(second.replacement, LabResulted)
    assert second.replacement.value == 0.41
    assert second.replacement.status == ResultStatus.CORRECTED
    assert second.replacement.occurred_at == datetime(2027, 2, 3, 8, 15, tzinfo=CST)
    # the fold keeps only the last value, whatever the arrival order
    enrol = parse_event({
        "type": "patient.enrolled", "event_id": "e1", "patient_id": first.patient_id,
        "occurred_at": "2027-01-01T00:00:00Z", "recorded_at": "2027-01-01T00:00:00Z",
        "source": "test", "site": "prostate",
    })  # fmt: skip
    forward = replay([enrol, *sink.events])
    backward = replay([enrol, *reversed(sink.events)])
    assert forward == backward


async def test_an_older_correction_arriving_late_changes_nothing(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    await intake.handle(s.psa_correction("RW-LAB-0058", "0.41", "20270205100000-0600"))
    late = await intake.handle(s.psa_correction("RW-LAB-0057", "0.40", "20270205090000-0600"))
    assert (late.code, late.events, late.ignored) == ("AA", 0, 1)
    assert len(sink.events) == 1


async def test_a_correction_heard_first_is_the_fact_itself(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    await intake.handle(s.psa_correction("RW-LAB-0057", "0.40", "20270205090000-0600"))
    await intake.handle(s.tumour_markers())  # the original, late: same id, changes nothing
    await intake.handle(s.psa_correction("RW-LAB-0058", "0.41", "20270205100000-0600"))
    psa = [e for e in sink.events if e.event_id.startswith("hl7:MAIN-LAB:F12345:2857-1:1")]
    first, original, second = psa
    assert isinstance(first, LabResulted) and first.status == ResultStatus.CORRECTED
    assert first.event_id == original.event_id == "hl7:MAIN-LAB:F12345:2857-1:1"
    assert isinstance(second, EventCorrected) and second.target_event_id == first.event_id


async def test_wrong_patient_becomes_a_retraction(intake: Hl7Intake, sink: MemoryEventSink) -> None:
    await intake.handle(s.tumour_markers())
    outcome = await intake.handle(s.cea_wrong_patient())
    assert outcome.code == "AA"
    retraction = sink.events[-1]
    assert isinstance(retraction, EventRetracted)
    assert retraction.target_event_id == "hl7:MAIN-LAB:F12346:2039-6:1"
    assert retraction.event_id == "hl7:MAIN-LAB:F12346:2039-6:1:W:RW-LAB-0061"
    assert retraction.reason == "OBX-11 W: wrong patient"
    assert sink.sent[-1][0] == "lab.resulted"  # the labs topic, where its target is


async def test_preliminary_and_pending_are_left_out(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    sent = "20270203140200-0600"
    obxs = [
        s.obx(1, s.PSA, "0.04", "P"),
        s.obx(2, s.CEA, "", "I"),
        s.obx(3, s.TG, "<^0.1", kind="SN"),
    ]
    segments = [s.msh("RW-LAB-0090", sent), s.PID, *s.order(1, "F9", "X^Panel^L", obxs, sent)]
    outcome = await intake.handle("\r".join(segments).encode())
    assert (outcome.code, outcome.events, outcome.ignored) == ("AA", 1, 2)
    assert [e.loinc for e in sink.events if isinstance(e, LabResulted)] == ["3013-0"]


async def test_latin1_bytes_decode_by_msh18(intake: Hl7Intake, sink: MemoryEventSink) -> None:
    outcome = await intake.handle(s.psa_latin1())
    assert outcome.code == "AA" and outcome.events == 1
    assert b"8859/1" in (outcome.ack or b"")


async def test_latin1_bytes_declared_as_ascii_are_refused(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    raw = s.psa_latin1().replace(b"|8859/1|", b"||")
    outcome = await intake.handle(raw)
    assert outcome.code == "AE" and sink.sent == []


async def test_z_segment_is_skipped(intake: Hl7Intake, sink: MemoryEventSink) -> None:
    outcome = await intake.handle(s.with_z_segment())
    assert (outcome.code, outcome.events) == ("AA", 1)
    assert sink.events[0].event_id == "hl7:MAIN-LAB:F32345:2857-1:1"


async def test_radiology_free_text_gives_completed_only(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    outcome = await intake.handle(s.ct_report())
    assert outcome.code == "AA"
    (done,) = sink.events
    assert isinstance(done, ScanCompleted)
    assert (done.order_id, done.item) == ("ACC-5512", "ct_chest_abdomen_pelvis")
    assert done.occurred_at == datetime(2027, 1, 14, 13, 55, tzinfo=timezone(timedelta(hours=-5)))
    assert done.patient_id == pseudonym("MRN0006006", "CANCERCTR")


async def test_radiology_coded_finding_gives_a_result(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    finding = "RID49481^Category 2 Non-critical Actionable Finding^RadLex"
    await intake.handle(s.ct_report(finding=finding))
    resulted = [e for e in sink.events if isinstance(e, ScanResulted)]
    assert [(r.finding, r.event_id) for r in resulted] == [
        (ScanFinding.SUSPICIOUS, "hl7:RIS:ACC-5512:ct_chest_abdomen_pelvis:resulted")
    ]
    assert sink.sent[-1][0] == "scan.resulted"


async def test_siu_schedules_and_cancels(intake: Hl7Intake, sink: MemoryEventSink) -> None:
    booked = await intake.handle(s.siu("S12", "SIU-1"))
    cancelled = await intake.handle(s.siu("S15", "SIU-2"))
    assert (booked.code, cancelled.code) == ("AA", "AA")
    scheduled, cancel = sink.events
    assert isinstance(scheduled, ScanScheduled) and isinstance(cancel, ScanCancelled)
    assert (scheduled.order_id, scheduled.item) == ("ACC-5512", "mammogram")
    assert scheduled.scheduled_for == datetime(
        2027, 1, 14, 13, 30, tzinfo=timezone(timedelta(hours=-5))
    )
    assert cancel.order_id == "ACC-5512"
    assert scheduled.patient_id == pseudonym("MRN0006006", "CANCERCTR")  # the MR, not the SS


async def test_a_batch_file_with_bom_and_crlf(intake: Hl7Intake, sink: MemoryEventSink) -> None:
    from ingest.hl7_wire import split_segments

    raw = s.batch(s.tumour_markers(), s.with_z_segment())
    groups = list(split_segments(raw))
    outcomes = [await intake.handle_segments(g, 100) for g in groups]
    assert [o.code for o in outcomes] == ["AA", "AA"]
    assert len(sink.events) == 6


async def test_resent_control_id_gets_aa_and_adds_nothing(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    first = await intake.handle(s.tumour_markers())
    again = await intake.handle(s.tumour_markers())
    assert (first.code, again.code) == ("AA", "AA")
    assert (first.events, again.events) == (5, 0)
    assert len(sink.sent) == 5


async def test_a_broker_that_does_not_acknowledge_gets_ae_and_a_resend_works(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    sink.fail = True
    refused = await intake.handle(s.tumour_markers())
    assert refused.code == "AE" and b"MSA|AE|RW-LAB-0042" in (refused.ack or b"")
    sink.fail = False
    retried = await intake.handle(s.tumour_markers())
    assert (retried.code, retried.events) == ("AA", 5)


@pytest.mark.parametrize(
    ("raw", "code", "err"),
    [
        (s.tumour_markers().replace(b"|RW-LAB-0042|P|", b"|RW-LAB-0042|T|"), "AR", b"|202^"),
        (s.tumour_markers().replace(b"NIST Lab Facility", b"OTHER LAB"), "AR", b"|MSH^1^4|"),
        (s.tumour_markers().replace(b"^^^NIST MPI^MR", b"^^^NIST MPI^PI"), "AE", b"|PID^1^3|101^"),
        (s.tumour_markers().replace(b"|0.04|", b"|n/a|"), "AE", b"|102^"),
        (s.tumour_markers().replace(b"ORU^R01^ORU_R01", b"ADT^A01^ADT_A01"), "AR", b"|200^"),
    ],
)
async def test_refusals_answer_with_err_and_are_quarantined_encrypted(
    intake: Hl7Intake, sink: MemoryEventSink, quarantine: QuarantineStore,
    raw: bytes, code: str, err: bytes,
) -> None:  # fmt: skip
    outcome = await intake.handle(raw)
    assert outcome.code == code and sink.sent == []
    lines = acks(outcome.ack or b"")
    assert lines[1] == f"MSA|{code}|RW-LAB-0042"
    assert lines[2].startswith("ERR|") and err in lines[2].encode()
    (entry,) = quarantine.entries()
    assert entry.raw.replace(b"\r", b"") == raw.replace(b"\r", b"")
    assert entry.control_id == "RW-LAB-0042"
    stored = next(quarantine.folder.iterdir()).read_bytes()
    assert b"MRN0003003" not in stored and b"Testpatient" not in stored


async def test_original_mode_ack_has_msh7_with_offset(intake: Hl7Intake) -> None:
    outcome = await intake.handle(s.tumour_markers())
    msh, msa = acks(outcome.ack or b"")
    fields = msh.split("|")
    assert fields[6] == "20270206160000+0000"  # MSH-7 with its offset
    assert fields[8] == "ACK^R01^ACK" and fields[4:6] == ["NIST Test Lab APP", "NIST Lab Facility"]
    assert msa == "MSA|AA|RW-LAB-0042"


@pytest.mark.parametrize(
    ("accept", "broken", "expected"),
    [("AL", False, "CA"), ("AL", True, "CE"), ("NE", False, None), ("ER", False, None),
     ("ER", True, "CE"), ("SU", False, "CA"), ("SU", True, None)],
)  # fmt: skip
async def test_enhanced_mode_follows_msh15(
    intake: Hl7Intake, accept: str, broken: bool, expected: str | None
) -> None:
    raw = s.tumour_markers(accept=accept, app="NE")
    if broken:
        raw = raw.replace(b"|0.04|", b"|n/a|")
    outcome = await intake.handle(raw)
    if expected is None:
        assert outcome.ack is None
    else:
        assert acks(outcome.ack or b"")[1] == f"MSA|{expected}|RW-LAB-0042"


async def test_logs_name_control_ids_never_patients(
    intake: Hl7Intake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    await intake.handle(s.tumour_markers())
    await intake.handle(s.tumour_markers().replace(b"|0.04|", b"|n/a|").replace(b"0042", b"0043"))
    await intake.handle(s.psa_latin1().replace(b"NIST Lab Facility", b"ELSEWHERE"))
    text = caplog.text
    assert "RW-LAB-0042" in text and "RW-LAB-0043" in text
    for phi in ("MRN0003003", "Testpatient", "Núñez", "19560211", "n/a"):
        assert phi not in text


async def test_a_message_over_the_size_limit_is_refused(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    padding = b"\rNTE|1|L|" + b"x" * (1024 * 1024)
    outcome = await intake.handle(s.tumour_markers() + padding)
    assert outcome.code == "AR" and sink.sent == []
    assert b"too large" in (outcome.ack or b"")


def test_quarantine_keeps_rejects_encrypted_and_purges_after_retention(
    quarantine: QuarantineStore,
) -> None:
    now = datetime(2027, 2, 6, 16, 0, tzinfo=UTC)
    old = quarantine.put(b"MSH|old", "reason", now - timedelta(days=31), "C-1", "LAB")
    new = quarantine.put(b"MSH|new", "reason", now - timedelta(days=1), "C-2", "LAB")
    assert quarantine.purge(now) == 1
    assert [e.id for e in quarantine.entries()] == [new] and old != new
    assert quarantine.get(new).raw == b"MSH|new"


async def test_a_retraction_of_a_result_never_sent_sends_nothing(
    intake: Hl7Intake, sink: MemoryEventSink
) -> None:
    outcome = await intake.handle(s.cea_wrong_patient())
    assert (outcome.code, outcome.events, outcome.ignored) == ("AA", 0, 1)
    assert sink.sent == []


async def test_only_labs_surveillance_uses_reach_kafka(
    config: IngestConfig, sink: MemoryEventSink
) -> None:
    intake = Hl7Intake(config, sink, MemoryLedger(), None, known_lab=lambda code: code == "2857-1")
    outcome = await intake.handle(s.tumour_markers())
    assert (outcome.code, outcome.events, outcome.ignored) == ("AA", 1, 4)
    everything = config.model_copy(
        update={"feeds": [f.model_copy(update={"labs": "all"}) for f in config.feeds]}
    )
    intake = Hl7Intake(everything, sink, MemoryLedger(), None, known_lab=lambda code: False)
    assert (await intake.handle(s.tumour_markers())).events == 5


async def test_an_internal_error_answers_ae_and_logs_no_data(
    intake: Hl7Intake, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_ctx: object) -> None:
        raise ValueError("MRN0003003 Testpatient")  # a bug whose message quotes data

    monkeypatch.setattr("ingest.hl7_intake.map_message", broken)
    outcome = await intake.handle(s.tumour_markers())
    assert outcome.code == "AE" and b"|207^" in (outcome.ack or b"")
    assert "ValueError" in caplog.text
    assert "MRN0003003" not in caplog.text and b"MRN0003003" not in (outcome.ack or b"")
