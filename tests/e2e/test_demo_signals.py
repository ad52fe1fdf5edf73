"""SIGTERM (timeout, systemd, docker stop) and Ctrl-C on a running demo: a prompt, orderly exit
that leaves no broker behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]


def children(pid: int) -> list[int]:
    """This process's own children (other sessions on the machine run brokers too)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def broker_child(pid: int) -> int | None:
    for child in children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"broker" in command and b"--listener-url" in command:
            return child
    return None


def wait_for_broker(pid: int) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (broker := broker_child(pid)) is not None:
            return broker
        time.sleep(0.1)
    raise AssertionError("the demo started no broker in 60 s")


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for whoever adopted it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize(("number", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_demo_and_its_broker(number: signal.Signals, status: int) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "remission_watch.cli", "demo", "--patients", "3", "--years", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        broker = wait_for_broker(demo.pid)
        time.sleep(3)  # into the run: topics, the agent and the notifier are starting or running
        assert demo.poll() is None, demo.stderr.read() if demo.stderr else ""
        demo.send_signal(number)
        _out, err = demo.communicate(timeout=20)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == status, err[-2000:]
    assert err.strip().splitlines() == [
        "demo interrupted; everything it started has been stopped"
    ], err[-2000:]
    assert wait_for(lambda: not running(broker), 5), f"broker {broker} outlived the demo"


def test_a_killed_demo_takes_its_broker_with_it() -> None:
    """SIGKILL allows no cleanup: the broker was started to die with its parent."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "remission_watch.cli", "demo", "--patients", "3", "--years", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        broker = wait_for_broker(demo.pid)
    finally:
        demo.kill()
        demo.wait()
    assert wait_for(lambda: not running(broker), 10), f"broker {broker} outlived the demo"
