"""`NotifierService`: the composition root. Builds every part from `NotifierSettings` and runs
the consumer, the dispatcher and the HTTP server until asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from datetime import timedelta

import uvicorn
from fastapi import FastAPI

from models.templates import MessageContext, MessageKind
from notifier.admin import AdminService
from notifier.channels import AppriseChannel, DeliveryChannel
from notifier.checkin_links import CheckinLinks, derive_link_key
from notifier.checkin_page import CheckinPage
from notifier.checkins import CheckinSink, KafkaCheckinSink
from notifier.clock import Clock, system_clock
from notifier.consumer import OutputConsumer
from notifier.crypto import ContactCipher
from notifier.database import make_engine, upgrade_schema
from notifier.dispatcher import DispatchConfig, Dispatcher
from notifier.health import HealthCheck
from notifier.http_api import create_app
from notifier.inbound import InboundHandler
from notifier.inbox import SqlInbox
from notifier.messages import MessageRenderer
from notifier.metrics import NotifierMetrics
from notifier.outbox import SqlOutbox
from notifier.policy import DeliveryPolicy, PolicyConfig
from notifier.recipient_store import SqlRecipients
from notifier.recipients import Channel
from notifier.settings import NotifierSettings
from notifier.tls import prefer_ca_directory

log = logging.getLogger(__name__)


def channels_from(settings: NotifierSettings) -> dict[Channel, DeliveryChannel]:
    """An AppriseChannel for each configured URL; an unconfigured channel is simply absent."""
    channels: dict[Channel, DeliveryChannel] = {}
    if settings.email_url:
        channels[Channel.EMAIL] = AppriseChannel(Channel.EMAIL, [settings.email_url])
    if settings.sms_url:
        channels[Channel.SMS] = AppriseChannel(Channel.SMS, [settings.sms_url])
    if settings.care_team_urls:
        channels[Channel.CARE_TEAM] = AppriseChannel(Channel.CARE_TEAM, settings.care_team_urls)
    return channels


def policy_from(settings: NotifierSettings) -> DeliveryPolicy:
    return DeliveryPolicy(
        PolicyConfig(
            window_start=settings.send_window_start,
            window_end=settings.send_window_end,
            sms_daily_cap=settings.sms_daily_cap,
            sms_weekly_cap=settings.sms_weekly_cap,
            cap_policy=settings.cap_policy,
            max_attempts=settings.max_attempts,
            backoff_base=timedelta(seconds=settings.backoff_base_seconds),
            max_backoff=timedelta(seconds=settings.retry_max_backoff_seconds),
        )
    )


class StartRefused(RuntimeError):
    """A start-up refusal whose message is the whole explanation (no values in it)."""

    explained = True  # remission_watch.problems prints it as one line, exit 2


class NoCareTeamChannel(StartRefused):
    """The notifier was asked to run with no care-team channel and not told that is wanted."""


class NotifierService:
    def __init__(
        self,
        settings: NotifierSettings,
        clock: Clock = system_clock,
        channels: Mapping[Channel, DeliveryChannel] | None = None,
        checkins: CheckinSink | None = None,
    ) -> None:
        self.settings, self.clock = settings, clock
        if settings.tls_ca_directory:
            prefer_ca_directory()
        self.metrics = NotifierMetrics()
        self.engine = make_engine(settings.database_url, pool_size=settings.send_concurrency + 4)
        keys = [key.get_secret_value() for key in settings.encryption_keys]
        hash_key = settings.contact_hash_key
        self.cipher = ContactCipher(
            keys, hash_key.get_secret_value().encode() if hash_key else None
        )
        self.outbox = SqlOutbox(self.engine)
        self.recipients = SqlRecipients(self.engine, self.cipher)
        self.inbox = SqlInbox(self.engine, self.cipher)
        assert settings.inbound_secret is not None  # settings refuse to start without it
        self.links = CheckinLinks(
            derive_link_key(settings.inbound_secret.get_secret_value()), settings.public_url
        )
        self.renderer = MessageRenderer(
            MessageContext(settings.clinic_name, settings.callback_number, settings.portal_url),
            crisis_sms=settings.crisis_sms,
            crisis_email=settings.crisis_email,
            checkin_link=lambda reminder_id: self.links.url(reminder_id, clock().timestamp()),
        )
        self.dispatcher = Dispatcher(
            self.outbox,
            self.recipients,
            policy_from(settings),
            self.renderer,
            channels if channels is not None else channels_from(settings),
            clock,
            DispatchConfig(
                batch=settings.dispatch_batch,
                concurrency=settings.send_concurrency,
                lease=timedelta(seconds=settings.sending_stale_seconds),
            ),
            metrics=self.metrics,
        )
        self._kafka_checkins = (
            None
            if checkins
            else KafkaCheckinSink(
                settings.kafka_bootstrap,
                settings.topic("checkins"),
                settings.kafka_client_options(),
            )
        )
        self.checkins: CheckinSink = checkins or self._kafka_checkins  # type: ignore[assignment]
        self.inbound = InboundHandler(
            self.recipients, self.inbox, self.checkins, clock, self._send_reply
        )
        self.admin = AdminService(self.recipients, self.outbox, clock)
        self.output_consumer: OutputConsumer | None = None  # set by run()
        self.health = HealthCheck(
            self.engine,
            self.dispatcher,
            dispatch_interval=settings.dispatch_interval_seconds,
            started=time.monotonic(),
        )

    async def _send_reply(self, reply_id: str) -> object:
        return await self.dispatcher.dispatch_once(reply_id)

    def app(self) -> FastAPI:
        secret, token = self.settings.inbound_secret, self.settings.admin_token
        assert secret is not None and token is not None  # settings refuse to start without them
        return create_app(
            self.inbound,
            self.admin,
            secret.get_secret_value(),
            token.get_secret_value(),
            metrics=self.metrics,
            health=lambda: self.health.report(self.clock()),
            checkin_page=CheckinPage(
                self.links,
                self.inbox,
                self.recipients,
                self.inbound,
                self.settings.clinic_name,
                self.renderer.context.callback_number,
                lambda language: (
                    self.renderer.for_reply(MessageKind.CRISIS_RESOURCES, language, "email").body
                ),
                lambda: self.clock().timestamp(),
            ),
        )

    def check_care_team(self) -> None:
        """Refuse to run with no care-team channel unless RW_NO_CARE_TEAM=1 says so: a
        self-harm or delivery-failure alert would otherwise reach no one, silently."""
        if Channel.CARE_TEAM in self.dispatcher.channels:
            return
        if not self.settings.no_care_team:
            raise NoCareTeamChannel(
                "no care-team channel: set RW_CARE_TEAM_URLS (Apprise URLs), or RW_NO_CARE_TEAM=1 "
                "to run knowingly without one (alerts then reach no one)"
            )
        log.warning("running without a care-team channel (RW_NO_CARE_TEAM=1): alerts reach no one")

    def upgrade_schema(self) -> None:
        upgrade_schema(self.settings.database_url)

    def consumer(self) -> OutputConsumer:
        s = self.settings
        return OutputConsumer.create(
            s.kafka_bootstrap,
            [s.topic("reminders"), s.topic("alerts")],
            s.consumer_group,
            self.outbox,
            self.clock,
            s.kafka_session_timeout_ms,
            s.kafka_rebalance_timeout_ms,
            s.kafka_heartbeat_interval_ms,
            s.kafka_fetch_max_wait_ms,
            metrics=self.metrics,
            client=s.kafka_client_options(),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Schema upgrade, then consumer + dispatcher + HTTP server until `stop` is set."""
        self.check_care_team()
        await asyncio.to_thread(self.upgrade_schema)
        if self._kafka_checkins is not None:
            await self._kafka_checkins.start()
        server = _QuietSignalsServer(
            uvicorn.Config(
                self.app(),
                host=self.settings.http_host,
                port=self.settings.http_port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        self.output_consumer = self.consumer()
        self.health.consumer = self.output_consumer
        self.health.started = time.monotonic()
        tasks = [
            asyncio.create_task(self.output_consumer.run(stop), name="consumer"),
            asyncio.create_task(
                self.dispatcher.run(stop, self.settings.dispatch_interval_seconds),
                name="dispatcher",
            ),
            asyncio.create_task(server.serve(), name="http"),
        ]
        log.info(
            "notifier running: http on %s:%d", self.settings.http_host, self.settings.http_port
        )
        try:
            done, _ = await asyncio.wait(
                [*tasks, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task in tasks and task.exception():
                    raise task.exception()  # type: ignore[misc]
        finally:
            stop.set()
            server.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._kafka_checkins is not None:
                await self._kafka_checkins.stop()
            self.close()

    def close(self) -> None:
        self.dispatcher.close()
        self.engine.dispose()


class _QuietSignalsServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service's stop event owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
