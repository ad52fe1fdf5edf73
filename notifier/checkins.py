"""Publishing check-in answers: the `CheckinSink` port, `KafkaCheckinSink` and `FakeCheckinSink`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer

from models.events import CheckinAnswered


class CheckinSink(Protocol):
    async def publish(self, event: CheckinAnswered) -> None: ...


class KafkaCheckinSink:
    """`{prefix}checkins.v1`, keyed by patient_id. No idempotent producer: the event id (derived
    from the inbound message id) makes a re-publish harmless downstream."""

    def __init__(self, bootstrap: str, topic: str, client: Mapping[str, Any] | None = None) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.client = dict(client or {})  # TLS/SASL: KafkaSecurity.kafka_client_options
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        # Built here, not in __init__: aiokafka binds to the running loop.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id="rw-notifier",
            acks="all",
            enable_idempotence=False,
            linger_ms=0,
            **self.client,
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, event: CheckinAnswered) -> None:
        if self._producer is None:
            raise RuntimeError("KafkaCheckinSink.publish before start()")
        await self._producer.send_and_wait(
            self.topic, event.model_dump_json().encode(), key=event.patient_id.encode()
        )


class FakeCheckinSink:
    def __init__(self) -> None:
        self.published: list[CheckinAnswered] = []

    async def publish(self, event: CheckinAnswered) -> None:
        self.published.append(event)
