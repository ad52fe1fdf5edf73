"""Fixtures for the notifier's integration tests: a real SMTP sink, an HTTP SMS-provider
stand-in, a migrated SQLite database, and a service wired to them."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from notifier_kit import make_settings

from notifier.checkins import FakeCheckinSink
from notifier.clock import FakeClock
from notifier.database import upgrade_schema
from notifier.service import NotifierService
from notifier.sinks import HttpSmsSink, SmtpSink


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # aiosmtpd start-up on 3.11
        sink = SmtpSink().__enter__()
    yield sink
    sink.__exit__(None, None, None)


@pytest.fixture
def sms_sink() -> Iterator[HttpSmsSink]:
    with HttpSmsSink() as sink:
        yield sink


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'notifier.db'}"
    upgrade_schema(url)
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2027, 3, 10, 15, 0, tzinfo=UTC))  # 11:00 in New York


@pytest.fixture
def service(
    sqlite_url: str, smtp_sink: SmtpSink, sms_sink: HttpSmsSink, clock: FakeClock
) -> Iterator[NotifierService]:
    service = NotifierService(
        make_settings(sqlite_url, smtp_sink, sms_sink), clock, checkins=FakeCheckinSink()
    )
    yield service
    service.close()
