"""Create every topic the streams service needs, with the configured partition count.

    python /opt/remission-watch/create_topics.py [--check] [--replication-factor N]

The names, partition counts and configs come from `streams.topics.topic_plan(StreamsSettings())`
(RW_TOPIC_PREFIX, RW_PARTITIONS, RW_APP_ID, RW_COMPACT_STATE_TOPIC), so this can never disagree
with what the worker expects. Existing topics are left alone; a topic whose partition count
differs from RW_PARTITIONS is an error (co-partitioning would be broken and the patient agent
would stall), never "fixed" here: see docs/operations.md, "Adding partitions".

Configs come from the plan too: source topics keep everything (retention.ms=-1), changelogs and
the state topic are compacted. They are read back from the broker; an existing topic whose
configs differ is reported with the kafka-configs.sh command that fixes it, and the exit is 1
(never altered here: a cluster may have reasons, and the operator decides).

`--check` creates nothing and exits 1 if a topic is missing or has the wrong count: the k8s
worker and ticker run it as an init container, so they cannot start (and auto-create topics
with replication factor 1 through `streams.topics.create_topics`) before the topics Job ran.

The replication factor is not a setting of the services (their own create_topics uses 1, which
suits one broker): pass --replication-factor or set TOPIC_REPLICATION_FACTOR (default 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streams.embedded import topic_configs
from streams.settings import StreamsSettings
from streams.topics import topic_plan


async def _counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    # Ask for all topics: a metadata request naming a missing topic can make a broker with
    # auto.create.topics.enable=true create it, with its default partition count.
    metadata = await admin.describe_topics()
    return {
        topic["topic"]: len(topic["partitions"])
        for topic in metadata
        if topic["topic"] in names and topic.get("error_code", 0) == 0
    }


async def _connect(
    bootstrap: str, wait_seconds: float, client: dict[str, Any] | None = None
) -> AIOKafkaAdminClient:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="rw-topics", **(client or {})
        )
        try:
            await admin.start()
            return admin
        except KafkaConnectionError:
            with contextlib.suppress(Exception):
                await admin.close()
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(2)


async def run(
    settings: StreamsSettings, replication: int, check_only: bool, wait_seconds: float
) -> dict[str, object]:
    counts, configs = topic_plan(settings)
    names = sorted(counts)
    admin = await _connect(settings.kafka_bootstrap, wait_seconds, settings.kafka_client_options())
    try:
        existing = await _counts(admin, names)
        missing = [name for name in names if name not in existing]
        created: list[str] = []
        if missing and not check_only:
            new = [
                NewTopic(name, counts[name], replication, topic_configs=configs.get(name, {}))
                for name in missing
            ]
            # Another process may create some of them between our listing and our request.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
            created = missing
            existing = await _counts(admin, names)
            # Kafka answers CreateTopics once its controller has them; the broker's metadata
            # can show them a moment later (seen on three brokers under load).
            for _ in range(100):
                if all(name in existing for name in names):
                    break
                await asyncio.sleep(0.1)
                existing = await _counts(admin, names)
        present = {name: want for name, want in configs.items() if name in existing}
        found = await topic_configs(admin, present)
    finally:
        await admin.close()
    wrong = {name: existing.get(name) for name in names if existing.get(name) != counts[name]}
    drift = {
        name: {key: {"found": found[name][key], "want": value} for key, value in wrong_keys}
        for name, want in present.items()
        if (wrong_keys := [(k, v) for k, v in want.items() if found[name][k] != v])
    }
    return {
        "bootstrap": settings.kafka_bootstrap,
        "partitions": settings.partitions,
        "replication_factor": replication,
        "created": created,
        "topics": names,
        "wrong_or_missing": wrong,
        "wrong_configs": drift,
        "ok": not wrong and not drift,
    }


def fix_hints(report: dict[str, Any]) -> list[str]:
    """What to run for each topic whose configs differ from the plan (never done here: an
    operator may have reasons, e.g. tiered storage, and must decide)."""
    return [
        f"{name}: kafka-configs.sh --bootstrap-server {report['bootstrap']} --alter "
        f"--entity-type topics --entity-name {name} --add-config "
        + ",".join(f"{key}={v['want']}" for key, v in keys.items())
        for name, keys in report["wrong_configs"].items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify only; create nothing")
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=int(os.environ.get("TOPIC_REPLICATION_FACTOR", "1")),
        help="replication factor of created topics (TOPIC_REPLICATION_FACTOR, default 1)",
    )
    parser.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for the broker (default 60)"
    )
    args = parser.parse_args(argv)
    report = asyncio.run(run(StreamsSettings(), args.replication_factor, args.check, args.wait))
    print(json.dumps(report, indent=2))
    for hint in fix_hints(report):
        print(f"configs differ from the plan; to fix, {hint}", file=sys.stderr)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
