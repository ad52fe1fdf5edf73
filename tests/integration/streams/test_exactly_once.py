"""RW_PROCESSING_GUARANTEE=exactly_once on Apache Kafka: SIGKILL the worker mid-stream and no
reminder appears twice for a read_committed consumer; tansu is refused in words."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from models.outputs import Reminder, parse_output
from models.protocols import Catalog
from models.state import PatientState
from streams.codecs import encode_tick
from streams.exactly_once import key_partition
from streams.rebuild import read_all, read_live, rebuild
from streams.settings import StreamsSettings
from streams.ticker import TickPublisher
from streams.topics import TopicNames, create_topics
from tests.integration.brokers import Broker
from tests.integration.streams.conftest import collect, produce, reminder_copies
from tests.integration.streams.test_restart import (
    PATIENTS,
    TICKS,
    Workers,
    uninterrupted,
)
from tests.unit.streams.conftest import treated, treated_in_memory

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def reminder_origins(catalog: Catalog) -> dict[str, tuple[int, str]]:
    """Each reminder of an uninterrupted run: the index in TICKS of the tick that sends it,
    and its patient (whose key gives the source partition, hence the transaction)."""
    processor, _, sink = await treated_in_memory(catalog, PATIENTS)
    names = processor.names
    origins: dict[str, tuple[int, str]] = {}
    for n, now in enumerate(TICKS):
        await processor.handle(encode_tick(now), topic=names.ticks, partition=0, offset=0)
        for record in sink.on(names.reminders):
            output = parse_output(record.value)
            if isinstance(output, Reminder):
                origins.setdefault(output.reminder_id, (n, output.patient_id))
    return origins


async def group_offsets(settings: StreamsSettings) -> dict[str, tuple[int, int]]:
    """Each input partition: (the worker group's committed offset or -1, its end offset)."""
    names = TopicNames(settings.topic_prefix)
    tps = [TopicPartition(t, p) for t in names.inputs for p in range(settings.partitions)]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await consumer.start()
        try:
            committed = await admin.list_consumer_group_offsets(settings.app_id)
            ends = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
    finally:
        await admin.close()
    return {
        f"{tp.topic}[{tp.partition}]": (committed[tp].offset if tp in committed else -1, ends[tp])
        for tp in tps
    }


def worker_story(logs: Path) -> list[str]:
    """The lines of the worker logs that tell what happened to ticks and transactions."""
    telling = ("tick ", "ransaction", "enced", "bort", "rash", "Seek", "Done reading", "rror")
    lines = []
    for log in sorted(logs.glob("worker-*.log")):
        lines.append(f"--- {log.name}")
        for line in log.read_text(errors="replace").splitlines():
            if any(word in line for word in telling):
                lines.append("  " + line[:300])
    return lines


async def explain_uncommitted(
    settings: StreamsSettings,
    missing: set[str],
    origins: dict[str, tuple[int, str]],
    logs: Path,
) -> str:
    """Where the reminders not yet committed come from (tick, partition), whether a
    read_uncommitted reader sees them, the dead letters and the group's offsets: enough to
    tell a lost tick from a slow one."""
    names = TopicNames(settings.topic_prefix)
    where = Counter(
        (origins[rid][0], key_partition(origins[rid][1].encode(), settings.partitions))
        for rid in missing
    )
    uncommitted = await reminder_copies(
        settings.kafka_bootstrap, names.reminders, "read_uncommitted"
    )
    letters = await read_all(settings.kafka_bootstrap, [names.deadletter])
    ticks = await read_all(settings.kafka_bootstrap, [names.ticks])
    lines = [
        f"by (tick index, source partition): {dict(sorted(where.items()))}",
        f"of them on a read_uncommitted reader: {len(missing & uncommitted.keys())}",
        f"ticks on the topic per partition: {dict(Counter(r.partition for r in ticks))}",
        f"group offsets (committed, end): {await group_offsets(settings)}",
        f"dead letters: {len(letters)}",
        *(f"  [{r.partition}]@{r.offset} {r.value[:300]!r}" for r in letters[:10]),
        *worker_story(logs),
    ]
    return "\n".join(lines)


async def wait_until_committed(
    settings: StreamsSettings,
    want_ids: set[str],
    origins: dict[str, tuple[int, str]],
    logs: Path,
    stall_seconds: float = 60.0,
) -> Counter[str]:
    """Read the reminders read_committed until every one of `want_ids` is there.

    It waits on progress, not on a fixed budget: a worker restarted under load may take long
    to recover its tables and commit, and that is slowness, not loss. It fails only when
    nothing moved for `stall_seconds` (no new committed reminder, no change in the group's
    committed offsets), and then says which reminders are missing and where they come from.
    """
    names = TopicNames(settings.topic_prefix)
    consumer = AIOKafkaConsumer(
        names.reminders,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    copies: Counter[str] = Counter()
    started = last_progress = last_offsets_check = time.monotonic()
    offsets = await group_offsets(settings)
    try:
        while not want_ids <= copies.keys():
            now = time.monotonic()
            if now - last_progress > stall_seconds:
                missing = want_ids - copies.keys()
                pytest.fail(
                    f"{len(missing)} of {len(want_ids)} reminders never committed: nothing "
                    f"moved for {stall_seconds:.0f} s ({now - started:.0f} s in all)\n"
                    + await explain_uncommitted(settings, missing, origins, logs)
                )
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    output = parse_output(record.value)
                    if isinstance(output, Reminder):
                        copies[output.reminder_id] += 1
                        last_progress = time.monotonic()
            if time.monotonic() - last_offsets_check > 3:
                last_offsets_check = time.monotonic()
                if (moved := await group_offsets(settings)) != offsets:
                    offsets, last_progress = moved, time.monotonic()
        # The whole topic, to count copies: commits may have trailed the last missing id.
        print(f"every reminder committed after {time.monotonic() - started:.1f} s")
    finally:
        await consumer.stop()
    return await reminder_copies(settings.kafka_bootstrap, names.reminders, "read_committed")


async def wait_for_committed(
    settings: StreamsSettings,
    want: dict[str, PatientState],
    logs: Path,
    stall_seconds: float = 60.0,
) -> None:
    """Until the committed changelog (read_committed under exactly_once) holds `want`.

    Like `wait_until_committed`, it waits on progress (the committed changelog or the group's
    offsets changing) and, when nothing moves for `stall_seconds`, says which patients differ,
    what a read_uncommitted reader sees of them and where the group's offsets are.
    """
    started = last_progress = time.monotonic()
    live: dict[str, PatientState] = {}
    offsets: dict[str, tuple[int, int]] = {}
    while True:
        seen = (live, offsets)
        live = await read_live(settings, "changelog")
        if all(live.get(pid) == state for pid, state in want.items()):
            return
        offsets = await group_offsets(settings)
        if (live, offsets) != seen:
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > stall_seconds:
            break
        await asyncio.sleep(1)
    wrong = [pid for pid, state in want.items() if live.get(pid) != state]
    uncommitted = await read_live(
        settings.model_copy(update={"processing_guarantee": "at_least_once"}), "changelog"
    )

    def events(states: dict[str, PatientState], pid: str) -> int | None:
        return states[pid].event_count if pid in states else None

    lines = [
        f"{len(wrong)} of {len(want)} patients differ in the committed changelog: nothing "
        f"moved for {stall_seconds:.0f} s ({time.monotonic() - started:.0f} s in all)",
        *(
            f"  {pid} source partition {key_partition(pid.encode(), settings.partitions)}: "
            f"events want {want[pid].event_count}, committed {events(live, pid)}, "
            f"read_uncommitted {events(uncommitted, pid)}; emitted want "
            f"{len(want[pid].emitted)}, committed "
            f"{len(live[pid].emitted) if pid in live else None}"
            for pid in wrong[:10]
        ),
        f"group offsets (committed, end): {offsets}",
        *worker_story(logs),
    ]
    pytest.fail("\n".join(lines))


@pytest.mark.parametrize("broker", ["kafka"], indirect=True)
async def test_sigkill_under_exactly_once_repeats_no_reminder(
    settings: StreamsSettings, catalog: Catalog, protocols_dir: Path, tmp_path: Path, broker: Broker
) -> None:
    settings = settings.model_copy(update={"processing_guarantee": "exactly_once"})
    names = TopicNames(settings.topic_prefix)
    want_states, want_ids = await uninterrupted(catalog)
    origins = await reminder_origins(catalog)
    assert origins.keys() == want_ids
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
            settings, {p: s._replace(emitted=()) for p, s in want_states.items()}, tmp_path
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

        committed = await wait_until_committed(settings, want_ids, origins, tmp_path)
        await wait_for_committed(settings, want_states, tmp_path)
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
