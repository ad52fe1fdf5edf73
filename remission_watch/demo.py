"""The demo: a synthetic cohort through the real Kafka path, five simulated years in under a minute.

Everything runs in this process on embedded parts: the tansu broker, the Faust patient agent,
the ticker (simulated time), the notifier (SQLite, a local SMTP sink and an HTTP stand-in for
the SMS provider) and its inbound webhook. Each simulated week: the week's events are produced
to their topics, the notifier's clock moves on, a tick goes to every partition, and the demo
waits until the agent has settled that tick before the next week starts.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from models.events import Event
from notifier.admin import ConsentIn, RecipientIn
from notifier.clock import FakeClock
from notifier.inbound import signed_headers
from notifier.recipients import Channel
from notifier.service import NotifierService
from notifier.settings import DEV_INBOUND_SECRET, NotifierSettings
from notifier.sinks import HttpSmsSink, SmtpSink, free_port
from remission_watch.demo_cohort import START, Cohort, DemoOptions, Patient, build_cohort
from remission_watch.demo_ingest import HL7_FEED, DemoIngest, IngestTally, assign_pseudonyms
from remission_watch.demo_ingest import started as ingest_started
from remission_watch.demo_report import CARE_TEAM
from remission_watch.demo_report import report as report_of
from remission_watch.protocol_files import load_builtin_catalog
from streams.app import create_app
from streams.embedded import EmbeddedBroker
from streams.metrics import StreamsMetrics
from streams.settings import StreamsSettings
from streams.ticker import TickPublisher
from streams.topics import TopicNames, create_topics


class Demo:
    """Holds the running parts of one demo run."""

    def __init__(
        self,
        options: DemoOptions,
        workdir: Path,
        broker: EmbeddedBroker,
        smtp: SmtpSink,
        sms: HttpSmsSink,
    ) -> None:
        self.options, self.smtp, self.sms = options, smtp, sms
        self.streams = StreamsSettings(
            kafka_bootstrap=broker.bootstrap,
            partitions=options.partitions,
            app_id="rw-demo",
            data_dir=workdir / "streams",
            local_timeouts=True,
            fetch_max_wait_ms=20,
            confirm_changelog_ends=True,
            simulated_time=True,  # the demo publishes simulated ticks
            due_bucket_seconds=86_400,
        )
        self.names = TopicNames(self.streams.topic_prefix)
        self.clock = FakeClock(START)
        self.database = workdir / "notifier.db"
        self.notifier = NotifierSettings(
            kafka_bootstrap=broker.bootstrap,
            database_url=f"sqlite:///{self.database}",
            allow_dev_key=True,
            email_url=smtp.url(),
            sms_url=sms.url(),
            care_team_urls=[f"{smtp.url()}&to={CARE_TEAM}"],
            consumer_group="rw-demo-notifier",
            kafka_session_timeout_ms=6_000,
            kafka_rebalance_timeout_ms=2_000,
            kafka_heartbeat_interval_ms=500,
            kafka_fetch_max_wait_ms=20,
            # The demo dispatches itself, once a week's outputs are all in (`_dispatch`): a
            # dispatcher racing the consumer would make the SMS caps and cancellations, and
            # so the figures, differ between two runs of one seed.
            dispatch_interval_seconds=86_400.0,
            clinic_name="Riverside Clinic",
            http_port=free_port(),
        )
        self.metrics = StreamsMetrics()
        self.service = NotifierService(self.notifier, clock=self.clock)
        self.engine = self.service.engine
        self.outputs_recorded = 0
        outbox, record = self.service.outbox, self.service.outbox.record

        def counted(outputs: Any, now: datetime) -> Any:
            try:
                return record(outputs, now)
            finally:
                self.outputs_recorded += len(outputs)

        outbox.record = counted  # type: ignore[method-assign]
        self.replies: list[dict[str, str]] = []
        self.processor: Any = None  # the agent's PatientProcessor, once the app is made
        self.ticks_sent = 0  # tick records published, one per partition and week
        self.ingest: DemoIngest | None = None  # the hospital feeds' way in (demo_ingest)
        self.ingest_tally = IngestTally()
        self.labels: dict[str, str] = {}  # patient_id -> how the report names the patient

    def outputs_emitted(self) -> float:
        registry = self.metrics.registry
        names = ("rw_streams_reminders_emitted_total", "rw_streams_alerts_emitted_total")
        return sum(registry.get_sample_value(name) or 0.0 for name in names)

    def outputs_consumed(self) -> int:
        """Outputs the notifier has written to its outbox (read is not enough: the dispatch
        that follows must find them there)."""
        return self.outputs_recorded

    def records_handled(self) -> int:
        """Input records (events and ticks) whose batch the agent has written: its outputs
        are published by then."""
        return int(self.processor.records_handled) if self.processor is not None else 0

    def answers_sent(self) -> int:
        """Check-in answers the notifier made from replies: events it put on Kafka itself."""
        return sum(1 for reply in self.replies if reply["outcome"] == "checkin")

    def ticks_settled(self) -> float:
        return self.metrics.registry.get_sample_value("rw_streams_tick_seconds_count") or 0.0

    def enrol_recipients(self, cohort: Cohort) -> None:
        admin = self.service.admin
        for p in cohort.patients:
            order = [Channel.SMS, Channel.EMAIL] if p.sms_consent else [Channel.EMAIL]
            admin.upsert_recipient(
                p.patient_id,
                RecipientIn(
                    phone=p.phone,
                    email=p.email,
                    time_zone=p.zone,
                    language=p.language,
                    channel_order=order,
                ),
            )
            for channel, granted in (
                (Channel.SMS, p.sms_consent),
                (Channel.EMAIL, p.email_consent),
            ):
                admin.record_consent(
                    p.patient_id,
                    ConsentIn(
                        channel=channel,
                        granted=granted,
                        method="enrolment form",
                        occurred_at=START - timedelta(days=1),
                        unencrypted_ack=granted,
                    ),
                )

    async def reply(self, client: httpx.AsyncClient, patient: Patient, body: str) -> str:
        """An SMS reply from the patient's phone, through the signed inbound webhook."""
        raw = json.dumps(
            {"from": patient.phone, "body": body, "message_id": f"demo-{len(self.replies)}"}
        ).encode()
        signed = signed_headers(DEV_INBOUND_SECRET, raw)  # timestamped: see docs/notifier.md
        response = await client.post(
            f"http://127.0.0.1:{self.notifier.http_port}/inbound/sms",
            content=raw,
            headers={**signed, "Content-Type": "application/json"},
        )
        action = response.json().get("action") or response.json().get("error", "?")
        self.replies.append(
            {
                "patient_id": patient.patient_id,
                "shown": self.labels.get(patient.patient_id, patient.patient_id),
                "text": body,
                "on": self.clock().date().isoformat(),
                "outcome": str(action),
            }
        )
        return str(action)


async def run_demo(options: DemoOptions, progress: bool = True) -> dict[str, Any]:
    began = time.monotonic()
    cohort = build_cohort(options)
    feeds, cohort.events = assign_pseudonyms(cohort.patients, cohort.events)
    catalog = load_builtin_catalog()
    steps = int(options.years * 365.25 // options.step_days)
    with (
        tempfile.TemporaryDirectory(prefix="rw-demo-") as tmp,
        EmbeddedBroker() as broker,
        SmtpSink() as smtp,
        HttpSmsSink() as sms,
    ):
        demo = Demo(options, Path(tmp), broker, smtp, sms)
        demo.labels = {  # the demo's own name beside the pseudonym ingest gave its feeds
            pseudonym: f"DEMO-{number:04d} ({pseudonym[:10]}…, "
            f"via {'HL7 v2' if feed == HL7_FEED else 'FHIR R4'})"
            for pseudonym, (feed, number) in feeds.items()
        }
        await create_topics(demo.streams)
        app = create_app(demo.streams, catalog, metrics=demo.metrics)
        demo.processor = app.streams_processor
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        try:  # an interruption stops the notifier and the agent, then the broker (the `with`)
            await app.start()
            tasks.append(asyncio.create_task(demo.service.run(stop), name="notifier"))
            await _wait_http(demo.notifier.http_port)
            await asyncio.to_thread(demo.enrol_recipients, cohort)
            async with ingest_started(
                Path(tmp) / "ingest", broker.bootstrap, demo.streams.topic_prefix,
                options.partitions,
            ) as ingest:  # fmt: skip
                ingest.serve(feeds)
                demo.ingest, demo.ingest_tally = ingest, ingest.tally
                produced = await _simulate(demo, cohort, steps, progress)
                demo.ingest = None
            await _drain(demo)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await app.stop()
        report = report_of(demo, cohort, produced, steps, time.monotonic() - began)
    return report


async def _simulate(demo: Demo, cohort: Cohort, steps: int, progress: bool) -> int:
    pending = iter(cohort.events)
    upcoming: Event | None = next(pending, None)
    produced = 0
    script = _reply_script(steps)
    producer = AIOKafkaProducer(
        bootstrap_servers=demo.streams.kafka_bootstrap, enable_idempotence=False, linger_ms=5
    )
    await producer.start()
    bar = _progress(progress, steps)
    try:
        enrolled = 0
        while upcoming is not None and upcoming.type == "patient.enrolled":
            await producer.send(
                demo.names.for_event(upcoming),
                upcoming.model_dump_json().encode(),
                key=upcoming.patient_id.encode(),
            )
            enrolled += 1
            upcoming = next(pending, None)
        await producer.flush()
        await _settle(demo, enrolled, timeout=60)
        produced = enrolled
        async with (
            TickPublisher.from_settings(demo.streams) as ticks,
            httpx.AsyncClient() as client,
        ):
            for step in range(steps):
                now = START + timedelta(days=step * demo.options.step_days)
                week: list[Event] = []
                while upcoming is not None and upcoming.recorded_at <= now:
                    week.append(upcoming)
                    upcoming = next(pending, None)
                # The agent settles each patient once per batch it reads, and what a settlement
                # emits depends on the events folded so far: a reminder wanted after a scan and
                # cancelled by the same week's lab result is sent out and then cancelled when
                # the two land in different batches, and not at all when they share one. Where
                # batches end depends on timing, so each round carries at most one event per
                # patient and the next round waits for it: every run settles alike. The tick
                # travels on a topic of its own, and waits for all of them too; what the events
                # made (cancellations, alerts) is recorded at last week's now.
                for batch in _one_per_patient(week):
                    for event in batch:
                        if demo.ingest is not None and demo.ingest.takes(event):
                            demo.ingest.add(event)  # sent as HL7 or FHIR below
                            continue
                        await producer.send(
                            demo.names.for_event(event),
                            event.model_dump_json().encode(),
                            key=event.patient_id.encode(),
                        )
                        produced += 1
                    await producer.flush()
                    if demo.ingest is not None:  # events ingest acknowledged having published
                        produced += await demo.ingest.send_week()
                    handled = produced + demo.answers_sent() + demo.ticks_sent
                    await _until(lambda n=handled: demo.records_handled() >= n, timeout=30)
                await _settle(demo, produced + demo.answers_sent() + demo.ticks_sent)
                demo.clock.now = now
                await ticks.publish(now)
                demo.ticks_sent += demo.options.partitions
                await _settle(demo, produced + demo.answers_sent() + demo.ticks_sent)
                await _dispatch(demo)
                if script:
                    await _scripted_replies(demo, client, cohort, step, script)
                    await _settle_replies(demo, produced)
                bar(step + 1, now)
    finally:
        await producer.stop()
        bar(None, None)
    return produced


def _one_per_patient(events: list[Event]) -> list[list[Event]]:
    """`events` in rounds, in their order, the n-th round holding each patient's n-th event."""
    rounds: list[list[Event]] = []
    seen: Counter[str] = Counter()
    for event in events:
        n = seen[event.patient_id]
        seen[event.patient_id] += 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(event)
    return rounds


def _reply_script(steps: int) -> list[tuple[int, str]]:
    """When patients text back: an opt-out, a help request, fear scores, a crisis message.
    A score or a crisis waits, from its step on, for a patient who got a check-in by SMS."""
    at = ((0.3, "STOP"), (0.45, "HELP"), (0.5, "score:8"), (0.6, "score:3"), (0.7, "crisis"))
    return [(int(steps * share), what) for share, what in at]


async def _scripted_replies(
    demo: Demo,
    client: httpx.AsyncClient,
    cohort: Cohort,
    step: int,
    script: list[tuple[int, str]],
) -> None:
    by_id = {p.patient_id: p for p in cohort.patients}
    sms_patients = [p for p in cohort.patients if p.sms_consent]
    for entry in [e for e in script if e[0] <= step]:
        what = entry[1]
        if what in ("STOP", "HELP"):
            patient = sms_patients[0 if what == "STOP" else 1]
            await demo.reply(client, patient, "Stop" if what == "STOP" else "HELP")
        else:
            recent = await asyncio.to_thread(_recent_sms_checkin, demo)
            if not recent:
                continue  # try again next week
            text = (
                what.split(":")[1]
                if what.startswith("score:")
                else ("I feel hopeless and want to end my life")
            )
            await demo.reply(client, by_id[recent[0 if what.startswith("score") else -1]], text)
        script.remove(entry)


def _recent_sms_checkin(demo: Demo) -> list[str]:
    """Patients sent a check-in by SMS in the last 13 days (the notifier takes a score for 14)."""
    since = demo.clock() - timedelta(days=13)
    with demo.engine.connect() as conn:
        rows = conn.execute(
            text(
                "select patient_id, sent_at from deliveries where status = 'sent' and "
                "channel = 'sms' and purpose = 'reminder' and "
                'payload like \'%"kind":"checkin"%\' order by sent_at desc, patient_id limit 50'
            )
        ).all()
    found = [pid for pid, sent in rows if _aware(sent) >= since]
    return list(dict.fromkeys(found))


def _aware(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _settle_replies(demo: Demo, produced: int) -> None:
    """Let the agent fold the check-in answers the replies made, and the notifier record and
    send what followed, before the clock moves: otherwise when they land depends on timing."""
    await _settle(demo, produced + demo.answers_sent() + demo.ticks_sent)
    await _dispatch(demo)


async def _settle(demo: Demo, records: int, timeout: float = 30) -> None:
    """Wait until the agent has handled `records` input records (events and ticks) and
    written their batches, and the notifier has recorded every output they made.

    Counted after a batch is written, not as it is worked: a tick counted while its batch is
    being worked has not published its reminders yet, and the notifier would record them a
    week later in one run and not in another."""
    await _until(lambda: demo.records_handled() >= records, timeout=timeout)
    emitted = demo.outputs_emitted()
    await _until(lambda: demo.outputs_consumed() >= emitted, timeout=timeout)


async def _dispatch(demo: Demo) -> None:
    """Handle everything due at the simulated now, in the notifier's own order."""
    while await demo.service.dispatcher.dispatch_once() > 0:
        pass


async def _drain(demo: Demo) -> None:
    """At the end: let the notifier finish what is due now (later deferrals stay deferred)."""
    await _dispatch(demo)


async def _wait_http(port: int) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("the notifier's HTTP server did not start")


async def _until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the patient agent did not keep up with the simulation")
        await asyncio.sleep(0.005)


def _progress(enabled: bool, total: int) -> Any:
    if not enabled:
        return lambda *_: None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        transient=True,
    )
    task = bar.add_task("", total=total)
    bar.start()

    def update(done: int | None, now: datetime | None) -> None:
        if done is None:
            bar.stop()
            return
        bar.update(task, completed=done, description=f"week of {now:%Y-%m-%d}")

    return update
