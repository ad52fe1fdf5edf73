"""What /healthz reports: each part the notifier needs, and whether it works now.

`status` is "ok" only when the database answers, the consumer is polling and its outbox writes
succeed, the dispatcher finishes rounds and not every patient channel is failing, and no
care-team alert has waited undelivered for longer than `ALERT_GRACE`. Otherwise the answer is
503 and the failing part says why (names and counts only: no patient data).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, text

from notifier.consumer import OutputConsumer
from notifier.dispatcher import Dispatcher
from notifier.recipients import PATIENT_CHANNELS
from notifier.tables import DeliveryRow

ALERT_GRACE = timedelta(minutes=2)
CONSUMER_SILENT = 60.0  # seconds without a poll coming back: the consumer is stuck or dead


@dataclass
class HealthCheck:
    engine: Engine
    dispatcher: Dispatcher
    consumer: OutputConsumer | None = None  # None until `run` starts it
    dispatch_interval: float = 1.0
    started: float = 0.0  # monotonic time the service started running

    def report(self, now: datetime) -> dict[str, Any]:
        parts = {
            "database": self._database(),
            "consumer": self._consumer(),
            "dispatcher": self._dispatcher(),
        }
        waiting = self._undelivered_alerts(now) if parts["database"] == "ok" else {}
        failing = any(value != "ok" for value in parts.values()) or bool(waiting)
        return {
            "status": "failing" if failing else "ok",
            **parts,
            "care_team_alerts_undelivered": waiting,
        }

    def _database(self) -> str:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # the type only: a message may carry a host or a user
            return f"down: {type(exc).__name__}"
        return "ok"

    def _consumer(self) -> str:
        consumer, now = self.consumer, time.monotonic()
        if consumer is None:
            return "down: not started"
        if consumer.write_failing:
            return "down: outbox writes failing"
        last = consumer.last_poll
        if (last or self.started) < now - CONSUMER_SILENT:
            return f"down: no poll for more than {CONSUMER_SILENT:.0f} s"
        return "ok"

    def _dispatcher(self) -> str:
        now = time.monotonic()
        stale = max(60.0, 10 * self.dispatch_interval)
        last = self.dispatcher.last_round_ok
        if (last or self.started) < now - stale:
            return f"down: no completed round for more than {stale:.0f} s"
        configured = [c for c in PATIENT_CHANNELS if c in self.dispatcher.channels]
        health = self.dispatcher.channel_health
        failing = [c for c in configured if c in health and health[c].failing]
        if configured and len(failing) == len(configured):
            return "down: every patient channel failing (" + ", ".join(failing) + ")"
        return "ok"

    def _undelivered_alerts(self, now: datetime) -> dict[str, int]:
        """Care-team alerts not delivered within ALERT_GRACE, by alert kind."""
        table = DeliveryRow.__table__
        query = select(table.c.payload).where(
            table.c.purpose == "care_team_alert",
            table.c.status.not_in(("sent", "suppressed", "cancelled")),
            table.c.created_at < now - ALERT_GRACE,
        )
        counts: dict[str, int] = {}
        with self.engine.connect() as conn:
            for (payload,) in conn.execute(query):
                kind = str(json.loads(payload).get("kind", "unknown")) if payload else "unknown"
                counts[kind] = counts.get(kind, 0) + 1
        return counts
