"""A worker whose topics vanish or change partition count stops and says what to do."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.embedded import EmbeddedBroker, ensure_topics, free_port
from streams.settings import StreamsSettings
from streams.topics import TopicNames, TopicsChanged, create_topics, topics_problem

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def own_settings(bootstrap: str, tmp_path: Path, partitions: int = 2) -> StreamsSettings:
    return StreamsSettings(
        kafka_bootstrap=bootstrap, partitions=partitions, data_dir=tmp_path / "streams"
    )


async def test_a_changed_partition_count_is_named_with_what_to_do(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = own_settings(kafka_bootstrap, tmp_path).model_copy(
        update={"topic_prefix": "vanish-a.", "app_id": "vanish-a"}
    )
    labs = TopicNames(settings.topic_prefix).labs
    await ensure_topics(kafka_bootstrap, {labs: 4})  # as an auto-created topic would be
    with pytest.raises(TopicsChanged, match=rf"{labs} has 4, but RW_PARTITIONS=2"):
        await create_topics(settings)
    problem = await topics_problem(settings)  # what a running worker's watch would say
    assert problem is not None
    assert f"partition counts changed on {kafka_bootstrap}: {labs} has 4" in problem
    assert "'Adding partitions'" in problem


def test_a_broker_restart_stops_the_worker_with_a_message(
    protocols_dir: Path, tmp_path: Path
) -> None:
    """The embedded broker keeps nothing: restarted under a running worker, every topic is
    gone. The worker stops (exit 2) saying so, instead of crashing on ConsistencyError."""
    port = free_port()
    settings = own_settings(f"127.0.0.1:{port}", tmp_path)
    env = {
        **os.environ,
        "RW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "RW_PARTITIONS": str(settings.partitions),
        "RW_DATA_DIR": str(settings.data_dir),
        "RW_CONFIRM_CHANGELOG_ENDS": "true",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "streams", "worker", "--protocols", str(protocols_dir)]
    log = tmp_path / "worker.log"
    with EmbeddedBroker(port=port):
        with log.open("wb") as out:
            worker = subprocess.Popen(command, env=env, stdout=out, stderr=out)
        try:
            wait_for_line(log, "patient agent started", worker)
        except BaseException:
            worker.kill()
            raise
    try:
        with EmbeddedBroker(port=port):  # the same address, nothing in it
            worker.wait(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    text = log.read_text(errors="replace")
    assert worker.returncode == 2, text[-3000:]
    assert "worker stopped: topics vanished from" in text
    assert "remission-watch up` recreates them" in text
    assert "ConsistencyError" not in text


def wait_for_line(log: Path, line: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while line not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)
