"""`remission-watch ingest mllp` and `ingest fhir` as an operator runs them: separate processes on
the embedded broker, a message in, an ACK (or a 2xx) out, events on Kafka, SIGTERM, exit 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import fhir_samples as f
import hl7_samples as s
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from cryptography.fernet import Fernet

from streams.settings import StreamsSettings
from streams.topics import create_topics

pytestmark = pytest.mark.integration
TOKEN = "command-test-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def command_env(tmp_path: Path, kafka_bootstrap: str) -> dict[str, str]:
    prefix = f"cmd{os.getpid()}x{time.monotonic_ns()}."
    asyncio.run(create_topics(StreamsSettings(kafka_bootstrap=kafka_bootstrap,
                                              topic_prefix=prefix, partitions=2)))  # fmt: skip
    config = tmp_path / "ingest.yaml"
    text = (s.CONFIG + f.CONFIG_FEED).replace("@QDIR@", str(tmp_path / "q"))
    config.write_text(text.replace("@LEDGER@", str(tmp_path / "ledger.sqlite3")))
    return {
        **os.environ,
        "RW_TEST_PSEUDONYM_KEY": "k" * 40,
        "RW_TEST_QUARANTINE_KEY": Fernet.generate_key().decode(),
        "RW_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "RW_TOPIC_PREFIX": prefix,
        "RW_PARTITIONS": "2",
        "RW_INGEST_CONFIG": str(config),
        "RW_FHIR_TOKEN": TOKEN,
    }


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:  # a failed test must not leave a listener behind
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)  # and its pipes closed


def start(
    env: dict[str, str], started: list[subprocess.Popen[str]], *args: str
) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "remission_watch.cli", "ingest", *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    started.append(process)
    return process


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("the command did not stop within 30 s of SIGTERM") from None
    return process.returncode, err


async def labs_on_kafka(bootstrap: str, topic: str, at_least: int) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    values: list[dict[str, object]] = []
    try:
        async with asyncio.timeout(30):
            while len(values) < at_least:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    values += [json.loads(r.value or b"{}") for r in records]
    finally:
        await consumer.stop()
    return values


def test_mllp_command_acks_after_kafka_and_stops_cleanly_on_sigterm(
    command_env: dict[str, str], started: list[subprocess.Popen[str]]
) -> None:
    process = start(command_env, started, "mllp", "--port", "0")
    assert process.stdout is not None
    line = process.stdout.readline()  # "MLLP listening on 127.0.0.1:PORT"
    assert line.startswith("MLLP listening on "), (line, process.stderr and process.stderr.read())
    host, port = line.split()[-1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as client:
        client.sendall(s.frame_of(s.tumour_markers()))
        ack = b""
        while not ack.endswith(b"\x1c\r"):
            chunk = client.recv(4096)
            assert chunk, "the listener closed the connection without an ACK"
            ack += chunk
    assert ack[1:-2].decode("latin-1").split("\r")[1] == "MSA|AA|RW-LAB-0042"
    topic = f"{command_env['RW_TOPIC_PREFIX']}labs.v1"
    labs = asyncio.run(labs_on_kafka(command_env["RW_KAFKA_BOOTSTRAP"], topic, 5))
    assert {v["type"] for v in labs} == {"lab.resulted"}
    code, err = stop(process)
    assert code == 0, err[-2000:]
    assert "Traceback" not in err


def test_fhir_command_accepts_a_bundle_and_stops_cleanly_on_sigterm(
    command_env: dict[str, str], started: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    process = start(command_env, started, "fhir", "--listen", f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.stderr and process.stderr.read()
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the FHIR endpoint did not come up in 60 s"
        time.sleep(0.1)
    response = httpx.post(
        f"{base}/fhir/EPIC",
        json=f.bundle("batch", f.PATIENT, f.PSA),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses == ["200 OK", "200 OK"]
    topic = f"{command_env['RW_TOPIC_PREFIX']}labs.v1"
    (lab,) = asyncio.run(labs_on_kafka(command_env["RW_KAFKA_BOOTSTRAP"], topic, 1))
    assert (lab["type"], lab["loinc"]) == ("lab.resulted", "2857-1")
    code, err = stop(process)
    assert code == 0, err[-2000:]
    assert "Traceback" not in err
