"""The demo: a synthetic cohort through the real Kafka path, five simulated years in under a minute.

Everything runs in this process on embedded parts: the tansu broker, the Faust patient agent,
the ticker (simulated time), the notifier (SQLite, a local SMTP sink and an HTTP stand-in for
the SMS provider) and its inbound webhook. Each simulated week: the week's events are produced
to their topics, the notifier's clock moves on, a tick goes to every partition, and the demo
waits until the agent has settled that tick before the next week starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import create_engine, text

from models.events import Event, parse_event
from notifier.admin import ConsentIn, RecipientIn
from notifier.clock import FakeClock
from notifier.recipients import Channel
from notifier.service import NotifierService
from notifier.settings import DEV_INBOUND_SECRET, NotifierSettings
from notifier.sinks import HttpSmsSink, SmtpSink, free_port
from remission_watch.cohort import patient_history
from remission_watch.protocol_files import load_builtin_catalog
from streams.app import create_app
from streams.embedded import EmbeddedBroker
from streams.metrics import StreamsMetrics
from streams.settings import StreamsSettings
from streams.ticker import TickPublisher
from streams.topics import TopicNames, create_topics

START = datetime(2021, 1, 4, 15, 0, tzinfo=UTC)  # a Monday; 10:00 in New York, 07:00 in LA
CARE_TEAM = "care-team@clinic.example.org"


@dataclass(frozen=True)
class DemoOptions:
    patients: int = 40
    years: float = 5.0
    seed: int = 7
    step_days: int = 7
    partitions: int = 4


@dataclass
class Patient:
    patient_id: str
    events: list[Event]
    zone: str
    language: str
    phone: str
    email: str
    sms_consent: bool
    email_consent: bool


@dataclass
class Cohort:
    patients: list[Patient]
    events: list[Event] = field(default_factory=list)


def build_cohort(options: DemoOptions) -> Cohort:
    """Synthetic patients with opt-outs, late and corrected results and high fear scores."""
    patients: list[Patient] = []
    for n in range(options.patients):
        pid = f"DEMO-{n:04d}"
        raw = patient_history(pid, options.seed * 7919 + n, START - timedelta(days=200), 24)
        if n % 7 == 3:  # a lab result later corrected by the lab
            raw += _correction(raw)
        if n % 9 == 5 and len(raw) > 12:  # a result that arrives late: recorded weeks after
            raw[12]["recorded_at"] = raw[-1]["recorded_at"]
        events = [parse_event(r) for r in raw]
        enrolled = raw[0]
        patients.append(
            Patient(
                patient_id=pid,
                events=events,
                zone=str(enrolled["time_zone"]),
                language=str(enrolled["language"]),
                phone=f"+1555{n:07d}",
                email=f"{pid.lower()}@patients.example.org",
                sms_consent=n % 5 != 1 and n % 11 != 4,  # a fifth have not agreed to SMS
                email_consent=n % 13 != 7 and n % 11 != 4,  # some agreed to neither
            )
        )
    # Enrolments first: they and the first results travel on different topics, and a result
    # read before its patient's enrolment would be dead-lettered as an unknown patient.
    every = sorted(
        (e for p in patients for e in p.events),
        key=lambda e: (e.type != "patient.enrolled", e.recorded_at),
    )
    return Cohort(patients, every)


def _correction(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    labs = [r for r in raw if r["type"] == "lab.resulted"]
    if not labs:
        return []
    wrong = labs[0]
    fixed = dict(
        wrong,
        event_id=f"{wrong['event_id']}-c",
        value=round(float(wrong["value"]) / 10, 2),
        status="corrected",
    )  # type: ignore[arg-type]
    at = datetime.fromisoformat(str(wrong["recorded_at"])) + timedelta(days=2)
    return [
        {
            "event_id": f"{wrong['event_id']}-corr",
            "patient_id": wrong["patient_id"],
            "type": "event.corrected",
            "occurred_at": at.isoformat(),
            "recorded_at": at.isoformat(),
            "source": "synthetic",
            "target_event_id": wrong["event_id"],
            "replacement": fixed,
        }
    ]


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
            dispatch_interval_seconds=0.02,
            clinic_name="Riverside Clinic",
            http_port=free_port(),
        )
        self.metrics = StreamsMetrics()
        self.service = NotifierService(self.notifier, clock=self.clock)
        self.engine = self.service.engine
        self.replies: list[dict[str, str]] = []

    def outputs_emitted(self) -> float:
        registry = self.metrics.registry
        names = ("rw_streams_reminders_emitted_total", "rw_streams_alerts_emitted_total")
        return sum(registry.get_sample_value(name) or 0.0 for name in names)

    def outputs_consumed(self) -> int:
        consumer = self.service.output_consumer
        return consumer.consumed if consumer is not None else 0

    def events_applied(self) -> float:
        return self.metrics.registry.get_sample_value("rw_streams_events_applied_total") or 0.0

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
        signature = hmac.new(DEV_INBOUND_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        response = await client.post(
            f"http://127.0.0.1:{self.notifier.http_port}/inbound/sms",
            content=raw,
            headers={"X-RW-Signature": signature, "Content-Type": "application/json"},
        )
        action = response.json().get("action") or response.json().get("error", "?")
        self.replies.append(
            {
                "patient_id": patient.patient_id,
                "text": body,
                "on": self.clock().date().isoformat(),
                "outcome": str(action),
            }
        )
        return str(action)


async def run_demo(options: DemoOptions, progress: bool = True) -> dict[str, Any]:
    began = time.monotonic()
    cohort = build_cohort(options)
    catalog = load_builtin_catalog()
    steps = int(options.years * 365.25 // options.step_days)
    with (
        tempfile.TemporaryDirectory(prefix="rw-demo-") as tmp,
        EmbeddedBroker() as broker,
        SmtpSink() as smtp,
        HttpSmsSink() as sms,
    ):
        demo = Demo(options, Path(tmp), broker, smtp, sms)
        await create_topics(demo.streams)
        app = create_app(demo.streams, catalog, metrics=demo.metrics)
        stop = asyncio.Event()
        await app.start()
        notifier_task = asyncio.create_task(demo.service.run(stop), name="notifier")
        try:
            await _wait_http(demo.notifier.http_port)
            await asyncio.to_thread(demo.enrol_recipients, cohort)
            produced = await _simulate(demo, cohort, steps, progress)
            await _drain(demo)
        finally:
            stop.set()
            await asyncio.gather(notifier_task, return_exceptions=True)
            await app.stop()
        report = _report(demo, cohort, produced, steps, time.monotonic() - began)
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
                demo.names.for_event(upcoming.type),
                upcoming.model_dump_json().encode(),
                key=upcoming.patient_id.encode(),
            )
            enrolled += 1
            upcoming = next(pending, None)
        await producer.flush()
        await _until(lambda: demo.events_applied() >= enrolled, timeout=60)
        produced = enrolled
        async with (
            TickPublisher.from_settings(demo.streams) as ticks,
            httpx.AsyncClient() as client,
        ):
            for step in range(steps):
                now = START + timedelta(days=step * demo.options.step_days)
                while upcoming is not None and upcoming.recorded_at <= now:
                    await producer.send(
                        demo.names.for_event(upcoming.type),
                        upcoming.model_dump_json().encode(),
                        key=upcoming.patient_id.encode(),
                    )
                    produced += 1
                    upcoming = next(pending, None)
                await producer.flush()
                demo.clock.now = now
                target = demo.ticks_settled() + demo.options.partitions
                await ticks.publish(now)
                await _until(lambda t=target: demo.ticks_settled() >= t, timeout=30)
                emitted = demo.outputs_emitted()
                await _until(lambda e=emitted: demo.outputs_consumed() >= e, timeout=30)
                await _dispatched(demo)
                if script:
                    await _scripted_replies(demo, client, cohort, step, script)
                bar(step + 1, now)
    finally:
        await producer.stop()
        bar(None, None)
    return produced


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
                'payload like \'%"kind":"checkin"%\' order by sent_at desc limit 50'
            )
        ).all()
    found = [pid for pid, sent in rows if _aware(sent) >= since]
    return list(dict.fromkeys(found))


def _aware(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _dispatched(demo: Demo, settle_for: float = 0.0) -> None:
    """Wait until nothing due at the simulated now is still waiting to be sent."""
    deadline = time.monotonic() + 30
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        waiting = await asyncio.to_thread(_waiting, demo)
        if waiting:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        if quiet_since is not None and time.monotonic() - quiet_since >= settle_for:
            return
        await asyncio.sleep(0.01)


def _waiting(demo: Demo) -> int:
    with demo.engine.connect() as conn:
        count = conn.execute(
            text(
                "select count(*) from deliveries where next_attempt_at <= :now"
                " and status in ('pending', 'retrying', 'sending')"
            ),
            {"now": demo.clock()},
        ).scalar()
    return int(count or 0)


async def _drain(demo: Demo) -> None:
    """At the end: let the notifier finish what is due now (later deferrals stay deferred)."""
    await _dispatched(demo, settle_for=0.5)


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


def _report(demo: Demo, cohort: Cohort, produced: int, steps: int, wall: float) -> dict[str, Any]:
    engine = create_engine(demo.notifier.database_url)
    try:
        with engine.connect() as conn:
            statuses = dict(
                conn.execute(text("select status, count(*) from deliveries group by status")).all()
            )
            by_purpose = conn.execute(
                text(
                    "select purpose, channel, status, count(*) from deliveries "
                    "group by purpose, channel, status order by 1, 2, 3"
                )
            ).all()
            decisions = conn.execute(text("select action, reason from audit")).all()
            alerts = conn.execute(
                text("select payload from deliveries where purpose = 'care_team_alert'")
            ).all()
            sent_ids = conn.execute(
                text("select reminder_id from deliveries where status = 'sent'")
            ).all()
    finally:
        engine.dispose()
    why = Counter(
        (action, _reason_kind(reason))
        for action, reason in decisions
        if action in ("deferred", "suppressed", "failed", "cancelled", "sent")
    )
    escalated = Counter(json.loads(p)["kind"] for (p,) in alerts if p)
    emails = demo.smtp.count_by_recipient()
    care_team_mail = emails.pop(CARE_TEAM, 0)
    problems = []
    if len(sent_ids) != len({r for (r,) in sent_ids}):
        problems.append("a reminder id was sent twice")
    patient_mail = sum(emails.values())
    sent_email = sum(
        n
        for purpose, channel, status, n in by_purpose
        if channel == "email" and status == "sent" and purpose != "care_team_alert"
    )
    if patient_mail != sent_email:
        problems.append(f"SMTP sink holds {patient_mail} patient emails, outbox says {sent_email}")
    registry = demo.metrics.registry
    return {
        "simulated": {
            "from": START.date().isoformat(),
            "to": demo.clock().date().isoformat(),
            "weeks": steps,
            "patients": len(cohort.patients),
            "events_produced": produced,
        },
        "wall_seconds": round(wall, 1),
        "streams": {
            "events_applied": int(
                registry.get_sample_value("rw_streams_events_applied_total") or 0
            ),
            "reminders_and_cancellations": int(
                registry.get_sample_value("rw_streams_reminders_emitted_total") or 0
            ),
            "alerts": int(registry.get_sample_value("rw_streams_alerts_emitted_total") or 0),
            "ticks_settled": int(demo.ticks_settled()),
        },
        "deliveries_by_status": statuses,
        "deliveries": [
            {"purpose": p, "channel": c, "status": s, "count": n} for p, c, s, n in by_purpose
        ],
        "why": [{"decision": a, "reason": r, "count": n} for (a, r), n in why.most_common()],
        "escalated_to_care_team": dict(escalated),
        "received": {
            "patient_emails": patient_mail,
            "care_team_emails": care_team_mail,
            "sms": len(demo.sms.posts),
        },
        "replies": demo.replies,
        "problems": problems,
    }


def _reason_kind(reason: str) -> str:
    """A decision's reason without its instants, ids and counts, so that like groups with like."""
    words = []
    for word in reason.replace(",", " ").split():
        if any(ch.isdigit() for ch in word):
            break
        words.append(word)
    return " ".join(words[:10]) or reason[:60]


def print_report(report: dict[str, Any], as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    sim, streams = report["simulated"], report["streams"]
    console.print(
        f"[bold]Remission Watch demo[/bold]: {sim['patients']} patients, "
        f"{sim['from']} to {sim['to']} ({sim['weeks']} simulated weeks) "
        f"in {report['wall_seconds']} s"
    )
    console.print(
        f"streams: {sim['events_produced']} events produced, "
        f"{streams['events_applied']} applied, {streams['ticks_settled']} ticks "
        f"settled, {streams['reminders_and_cancellations']} reminders and "
        f"cancellations, {streams['alerts']} care-team alerts"
    )
    table = Table(title="Deliveries")
    for column in ("purpose", "channel", "status", "count"):
        table.add_column(column)
    for row in report["deliveries"]:
        table.add_row(row["purpose"], row["channel"] or "-", row["status"], str(row["count"]))
    console.print(table)
    why = Table(title="Why: every decision the notifier recorded")
    for column in ("decision", "reason", "count"):
        why.add_column(column)
    for row in report["why"]:
        why.add_row(row["decision"], row["reason"], str(row["count"]))
    console.print(why)
    console.print(f"escalated to the care team: {report['escalated_to_care_team']}")
    r = report["received"]
    console.print(
        f"received by the sinks: {r['patient_emails']} patient emails, "
        f"{r['sms']} SMS, {r['care_team_emails']} care-team emails"
    )
    for reply in report["replies"]:
        console.print(
            f"  {reply['on']} {reply['patient_id']} texted {reply['text']!r}: {reply['outcome']}"
        )
    for problem in report["problems"]:
        console.print(f"[red]problem:[/red] {problem}")
