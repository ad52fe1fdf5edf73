"""A real MLLP client over a socket against the listener, events acknowledged by the broker."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import hl7_samples as s
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ingest.config import IngestConfig, load_config
from ingest.hl7_intake import Hl7Intake
from ingest.ledger import SqliteLedger
from ingest.mllp import MllpServer, tls_context
from ingest.quarantine import QuarantineStore
from ingest.sink import KafkaEventSink
from remission_watch.cli import main
from streams.settings import StreamsSettings
from streams.topics import TopicNames, create_topics

pytestmark = pytest.mark.integration
PARTITIONER = DefaultPartitioner()
_PREFIXES = itertools.count()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, IngestConfig]:
    monkeypatch.setenv("RW_TEST_PSEUDONYM_KEY", "k" * 40)
    monkeypatch.setenv("RW_TEST_QUARANTINE_KEY", Fernet.generate_key().decode())
    path = tmp_path / "ingest.yaml"
    text = s.CONFIG.replace("@QDIR@", str(tmp_path / "q"))
    path.write_text(text.replace("@LEDGER@", str(tmp_path / "ledger.sqlite3")))
    return path, load_config(path)


@pytest.fixture
async def prefix(kafka_bootstrap: str) -> str:
    prefix = f"it{next(_PREFIXES)}x{id(object())}."
    await create_topics(
        StreamsSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix, partitions=2)
    )
    return prefix


@pytest.fixture
async def listener(
    kafka_bootstrap: str, prefix: str, config: tuple[Path, IngestConfig]
) -> AsyncIterator[MllpServer]:
    cfg = config[1]
    sink = KafkaEventSink(kafka_bootstrap, TopicNames(prefix))
    await sink.start()
    ledger = SqliteLedger(cfg.ledger)
    intake = Hl7Intake(cfg, sink, ledger, QuarantineStore.from_settings(cfg.quarantine))
    server = MllpServer(intake, 1 << 20)
    try:
        yield server
    finally:
        await server.stop()
        await sink.stop()
        ledger.close()


async def read_acks(reader: asyncio.StreamReader, count: int) -> list[str]:
    acks = []
    for _ in range(count):
        frame = await asyncio.wait_for(reader.readuntil(b"\x1c\r"), 30)
        assert frame.startswith(b"\x0b")
        acks.append(frame[1:-2].decode("latin-1"))
    return acks


async def topic_values(bootstrap: str, topic: str, at_least: int) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    values: list[dict[str, object]] = []
    try:
        async with asyncio.timeout(30):
            while len(values) < at_least:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for r in records:
                        value = json.loads(r.value or b"{}")
                        assert r.key == str(value["patient_id"]).encode()
                        # batched (file) and single (MLLP) sends co-partition like the producer
                        assert r.partition == PARTITIONER(r.key, [0, 1], [0, 1])
                        values.append(value)
        for records in (await consumer.getmany(timeout_ms=1000)).values():  # nothing more
            values.extend(json.loads(r.value or b"{}") for r in records)
    finally:
        await consumer.stop()
    return values


async def test_one_connection_many_messages_split_reads_and_a_resend(
    kafka_bootstrap: str, prefix: str, listener: MllpServer
) -> None:
    host, port = await listener.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(host, port)
    correction = s.psa_correction("RW-LAB-0057", "0.40", "20270205090000-0600")
    writer.write(s.frame_of(s.tumour_markers()) + s.frame_of(correction))  # two in one write
    ct = s.frame_of(s.ct_report())
    writer.write(ct[:100])  # one message split across reads
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.write(ct[100:] + s.frame_of(s.tumour_markers()))  # ... and a re-send
    await writer.drain()
    acks = await read_acks(reader, 4)
    writer.close()
    assert [a.split("\r")[1] for a in acks] == [
        "MSA|AA|RW-LAB-0042",
        "MSA|AA|RW-LAB-0057",
        "MSA|CA|RIS-7730012",
        "MSA|AA|RW-LAB-0042",
    ]
    labs = await topic_values(kafka_bootstrap, f"{prefix}labs.v1", 6)
    assert sorted(str(v["type"]) for v in labs) == ["event.corrected"] + ["lab.resulted"] * 5
    scans = await topic_values(kafka_bootstrap, f"{prefix}scans.v1", 1)
    assert [v["type"] for v in scans] == ["scan.completed"]
    wire = json.dumps(labs + scans)
    assert "MRN0003003" not in wire and "Testpatient" not in wire


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_mllp_over_tls(tmp_path: Path, listener: MllpServer) -> None:
    cert, key = _self_signed(tmp_path)
    host, port = await listener.start("127.0.0.1", 0, tls_context(cert, key))
    client = ssl.create_default_context(cafile=str(cert))
    reader, writer = await asyncio.open_connection(
        host, port, ssl=client, server_hostname="localhost"
    )
    writer.write(s.frame_of(s.siu("S12", "SIU-9")))
    await writer.drain()
    (ack,) = await read_acks(reader, 1)
    writer.close()
    assert ack.split("\r")[1] == "MSA|AA|SIU-9"


def test_file_command_loads_a_batch(
    kafka_bootstrap: str,
    prefix: str,
    config: tuple[Path, IngestConfig],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RW_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("RW_PARTITIONS", "2")
    batch = tmp_path / "backfill.hl7"
    batch.write_bytes(s.batch(s.tumour_markers(), s.with_z_segment(), s.cea_wrong_patient()))
    args = [
        "ingest",
        "file",
        str(batch),
        "--config",
        str(config[0]),
        "--bootstrap",
        kafka_bootstrap,
    ]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == {"AA": 3, "events": 7}
    values = asyncio.run(topic_values(kafka_bootstrap, f"{prefix}labs.v1", 7))
    assert len(values) == 7
    # the same file again: every control id was acknowledged, nothing is added
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == {"AA": 3, "events": 0}


def test_file_command_with_a_broken_config_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - name: X\n    time_zone: Mars/Olympus\n")
    data = tmp_path / "one.hl7"
    data.write_bytes(s.tumour_markers())
    assert main(["ingest", "file", str(data), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "feeds.0.time_zone" in err and "Mars/Olympus" in err
    assert "Traceback" not in err


def test_quarantine_list_show_and_replay_after_the_config_is_fixed(
    kafka_bootstrap: str,
    prefix: str,
    config: tuple[Path, IngestConfig],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RW_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("RW_PARTITIONS", "2")
    path = config[0]
    data = tmp_path / "test-feed.hl7"
    data.write_bytes(s.tumour_markers().replace(b"|RW-LAB-0042|P|", b"|RW-LAB-0042|T|"))
    base = ["--config", str(path), "--bootstrap", kafka_bootstrap]
    assert main(["ingest", "file", str(data), *base]) == 1  # MSH-11 T is not taken
    assert json.loads(capsys.readouterr().out) == {"AR": 1, "events": 0}
    assert main(["ingest", "quarantine", "list", *base]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    entry = json.loads(line)
    assert entry["control_id"] == "RW-LAB-0042" and "MSH-11" in entry["reason"]
    assert "MRN" not in line and "Testpatient" not in line
    assert main(["ingest", "quarantine", "show", entry["id"], *base]) == 0
    assert "MRN0003003" in capsys.readouterr().out  # the operator asked for the raw message
    # the feed is allowed test messages now: the replay goes through and leaves the quarantine
    path.write_text(
        path.read_text().replace(
            "time_zone: America/Chicago", "time_zone: America/Chicago\n    processing_ids: [P, T]"
        )
    )
    assert main(["ingest", "quarantine", "replay", entry["id"], *base]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert (replayed["ack"], replayed["events"]) == ("AA", 5)
    assert main(["ingest", "quarantine", "list", *base]) == 0
    assert capsys.readouterr().out == ""
    assert len(asyncio.run(topic_values(kafka_bootstrap, f"{prefix}labs.v1", 5))) == 5


# ---------------------------------------------------------------------------- rough edges


def test_file_command_without_a_config_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RW_INGEST_CONFIG", raising=False)
    data = tmp_path / "one.hl7"
    data.write_bytes(s.tumour_markers())
    assert main(["ingest", "file", str(data)]) == 2
    err = capsys.readouterr().err
    assert "--config" in err and "RW_INGEST_CONFIG" in err and "Traceback" not in err


def test_an_empty_file_is_said_to_be_empty_not_quarantined(
    config: tuple[Path, IngestConfig], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.hl7"
    empty.write_bytes(b"\xef\xbb\xbf\r\n")
    assert main(["ingest", "file", str(empty), "--config", str(config[0])]) == 1
    err = capsys.readouterr().err
    assert "is empty" in err and "quarantined as -" not in err
    assert main(["ingest", "quarantine", "list", "--config", str(config[0])]) == 0
    assert capsys.readouterr().out == ""


def test_a_file_that_is_not_hl7_is_said_so_not_quarantined(
    config: tuple[Path, IngestConfig], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "notes.txt"
    data.write_bytes(b"Patient called, results to follow\r\n")
    assert main(["ingest", "file", str(data), "--config", str(config[0])]) == 1
    out, err = capsys.readouterr()
    assert out == "" and f"{data} is not HL7 v2" in err
    assert main(["ingest", "quarantine", "list", "--config", str(config[0])]) == 0
    assert capsys.readouterr().out == ""


def test_a_replay_refused_again_stays_one_entry(
    kafka_bootstrap: str,
    prefix: str,
    config: tuple[Path, IngestConfig],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RW_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("RW_PARTITIONS", "2")
    data = tmp_path / "test-feed.hl7"
    data.write_bytes(s.tumour_markers().replace(b"|RW-LAB-0042|P|", b"|RW-LAB-0042|T|"))
    base = ["--config", str(config[0]), "--bootstrap", kafka_bootstrap]
    assert main(["ingest", "file", str(data), *base]) == 1
    capsys.readouterr()
    assert main(["ingest", "quarantine", "list", *base]) == 0
    (before,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["ingest", "quarantine", "replay", before["id"], *base]) == 1  # not fixed yet
    assert json.loads(capsys.readouterr().out)["ack"] == "AR"
    assert main(["ingest", "quarantine", "list", *base]) == 0
    after = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert after == [before]


def test_a_fhir_entry_replays_through_its_feed_once_its_patient_is_known(
    kafka_bootstrap: str,
    prefix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fhir_samples as f

    from ingest.fhir_intake import FhirIntake
    from ingest.sink import MemoryEventSink

    monkeypatch.setenv("RW_TEST_PSEUDONYM_KEY", "k" * 40)
    monkeypatch.setenv("RW_TEST_QUARANTINE_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("RW_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("RW_PARTITIONS", "2")
    path = tmp_path / "ingest.yaml"
    text = (s.CONFIG + f.CONFIG_FEED).replace("@QDIR@", str(tmp_path / "q"))
    path.write_text(text.replace("@LEDGER@", str(tmp_path / "ledger.sqlite3")))
    cfg = load_config(path)
    ledger = SqliteLedger(cfg.ledger)
    store = QuarantineStore.from_settings(cfg.quarantine)
    fhir = FhirIntake(cfg, MemoryEventSink(), ledger, store)
    refused = asyncio.run(fhir.accept("EPIC", f.PSA))  # its subject is not known yet
    assert refused.failed and "not known" in refused.failed[0].reason
    asyncio.run(fhir.accept("EPIC", f.PATIENT))
    ledger.close()
    (entry,) = store.entries()
    assert entry.sender == "fhir:EPIC"
    base = ["--config", str(path), "--bootstrap", kafka_bootstrap]
    assert main(["ingest", "quarantine", "replay", entry.id, *base]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 1
    assert store.entries() == []
    (lab,) = asyncio.run(topic_values(kafka_bootstrap, f"{prefix}labs.v1", 1))
    assert lab["loinc"] == "2857-1"
