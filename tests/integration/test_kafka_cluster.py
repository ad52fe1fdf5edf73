"""Apache Kafka only: topic configurations as the broker reports them, and a broker failover
on three brokers (replication factor 3, min.insync.replicas=2, producers with acks=all)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import text

from models.outputs import Reminder, parse_output
from models.protocols import Catalog
from models.state import load_state
from notifier.checkins import FakeCheckinSink
from notifier.clock import FakeClock
from notifier.database import upgrade_schema
from notifier.recipients import Channel
from notifier.service import NotifierService
from notifier.sinks import HttpSmsSink, SmtpSink, free_port
from streams.codecs import encode_tick
from streams.settings import StreamsSettings
from streams.ticker import TickPublisher
from streams.topics import TopicNames, changelog_topics, create_topics, topic_plan
from tests.integration.brokers import require_apache_kafka
from tests.integration.notifier.notifier_kit import enrol, make_settings
from tests.integration.streams.conftest import collect, produce, reminder_copies
from tests.kafka.broker import KafkaCluster, leader_of, replicas, topic_configs
from tests.unit.streams.conftest import PROTOCOL, T0, treated, treated_in_memory

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PATIENTS = [f"f{n:03d}" for n in range(150)]
TICKS = [T0 + timedelta(days=d) for d in (70, 130, 200, 300, 400, 520, 640, 800)]
KILL_AFTER = 3  # ticks published before the broker is killed; the rest go out during failover
BROKER_DOWN = 45.0  # seconds the killed broker stays down at most


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_texts({"test-breast.yaml": PROTOCOL})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    require_apache_kafka()
    with KafkaCluster(tmp_path_factory.mktemp("kafka-cluster"), size=3) as running:
        yield running


def create_topics_py(settings: StreamsSettings, replication: int) -> dict:
    """deploy/create_topics.py, as compose's `topics` service and the k8s Job run it."""
    env = {
        **os.environ,
        "RW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "RW_TOPIC_PREFIX": settings.topic_prefix,
        "RW_APP_ID": settings.app_id,
        "RW_PARTITIONS": str(settings.partitions),
        "TOPIC_REPLICATION_FACTOR": str(replication),
    }
    done = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "create_topics.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}


def check_configs(found: dict[str, dict[str, str]], settings: StreamsSettings) -> None:
    """What topic_plan asks for is what the broker has; changelogs and snapshots compacted."""
    _, wanted = topic_plan(settings)
    for topic, configs in wanted.items():
        for key, value in configs.items():
            assert found[topic][key] == value, (topic, key, found[topic][key])
    names = TopicNames(settings.topic_prefix)
    for topic in (*changelog_topics(settings.app_id), names.patient_state):
        assert found[topic]["cleanup.policy"] == "compact", topic
    for topic in names.events:
        assert found[topic]["cleanup.policy"] == "delete", topic  # never compacted away


def check_retention(found: dict[str, dict[str, str]], settings: StreamsSettings) -> None:
    for topic in TopicNames(settings.topic_prefix).events:
        assert found[topic]["retention.ms"] == "-1", (topic, found[topic]["retention.ms"])


async def test_topics_created_by_the_worker_have_their_configs_on_kafka(
    apache_kafka: KafkaCluster, tmp_path: Path
) -> None:
    settings = StreamsSettings(
        kafka_bootstrap=apache_kafka.bootstrap,
        topic_prefix="cfg1.",
        app_id="cfg1-streams",
        partitions=3,
        data_dir=tmp_path,
    )
    await create_topics(settings)
    counts, _ = topic_plan(settings)
    found = await topic_configs(settings.kafka_bootstrap, sorted(counts))
    check_configs(found, settings)
    layout = await replicas(settings.kafka_bootstrap, sorted(counts))
    assert {topic: len(parts) for topic, parts in layout.items()} == counts


async def test_source_topics_keep_every_record_on_kafka(
    apache_kafka: KafkaCluster, tmp_path: Path
) -> None:
    settings = StreamsSettings(
        kafka_bootstrap=apache_kafka.bootstrap,
        topic_prefix="cfg2.",
        app_id="cfg2-streams",
        partitions=3,
        data_dir=tmp_path,
    )
    await create_topics(settings)
    found = await topic_configs(settings.kafka_bootstrap, list(TopicNames("cfg2.").events))
    check_retention(found, settings)


def cluster_settings(cluster: KafkaCluster, tmp_path: Path, prefix: str) -> StreamsSettings:
    return StreamsSettings(
        kafka_bootstrap=cluster.bootstrap,
        topic_prefix=f"{prefix}.",
        app_id=f"{prefix}-streams",
        partitions=4,
        data_dir=tmp_path / "streams",
    )


async def test_create_topics_py_on_three_brokers(cluster: KafkaCluster, tmp_path: Path) -> None:
    settings = cluster_settings(cluster, tmp_path, "cfg3")
    create_topics_py(settings, replication=3)
    counts, _ = topic_plan(settings)
    found = await topic_configs(settings.kafka_bootstrap, sorted(counts))
    check_configs(found, settings)
    assert {found[t]["min.insync.replicas"] for t in counts} == {"2"}
    layout = await replicas(settings.kafka_bootstrap, sorted(counts))
    assert {t: len(p) for t, p in layout.items()} == counts
    assert {r for parts in layout.values() for r in parts} == {(3, 3)}


async def uninterrupted(catalog: Catalog) -> dict[str, datetime]:
    """Every reminder of an uninterrupted run, with the tick that emits it."""
    processor, _patients, sink = await treated_in_memory(catalog, PATIENTS)
    names = processor.names
    emitted: dict[str, datetime] = {}
    for now in TICKS:
        before = len(sink.on(names.reminders))
        await processor.handle(encode_tick(now), topic=names.ticks, partition=0, offset=0)
        for record in sink.on(names.reminders)[before:]:
            output = parse_output(record.value)
            if isinstance(output, Reminder):
                emitted[output.reminder_id] = now
    return emitted


class Timeline:
    """When each reminder id was first seen on the topic (monotonic seconds), and how often."""

    def __init__(self) -> None:
        self.first_seen: dict[str, float] = {}
        self.copies: Counter[str] = Counter()
        self.consumer: AIOKafkaConsumer | None = None  # the reader, for a dump when it stalls


async def watch_reminders(bootstrap: str, topic: str, seen: Timeline, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    seen.consumer = consumer
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    output = parse_output(record.value)
                    if isinstance(output, Reminder):
                        seen.copies[output.reminder_id] += 1
                        seen.first_seen.setdefault(output.reminder_id, now)
    finally:
        await consumer.stop()


@pytest.fixture
async def notifier(cluster: KafkaCluster, tmp_path: Path) -> AsyncIterator[NotifierService]:
    url = f"sqlite:///{tmp_path / 'notifier.db'}"
    upgrade_schema(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiosmtpd start-up on 3.11
        smtp = SmtpSink().__enter__()
    sms = HttpSmsSink().__enter__()
    settings = make_settings(
        url,
        smtp,
        sms,
        kafka_bootstrap=cluster.bootstrap,
        topic_prefix="fo.",
        consumer_group="fo-notifier",
        kafka_session_timeout_ms=6000,
        kafka_rebalance_timeout_ms=3000,
        kafka_heartbeat_interval_ms=500,
        http_port=free_port(),
        dispatch_interval_seconds=0.1,
    )
    clock = FakeClock(datetime(2027, 3, 10, 15, 0, tzinfo=UTC))  # 11:00 in New York
    service = NotifierService(settings, clock, checkins=FakeCheckinSink())
    service.smtp = smtp  # type: ignore[attr-defined]
    for pid in PATIENTS:
        enrol(service.recipients, clock(), pid, email=f"{pid}@patmail.test",
              order=(Channel.EMAIL, Channel.SMS))  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.create_task(service.run(stop))
    try:
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(running, return_exceptions=True), timeout=30)
        smtp.__exit__(None, None, None)
        sms.__exit__(None, None, None)


def reader_state(consumer: AIOKafkaConsumer | None) -> str:
    """The test reader's own view (positions, leaders, fetches in flight), for a stall."""
    if consumer is None:
        return "reader not started"
    subscription = consumer._subscription.subscription
    assignment = subscription.assignment if subscription is not None else None
    fetcher = consumer._fetcher
    lines = [
        f"fetch task done: {fetcher._fetch_task.done()}, in flight: {sorted(fetcher._in_flight)},"
        f" pending fetches: {len(fetcher._pending_tasks)}, assignment active: "
        f"{assignment is not None and assignment.active}"
    ]
    for tp in sorted(assignment.tps if assignment is not None else ()):
        state = assignment.state_value(tp)  # type: ignore[union-attr]
        leader = consumer._client.cluster.leader_for_partition(tp)
        lines.append(
            f"  {tp.topic}[{tp.partition}] leader {leader}"
            f" position {state.position if state.has_valid_position else None}"
            f" highwater {state.highwater} paused {state.paused}"
        )
    return "\n".join(lines)


def task_stacks() -> str:
    """Where every task of this test's event loop waits (the notifier's and the reader's)."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        print(f"task {task.get_name()}:", file=out)
        task.print_stack(limit=6, file=out)
    return out.getvalue()


def delivery_rows(service: NotifierService) -> list[tuple[str, str]]:
    with service.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT reminder_id, status FROM deliveries WHERE purpose = 'reminder'")
        )
        return [(r[0], r[1]) for r in rows]


async def first_time(check: object, deadline: float) -> float | None:
    """Poll `check()` until true (its monotonic time) or the deadline passes (None)."""
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.1)
    return time.monotonic()


async def wait_until(check: object, timeout: float, what: str) -> float:
    """Poll `check()` (sync) until true; the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.1)
    return time.monotonic()


# Runs wherever Apache Kafka can be started (CI=true: a missing Java or jars fail the cluster
# fixture). It was opt-in while its runs "stalled": the reference run had no reminders after
# the kill (see uninterrupted), not the worker, notifier or broker. docs/streams.md has runs.
async def test_a_broker_killed_mid_burst_loses_no_reminder(
    cluster: KafkaCluster, tmp_path: Path, catalog: Catalog, notifier: NotifierService
) -> None:
    settings = cluster_settings(cluster, tmp_path, "fo")
    names = TopicNames(settings.topic_prefix)
    want = await uninterrupted(catalog)
    create_topics_py(settings, replication=3)
    protocols = tmp_path / "protocols"
    protocols.mkdir()
    (protocols / "test-breast.yaml").write_text(PROTOCOL, encoding="utf-8")
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "RW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "RW_TOPIC_PREFIX": settings.topic_prefix,
        "RW_APP_ID": settings.app_id,
        "RW_PARTITIONS": str(settings.partitions),
        "RW_DATA_DIR": str(settings.data_dir),
        "RW_SIMULATED_TIME": "true",  # the test publishes ticks of simulated years
        "RW_LOGLEVEL": "info",
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker", "--protocols", str(protocols)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    seen = Timeline()
    stop_watch = asyncio.Event()
    watcher = asyncio.create_task(
        watch_reminders(settings.kafka_bootstrap, names.reminders, seen, stop_watch)
    )
    killed: int | None = None
    try:
        await produce(
            settings.kafka_bootstrap,
            [(names.patients, pid, raw) for pid in PATIENTS for raw in treated(pid)],
        )
        await collect(
            settings.kafka_bootstrap,
            names.patient_state,
            lambda rs: (
                len({r.key for r in rs if load_state(r.value).event_count == 3}) == len(PATIENTS)
            ),
            240,
        )
        early = {rid for rid, tick in want.items() if tick in TICKS[:KILL_AFTER]}
        late = set(want) - early
        # Without reminders due after the kill, "did the worker carry on" cannot be answered
        # (an unkeyed reference run once gave none, and every run looked like a stall).
        assert early and late, (len(early), len(late))
        async with TickPublisher.from_settings(settings) as ticks:
            for now in TICKS[:KILL_AFTER]:
                await ticks.publish(now)
            await wait_until(lambda: len(seen.first_seen) > 0, 60, "first reminders")
            # Mid-burst: reminders of the first ticks are still coming out and being sent.
            # The victim leads partition 0 of the patients changelog: the worker must move.
            killed = await leader_of(
                settings.kafka_bootstrap, changelog_topics(settings.app_id)[0], 0
            )
            on_topic_at_kill = len(seen.first_seen)
            recorded_at_kill = len(delivery_rows(notifier))
            cluster.kill(killed)
            killed_at = time.monotonic()

            async def publish_rest() -> float:
                for now in TICKS[KILL_AFTER:]:
                    await ticks.publish(now)
                return time.monotonic()

            publishing = asyncio.create_task(publish_rest())
            # The broker stays down BROKER_DOWN seconds: does the rest carry on with two?
            worker_back = await first_time(
                lambda: bool(late & seen.first_seen.keys()), killed_at + BROKER_DOWN
            )
            notifier_back = await first_time(
                lambda: bool(late & {rid for rid, _ in delivery_rows(notifier)}),
                killed_at + BROKER_DOWN,
            )
            if worker_back is None:
                worker.send_signal(signal.SIGUSR1)  # its tasks' stacks, into its log
                on_topic = await reminder_copies(
                    settings.kafka_bootstrap, names.reminders, quiet_polls=5
                )
                print(f"stalled: reader saw {len(seen.first_seen)} reminders, a fresh consumer "
                      f"{len(on_topic)} ({on_topic.total()} records)\n"
                      f"{reader_state(seen.consumer)}\n{task_stacks()}")  # fmt: skip
            restarted_at = time.monotonic()
            # In a thread: the notifier and the reader run on this loop and must not wait for
            # the broker's start-up (its heartbeats would stop and its group rebalance).
            await asyncio.to_thread(cluster.start_node, killed)
            published_at = await asyncio.wait_for(publishing, 180)
        if worker_back is None:
            worker_back = await wait_until(
                lambda: bool(late & seen.first_seen.keys()), 180, "worker after the broker died"
            )
        if notifier_back is None:
            notifier_back = await wait_until(
                lambda: bool(late & {rid for rid, _ in delivery_rows(notifier)}),
                180,
                "notifier after the broker died",
            )
        await wait_until(lambda: set(want) <= seen.first_seen.keys(), 180, "every reminder")
        rejoined = await wait_until_in_sync(cluster, settings)
        await wait_until(
            lambda: set(want) <= {rid for rid, _ in delivery_rows(notifier)}, 120, "recorded"
        )
        await wait_until(lambda: settled(notifier), 120, "deliveries settled")
        await asyncio.sleep(2)  # anything sent twice would arrive now
    finally:
        stop_watch.set()
        await watcher
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
        print(log.read_text(errors="replace")[-3000:])
        victim = cluster.nodes[killed - 1].process if killed is not None else None
        if killed is not None and victim is not None and victim.poll() is not None:
            cluster.start_node(killed)  # the next test of this module gets three brokers

    rows = delivery_rows(notifier)
    statuses = Counter(status for _, status in rows)
    recorded = {rid for rid, _ in rows}
    sent = {rid for rid, status in rows if status == "sent"}
    mails = notifier.smtp.count_by_recipient()  # type: ignore[attr-defined]
    patient_mails = sum(n for rcpt, n in mails.items() if rcpt.endswith("@patmail.test"))
    counts = {
        "broker_killed": killed,
        "reminders_expected": len(want),
        "emitted_before_kill": on_topic_at_kill,
        "recorded_by_notifier_before_kill": recorded_at_kill,
        "reminder_records_on_topic": sum(seen.copies.values()),
        "distinct_reminders_on_topic": len(seen.first_seen),
        "lost_on_topic": len(set(want) - seen.first_seen.keys()),
        "duplicated_on_topic": sum(n - 1 for n in seen.copies.values() if n > 1),
        "recorded_by_notifier": len(recorded),
        "lost_by_notifier": len(set(want) - recorded),
        "delivery_statuses": dict(statuses),
        "emails_to_patients": patient_mails,
        "delivered_twice": patient_mails - len(sent),
        "ticks_published_s_after_kill": round(published_at - killed_at, 1),
        "worker_continued_s_after_kill": round(worker_back - killed_at, 1),
        "notifier_continued_s_after_kill": round(notifier_back - killed_at, 1),
        "broker_restarted_s_after_kill": round(restarted_at - killed_at, 1),
        "broker_back_in_sync_s_after_restart": round(rejoined - restarted_at, 1),
    }
    print("failover:", json.dumps(counts))
    assert counts["lost_on_topic"] == 0 and counts["lost_by_notifier"] == 0, counts
    assert set(seen.first_seen) == set(want)  # no reminder under an id of its own
    assert counts["delivered_twice"] == 0, counts
    assert len(sent) == patient_mails


def settled(service: NotifierService) -> bool:
    """No delivery waits to be sent now (deferred ones wait for their own time)."""
    return not any(status in ("pending", "sending") for _, status in delivery_rows(service))


async def wait_until_in_sync(cluster: KafkaCluster, settings: StreamsSettings) -> float:
    counts, _ = topic_plan(settings)
    deadline = time.monotonic() + 120
    while True:
        layout = await replicas(settings.kafka_bootstrap, sorted(counts))
        if {r for parts in layout.values() for r in parts} == {(3, 3)}:
            return time.monotonic()
        assert time.monotonic() < deadline, f"replicas not back in sync: {layout}"
        await asyncio.sleep(0.5)
