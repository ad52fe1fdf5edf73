"""What the worker's /healthz answers: the agent runs, the event loop turns, the lag is worked.

A worker that answers 200 while it processes nothing is worse than one that fails: the
orchestrator restarts a failing worker. So /healthz fails when the agent has crashed, when
the event loop has not turned for `loop_stall_seconds` (a blocking call, a runaway tick), or
when the consumer lag has grown for `lag_stall_seconds` with no batch processed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class WorkerHealth:
    loop_stall_seconds: float = 5.0
    lag_stall_seconds: float = 60.0
    beat: float = field(default_factory=time.monotonic)  # the loop's last heartbeat
    crashed: bool = False
    running: bool = True
    lag_stalled: bool = False
    _baseline: tuple[int, int, float] | None = None  # (batches, lag, when) at the last batch

    def heartbeat(self, now: float | None = None) -> None:
        """Called by a task on the event loop every second or so."""
        self.beat = time.monotonic() if now is None else now

    def observe_lag(self, lag: int, batches: int, now: float | None = None) -> None:
        """A lag sample with the count of batches processed so far."""
        now = time.monotonic() if now is None else now
        if self._baseline is None or batches != self._baseline[0] or lag <= 0:
            self._baseline = (batches, lag, now)
            self.lag_stalled = False
            return
        _, lag_then, since = self._baseline
        self.lag_stalled = lag > lag_then and now - since >= self.lag_stall_seconds

    def problems(self, now: float | None = None) -> list[str]:
        """Why the worker is unhealthy; empty when it is healthy."""
        now = time.monotonic() if now is None else now
        found = []
        if self.crashed:
            found.append("the patient agent crashed")
        if not self.running:
            found.append("the app is not running")
        if now - self.beat > self.loop_stall_seconds:
            found.append(f"the event loop has been blocked for {now - self.beat:.0f} s")
        if self.lag_stalled:
            found.append("the consumer lag grows and no batch is processed")
        return found
