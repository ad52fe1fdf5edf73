"""Container health check for the remission-watch image (Docker HEALTHCHECK, compose, k8s exec).

    python /opt/remission-watch/healthcheck.py [notifier|worker|ticker|ingest [fhir]]

Without an argument the role is read from PID 1's command line (`remission-watch <role>`).
What each role checks, honestly:

- notifier: GET http://127.0.0.1:$RW_HTTP_PORT/healthz (the service's own endpoint).
- worker:   GET http://127.0.0.1:$RW_METRICS_PORT/healthz when RW_METRICS_PORT is set (200
            while the agent runs, the event loop turns and the lag is worked; see
            streams/health.py), else the broker probe below.
- ticker:   GET http://127.0.0.1:$RW_METRICS_PORT/healthz when RW_METRICS_PORT is set (the
            ticker serves /metrics and /healthz there), else only that the Kafka broker it
            publishes to answers an ApiVersions request.
- ingest:   a TCP connection to 127.0.0.1:$RW_MLLP_PORT (the MLLP listener); with `fhir`
            (or `ingest fhir` as PID 1), GET http://127.0.0.1:$RW_FHIR_PORT/healthz.
- anything else (the one-shot topics job, `--help`): healthy.

Exit 0 when healthy, 1 when not. Reads the RW_* settings the services read, with their defaults.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

ROLES = ("notifier", "worker", "ticker", "ingest")


def role_from_pid1() -> str | None:
    try:
        argv = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    words = [a.decode(errors="replace") for a in argv]
    return next((w for w in words if w in ROLES), None)


def http_ok(url: str, timeout: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
            return 200 <= response.status < 300
    except OSError:
        return False


def check_notifier() -> bool:
    from notifier.settings import NotifierSettings

    default = NotifierSettings.model_fields["http_port"].default
    port = os.environ.get("RW_HTTP_PORT") or default
    return http_ok(f"http://127.0.0.1:{port}/healthz")


def check_broker() -> bool:
    from streams.embedded import kafka_ready
    from streams.settings import StreamsSettings

    default = StreamsSettings.model_fields["kafka_bootstrap"].default
    bootstrap = os.environ.get("RW_KAFKA_BOOTSTRAP") or default
    for server in (s.strip() for s in bootstrap.split(",") if s.strip()):
        host, _, port = server.rpartition(":")
        if kafka_ready(host.strip("[]"), int(port), timeout=3.0):
            return True
    return False


def check_streams_service() -> bool:
    port = os.environ.get("RW_METRICS_PORT")
    if port:
        return http_ok(f"http://127.0.0.1:{port}/healthz")
    return check_broker()


def pid1_words() -> list[str]:
    try:
        return [
            a.decode(errors="replace") for a in Path("/proc/1/cmdline").read_bytes().split(b"\0")
        ]
    except OSError:
        return []


def check_ingest(fhir: bool) -> bool:
    import socket

    from ingest.settings import IngestSettings

    fields = IngestSettings.model_fields
    if fhir:
        port = os.environ.get("RW_FHIR_PORT") or fields["fhir_port"].default
        return http_ok(f"http://127.0.0.1:{port}/healthz")
    port = os.environ.get("RW_MLLP_PORT") or fields["mllp_port"].default
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=3.0):
            return True
    except OSError:
        return False


def main(argv: list[str]) -> int:
    role = argv[1] if len(argv) > 1 else role_from_pid1()
    checks = {
        "notifier": check_notifier,
        "worker": check_streams_service,
        "ticker": check_streams_service,
        "ingest": lambda: check_ingest("fhir" in argv[2:] or "fhir" in pid1_words()),
    }
    check = checks.get(role or "")
    if check is None:
        return 0
    healthy = check()
    if not healthy:
        print(f"{role}: unhealthy", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
