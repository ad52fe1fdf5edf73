"""SIGKILL the worker mid-stream, twice: the outcome equals an uninterrupted run and a rebuild."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from models.outputs import Reminder, parse_output
from models.protocols import Catalog
from models.state import PatientState, load_state
from streams.codecs import Stored, encode_tick
from streams.rebuild import changelog_key, read_all, rebuild
from streams.settings import StreamsSettings
from streams.ticker import TickPublisher
from streams.topics import TopicNames, changelog_topics, create_topics
from tests.integration.brokers import Broker, on_both_brokers
from tests.integration.streams.conftest import collect, produce
from tests.unit.streams.conftest import T0, treated, treated_in_memory

pytestmark = [pytest.mark.integration, pytest.mark.slow, on_both_brokers]

PATIENTS = [f"r{n:03d}" for n in range(120)]
TICKS = [T0 + timedelta(days=d) for d in (70, 130, 200, 300, 400, 520, 640, 800)]


async def uninterrupted(catalog: Catalog) -> tuple[dict[str, PatientState], set[str]]:
    """The same records through the same processor, in memory and never killed."""
    processor, patients, sink = await treated_in_memory(catalog, PATIENTS)
    names = processor.names
    for now in TICKS:
        await processor.handle(encode_tick(now), topic=names.ticks, partition=0, offset=0)
    states = {pid: load_state(Stored.decode(raw).state) for pid, raw in patients.items()}
    outputs = [parse_output(r.value) for r in sink.on(names.reminders)]
    return states, {o.reminder_id for o in outputs if isinstance(o, Reminder)}


class Workers:
    """`python -m streams worker` processes of one test; `stop_all` kills what is left."""

    def __init__(
        self, settings: StreamsSettings, protocols_dir: Path, logs: Path, broker: Broker
    ) -> None:
        self.broker = broker
        self.env = {
            **os.environ,
            "RW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "RW_TOPIC_PREFIX": settings.topic_prefix,
            "RW_APP_ID": settings.app_id,
            "RW_PARTITIONS": str(settings.partitions),
            "RW_DATA_DIR": str(settings.data_dir),
            # tansu only: its ListOffsets(latest) under-reports; off on Apache Kafka
            "RW_CONFIRM_CHANGELOG_ENDS": str(settings.confirm_changelog_ends).lower(),
            "RW_SIMULATED_TIME": "true",
            "RW_LOGLEVEL": "info",
            "PYTHONUNBUFFERED": "1",  # a SIGKILL must not take the last log lines with it
        }
        self.command = [
            sys.executable,
            "-m",
            "streams",
            "worker",
            "--protocols",
            str(protocols_dir),
        ]
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        with (self.logs / f"worker-{len(self.started)}.log").open("wb") as log:
            process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=log)
        self.started.append(process)

    async def kill_latest(self) -> None:
        process = self.started[-1]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        # Seen with tansu: a member replaced within its session timeout (6 s here) kept its
        # partitions in the next generation and no rebalance followed when it expired. Real
        # Kafka expires it and rebalances; waiting out the session keeps the test about us.
        if self.broker.tansu_quirks:
            await asyncio.sleep(7)

    def stop_all(self) -> None:
        for n, process in enumerate(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGUSR1)  # its tasks' stacks, into its log
                time.sleep(0.5)
                process.kill()
                process.wait(timeout=10)
            tail = (self.logs / f"worker-{n}.log").read_text(errors="replace")[-2000:]
            print(f"--- worker {n} (exit {process.returncode}) ---\n{tail}")  # shown on failure


@pytest.fixture
def workers(
    settings: StreamsSettings, protocols_dir: Path, tmp_path: Path, broker: Broker
) -> Iterator[Workers]:
    running = Workers(settings, protocols_dir, tmp_path, broker)
    try:
        yield running
    finally:
        running.stop_all()


async def live_states(settings: StreamsSettings) -> dict[str, PatientState]:
    records = await read_all(settings.kafka_bootstrap, changelog_topics(settings.app_id)[:1])
    latest = {changelog_key(r.key): r.value for r in records if r.key is not None}
    return {k: load_state(Stored.decode(v).state) for k, v in latest.items() if v is not None}


async def wait_for_states(settings: StreamsSettings, want: dict[str, PatientState]) -> None:
    """Poll the changelog until every patient's live state equals `want` (60 s at most)."""
    wrong: list[str] = []
    live: dict[str, PatientState] = {}
    for _ in range(120):
        live = await live_states(settings)
        wrong = [pid for pid, state in want.items() if live.get(pid) != state]
        if not wrong:
            return
        await asyncio.sleep(0.5)
    sample = live.get(wrong[0])
    await explain_patient(settings, wrong[0])
    pytest.fail(
        f"{len(wrong)} patients differ, e.g. {wrong[0]}: live events "
        f"{sample.event_count if sample else None} vs {want[wrong[0]].event_count}, "
        f"emitted {sample.emitted if sample else None} vs {want[wrong[0]].emitted}"
    )


async def explain_patient(settings: StreamsSettings, patient_id: str) -> None:
    """Print where one patient's records are: source events, changelog and snapshot versions,
    and how many dead letters there are (shown when the test fails)."""
    names = TopicNames(settings.topic_prefix)
    changelog = changelog_topics(settings.app_id)[0]
    topics = [names.patients, changelog, names.patient_state, names.deadletter]
    for record in await read_all(settings.kafka_bootstrap, topics):
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        if record.topic == names.deadletter:
            print(where, "dead letter", record.value[:300])
        elif record.key in (patient_id.encode(), f'"{patient_id}"'.encode()):
            if record.topic == names.patients:
                print(where, "event", record.value[:80])
            elif record.value is not None:
                raw = (
                    Stored.decode(record.value).state if record.topic == changelog else record.value
                )
                print(where, "state with events:", load_state(raw).event_count)


async def explain_missing(
    settings: StreamsSettings, want_states: dict[str, PatientState], want_ids: set[str]
) -> None:
    """Print which reminders never reached the topic, and what the live table holds for them."""
    names = TopicNames(settings.topic_prefix)
    records = await read_all(settings.kafka_bootstrap, [names.reminders])
    sent = {getattr(parse_output(r.value), "reminder_id", "") for r in records}
    live = await live_states(settings)
    missing = want_ids - sent
    print(f"{len(missing)} of {len(want_ids)} reminders missing; {len(records)} records read")
    for pid, want in want_states.items():
        lost = [entry for entry in want.emitted if entry[0] in missing]
        if lost:
            got = live.get(pid)
            print(
                pid,
                "lost",
                len(lost),
                "live emitted",
                None if got is None else len(got.emitted),
                "want",
                len(want.emitted),
                "live events",
                None if got is None else got.event_count,
            )


async def test_sigkill_mid_stream_loses_nothing(
    settings: StreamsSettings, catalog: Catalog, workers: Workers
) -> None:
    names = TopicNames(settings.topic_prefix)
    want_states, want_ids = await uninterrupted(catalog)
    await create_topics(settings)
    workers.start()
    events = [(names.patients, pid, raw) for pid in PATIENTS for raw in treated(pid)]
    await produce(settings.kafka_bootstrap, events[: len(events) // 2])
    await collect(settings.kafka_bootstrap, names.patient_state, lambda rs: len(rs) >= 60, 60)
    await workers.kill_latest()  # mid-stream: half the events produced, some of them processed
    workers.start()
    await produce(settings.kafka_bootstrap, events[len(events) // 2 :])
    await wait_for_states(settings, {pid: s._replace(emitted=()) for pid, s in want_states.items()})

    async with TickPublisher.from_settings(settings) as publisher:
        for now in TICKS[:4]:
            await publisher.publish(now)
        await collect(settings.kafka_bootstrap, names.reminders, lambda rs: len(rs) > 0, 60)
        await workers.kill_latest()  # while it settles the first ticks
        workers.start()
        for now in TICKS[4:]:
            await publisher.publish(now)

    def all_sent(records: list) -> bool:
        return want_ids <= {getattr(parse_output(r.value), "reminder_id", "") for r in records}

    try:
        records = await collect(settings.kafka_bootstrap, names.reminders, all_sent, 90)
    except BaseException:
        await explain_missing(settings, want_states, want_ids)
        raise
    await wait_for_states(settings, want_states)
    sent = [o.reminder_id for r in records if isinstance(o := parse_output(r.value), Reminder)]
    print(f"reminders: {len(set(sent) & want_ids)} of {len(want_ids)} on the topic")  # -s shows it
    assert set(sent) == want_ids  # nothing lost, and no reminder under another id
    report = await rebuild(settings)
    assert report.ok, report
