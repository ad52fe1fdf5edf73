"""Benchmark of the patient agent on one broker; prints its figures as JSON.

1. Throughput: the same realistic event mix is produced into two sets of topics (same names
   but for the prefix, same partition count); the patient agent and a bare Faust agent (one
   table update per event) each consume theirs, started in this process. The rate counts
   from the first event processed to the last, so group join and recovery are excluded.
   Patient and bare alternate for `--rounds` rounds; the ratio is the median of the rounds'.
   The bare agent gets its records as Faust delivers them (a task set per record); the
   patient agent through `streams.intake` (direct delivery, bulk batches). Each round also
   runs a no-op agent with the patient agent's app and intake (the ceiling of any patient
   agent), the bare agent writing through `FaustTableStore`, and the bare agent with the
   patient agent's delivery (how much of the ratio that delivery is).
2. Tick latency: P patients are loaded through the patient agent (enrolment, treatment start
   and completion, produced upstream-style); cohorts of `due_fraction * P` finish treatment a
   day apart, so each tick finds exactly one cohort due; each is produced once the worker has
   written the previous one (an idle worker, as hourly ticks find it). A consumer already
   positioned on the reminders topic, in a process of its own as the notifier is, measures
   per reminder the time from "tick produced" (before the tick is sent to every partition)
   to the moment it receives that reminder. (Until 2026-11 that consumer ran in the worker's
   process and event loop, so the worker's latency included decoding every reminder for the
   bench, and each tick followed the previous one at once, while the worker was still
   writing it.)

3. Raw consume: the same event mix read back by a plain aiokafka consumer (no group, no
   Faust, no decoding): what the client and broker give at most on this machine.
4. `--guarantees` (Apache Kafka only): the patient agent under at_least_once and under
   exactly_once (RW_PROCESSING_GUARANTEE), alternated on fresh topics, and how long after the
   last event the group's offsets (the transactions) were committed.

`--brokers tansu,kafka` runs everything on the embedded tansu broker and then on an Apache
Kafka 4.x node (KRaft, one node, from the jars `tests/kafka/pom.xml` resolves) in one run,
and adds the Kafka-to-tansu ratios.

Run: `python bench/streams_bench.py [--events N] [--rounds R] [--patients P] [--ticks T]
[--bootstrap H:P | --brokers tansu,kafka] [--guarantees]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.clocks import settle
from models.events import parse_event
from models.outputs import Reminder, parse_output
from models.protocols import Catalog
from models.state import evolve
from streams.app import adjust_transport, create_app, faust_settings
from streams.embedded import EmbeddedBroker
from streams.intake import batches
from streams.metrics import StreamsMetrics
from streams.processor import FaustTableStore, PatientProcessor
from streams.settings import StreamsSettings
from streams.ticker import TickPublisher
from streams.topics import TopicNames, create_topics

PROTOCOL = """
id: bench-breast
version: "1"
guideline: Benchmark schedule
source: Benchmark
published: 2024-01-01
reviewed: 2024-01-01
provisional: true
applies_to:
  site: breast
priority: 10
anchor: treatment_end
items:
  - id: history_physical
    label: Clinic visit
    category: visit
    source: Benchmark
    date: 2024-01-01
    satisfied_by:
      items: [history_physical]
    phases:
      - from_years: 0
        to_years: null
        every_months: [3, 6]
"""

T0 = datetime(2024, 1, 1, tzinfo=UTC)
Record = tuple[str, str, bytes]  # topic, key, value


def _event(pid: str, eid: str, kind: str, at: datetime, **fields: Any) -> bytes:
    body = {
        "event_id": eid,
        "patient_id": pid,
        "occurred_at": at.isoformat(),
        "recorded_at": at.isoformat(),
        "source": "bench",
        "type": kind,
        **fields,
    }
    return json.dumps(body).encode()


def onboarding(names: TopicNames, pid: str, done: datetime) -> list[Record]:
    """Enrolment, surgery started and completed on `done` (the surveillance anchor)."""
    start = done - timedelta(days=30)
    return [
        (names.patients, pid, _event(pid, f"{pid}-e", "patient.enrolled", start, site="breast")),
        (
            names.patients,
            pid,
            _event(
                pid, f"{pid}-ts", "treatment.started", start, treatment_id="t", modality="surgery"
            ),
        ),
        (
            names.patients,
            pid,
            _event(
                pid, f"{pid}-tc", "treatment.completed", done, treatment_id="t", modality="surgery"
            ),
        ),
    ]


def follow_up(names: TopicNames, pid: str, done: datetime, n: int) -> list[Record]:
    """A year of surveillance facts: labs, scans, assessments, check-ins, a visit."""
    at = done + timedelta(days=20 + n % 60)
    lesion = {"lesion_id": "L1", "organ": "liver", "is_node": False}
    recist = {"system": "recist", "targets": [{**lesion, "diameter_mm": 24.0}], "baseline": True}
    later = {"system": "recist", "targets": [{**lesion, "diameter_mm": 0.0}]}
    scan = {"order_id": "s1", "item": "mammogram"}
    cea = {"loinc": "2039-6", "unit": "ng/mL"}

    def on(topic: str, suffix: str, kind: str, days: int, **fields: Any) -> Record:
        return topic, pid, _event(pid, f"{pid}-{suffix}", kind, at + timedelta(days), **fields)

    return [
        on(names.labs, "l1", "lab.resulted", 0, order_id="o1", value=2.1, **cea),
        on(names.scans, "s1", "scan.scheduled", 0, scheduled_for=(at + timedelta(9)).isoformat(),
           **scan),
        on(names.scans, "s2", "scan.completed", 9, **scan),
        on(names.scans, "s3", "scan.resulted", 10, finding="no_evidence_of_disease", **scan),
        on(names.assessments, "a1", "response.assessed", 0, assessment=recist),
        on(names.assessments, "a2", "response.assessed", 90, assessment=later),
        on(names.checkins, "c1", "checkin.answered", 5, score=3),
        on(names.patients, "v1", "visit.completed", 95),
        on(names.labs, "l2", "lab.resulted", 180, order_id="o2", value=1.9, **cea),
    ]  # fmt: skip


def event_mix(names: TopicNames, count: int) -> tuple[list[Record], list[Record]]:
    """About `count` records of whole patient histories: (onboarding, follow-up).

    Onboarding (enrolment, treatment start and end) is 3 of every 12 records. The two parts
    are consumed one after the other: the agent reads its topics concurrently, and a lab read
    before its patient's enrolment is (rightly) dead-lettered, which is not what we measure.
    """
    first: list[Record] = []
    then: list[Record] = []
    n = 0
    while len(first) + len(then) < count:
        pid = f"b{n:07d}"
        done = T0 + timedelta(days=n % 90)
        first += onboarding(names, pid, done)
        then += follow_up(names, pid, done, n)
        n += 1
    return first, then


async def produce(bootstrap: str, records: list[Record]) -> None:
    """Fast, batched producer (upstream-style); keyed by patient for co-partitioning."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    try:
        pending = []
        for topic, key, value in records:
            pending.append(await producer.send(topic, value, key=key.encode()))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def measure(
    app: faust.App,
    bootstrap: str,
    done: Callable[[], int],
    parts: list[list[Record]],
    committed: StreamsSettings | None = None,
) -> float:
    """Events per second over the parts, each produced once the previous one is processed;
    a part's clock runs from its first processed event to its last (join time excluded).
    With `committed`, also how long the group took to commit the offsets after the last
    event was processed (COMMIT_AFTER_LAST)."""
    await app.start()
    try:
        busy, cpu, counted, target = 0.0, 0.0, 0, 0
        for part in parts:
            await produce(bootstrap, part)
            target += len(part)
            deadline = time.monotonic() + 600
            while done() == counted:
                await _tick_or_fail(deadline)
            before, started, cpu_started = done(), time.perf_counter(), time.process_time()
            while done() < target:
                await _tick_or_fail(deadline)
            busy += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
            counted += done() - before
        CPU_PER_EVENT.append(cpu / counted)
        if committed is not None:
            last = time.perf_counter()
            await _offsets_committed(committed)
            COMMIT_AFTER_LAST.append(time.perf_counter() - last)
        return counted / busy
    finally:
        await app.stop()


CPU_PER_EVENT: list[float] = []  # this process's CPU seconds per event, one per measure()
TICK_CPU: list[float] = []  # this process's CPU seconds per tick, one per tick
COMMIT_AFTER_LAST: list[float] = []  # seconds from last event processed to offsets committed


async def _offsets_committed(settings: StreamsSettings, timeout: float = 120) -> None:
    """Wait until the app's group has committed every source partition to its end."""
    names = TopicNames(settings.topic_prefix)
    parts = [TopicPartition(t, p) for t in names.events for p in range(settings.partitions)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.app_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        ends = await consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout
        while True:
            behind = [
                tp for tp in parts if ends[tp] and (await consumer.committed(tp) or 0) < ends[tp]
            ]
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"offsets not committed in {timeout} s: {behind}")
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()


async def _tick_or_fail(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError("the agent did not process the events in time")
    await asyncio.sleep(0.002)


def bare_app(
    settings: StreamsSettings,
    counter: list[int],
    direct_writes: bool = False,
    direct_delivery: bool = False,
) -> faust.App:
    """The baseline: the same topics, one agent, one table update per event (`table[k] = v`;
    with `direct_writes`, through the patient agent's `FaustTableStore` instead). Records
    reach it as Faust delivers them, a task set per record; with `direct_delivery`, the
    patient agent's way (`streams.intake.DirectDelivery`)."""
    names = TopicNames(settings.topic_prefix)
    app = faust.App(settings.app_id, **faust_settings(settings))
    # the patient agent's transport fixes (fetch wait, complete flush), not its delivery
    adjust_transport(app, settings, direct_delivery=direct_delivery)
    table = app.Table("patients", key_type=str, value_type=bytes, partitions=settings.partitions)
    source = app.topic(*names.inputs, key_type=str, value_type=bytes)
    direct: FaustTableStore | None = None

    @app.agent(source, name="bare", concurrency=1)
    async def bare(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            if direct is None:
                table[event.key] = event.value
            else:  # the write path the patient agent uses, one write per event
                await direct.write(event.message.partition, event.key, event.value)
            counter[0] += 1

    direct = FaustTableStore(table) if direct_writes else None
    return app


def noop_app(settings: StreamsSettings, counter: list[int]) -> faust.App:
    """The ceiling: the patient agent's app, topics and intake (`streams.intake`), doing
    nothing with the records. No patient agent can be faster than this one; its ratio to the
    bare agent bounds `ratio_patient_to_bare`."""
    names = TopicNames(settings.topic_prefix)
    app = faust.App(settings.app_id, **faust_settings(settings))
    adjust_transport(app, settings)
    app.Table("patients", key_type=str, value_type=bytes, partitions=settings.partitions)
    source = app.topic(*names.inputs, key_type=bytes, value_type=bytes)

    @app.agent(source, name="noop", concurrency=1)
    async def noop(stream: faust.StreamT[bytes]) -> None:
        async for events in batches(stream, settings.batch_records, settings.batch_seconds):
            counter[0] += len(events)

    return app


async def throughput(
    bootstrap: str, events: int, partitions: int, catalog: Catalog, rounds: int
) -> dict:
    """Rounds of patient agent then bare agent, each on fresh topics; the machine is shared
    and noisy, so the ratio is taken per round (neighbours in time) and the median reported."""
    patient_rates: list[float] = []
    bare_rates: list[float] = []
    dead = 0
    direct_rates: list[float] = []
    noop_rates: list[float] = []
    delivery_rates: list[float] = []
    for r in range(rounds):
        rate, total, applied = await _patient_rate(bootstrap, events, partitions, catalog, r)
        patient_rates.append(rate)
        dead += total - applied
        bare_rates.append(await _bare_rate(bootstrap, events, partitions, r))
        direct_rates.append(await _bare_rate(bootstrap, events, partitions, r, direct=True))
        noop_rates.append(await _bare_rate(bootstrap, events, partitions, r, noop=True))
        delivery_rates.append(await _bare_rate(bootstrap, events, partitions, r, delivery=True))
    ratios = _per_round(patient_rates, bare_rates)
    direct_ratios = _per_round(patient_rates, direct_rates)
    ceilings = _per_round(noop_rates, bare_rates)
    delivery_ratios = _per_round(patient_rates, delivery_rates)
    cpu = [round(c * 1e6) for c in CPU_PER_EVENT[-5 * rounds :]]
    return {
        "events_per_round": total,
        "rounds": rounds,
        "partitions": partitions,
        "patient_agent_events_per_s": [round(x, 1) for x in patient_rates],
        "bare_agent_events_per_s": [round(x, 1) for x in bare_rates],
        "ratio_per_round": [round(x, 3) for x in ratios],
        "ratio_patient_to_bare": round(statistics.median(ratios), 3),
        # CPU per event (this process: agent, consumer thread, producer), steadier than rates
        # on a shared machine: patient, bare, bare with direct writes, no-op, bare with direct
        # delivery, round by round
        "process_cpu_us_per_event": cpu,
        # The same bare agent writing its table the way the patient agent does (skipping
        # Faust's per-record buffer): what the patient agent's domain work and batching
        # cost against an equally cheap write path.
        "bare_direct_write_events_per_s": [round(x, 1) for x in direct_rates],
        "ratio_patient_to_bare_direct_write": round(statistics.median(direct_ratios), 3),
        # An agent with the patient agent's app and intake that does nothing: the most any
        # patient agent could reach against the bare agent.
        "noop_agent_events_per_s": [round(x, 1) for x in noop_rates],
        "ceiling_noop_to_bare_per_round": [round(x, 3) for x in ceilings],
        "ceiling_noop_to_bare": round(statistics.median(ceilings), 3),
        # The bare agent with the patient agent's delivery of records (DirectDelivery): how
        # much of the ratio is that delivery, and what the patient agent's work costs
        # against an agent that shares it.
        "bare_direct_delivery_events_per_s": [round(x, 1) for x in delivery_rates],
        "ratio_patient_to_bare_direct_delivery": round(statistics.median(delivery_ratios), 3),
        "patient_agent_dead_lettered": dead,
        "load_average_1min_after": round(os.getloadavg()[0], 1),
    }


def _per_round(rates: list[float], baseline: list[float]) -> list[float]:
    return [r / b for r, b in zip(rates, baseline, strict=True)]


async def raw_consume(bootstrap: str, events: int, partitions: int, rounds: int) -> dict:
    """A plain aiokafka consumer reading the same event mix, produced beforehand: from its
    first fetch to its last record."""
    rates: list[float] = []
    for r in range(rounds):
        settings = _settings(bootstrap, f"bench-raw{r}.", f"bench-raw-{r}", partitions)
        await create_topics(settings)
        names = TopicNames(settings.topic_prefix)
        first, then = event_mix(names, events)
        await produce(bootstrap, first + then)
        total = len(first) + len(then)
        consumer = AIOKafkaConsumer(
            *names.events,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
        )
        await consumer.start()
        try:
            seen = 0
            started = time.perf_counter()  # from the first fetch (one batch may hold all)
            async with asyncio.timeout(300):
                while seen < total:
                    batch = await consumer.getmany(timeout_ms=200, max_records=1000)
                    seen += sum(len(records) for records in batch.values())
            rates.append(seen / max(time.perf_counter() - started, 1e-9))
        finally:
            await consumer.stop()
    return {"raw_consume_events_per_s": [round(x, 1) for x in rates]}


async def guarantee_cost(
    bootstrap: str, events: int, partitions: int, catalog: Catalog, rounds: int
) -> dict:
    """The patient agent under at_least_once and under exactly_once, alternated round by round
    on fresh topics (Apache Kafka only: tansu has no transactions). Besides the processing
    rate, the time from the last event processed to the group's offsets committed for it
    (under exactly_once: the transactions committed, so read_committed readers see it)."""
    rates: dict[str, list[float]] = {"at_least_once": [], "exactly_once": []}
    commit_s: dict[str, list[float]] = {"at_least_once": [], "exactly_once": []}
    cpu: dict[str, list[int]] = {"at_least_once": [], "exactly_once": []}
    for r in range(rounds):
        for guarantee in rates:
            rate, _total, _applied = await _patient_rate(
                bootstrap, events, partitions, catalog, r, guarantee, guarantee_run=True
            )
            rates[guarantee].append(rate)
            commit_s[guarantee].append(round(COMMIT_AFTER_LAST[-1], 2))
            cpu[guarantee].append(round(CPU_PER_EVENT[-1] * 1e6))
    ratios = [e / a for a, e in zip(rates["at_least_once"], rates["exactly_once"], strict=True)]
    return {
        "rounds": rounds,
        "events_per_round": sum(map(len, event_mix(TopicNames("x."), events))),
        "patient_events_per_s": {g: [round(x, 1) for x in v] for g, v in rates.items()},
        "exactly_once_to_at_least_once_rate": [round(x, 3) for x in ratios],
        "median_ratio": round(statistics.median(ratios), 3),
        "process_cpu_us_per_event": cpu,
        "last_event_to_offsets_committed_s": commit_s,
    }


async def _patient_rate(
    bootstrap: str,
    events: int,
    partitions: int,
    catalog: Catalog,
    round_: int,
    guarantee: str = "at_least_once",
    guarantee_run: bool = False,
) -> tuple[float, int, int]:
    tag = "" if guarantee == "at_least_once" else "-eos"
    settings = _settings(
        bootstrap, f"bench-tp{round_}{tag}.", f"bench-patient-{round_}{tag}", partitions
    ).model_copy(update={"processing_guarantee": guarantee})
    metrics = StreamsMetrics()

    def handled() -> int:
        applied = metrics.registry.get_sample_value("rw_streams_events_applied_total") or 0
        dead = sum(
            s.value
            for m in metrics.dead_lettered.collect()
            for s in m.samples
            if s.name.endswith("_total")
        )
        return int(applied + dead)

    await create_topics(settings)
    parts = list(event_mix(TopicNames(settings.topic_prefix), events))
    app = create_app(settings, catalog, metrics=metrics)
    watched = settings if guarantee_run else None
    rate = await measure(app, bootstrap, handled, parts, committed=watched)
    applied = int(metrics.registry.get_sample_value("rw_streams_events_applied_total") or 0)
    return rate, sum(map(len, parts)), applied


async def _bare_rate(
    bootstrap: str,
    events: int,
    partitions: int,
    round_: int,
    direct: bool = False,
    noop: bool = False,
    delivery: bool = False,
) -> float:
    kind = "noop" if noop else "bare-delivery" if delivery else "bare"
    name = f"{kind}{'-direct' if direct else ''}{round_}"
    settings = _settings(bootstrap, f"bench-{name}.", f"bench-{name}", partitions)
    await create_topics(settings)
    counter = [0]
    parts = list(event_mix(TopicNames(settings.topic_prefix), events))
    app = noop_app(settings, counter) if noop else bare_app(settings, counter, direct, delivery)
    return await measure(app, bootstrap, lambda: counter[0], parts)


def cohorts(names: TopicNames, patients: int, due: int, ticks: int) -> Iterator[Record]:
    """Cohort k (k < ticks) finishes treatment on day k; everyone else a year or more later."""
    for n in range(patients):
        k = n // due
        # Everyone else wakes on one of 365 later days, as a real register spreads out.
        done = T0 + timedelta(days=k if k < ticks else 400 + n % 365)
        yield from onboarding(names, f"t{n:07d}", done)


def first_wake(catalog: Catalog) -> tuple[datetime, int]:
    """When a patient treated on T0 first has something due, and how many reminders then;
    asked of the core so the bench follows the protocol, not a guess of it."""
    state = None
    for _topic, _key, raw in onboarding(TopicNames(), "probe", T0):
        event = parse_event(raw)
        state = settle(evolve(state, event), event.recorded_at, catalog).state
    assert state is not None
    wake = settle(state, T0, catalog).wake_at
    if wake is None:
        raise RuntimeError("the bench protocol schedules nothing after treatment")
    outputs = settle(state, wake + timedelta(hours=1), catalog).outputs
    return wake + timedelta(hours=1), sum(isinstance(o, Reminder) for o in outputs)


async def tick_latency(
    bootstrap: str, patients: int, fraction: float, ticks: int, partitions: int, catalog: Catalog
) -> dict:
    settings = _settings(bootstrap, "bench-tick.", "bench-tick", partitions)
    settings.state_cache = max(settings.state_cache, patients)  # every state decoded once
    names = TopicNames(settings.topic_prefix)
    due = max(1, int(patients * fraction))
    first_tick, per_patient = first_wake(catalog)
    if per_patient == 0:
        raise RuntimeError("nothing to remind at the first wake-up")
    await create_topics(settings)
    metrics = StreamsMetrics()
    app = create_app(settings, catalog, metrics=metrics)
    load_started = time.perf_counter()
    await produce(bootstrap, list(cohorts(names, patients, due, ticks)))
    await app.start()
    try:
        loaded = await _wait_applied(metrics, patients * 3, 1200)
        load_seconds = time.perf_counter() - load_started
        worker = app.streams_processor  # type: ignore[attr-defined]
        samples, per_tick = await _ticks(
            settings, names, due * per_patient, first_tick, ticks, worker
        )
    finally:
        await app.stop()
    samples.sort()
    return {
        "patients_in_table": loaded // 3,
        "due_per_tick": due,
        "due_fraction": fraction,
        "ticks": ticks,
        "load_seconds": round(load_seconds, 1),
        "state_cache": settings.state_cache,
        "latency": "per reminder: from just before the tick is produced (to every partition) "
        "until a consumer of the reminders topic, in another process as the notifier is, "
        "has received the reminder (so after the broker acknowledged it); p50/p99 over "
        "every reminder of every tick",
        "reminders_measured": len(samples),
        "tick_to_reminder_ms_p50": round(_percentile(samples, 50) * 1000, 1),
        "tick_to_reminder_ms_p99": round(_percentile(samples, 99) * 1000, 1),
        "tick_to_last_reminder_ms_per_tick": [round(t * 1000, 1) for t in per_tick],
        # The worker's CPU (this process: agent, producer, consumer thread) from each tick
        # produced until its batches are written (reminders, then patients and clocks): on
        # a shared machine, steadier than the latencies, which wait for a CPU share.
        "process_cpu_s_per_tick": [round(c, 2) for c in TICK_CPU[-ticks:]],
        "load_average_1min_after": round(os.getloadavg()[0], 1),
    }


async def _wait_applied(metrics: StreamsMetrics, target: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        applied = int(metrics.registry.get_sample_value("rw_streams_events_applied_total") or 0)
        if applied >= target:
            return applied
        await _tick_or_fail(deadline)
        await asyncio.sleep(0.05)


async def _ticks(
    settings: StreamsSettings,
    names: TopicNames,
    due: int,
    first: datetime,
    ticks: int,
    worker: PatientProcessor,
) -> tuple[list[float], list[float]]:
    """Per reminder, seconds from just before each tick is produced to its receipt by a
    consumer in another process (`_reminder_clock`), as the notifier would receive it.

    Each tick starts on an idle worker, as hourly ticks do: the next tick is produced once
    the worker has written the previous one (its patients and clocks, after the reminders),
    and not while it is still writing them."""
    context = multiprocessing.get_context("spawn")  # the worker's threads must not be forked
    ours, theirs = context.Pipe()
    clock = context.Process(
        target=_reminder_clock, args=(settings.kafka_bootstrap, names.reminders, theirs)
    )
    clock.start()
    samples: list[float] = []
    per_tick: list[float] = []
    try:
        await _receive(ours, clock)  # "ready": positioned at the end of the reminders topic
        async with TickPublisher.from_settings(settings) as publisher:
            for k in range(ticks):
                now = first + timedelta(days=k)  # cohorts finish a day apart: one is due
                ours.send(due)
                handled = worker.records_handled
                sent, cpu = time.monotonic(), time.process_time()
                await publisher.publish(now)
                received: list[float] = await _receive(ours, clock)
                seen = [at - sent for at in received]
                samples += seen
                per_tick.append(max(seen))
                await _written(worker, handled + settings.partitions)
                TICK_CPU.append(time.process_time() - cpu)
    finally:
        ours.send(None)
        clock.join(30)
        if clock.is_alive():
            clock.kill()
    return samples, per_tick


async def _written(worker: PatientProcessor, records: int, timeout: float = 120) -> None:
    """Wait until the worker has written the batches of this many records."""
    deadline = time.monotonic() + timeout
    while worker.records_handled < records:
        await _tick_or_fail(deadline)


async def _receive(connection: Connection, process: BaseProcess, timeout: float = 180) -> Any:
    """The next message from the reminder clock, without blocking the worker's event loop."""
    deadline = time.monotonic() + timeout
    while not connection.poll():
        if not process.is_alive():
            raise RuntimeError(f"the reminder clock stopped (exit {process.exitcode})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no reminders counted in {timeout} s")
        await asyncio.sleep(0.005)
    return connection.recv()


def _reminder_clock(bootstrap: str, topic: str, connection: Connection) -> None:
    """In its own process: for each count asked, the `time.monotonic()` (one clock for every
    process of the machine) at which each of that many reminders was received."""

    async def run() -> None:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, fetch_max_wait_ms=20)
        await consumer.start()
        try:
            await consumer.seek_to_end()
            for tp in consumer.assignment():
                await consumer.position(tp)  # resolve the end now, not at the first fetch
            connection.send("ready")
            while (due := connection.recv()) is not None:
                received: list[float] = []
                async with asyncio.timeout(120):
                    while len(received) < due:
                        batch = await consumer.getmany(timeout_ms=100)
                        now = time.monotonic()
                        received += [
                            now
                            for records in batch.values()
                            for r in records
                            if isinstance(parse_output(r.value), Reminder)
                        ]
                connection.send(received)
        finally:
            await consumer.stop()

    asyncio.run(run())


def _percentile(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


EMBEDDED_BOOTSTRAP = [""]  # set when this run starts its own broker
TANSU_BOOTSTRAPS: set[str] = set()  # every tansu broker this run started


def _settings(bootstrap: str, prefix: str, app_id: str, partitions: int) -> StreamsSettings:
    embedded = bootstrap == EMBEDDED_BOOTSTRAP[0] or bootstrap in TANSU_BOOTSTRAPS
    return StreamsSettings(
        # tansu holds a fetch for the whole wait; Kafka gets the default
        **({"fetch_max_wait_ms": 20} if embedded else {}),
        kafka_bootstrap=bootstrap,
        topic_prefix=prefix,
        app_id=app_id,
        partitions=partitions,
        store="memory://",
        simulated_time=True,  # the bench publishes simulated ticks
        loglevel="warning",
    )


async def run(args: argparse.Namespace, bootstrap: str, label: str | None = None) -> dict:
    catalog = Catalog.from_texts({"bench-breast.yaml": PROTOCOL})
    result: dict[str, Any] = {
        "broker": label
        or ("embedded tansu (memory)" if args.bootstrap is None else args.bootstrap),
    }
    if args.events:
        result["throughput"] = await throughput(
            bootstrap, args.events, args.partitions, catalog, args.rounds
        )
        result["throughput"] |= await raw_consume(
            bootstrap, args.events, args.partitions, args.rounds
        )
    tansu = bootstrap == EMBEDDED_BOOTSTRAP[0] or bootstrap in TANSU_BOOTSTRAPS
    if args.guarantees and args.events and not tansu:
        result["processing_guarantee"] = await guarantee_cost(
            bootstrap, args.events, args.partitions, catalog, args.rounds
        )
    if args.patients:
        result["tick_latency"] = await tick_latency(
            bootstrap, args.patients, args.due_fraction, args.ticks, args.partitions, catalog
        )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="use this broker instead of an embedded one")
    parser.add_argument(
        "--events", type=int, default=12_000, help="throughput events per round (0: skip)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="patient/bare rounds, alternated")
    parser.add_argument(
        "--patients", type=int, default=20_000, help="tick bench, 100000 takes ~8 min (0: skip)"
    )
    parser.add_argument("--due-fraction", type=float, default=0.01)
    parser.add_argument("--ticks", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--brokers",
        help="comma-separated: tansu and/or kafka (Apache Kafka from the test jars), run one "
        "after the other in this run, with the Kafka-to-tansu ratios",
    )
    parser.add_argument(
        "--guarantees",
        action="store_true",
        help="also the patient agent under at_least_once and exactly_once, alternated (Apache "
        "Kafka only: skipped on tansu, which has no transactions)",
    )
    args = parser.parse_args()
    if args.brokers:
        result = side_by_side(args, [b.strip() for b in args.brokers.split(",") if b.strip()])
    elif args.bootstrap:
        result = asyncio.run(run(args, args.bootstrap))
    else:
        with EmbeddedBroker() as broker:
            EMBEDDED_BOOTSTRAP[0] = broker.bootstrap
            result = asyncio.run(run(args, broker.bootstrap))
    print(json.dumps(result, indent=2))
    return 0


def side_by_side(args: argparse.Namespace, brokers: list[str]) -> dict:
    """The whole bench on each broker in turn, then the ratios of their medians."""
    runs: dict[str, dict] = {}
    for name in brokers:
        with contextlib.ExitStack() as stack:
            if name == "tansu":
                bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap
                TANSU_BOOTSTRAPS.add(bootstrap)
                label = "embedded tansu (memory)"
            elif name == "kafka":
                from tests.kafka.broker import KafkaCluster, unavailable  # the test broker

                reason = unavailable()
                if reason:
                    raise SystemExit(reason)
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                bootstrap = stack.enter_context(KafkaCluster(folder, size=1)).bootstrap
                label = "Apache Kafka 4.1 (KRaft, one node, loopback)"
            else:
                raise SystemExit(f"unknown broker {name!r}: tansu or kafka")
            runs[name] = asyncio.run(run(args, bootstrap, label))
    result: dict[str, Any] = {"runs": runs}
    if {"tansu", "kafka"} <= runs.keys() and args.events:
        tansu, kafka = runs["tansu"]["throughput"], runs["kafka"]["throughput"]
        keys = {
            "patient_agent": "patient_agent_events_per_s",
            "bare_agent": "bare_agent_events_per_s",
            "bare_direct_write": "bare_direct_write_events_per_s",
            "raw_consume": "raw_consume_events_per_s",
        }
        result["kafka_to_tansu_median_rate"] = {
            short: round(statistics.median(kafka[k]) / statistics.median(tansu[k]), 3)
            for short, k in keys.items()
        }
        result["patient_to_raw_consume"] = {
            name: round(
                statistics.median(runs[name]["throughput"]["patient_agent_events_per_s"])
                / statistics.median(runs[name]["throughput"]["raw_consume_events_per_s"]),
                3,
            )
            for name in ("tansu", "kafka")
        }
    if {"tansu", "kafka"} <= runs.keys() and args.patients:
        result["tick_p99_ms"] = {
            name: runs[name]["tick_latency"]["tick_to_reminder_ms_p99"] for name in runs
        }
    return result


if __name__ == "__main__":
    sys.exit(main())
