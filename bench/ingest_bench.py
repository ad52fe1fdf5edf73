"""Benchmark of HL7 ingest on the embedded broker (or --bootstrap); prints its figures as JSON.

1. Throughput over one MLLP connection: a client sends a 6-segment ORU (one PSA), waits for its
   ACK, sends the next; every ACK comes after the broker acknowledged the message's event.
2. ACK latency at a steady rate: the same client sends at `--rate` messages/s (one every
   1/rate s, whatever the previous ACK took) for `--seconds`; p50/p99/max of send→ACK.
3. File backfill: a file of ORU messages of 20 segments (MSH, PID, ORC, OBR, 16 OBX) through
   `ingest file`'s code path (events handed to the producer, acknowledgements awaited once at
   the end), in one process, and with `--workers` processes decoding and mapping for it
   (`ingest file --workers`, ingest.backfill): one backfill, one ledger, on every core.

Run: `python bench/ingest_bench.py [--messages N] [--rate R] [--seconds S] [--file-messages F]
[--workers W] [--bootstrap H:P]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet

from ingest.config import IngestConfig, load_config
from ingest.files import load_file
from ingest.hl7_intake import Hl7Intake
from ingest.ledger import SqliteLedger
from ingest.mllp import MllpServer
from ingest.quarantine import QuarantineStore
from ingest.sink import KafkaEventSink
from streams.embedded import EmbeddedBroker
from streams.settings import StreamsSettings
from streams.topics import TopicNames, create_topics

CONFIG = """
pseudonym: {{key_env: RW_BENCH_PSEUDONYM_KEY}}
quarantine: {{path: {folder}/q, key_env: RW_BENCH_QUARANTINE_KEY}}
ledger: {folder}/ledger-{tag}.sqlite3
feeds:
  - name: MAIN-LAB
    sending_facility: BENCH LAB
    mrn: {{type: MR, assigning_authority: BENCH}}
    time_zone: America/Chicago
    labs: all                         # every result: the benchmark's 16 per message
"""
LOINCS = [
    "2857-1",
    "2039-6",
    "3013-0",
    "8098-6",
    "6875-9",
    "83112-3",
    "10334-1",
    "19201-3",
    "1751-7",
    "1920-8",
    "1742-6",
    "6768-6",
    "2532-0",
    "2160-0",
    "3094-0",
    "2345-7",
]


def oru(n: int, results: int) -> bytes:
    sent = "20270203140200-0600"
    segments = [
        f"MSH|^~\\&|LIS|BENCH LAB|RW|CANCER CTR|{sent}||ORU^R01^ORU_R01|B-{n}|P|2.5.1",
        f"PID|1||MRN{n:07d}^^^BENCH^MR||Benchpatient^Test||19600101|F",
        f"ORC|RE|ORD{n}^EHR|F{n}^LAB",
        f"OBR|1|ORD{n}^EHR|F{n}^LAB|PANEL^Tumour markers^L|||20270203081500-0600||||||||||||||"
        f"{sent}|||F",
    ]
    for i in range(results):
        segments.append(
            f"OBX|{i + 1}|NM|{LOINCS[i % len(LOINCS)]}^Marker {i}^LN||{0.01 * (n % 500) + i:.2f}|"
            f"ng/mL^nanogram per milliliter^UCUM|0-4|N|||F|||20270203081500-0600"
        )
    return "\r".join(segments).encode()


def _intake(config: IngestConfig, sink: KafkaEventSink, defer: bool) -> Hl7Intake:
    ledger = SqliteLedger(config.ledger)
    quarantine = QuarantineStore.from_settings(config.quarantine)
    return Hl7Intake(config, sink, ledger, quarantine, defer=defer)


def _config(folder: str, tag: str) -> IngestConfig:
    path = Path(folder) / f"ingest-{tag}.yaml"
    path.write_text(CONFIG.format(folder=folder, tag=tag))
    return load_config(path)


async def mllp_figures(
    bootstrap: str, prefix: str, folder: str, args: argparse.Namespace
) -> dict[str, Any]:
    sink = KafkaEventSink(bootstrap, TopicNames(prefix))
    await sink.start()
    server = MllpServer(_intake(_config(folder, "mllp"), sink, defer=False), 1 << 20)
    host, port = await server.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(host, port)

    async def one(n: int) -> float:
        start = time.perf_counter()
        writer.write(b"\x0b" + oru(n, 1) + b"\x1c\r")
        await writer.drain()
        ack = await reader.readuntil(b"\x1c\r")
        if b"MSA|AA|" not in ack:
            raise RuntimeError(f"not acknowledged: {ack[:200]!r}")
        return time.perf_counter() - start

    for n in range(50):  # warm-up: connections, metadata
        await one(10_000_000 + n)
    start = time.perf_counter()
    for n in range(args.messages):
        await one(n)
    throughput = args.messages / (time.perf_counter() - start)

    latencies, interval = [], 1.0 / args.rate
    base, count = time.perf_counter(), int(args.rate * args.seconds)
    for i in range(count):
        delay = base + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        latencies.append(await one(1_000_000 + i))
    elapsed = time.perf_counter() - base
    writer.close()
    await server.stop()
    await sink.stop()
    ordered = sorted(latencies)
    return {
        "mllp_one_connection_msgs_per_s": round(throughput, 1),
        "mllp_messages": args.messages,
        "ack_latency_rate_target_per_s": args.rate,
        "ack_latency_rate_achieved_per_s": round(count / elapsed, 1),
        "ack_latency_ms_p50": round(statistics.median(ordered) * 1000, 2),
        "ack_latency_ms_p99": round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 2),
        "ack_latency_ms_max": round(ordered[-1] * 1000, 2),
        "ack_latency_messages": count,
    }


def _load_share(
    bootstrap: str, prefix: str, folder: str, path: str, tag: str, workers: int = 1
) -> tuple[int, float, float]:
    """Load one file; (messages, wall seconds, CPU seconds of this process)."""

    async def run() -> tuple[int, float, float]:
        sink = KafkaEventSink(bootstrap, TopicNames(prefix), timeout=120, linger_ms=5)
        await sink.start()
        intake = _intake(_config(folder, tag), sink, defer=True)
        start, cpu = time.perf_counter(), time.process_time()
        counts = await load_file(intake, Path(path), workers)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        await sink.stop()
        if counts["AA"] == 0 or counts["AE"] or counts["AR"]:
            raise RuntimeError(f"backfill failed: {dict(counts)}")
        return counts["AA"], elapsed, cpu

    return asyncio.run(run())


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process so far (the embedded broker's), from /proc; 0 if unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def file_figures(
    bootstrap: str, prefix: str, folder: str, args: argparse.Namespace, broker_pid: int | None
) -> dict[str, Any]:
    workers, total = args.workers, args.file_messages
    single = Path(folder) / "backfill-single.hl7"
    single.write_bytes(b"\r".join(oru(7_000_000 + n, 16) for n in range(total)) + b"\r")
    broker_before = _cpu_seconds(broker_pid)
    done, seconds, cpu = _load_share(bootstrap, prefix, folder, str(single), "single")
    broker_cpu = _cpu_seconds(broker_pid) - broker_before
    one_process = done / seconds
    spread = Path(folder) / "backfill-workers.hl7"
    spread.write_bytes(b"\r".join(oru(5_000_000 + n, 16) for n in range(total)) + b"\r")
    start, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done_w, seconds_w, cpu_w = _load_share(bootstrap, prefix, folder, str(spread), "w", workers)
    wall = time.perf_counter() - start  # includes starting the processes
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, waited for
    workers_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    both = done_w / seconds_w
    return {
        "file_backfill_segments_per_message": 20,
        "file_backfill_messages": total,
        "file_backfill_one_process_msgs_per_s": round(one_process, 1),
        # CPU time of the loading process per message (parse, map, validate, produce; the
        # broker's own CPU not included): what the rate would be with a core to itself
        "file_backfill_one_process_cpu_ms_per_msg": round(cpu / done * 1000, 3),
        # the embedded broker's CPU during that load (16 records per message, acks=all)
        "file_backfill_broker_cpu_ms_per_msg": round(broker_cpu / done * 1000, 3),
        "file_backfill_workers": workers,
        "file_backfill_workers_msgs_per_s": round(both, 1),  # worker start-up included
        "file_backfill_workers_main_cpu_ms_per_msg": round(cpu_w / done_w * 1000, 3),
        # the workers' CPU, their start-up (imports) included
        "file_backfill_workers_their_cpu_ms_per_msg": round(workers_cpu / done_w * 1000, 3),
        "file_backfill_workers_wall_s": round(wall, 2),
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--file-messages", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bootstrap")
    args = parser.parse_args()
    os.environ.setdefault("RW_BENCH_PSEUDONYM_KEY", "bench-key-" + "x" * 32)
    os.environ.setdefault("RW_BENCH_QUARANTINE_KEY", Fernet.generate_key().decode())
    broker = None if args.bootstrap else EmbeddedBroker().start()
    bootstrap = args.bootstrap or broker.bootstrap  # type: ignore[union-attr]
    prefix = f"bench{int(time.time())}."
    try:
        asyncio.run(create_topics(StreamsSettings(kafka_bootstrap=bootstrap, topic_prefix=prefix)))
        with tempfile.TemporaryDirectory() as folder:
            figures = asyncio.run(mllp_figures(bootstrap, prefix, folder, args))
            pid = broker._process.pid if broker is not None and broker._process else None
            figures |= file_figures(bootstrap, prefix, folder, args, pid)
    finally:
        if broker is not None:
            broker.stop()
    broker_kind = "external" if args.bootstrap else "embedded tansu"
    print(json.dumps({"broker": broker_kind, **figures}, indent=2))


if __name__ == "__main__":
    main()
