"""Issue 11, items 5 and 7: body cap, timestamped signatures, closed schema, validated admin
input, the care-team channel required, dev secrets only when embedded, /healthz per part."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from notifier_factories import enrol

from notifier.channels import FakeChannel
from notifier.checkins import FakeCheckinSink
from notifier.clock import FakeClock
from notifier.inbound import MAX_BODY_BYTES, sign, signed_headers
from notifier.recipients import Channel
from notifier.service import NoCareTeamChannel, NotifierService
from notifier.settings import NotifierSettings
from remission_watch.cli import main
from remission_watch.up import DevSecretsRefused, run_up

SECRET, TOKEN = "inbound-test-secret-0123456789-abcdef", "admin-test-token-0123456789-abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def settings(database_url: str, **extra: object) -> NotifierSettings:
    return NotifierSettings(
        database_url=database_url,
        allow_dev_key=True,
        inbound_secret=SECRET,  # type: ignore[arg-type]
        admin_token=TOKEN,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def rig(
    database_url: str, clock: FakeClock
) -> AsyncIterator[tuple[NotifierService, httpx.AsyncClient]]:
    channels = {c: FakeChannel(c) for c in Channel}
    service = NotifierService(settings(database_url), clock, channels, FakeCheckinSink())
    enrol(service.recipients, clock())
    transport = httpx.ASGITransport(app=service.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as client:
        yield service, client
    service.close()


def body(text: str = "HELP", message_id: str = "m-1") -> bytes:
    return json.dumps({"from": "+15552017788", "body": text, "message_id": message_id}).encode()


async def test_an_oversized_body_is_refused_before_it_is_read(rig) -> None:
    _, client = rig
    big = b"x" * (MAX_BODY_BYTES + 1)
    response = await client.post("/inbound/sms", content=big)  # unsigned, as in the issue
    assert response.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(100):
            yield b"y" * 1024

    streamed = await client.post("/inbound/sms", content=chunks())
    assert streamed.status_code == 413


async def test_signature_needs_a_fresh_timestamp(rig) -> None:
    _, client = rig
    raw = body()
    ok = await client.post("/inbound/sms", content=raw, headers=signed_headers(SECRET, raw))
    assert ok.status_code == 200 and ok.json() == {"action": "help"}
    old = int(time.time()) - 600  # a captured request, replayed ten minutes later
    replay = await client.post(
        "/inbound/sms",
        content=body(message_id="m-2"),
        headers={
            "X-RW-Timestamp": str(old),
            "X-RW-Signature": sign(SECRET, old, body(message_id="m-2")),
        },
    )
    assert replay.status_code == 401
    now = int(time.time())
    moved = await client.post(  # the timestamp is signed: changing it breaks the signature
        "/inbound/sms",
        content=raw,
        headers={"X-RW-Timestamp": str(now + 1), "X-RW-Signature": sign(SECRET, now, raw)},
    )
    assert moved.status_code == 401
    untimed = await client.post("/inbound/sms", content=raw, headers={"X-RW-Signature": "ab"})
    assert untimed.status_code == 401


async def test_openapi_schema_is_behind_the_admin_token(rig) -> None:
    _, client = rig
    assert (await client.get("/openapi.json")).status_code == 401
    schema = await client.get("/openapi.json", headers=AUTH)
    assert schema.status_code == 200 and "/inbound/sms" in schema.json()["paths"]
    assert (await client.get("/docs")).status_code == 404


@pytest.mark.parametrize("patient_id", ["Jane Doe MRN 0012345", "pat@example.org", "-x", "x" * 65])
async def test_patient_ids_follow_the_wire_format(rig, patient_id: str) -> None:
    service, client = rig
    response = await client.put(
        f"/admin/recipients/{patient_id}", json={"time_zone": "UTC"}, headers=AUTH
    )
    assert response.status_code in (404, 422)  # "/" in an id is no route at all
    assert "Jane" not in response.text and "example.org" not in response.text
    with pytest.raises(ValueError, match="pseudonym"):
        from notifier.admin import RecipientIn

        service.admin.upsert_recipient(patient_id, RecipientIn())


async def test_language_must_have_templates(rig) -> None:
    _, client = rig
    fr = await client.put("/admin/recipients/p-2", json={"language": "fr"}, headers=AUTH)
    assert fr.status_code == 422
    es = await client.put("/admin/recipients/p-2", json={"language": "ES"}, headers=AUTH)
    assert es.status_code == 200 and es.json()["language"] == "es"


async def test_consent_cannot_be_dated_in_the_future(rig, clock: FakeClock) -> None:
    _, client = rig
    later = (clock() + timedelta(days=3)).isoformat()
    response = await client.post(
        "/admin/recipients/p-1/consents",
        json={"channel": "sms", "granted": True, "method": "form", "occurred_at": later},
        headers=AUTH,
    )
    assert response.status_code == 422 and "future" in response.text
    now = clock().isoformat()
    fine = await client.post(
        "/admin/recipients/p-1/consents",
        json={"channel": "sms", "granted": True, "method": "form", "occurred_at": now},
        headers=AUTH,
    )
    assert fine.status_code == 200


async def test_healthz_names_the_part_that_is_down(rig) -> None:
    service, client = rig
    service.health.started = time.monotonic()
    service.dispatcher.last_round_ok = time.monotonic()
    first = await client.get("/healthz")
    assert first.status_code == 503 and first.json()["consumer"] == "down: not started"
    assert first.json()["database"] == "ok" and first.json()["dispatcher"] == "ok"
    for channel in (Channel.SMS, Channel.EMAIL):  # every patient send failing
        service.dispatcher.channels[channel].fail_first = 10  # type: ignore[attr-defined]
        for _ in range(3):
            service.dispatcher._channel_send(channel, "x", None)  # type: ignore[arg-type]
    failing = (await client.get("/healthz")).json()
    assert failing["dispatcher"].startswith("down: every patient channel failing")
    service.health.engine = _broken_engine()  # nothing listens on port 1
    down = (await client.get("/healthz")).json()
    assert down["status"] == "failing" and down["database"].startswith("down: ")


def _broken_engine():
    from sqlalchemy import create_engine

    return create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_pre_ping=True)


def test_notifier_refuses_to_start_without_a_care_team_channel(database_url: str) -> None:
    service = NotifierService(settings(database_url), channels={}, checkins=FakeCheckinSink())
    try:
        with pytest.raises(NoCareTeamChannel, match="RW_NO_CARE_TEAM=1"):
            service.check_care_team()
    finally:
        service.close()
    told = NotifierService(
        settings(database_url, no_care_team=True), channels={}, checkins=FakeCheckinSink()
    )
    try:
        told.check_care_team()  # explicitly wanted: starts (with a warning)
    finally:
        told.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[pytest.MonkeyPatch]:
    import os

    for name in list(os.environ):
        if name.startswith("RW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RW_DATABASE_URL", f"sqlite:///{tmp_path / 'n.db'}")
    yield monkeypatch


def test_the_notifier_command_says_why_in_one_line(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("RW_ALLOW_DEV_KEY", "1")
    assert main(["notifier"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "RW_CARE_TEAM_URLS" in err


def test_up_refuses_dev_secrets_against_an_external_broker() -> None:
    env = {"RW_KAFKA_BOOTSTRAP": "broker.example:9092", "RW_ALLOW_DEV_KEY": "1"}
    with pytest.raises(DevSecretsRefused, match="external broker"):
        asyncio.run(run_up(asyncio.Event(), env))
