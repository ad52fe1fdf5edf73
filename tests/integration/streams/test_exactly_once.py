"""RW_PROCESSING_GUARANTEE=exactly_once on Apache Kafka: SIGKILL the worker mid-stream and no
reminder appears twice for a read_committed consumer; tansu is refused in words."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from models.outputs import Reminder, parse_output
from models.protocols import Catalog
from models.state import PatientState
from streams.rebuild import read_live, rebuild
from streams.settings import StreamsSettings
from streams.ticker import TickPublisher
from streams.topics import TopicNames, create_topics
from tests.integration.brokers import Broker
from tests.integration.streams.conftest import collect, produce
from tests.integration.streams.test_restart import (
    PATIENTS,
    TICKS,
    Workers,
    uninterrupted,
)
from tests.unit.streams.conftest import treated

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def reminder_copies(bootstrap: str, topic: str, isolation: str) -> Counter[str]:
    """How often each reminder id is on the topic, for a consumer of that isolation level."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation,
    )
    await consumer.start()
    copies: Counter[str] = Counter()
    try:
        quiet = 0
        while quiet < 6:  # 3 s without a record: the end (the workers are stopped by then)
            batch = await consumer.getmany(timeout_ms=500)
            quiet = 0 if batch else quiet + 1
            for records in batch.values():
                for record in records:
                    output = parse_output(record.value)
                    if isinstance(output, Reminder):
                        copies[output.reminder_id] += 1
    finally:
        await consumer.stop()
    return copies


async def wait_for_committed(settings: StreamsSettings, want: dict[str, PatientState]) -> None:
    """Until the committed changelog (read_committed under exactly_once) holds `want`."""
    live: dict[str, PatientState] = {}
    for _ in range(120):
        live = await read_live(settings, "changelog")
        if all(live.get(pid) == state for pid, state in want.items()):
            return
        await asyncio.sleep(0.5)
    wrong = [pid for pid, state in want.items() if live.get(pid) != state]
    pytest.fail(f"{len(wrong)} of {len(want)} patients differ in the committed changelog")


@pytest.mark.parametrize("broker", ["kafka"], indirect=True)
async def test_sigkill_under_exactly_once_repeats_no_reminder(
    settings: StreamsSettings, catalog: Catalog, protocols_dir: Path, tmp_path: Path, broker: Broker
) -> None:
    settings = settings.model_copy(update={"processing_guarantee": "exactly_once"})
    names = TopicNames(settings.topic_prefix)
    want_states, want_ids = await uninterrupted(catalog)
    await create_topics(settings)
    workers = Workers(settings, protocols_dir, tmp_path, broker)
    workers.env["RW_PROCESSING_GUARANTEE"] = "exactly_once"
    try:
        workers.start()
        events = [(names.patients, pid, raw) for pid in PATIENTS for raw in treated(pid)]
        await produce(settings.kafka_bootstrap, events[: len(events) // 2])
        await collect(settings.kafka_bootstrap, names.patient_state, lambda rs: len(rs) >= 60, 90)
        await workers.kill_latest()  # mid-stream, an open transaction with it
        workers.start()
        await produce(settings.kafka_bootstrap, events[len(events) // 2 :])
        # Every event folded and committed before the first tick, as in the restart test: a
        # tick settles the patients its partition has folded so far.
        await wait_for_committed(
            settings, {p: s._replace(emitted=()) for p, s in want_states.items()}
        )
        async with TickPublisher.from_settings(settings) as publisher:
            for now in TICKS[:4]:
                await publisher.publish(now)
            # The first reminder is readable uncommitted as soon as it is sent, before its
            # transaction commits (every 2.8 s): the kill comes inside that transaction.
            await collect(settings.kafka_bootstrap, names.reminders, lambda rs: len(rs) > 0, 90)
            await workers.kill_latest()
            workers.start()
            for now in TICKS[4:]:
                await publisher.publish(now)

        async def all_committed() -> Counter[str]:
            for _ in range(60):
                copies = await reminder_copies(
                    settings.kafka_bootstrap, names.reminders, "read_committed"
                )
                if want_ids <= copies.keys():
                    return copies
                await asyncio.sleep(1)
            pytest.fail(f"{len(want_ids - copies.keys())} of {len(want_ids)} never committed")

        committed = await all_committed()
        await wait_for_committed(settings, want_states)
    finally:
        workers.stop_all()
    uncommitted = await reminder_copies(
        settings.kafka_bootstrap, names.reminders, "read_uncommitted"
    )
    twice = {rid: n for rid, n in committed.items() if n > 1}
    print(
        f"exactly_once: {len(want_ids)} reminders; read_committed {sum(committed.values())} "
        f"records, {len(twice)} ids twice; read_uncommitted {sum(uncommitted.values())} records "
        f"(aborted copies included)"
    )  # -s shows it
    assert set(committed) == want_ids  # nothing lost, nothing under another id
    assert not twice, twice
    report = await rebuild(settings)  # reads the changelog read_committed under exactly_once
    assert report.ok, report


def test_exactly_once_is_refused_on_tansu(tansu_bootstrap: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RW_KAFKA_BOOTSTRAP": tansu_bootstrap,
        "RW_PROCESSING_GUARANTEE": "exactly_once",
        "RW_DATA_DIR": str(tmp_path),
        "RW_APP_ID": "eos-refused",
    }
    done = subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("worker not started: RW_PROCESSING_GUARANTEE=exactly_once needs")
    assert "RW_PROCESSING_GUARANTEE=at_least_once" in last
    assert "Traceback" not in done.stderr
