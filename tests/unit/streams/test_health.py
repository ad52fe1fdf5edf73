"""/healthz tells the truth: a crashed agent, a blocked loop, a lag that grows unworked."""

from __future__ import annotations

from types import SimpleNamespace

from faust.types import TP

from streams.health import WorkerHealth
from streams.worker import input_lag


def test_a_healthy_worker_has_no_problems() -> None:
    health = WorkerHealth()
    health.heartbeat(100.0)
    health.observe_lag(0, batches=5, now=100.0)
    assert health.problems(now=101.0) == []


def test_a_crashed_agent_or_a_stopped_app_is_unhealthy() -> None:
    health = WorkerHealth()
    health.heartbeat(0.0)
    health.crashed, health.running = True, False
    assert health.problems(now=1.0) == ["the patient agent crashed", "the app is not running"]


def test_a_loop_that_has_not_turned_for_a_few_seconds_is_unhealthy() -> None:
    health = WorkerHealth(loop_stall_seconds=5.0)
    health.heartbeat(10.0)
    assert health.problems(now=14.0) == []
    assert health.problems(now=16.0) == ["the event loop has been blocked for 6 s"]


def test_a_lag_that_grows_with_no_batch_is_unhealthy_and_recovers_with_one() -> None:
    health = WorkerHealth(lag_stall_seconds=60.0)
    health.heartbeat(200.0)
    health.observe_lag(10, batches=3, now=100.0)
    health.observe_lag(50, batches=3, now=130.0)
    assert health.problems(now=200.0) == []  # not yet for long
    health.observe_lag(90, batches=3, now=170.0)
    assert health.problems(now=200.0) == ["the consumer lag grows and no batch is processed"]
    health.observe_lag(80, batches=4, now=175.0)  # a batch: working again
    assert health.problems(now=200.0) == []


def test_a_steady_lag_with_no_batch_is_not_a_stall() -> None:
    health = WorkerHealth(lag_stall_seconds=60.0)
    health.heartbeat(500.0)
    health.observe_lag(10, batches=3, now=100.0)
    health.observe_lag(10, batches=3, now=400.0)  # nothing new arrives: nothing to do
    assert health.problems(now=500.0) == []


def test_the_lag_leaves_out_changelog_partitions() -> None:
    source, changelog = TP("rw.labs.v1", 0), TP("app-patients-changelog", 0)
    consumer = SimpleNamespace(
        assignment=lambda: {source, changelog},
        _committed_offset={source: 40, changelog: 0},
        highwater=lambda tp: {source: 100, changelog: 5_000}[tp],
    )
    assert input_lag(consumer) == 60
