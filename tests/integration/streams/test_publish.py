"""`remission-watch publish FILE.jsonl` against the embedded broker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.embedded import free_port
from streams.publish import publish
from streams.rebuild import read_all
from streams.settings import StreamsSettings
from streams.topics import TopicNames

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[3] / "examples" / "all.jsonl"


def run_publish(settings: StreamsSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "RW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "RW_TOPIC_PREFIX": settings.topic_prefix,
        "RW_APP_ID": settings.app_id,
        "RW_PARTITIONS": str(settings.partitions),
    }
    command = [sys.executable, "-m", "remission_watch.cli", "publish", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


async def test_valid_lines_reach_their_topics_keyed_by_patient_and_bad_ones_are_listed(
    settings: StreamsSettings, tmp_path: Path
) -> None:
    good = [line for line in EXAMPLES.read_text().splitlines() if line]
    bad = [
        '{"type": "lab.resulted", "patient_id": "X"',  # cut short
        json.dumps({**json.loads(good[0]), "occurred_at": "2024-01-01T00:00:00"}),  # naive
        '{"type": "scan.teleported"}',
    ]
    lines = [*good[:10], bad[0], *good[10:30], bad[1], "", *good[30:], bad[2]]
    source = tmp_path / "events.jsonl"
    source.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")  # with a BOM

    result = await asyncio.to_thread(run_publish, settings, str(source))

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{source}: {len(good)} of {len(lines)} lines published" in result.stdout
    bad_numbers = [n for n, line in enumerate(lines, start=1) if line in bad]
    for number in bad_numbers:
        assert f"{source}:{number}: " in result.stdout
    assert f"{source}:{bad_numbers[1]}: patient.enrolled.occurred_at: Input should have" in (
        result.stdout
    )
    names = TopicNames(settings.topic_prefix)
    records = await read_all(settings.kafka_bootstrap, names.events)
    sent = {(r.topic, r.key, r.value) for r in records}
    want = set()
    for line in good:
        body = json.loads(line)
        want.add((names.for_event(body["type"]), body["patient_id"].encode(), line.encode()))
    assert sent == want and len(records) == len(good)
    # one patient's events keep their file order within their partition
    for pid in {json.loads(line)["patient_id"] for line in good}:
        for topic in names.events:
            got = [
                r.value
                for r in sorted(records, key=lambda r: r.offset)
                if r.topic == topic and r.key == pid.encode()
            ]
            mine = [
                line.encode()
                for line in good
                if json.loads(line)["patient_id"] == pid
                and names.for_event(json.loads(line)["type"]) == topic
            ]
            assert got == mine


async def test_a_clean_file_is_exit_0_and_progress_is_reported(
    settings: StreamsSettings, tmp_path: Path
) -> None:
    seen: list[tuple[int, int, int]] = []
    report = await publish(EXAMPLES, settings, progress=lambda *p: seen.append(p), progress_every=0)
    assert (report.sent, report.bad) == (report.lines, [])
    assert seen and seen[-1][1:] == (report.lines, report.lines)  # the last: whole file read
    dry = await asyncio.to_thread(run_publish, settings, "--dry-run", str(EXAMPLES))
    assert dry.returncode == 0, dry.stderr
    assert f"{report.sent} of {report.lines} lines valid" in dry.stdout


def test_what_cannot_run_is_one_line_and_exit_2(settings: StreamsSettings, tmp_path: Path) -> None:
    nowhere = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    cases = {
        str(EXAMPLES): (nowhere, "cannot reach the Kafka broker at"),
        str(tmp_path / "missing.jsonl"): (settings, "no such file"),
        str(tmp_path): (settings, "is a folder"),
    }
    for path, (where, words) in cases.items():
        result = run_publish(where, path)
        assert result.returncode == 2, result.stderr
        assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
