"""What the ledger keeps about a message (correction links, "sent" marks, its control id) becomes
durable only with the Kafka acknowledgement of the message's events. A message whose events were
not acknowledged (AE, a 503, a failed backfill drain, a process killed before the ACK) leaves no
trace: what comes after it maps as if it had never arrived, and its re-send maps as a first send.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fhir_samples as f
import hl7_samples as s
import httpx
import pytest
from test_fhir import client

from ingest.config import IngestConfig
from ingest.fhir_intake import BrokerUnavailable, FhirIntake
from ingest.fhir_poll import FhirPoller
from ingest.files import load_file
from ingest.hl7_intake import Hl7Intake, Unacknowledged
from ingest.ledger import Ledger, MemoryLedger, SqliteLedger, Staged
from ingest.sink import MemoryEventSink, Routed
from models.events import EventCorrected, LabResulted, parse_event

ORIGINAL = "hl7:MAIN-LAB:F12345:2857-1:1"
MARKERS = s.tumour_markers()
C1 = s.psa_correction("RW-LAB-0057", "0.40", "20270205090000-0600")
C2 = s.psa_correction("RW-LAB-0058", "0.41", "20270206090000-0600")
FINDING = "RID49481^Category 2^RadLex"
Dumped = list[tuple[str, dict[str, Any]]]


def dumped(sent: list[Routed]) -> Dumped:
    return [(kind, event.model_dump()) for kind, event in sent]


async def reference(config: IngestConfig, *messages: bytes) -> Dumped:
    """The events of these messages, each sent once and acknowledged, on a fresh ledger."""
    sink = MemoryEventSink()
    intake = Hl7Intake(config, sink, MemoryLedger(), None)
    for raw in messages:
        assert (await intake.handle(raw)).code == "AA"
    return dumped(sink.sent)


@pytest.fixture(params=["memory", "sqlite"])
def ledger_of(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "memory":
        yield MemoryLedger()
        return
    ledger = SqliteLedger(tmp_path / "l.sqlite3")
    yield ledger
    ledger.close()


async def through(intake: Hl7Intake, sink: MemoryEventSink, raw: bytes, fail: bool) -> str:
    sink.fail = fail
    try:
        return (await intake.handle(raw)).code
    finally:
        sink.fail = False


async def in_turn(
    intake: Hl7Intake, sink: MemoryEventSink, *sends: tuple[bytes, bool]
) -> list[str]:
    """Each (message, Kafka refuses it) through the intake in turn: the ACK codes."""
    return [await through(intake, sink, raw, fail) for raw, fail in sends]


# ---------------------------------------------------------------------------- HL7 over MLLP


async def test_a_correction_refused_by_kafka_then_resent_gives_the_events_of_one_send(
    config: IngestConfig, ledger_of: Ledger
) -> None:
    sink = MemoryEventSink()
    intake = Hl7Intake(config, sink, ledger_of, None)
    codes = await in_turn(intake, sink, (MARKERS, False), (C1, True), (C1, False))
    assert codes == ["AA", "AE", "AA"]
    assert dumped(sink.sent) == await reference(config, MARKERS, C1)


async def test_what_follows_a_correction_kafka_refused_maps_as_if_it_never_came(
    config: IngestConfig, ledger_of: Ledger
) -> None:
    sink = MemoryEventSink()
    intake = Hl7Intake(config, sink, ledger_of, None)
    # C1 gets an AE: its replacement never reached Kafka
    codes = await in_turn(intake, sink, (MARKERS, False), (C1, True), (C2, False))
    assert codes == ["AA", "AE", "AA"]
    later = sink.events[-1]
    assert isinstance(later, EventCorrected)
    assert later.target_event_id == ORIGINAL  # not `...@RW-LAB-0057`, which never arrived
    assert await through(intake, sink, C1, fail=False) == "AA"  # the re-send, now stale
    assert dumped(sink.sent) == await reference(config, MARKERS, C2, C1)


async def test_a_result_kafka_refused_is_not_retracted_as_if_it_had_been_sent(
    config: IngestConfig, ledger_of: Ledger
) -> None:
    sink = MemoryEventSink()
    intake = Hl7Intake(config, sink, ledger_of, None)
    assert await through(intake, sink, MARKERS, fail=True) == "AE"
    assert await through(intake, sink, s.ct_report(finding=FINDING), fail=True) == "AE"
    wrong = await intake.handle(s.cea_wrong_patient())
    deleted = await intake.handle(s.ct_report("RIS-7730013", status="W"))
    assert (wrong.code, wrong.events, deleted.code, deleted.events) == ("AA", 0, "AA", 0)
    assert sink.sent == []
    assert await reference(config, s.cea_wrong_patient(), s.ct_report("RIS-7730013", "W")) == []


class HeldSink(MemoryEventSink):
    """Each send waits until the test lets it through: two messages in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def send(self, events: list[Routed]) -> None:
        await self.gate.wait()
        await super().send(events)


async def test_two_corrections_in_flight_at_once_still_chain(
    config: IngestConfig, ledger_of: Ledger
) -> None:
    sink = HeldSink()
    sink.gate.set()
    intake = Hl7Intake(config, sink, ledger_of, None)
    await intake.handle(MARKERS)
    sink.gate.clear()
    both = asyncio.gather(intake.handle(C1), intake.handle(C2))  # two MLLP connections
    await asyncio.sleep(0.05)
    sink.gate.set()
    assert [o.code for o in await both] == ["AA", "AA"]
    assert dumped(sink.sent) == await reference(config, MARKERS, C1, C2)


CHILD = """
import asyncio, json, os, signal, sys
from pathlib import Path
from ingest.config import load_config
from ingest.fhir_intake import FhirIntake
from ingest.files import load_file
from ingest.hl7_intake import Hl7Intake
from ingest.ledger import SqliteLedger
from ingest.sink import MemoryEventSink

class Dying(MemoryEventSink):
    # The process dies while Kafka has not acknowledged: at a send, or at the drain of a
    # backfill's chunk that holds a correction (the chunks before are acknowledged).
    held = False
    async def send(self, events):
        os.kill(os.getpid(), signal.SIGKILL)
    async def enqueue(self, events):
        self.held |= any(e.type == "event.corrected" for _, e in events)
    async def enqueue_records(self, records):
        self.held |= any(b'"event.corrected"' in value for _, _, value in records)
    async def drain(self):
        if self.held:
            os.kill(os.getpid(), signal.SIGKILL)

config = load_config(Path(sys.argv[1]))
kind, data = sys.argv[2], Path(sys.argv[3])
ledger = SqliteLedger(config.ledger)
if kind == "hl7":
    work = Hl7Intake(config, Dying(), ledger, None).handle(data.read_bytes())
elif kind == "fhir":
    work = FhirIntake(config, Dying(), ledger, None).accept("EPIC", json.loads(data.read_text()))
else:
    work = load_file(Hl7Intake(config, Dying(), ledger, None, defer=True), data)
asyncio.run(work)
"""


def killed_while_sending(tmp_path: Path, kind: str, data: bytes) -> None:
    """`data` through ingest in another process, killed (SIGKILL) before Kafka acknowledged."""
    path = tmp_path / f"input.{kind}"
    path.write_bytes(data)
    child = [sys.executable, "-c", CHILD, str(tmp_path / "ingest.yaml"), kind, str(path)]
    died = subprocess.run(child, capture_output=True, timeout=300, check=False)
    assert died.returncode == -signal.SIGKILL, died.stderr.decode()[-2000:]


async def test_a_process_killed_before_the_ack_leaves_no_link_behind(
    config: IngestConfig, tmp_path: Path
) -> None:
    sink = MemoryEventSink()
    ledger = SqliteLedger(config.ledger)
    assert (await Hl7Intake(config, sink, ledger, None).handle(MARKERS)).code == "AA"
    ledger.close()
    killed_while_sending(tmp_path, "hl7", C1)
    ledger = SqliteLedger(config.ledger)  # the restarted process
    intake = Hl7Intake(config, sink, ledger, None)
    assert (await intake.handle(C2)).code == "AA"
    assert (await intake.handle(C1)).code == "AA"  # the sender re-sends what got no ACK
    ledger.close()
    assert dumped(sink.sent) == await reference(config, MARKERS, C2, C1)


async def test_a_backfill_killed_keeps_the_chunks_kafka_acknowledged_and_no_more(
    config: IngestConfig, tmp_path: Path
) -> None:
    messages = [MARKERS, *bulk(600), C1, C2]
    killed_while_sending(tmp_path, "file", s.batch(*messages))  # at the drain of C1 and C2
    kept = tables(config.ledger)
    first = {"RW-LAB-0042", *(f"BULK-{i}" for i in range(499))}  # the first chunk of 500
    assert {control for _, control, _ in kept["seen"]} == first
    assert kept["corrections"] == set()
    again = MemoryEventSink()  # the same file again: it sends what the ledger does not have
    ledger = SqliteLedger(config.ledger)
    await load_file(Hl7Intake(config, again, ledger, None, defer=True), tmp_path / "input.file")
    ledger.close()
    done = await reference(config, *messages[:500])
    assert done + dumped(again.sent) == await reference(config, *messages)


# ---------------------------------------------------------------------------- FHIR

BASE = "fhir:EPIC:Observation/obs-psa-8842"
V2 = f.version(f.PSA, 2, "2027-02-05T09:00:02-06:00", status="corrected",
               valueQuantity={**f.PSA["valueQuantity"], "value": 0.4})  # fmt: skip
V3 = f.version(f.PSA, 3, "2027-02-06T09:00:00-06:00", status="amended",
               valueQuantity={**f.PSA["valueQuantity"], "value": 0.41})  # fmt: skip


async def fhir_reference(config: IngestConfig, *resources: dict[str, Any]) -> Dumped:
    sink = MemoryEventSink()
    intake = FhirIntake(config, sink, MemoryLedger(), None)
    for resource in resources:
        assert (await intake.accept("EPIC", resource)).failed == []
    return dumped(sink.sent)


async def test_fhir_a_version_answered_503_leaves_no_link_for_the_next(
    config: IngestConfig, ledger_of: Ledger
) -> None:
    sink = MemoryEventSink()
    fhir = FhirIntake(config, sink, ledger_of, None)
    async with client(fhir) as http:
        for resource, fail, status in [(f.PATIENT, False, 200), (f.PSA, False, 200),
                                       (V2, True, 503), (V3, False, 200)]:  # fmt: skip
            sink.fail = fail
            assert (await http.post("/fhir/EPIC", json=resource)).status_code == status
    later = sink.events[-1]
    assert isinstance(later, EventCorrected) and later.target_event_id == BASE  # not BASE@v2
    assert dumped(sink.sent) == await fhir_reference(config, f.PATIENT, f.PSA, V3)


async def test_fhir_a_process_killed_before_the_ack_leaves_no_link_behind(
    config: IngestConfig, tmp_path: Path
) -> None:
    sink, ledger = MemoryEventSink(), SqliteLedger(config.ledger)
    fhir = FhirIntake(config, sink, ledger, None)
    assert (await fhir.accept("EPIC", f.bundle("batch", f.PATIENT, f.PSA))).events == 1
    ledger.close()
    killed_while_sending(tmp_path, "fhir", json.dumps(V2).encode())
    ledger = SqliteLedger(config.ledger)
    assert (await FhirIntake(config, sink, ledger, None).accept("EPIC", V3)).events == 1
    ledger.close()
    later = sink.events[-1]
    assert isinstance(later, EventCorrected) and later.target_event_id == BASE
    assert dumped(sink.sent) == await fhir_reference(config, f.PATIENT, f.PSA, V3)


async def test_fhir_a_refused_transaction_leaves_nothing_to_retract(
    config: IngestConfig, ledger_of: Ledger
) -> None:
    sink = MemoryEventSink()
    fhir = FhirIntake(config, sink, ledger_of, None)
    coded = {"conclusionCode": [{"coding": [{"system": "http://snomed.info/sct",
                                             "code": "260415000"}]}]}  # fmt: skip
    report = {**f.REPORT, **coded}
    broken = {**f.PSA, "id": "obs-2", "status": None}
    async with client(fhir) as http:
        refused = await http.post(
            "/fhir/EPIC", json=f.bundle("transaction", f.PATIENT, report, broken)
        )
        assert refused.status_code == 400
        assert (await http.post("/fhir/EPIC", json=f.PATIENT)).status_code == 200
        in_error = f.version(report, 2, "2027-01-17T09:00:00-05:00", status="entered-in-error")
        assert (await http.post("/fhir/EPIC", json=in_error)).status_code == 200
    assert sink.sent == []  # the result was never sent: there is nothing to retract


async def test_fhir_poll_of_a_version_kafka_refused_leaves_no_link_for_the_next(
    config: IngestConfig, ledger_of: Ledger
) -> None:
    sink = MemoryEventSink()
    fhir = FhirIntake(config, sink, ledger_of, None)
    server = {"Observation": f.PSA}  # the server's current version

    def handler(request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rsplit("/", 1)[-1]
        found = {"Patient": f.PATIENT, **server}.get(kind)
        entries = [{"resource": found, "search": {"mode": "match"}}] if found else []
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset",
                                         "entry": entries})  # fmt: skip

    feed = config.fhir_feed("EPIC")
    assert feed is not None
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        poller = FhirPoller(fhir, feed, http)
        assert await poller.poll_once() == 1
        server["Observation"], sink.fail = V2, True
        with pytest.raises(BrokerUnavailable):
            await poller.poll_once()
        server["Observation"], sink.fail = V3, False  # v2 is no longer what the server returns
        assert await poller.poll_once() == 1
    later = sink.events[-1]
    assert isinstance(later, EventCorrected) and later.target_event_id == BASE
    assert dumped(sink.sent) == await fhir_reference(config, f.PATIENT, f.PSA, V3)


# ---------------------------------------------------------------------------- file backfill


class DrainingSink(MemoryEventSink):
    """Holds what is enqueued until `drain`, which acknowledges it; the drains after the first
    `good` ones fail and lose what they held (a broker that went away mid-backfill)."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good, self.held = good, list[Routed]()

    async def enqueue(self, events: list[Routed]) -> None:
        self.held.extend(events)

    async def enqueue_records(self, records: list[tuple[str, bytes, bytes]]) -> None:
        self.held.extend((kind, parse_event(value)) for kind, _, value in records)

    async def drain(self) -> None:
        held, self.held = self.held, []
        if self.good == 0:
            raise ConnectionError("broker unavailable")
        self.good -= 1
        self.sent.extend(held)


def bulk(n: int) -> list[bytes]:
    return [s.tumour_markers(f"BULK-{i}").replace(b"F12345", f"G{i}".encode()) for i in range(n)]


def tables(path: Path) -> dict[str, set[tuple[str, ...]]]:
    with sqlite3.connect(path) as db:
        return {t: set(db.execute(f"select * from {t}")) for t in ("seen", "facts", "corrections")}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("good_drains", [0, 1])
async def test_a_backfill_keeps_in_the_ledger_only_what_kafka_acknowledged(
    config: IngestConfig, tmp_path: Path, workers: int, good_drains: int
) -> None:
    messages = [MARKERS, *bulk(700), C1, C2, s.cea_wrong_patient()]  # the last three: unacked
    path = tmp_path / "backfill.hl7"
    path.write_bytes(s.batch(*messages))
    ledger_path = tmp_path / "backfill.sqlite3"
    sink = DrainingSink(good_drains)
    ledger = SqliteLedger(ledger_path)
    with pytest.raises(Unacknowledged, match="load it again"):
        await load_file(Hl7Intake(config, sink, ledger, None, defer=True), path, workers)
    ledger.close()
    kept = tables(ledger_path)
    acked = {e.event_id for e in sink.events}
    sent_marks = {key for ns, key, _ in kept["facts"] if ns == "hl7-sent"}
    assert sent_marks <= acked and kept["corrections"] == set()
    seen = {control for _, control, _ in kept["seen"]}
    assert all(e.event_id.split(":")[2] in _orders(seen) for e in sink.events)
    if good_drains:  # committed chunk by chunk, each after its acknowledgement
        assert 0 < len(seen) < len(messages) and sent_marks
    else:
        assert kept == {"seen": set(), "facts": set(), "corrections": set()}
    # the same file again, the broker back: what it adds completes what was acknowledged
    again = MemoryEventSink()
    ledger = SqliteLedger(ledger_path)
    await load_file(Hl7Intake(config, again, ledger, None, defer=True), path, workers)
    ledger.close()
    assert dumped(sink.sent) + dumped(again.sent) == await reference(config, *messages)


def _orders(controls: set[str]) -> set[str]:
    """The OBR-3 filler ids of the bulk messages whose control ids were remembered."""
    orders = {f"G{c.removeprefix('BULK-')}" for c in controls if c.startswith("BULK-")}
    return orders | ({"F12345", "F12346", "F12347"} if "RW-LAB-0042" in controls else set())


async def test_a_backfill_maps_each_message_against_the_links_of_the_ones_before(
    config: IngestConfig, tmp_path: Path
) -> None:
    path = tmp_path / "chain.hl7"
    path.write_bytes(s.batch(MARKERS, C1, C2))
    sink, ledger = MemoryEventSink(), SqliteLedger(tmp_path / "chain.sqlite3")
    counts = await load_file(Hl7Intake(config, sink, ledger, None, defer=True), path)
    ledger.close()
    assert counts["AA"] == 3
    first, second = [e for e in sink.events if isinstance(e, EventCorrected)]
    assert second.target_event_id == first.replacement.event_id
    assert isinstance(second.replacement, LabResulted)
    assert dumped(sink.sent) == await reference(config, MARKERS, C1, C2)


# ---------------------------------------------------------------------------- the Staged layer


def test_staged_writes_reach_the_ledger_only_at_commit_and_read_as_the_ledger_does(
    ledger_of: Ledger,
) -> None:
    ledger_of.add_correction("obs", "t2", "C2", "obs@C1", "obs@C2")
    ledger_of.remember("LAB", "M1", "digest-1")
    held = Staged(ledger_of)
    held.add_correction("obs", "t1", "C1", "obs", "obs@C1")
    held.add_correction("obs", "t9", "C2", "other", "other")  # a control id's first link stays
    held.add_correction("obs", "t1", "C1", "other", "other")
    held.remember("LAB", "M1", "digest-other")  # the first digest stays
    held.remember("LAB", "M2", "digest-2")
    held.put("hl7-sent", "obs", "1")
    expected = [("t1", "C1", "obs", "obs@C1"), ("t2", "C2", "obs@C1", "obs@C2")]
    assert held.chain("obs") == expected
    assert (held.seen("LAB", "M1"), held.seen("LAB", "M2")) == ("digest-1", "digest-2")
    below = (ledger_of.chain("obs"), ledger_of.seen("LAB", "M2"), ledger_of.get("hl7-sent", "obs"))
    assert below == ([expected[1]], None, None)  # nothing reaches the ledger before the commit
    held.commit()
    assert ledger_of.chain("obs") == expected and held.chain("obs") == expected
    assert (ledger_of.seen("LAB", "M1"), ledger_of.seen("LAB", "M2")) == ("digest-1", "digest-2")
    assert ledger_of.get("hl7-sent", "obs") == "1"


def test_a_staged_batch_is_undone_when_it_fails_and_a_discard_forgets_all(
    ledger_of: Ledger,
) -> None:
    held = Staged(ledger_of)
    with held.batch():
        held.put("n", "kept", "1")
        held.put("n", "changed", "1")
        try:
            with held.batch():
                held.put("n", "changed", "2")
                held.put("n", "undone", "1")
                held.add_correction("obs", "t1", "C1", "obs", "obs@C1")
                held.remember("LAB", "M1", "d")
                raise ValueError("a message that fails half way")
        except ValueError:
            pass
    assert [held.get("n", k) for k in ("kept", "changed", "undone")] == ["1", "1", None]
    assert (held.chain("obs"), held.seen("LAB", "M1")) == ([], None)
    held.discard()
    held.commit()
    assert ledger_of.get("n", "kept") is None
