"""The demo as a new user runs it: one command, the real Kafka path, a clean exit, and the same
figures from the same seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

SMALL = ["--patients", "12", "--years", "1.5", "--seed", "11"]


def marked(mark: str) -> list[int]:
    """Processes whose environment carries `mark`: the demo's own tree, its broker included,
    even once an exited parent's children are adopted (other sessions run brokers too)."""
    needle = f"RW_TEST_RUN={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ and state != "Z":
            found.append(int(entry.name))
    return found


def run_demo(*args: str) -> tuple[dict[str, Any], list[int]]:
    """The demo's JSON report, and its processes still alive after it exited."""
    mark = uuid.uuid4().hex
    done = subprocess.run(
        [sys.executable, "-m", "remission_watch.cli", "demo", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RW_TEST_RUN": mark},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout), marked(mark)


@pytest.fixture(scope="module")
def first() -> tuple[dict[str, Any], list[int]]:
    return run_demo(*SMALL)


def test_demo_runs_the_cohort_through_kafka_and_exits_cleanly(
    first: tuple[dict[str, Any], list[int]],
) -> None:
    report, left = first
    assert left == [], "the demo left processes running (its broker?)"
    assert report["problems"] == []
    streams = report["streams"]
    assert streams["events_applied"] >= report["simulated"]["patients"] * 5
    assert streams["ticks_settled"] == report["simulated"]["weeks"] * 4  # every partition
    sent = report["deliveries_by_status"].get("sent", 0)
    assert sent > 20
    assert report["received"]["patient_emails"] + report["received"]["sms"] > 0
    decisions = {row["decision"] for row in report["why"]}
    assert "sent" in decisions and "suppressed" in decisions  # some patients gave no consent
    outcomes = {reply["text"]: reply["outcome"] for reply in report["replies"]}
    assert outcomes.get("Stop") == "opt_out" and outcomes.get("HELP") == "help"
    assert outcomes.get("8") == "checkin"  # an SMS score went back through Kafka...
    assert report["escalated_to_care_team"].get("self_harm") == 1  # ...and a crisis text too
    crisis = [reply for reply in report["replies"] if "hopeless" in reply["text"]]
    assert [reply.get("escalated") for reply in crisis] == ["self_harm"]
    ingest = report["ingest"]  # part of the cohort came in as HL7 over MLLP and FHIR R4
    assert set(ingest["patients"]) == {"DEMO-LAB", "DEMO-FHIR"}
    assert ingest["hl7_messages_sent_over_mllp"] > 0
    assert ingest["hl7_acks"] == {"AA": ingest["hl7_messages_sent_over_mllp"]}
    assert ingest["fhir_requests"] > 0 and set(ingest["fhir_entries"]) == {"200 OK"}
    assert ingest["events_through_ingest"] == ingest["hl7_acks"]["AA"] + sum(
        ingest["fhir_entries"].values()
    )
    assert streams["dead_lettered"] == 0  # every event, ingest's too, was folded


def test_the_same_seed_gives_the_same_figures(first: tuple[dict[str, Any], list[int]]) -> None:
    """Every figure the demo prints, the replies and the dates they were sent on included;
    only the wall time may differ."""
    again, left = run_demo(*SMALL)
    assert left == []
    expected = {k: v for k, v in first[0].items() if k != "wall_seconds"}
    assert {k: v for k, v in again.items() if k != "wall_seconds"} == expected
