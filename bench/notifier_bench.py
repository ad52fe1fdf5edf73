"""Notifier benchmark; prints measured figures as JSON.

Default run (PostgreSQL at RW_BENCH_PG_URL or 127.0.0.1:5432, a real aiosmtpd SMTP sink):
  outbox_inserts_per_s        SqlOutbox.record of reminders in batches (one batch = one poll)
  email_deliveries_per_s      outbox -> policy -> render -> Apprise -> SMTP sink -> marked sent
  email_cpu_ms_per_message    CPU (user + system) of this process per e-mail in that run: less
                              noisy than the rate on a shared machine (the sink is another process)
  duplicates_under_redelivery every reminder recorded again and dispatched again; must be 0
`--crash` also runs the crash test: the notifier as a subprocess on the embedded broker,
1,000 reminders, SIGKILL mid-burst, restart, then count what the SMTP sink received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.outputs import Category, Reminder, ReminderKind, reminder_id
from models.templates import MessageContext
from notifier.channels import AppriseChannel
from notifier.clock import system_clock
from notifier.crypto import ContactCipher
from notifier.database import make_engine, upgrade_schema
from notifier.dispatcher import DispatchConfig, Dispatcher
from notifier.messages import MessageRenderer
from notifier.outbox import SqlOutbox
from notifier.policy import DeliveryPolicy, PolicyConfig
from notifier.recipient_store import RecipientUpdate, SqlRecipients
from notifier.recipients import Channel, Consent
from notifier.settings import DEV_ENCRYPTION_KEY
from notifier.sinks import SmtpSink, free_port
from notifier.tls import prefer_ca_directory

PG_SERVER = os.environ.get("RW_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# no sending window (equal bounds); the field names changed with issue 11, so that this file
# also runs against the code from before it (to measure both side by side)
_WINDOW = ("window_start", "window_end")
_WINDOW = (
    _WINDOW if "window_start" in PolicyConfig.__dataclass_fields__ else ("quiet_start", "quiet_end")
)
NO_QUIET_HOURS = PolicyConfig(**dict.fromkeys(_WINDOW, datetime.min.time()))


@contextmanager
def pg_database(tag: str) -> Iterator[str]:
    name = f"rw_notifier_{tag}_{os.getpid()}"
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    url = PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    upgrade_schema(url)
    try:
        yield url
    finally:
        with psycopg.connect(PG_SERVER, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class ExternalSmtpSink:
    """The aiosmtpd sink in its own process (it must not share our GIL); it writes one line
    per recipient to a file that we count."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.record = workdir / f"smtp-{self.port}.txt"
        self.record.write_text("")
        self._probe = SmtpSink(port=self.port)  # only for url()

    def url(self, sender: str = "clinic@example.org") -> str:
        return self._probe.url(sender)

    def recipients(self) -> list[str]:
        return [line for line in self.record.read_text().splitlines() if line]

    def count_by_recipient(self) -> Counter[str]:
        return Counter(self.recipients())

    def __enter__(self) -> ExternalSmtpSink:
        command = [sys.executable, "-m", "notifier.sinks", "--port", str(self.port)]
        self._process = subprocess.Popen([*command, "--record", str(self.record)], env=_env())
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("SMTP sink did not start")

    def __exit__(self, *exc: object) -> None:
        self._process.send_signal(signal.SIGTERM)
        self._process.wait(timeout=10)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **extra}


def reminders(count: int, prefix: str = "b") -> list[Reminder]:
    due = date(2027, 3, 20)
    now = datetime.now(UTC)
    return [
        Reminder(
            patient_id=f"{prefix}{n}",
            reminder_id=reminder_id(f"{prefix}{n}", "ct_chest", due, ReminderKind.DUE),
            item="ct_chest",
            category=Category.SCAN,
            kind=ReminderKind.DUE,
            earliest=due,
            due=due,
            overdue=due,
            reason="bench",
            source="bench",
            protocol="bench",
            emitted_at=now,
        )
        for n in range(count)
    ]


def enrol_email(url: str, count: int, prefix: str) -> None:
    engine = make_engine(url)
    store = SqlRecipients(engine, ContactCipher([DEV_ENCRYPTION_KEY]))
    now = datetime.now(UTC)
    for n in range(count):
        pid = f"{prefix}{n}"
        store.upsert(
            pid, RecipientUpdate(email=f"{pid}@bench.test", channel_order=(Channel.EMAIL,)), now
        )
        store.record_consent(pid, Consent(Channel.EMAIL, True, "bench", now, True), now)
    engine.dispose()


def bench_inserts(url: str, total: int, batch: int) -> float:
    engine = make_engine(url)
    outbox = SqlOutbox(engine)
    items = reminders(total, prefix="ins")
    started = time.perf_counter()
    for start in range(0, total, batch):
        outbox.record(items[start : start + batch], datetime.now(UTC))
    elapsed = time.perf_counter() - started
    engine.dispose()
    return total / elapsed


def email_dispatcher(
    engine: Engine, outbox: SqlOutbox, sink: ExternalSmtpSink, config: DispatchConfig
) -> Dispatcher:
    """The dispatcher every e-mail run uses: the sink as the one channel, no quiet hours."""
    return Dispatcher(
        outbox,
        SqlRecipients(engine, ContactCipher([DEV_ENCRYPTION_KEY])),
        DeliveryPolicy(NO_QUIET_HOURS),
        MessageRenderer(MessageContext("Riverside Clinic", "+1 555 0100")),
        {Channel.EMAIL: AppriseChannel(Channel.EMAIL, [sink.url()])},
        system_clock,
        config,
    )


async def bench_email(
    url: str, sink: ExternalSmtpSink, total: int, concurrency: int
) -> dict[str, float]:
    enrol_email(url, total, "mail")
    engine = make_engine(url, pool_size=concurrency + 4)
    outbox = SqlOutbox(engine)
    dispatcher = email_dispatcher(
        engine, outbox, sink, DispatchConfig(batch=500, concurrency=concurrency)
    )
    items = reminders(total, prefix="mail")
    outbox.record(items, datetime.now(UTC))
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    while await dispatcher.dispatch_once():
        pass
    cpu = _cpu_seconds() - cpu_before
    while len(sink.recipients()) < total and time.perf_counter() - started < 120:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    # redelivery: every reminder arrives again (twice), then the dispatcher runs again
    outbox.record(items + items, datetime.now(UTC))
    while await dispatcher.dispatch_once():
        pass
    await asyncio.sleep(0.5)
    dispatcher.close()
    engine.dispose()
    counts = sink.count_by_recipient()
    return {
        "email_deliveries": total,
        "email_deliveries_per_s": round(len(sink.recipients()) / elapsed, 1),
        "email_cpu_ms_per_message": round(1000 * cpu / total, 2),
        "emails_received": len(sink.recipients()),
        "duplicates_under_redelivery": sum(counts.values()) - len(counts),
    }


async def bench_db_drops(
    url: str, sink: ExternalSmtpSink, total: int, concurrency: int, drops: int
) -> dict[str, object]:
    """`total` e-mails while every connection to the database is terminated `drops` times
    (pg_terminate_backend, spread over the run); then, with a 2 s lease, the dispatcher runs
    until nothing is due. Counts what the SMTP sink received: duplicates and lost."""
    enrol_email(url, total, "drop")
    engine = make_engine(url, pool_size=concurrency + 4)
    outbox = SqlOutbox(engine)
    dispatcher = email_dispatcher(
        engine,
        outbox,
        sink,
        DispatchConfig(batch=200, concurrency=concurrency, lease=timedelta(seconds=2)),
    )
    outbox.record(reminders(total, prefix="drop"), datetime.now(UTC))
    database = url.rsplit("/", 1)[1]
    done, dropped = asyncio.Event(), 0

    async def drop_connections() -> None:
        nonlocal dropped
        for step in range(1, drops + 1):
            while len(sink.recipients()) < total * step // (drops + 1) and not done.is_set():
                await asyncio.sleep(0.005)
            with psycopg.connect(PG_SERVER, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (database,),
                )
            dropped += 1

    dropper = asyncio.create_task(drop_connections())
    started = time.perf_counter()
    idle = 0
    while idle < 3 and time.perf_counter() - started < 300:
        try:
            handled = await dispatcher.dispatch_once()
        except Exception:  # a dropped connection mid-claim: the next round tries again
            handled = 0
        idle = 0 if handled else idle + 1
        if not handled:
            await asyncio.sleep(1.0)  # leases of unrecorded rows run out (2 s)
    done.set()
    await dropper
    await asyncio.sleep(0.5)
    dispatcher.close()
    engine.dispose()
    counts = sink.count_by_recipient()
    return {
        "db_drop_emails": total,
        "db_drops": dropped,
        "db_drop_duplicated": sum(counts.values()) - len(counts),
        "db_drop_lost": total - len(counts),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def crash_test(total: int, kill_after: int) -> dict[str, object]:
    from streams.embedded import EmbeddedBroker, ensure_topics

    workdir = Path(tempfile.mkdtemp(prefix="rw-crash-"))
    with EmbeddedBroker() as broker, pg_database("crash") as url, ExternalSmtpSink(workdir) as sink:
        prefix = f"crash{os.getpid()}."
        asyncio.run(
            ensure_topics(
                broker.bootstrap,
                {f"{prefix}{t}.v1": 4 for t in ("reminders", "alerts", "checkins")},
            )
        )
        enrol_email(url, total, "c")
        port = free_port()
        env = _env(
            **{
                "RW_ALLOW_DEV_KEY": "1",
                "RW_NO_CARE_TEAM": "1",  # a care-team channel is required unless said so
                "RW_DATABASE_URL": url,
                "RW_KAFKA_BOOTSTRAP": broker.bootstrap,
                "RW_TOPIC_PREFIX": prefix,
                "RW_EMAIL_URL": sink.url(),
                "RW_SEND_WINDOW_START": "00:00",
                "RW_SEND_WINDOW_END": "00:00",
                # the same, under the names the code before issue 11 reads (deprecated now)
                "RW_QUIET_START": "00:00",
                "RW_QUIET_END": "00:00",
                "RW_SENDING_STALE_SECONDS": "5",
                "RW_HTTP_PORT": str(port),
                "RW_DISPATCH_INTERVAL_SECONDS": "0.1",
                "RW_KAFKA_SESSION_TIMEOUT_MS": "3000",
                "RW_KAFKA_REBALANCE_TIMEOUT_MS": "1000",
                "RW_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            }
        )
        command = [sys.executable, "-m", "notifier", "notifier", "--log-level", "WARNING"]

        def start() -> subprocess.Popen[bytes]:
            child = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    return child
                except OSError:
                    time.sleep(0.1)
            child.kill()
            raise RuntimeError("notifier did not come up")

        child = start()
        asyncio.run(
            _produce(broker.bootstrap, f"{prefix}reminders.v1", reminders(total, prefix="c"))
        )
        deadline = time.monotonic() + 60
        while len(sink.recipients()) < kill_after and time.monotonic() < deadline:
            time.sleep(0.005)
        received_at_kill = len(sink.recipients())
        child.send_signal(signal.SIGKILL)
        child.wait()
        restarted_at = time.monotonic()
        child = start()
        deadline = time.monotonic() + 90
        while len(sink.count_by_recipient()) < total and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(6)  # leases of rows caught mid-send expire after 5 s: let them settle
        recovery = time.monotonic() - restarted_at
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=20)
        counts = sink.count_by_recipient()
        return {
            "crash_reminders": total,
            "crash_received_before_kill": received_at_kill,
            "crash_lost": total - len(counts),
            "crash_duplicated": sum(counts.values()) - len(counts),
            "crash_recovery_s": round(recovery, 1),
        }


async def _produce(bootstrap: str, topic: str, items: list[Reminder]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, r.model_dump_json().encode(), key=r.patient_id.encode())
            for r in items
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inserts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--emails", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--crash", action="store_true", help="also run the SIGKILL crash test")
    parser.add_argument("--crash-total", type=int, default=1_000)
    parser.add_argument("--kill-after", type=int, default=300)
    parser.add_argument(
        "--db-drops", type=int, default=0, help="also send with N database connection drops"
    )
    parser.add_argument("--db-drop-total", type=int, default=600)
    args = parser.parse_args()
    result: dict[str, object] = {"database": "postgresql", "smtp": "aiosmtpd"}
    result["tls_ca_directory"] = prefer_ca_directory()  # what NotifierService does at start
    with pg_database("inserts") as url:
        result["outbox_inserts_per_s"] = round(bench_inserts(url, args.inserts, args.batch), 1)
        result["outbox_batch"] = args.batch
    workdir = Path(tempfile.mkdtemp(prefix="rw-bench-"))
    # a fresh database: the insert benchmark's rows would otherwise be dispatched too
    with pg_database("emails") as url, ExternalSmtpSink(workdir) as sink:
        result.update(asyncio.run(bench_email(url, sink, args.emails, args.concurrency)))
    result["send_concurrency"] = args.concurrency
    if args.db_drops:
        workdir = Path(tempfile.mkdtemp(prefix="rw-drops-"))
        with pg_database("drops") as url, ExternalSmtpSink(workdir) as sink:
            result.update(
                asyncio.run(
                    bench_db_drops(url, sink, args.db_drop_total, args.concurrency, args.db_drops)
                )
            )
    if args.crash:
        result.update(crash_test(args.crash_total, args.kill_after))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
