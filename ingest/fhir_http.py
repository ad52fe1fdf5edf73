"""The FHIR endpoint: POST a resource or a batch/transaction Bundle to /fhir/{feed}; a
Subscription rest-hook posts to /fhir/{feed}/subscription (an empty body is a ping that makes
the feed's poller read now). Every request needs `Authorization: Bearer <RW_FHIR_TOKEN>`."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ingest.fhir_intake import (
    BrokerUnavailable,
    EntryOutcome,
    FeedUnknown,
    FhirIntake,
    FhirOutcome,
)

FHIR_JSON = "application/fhir+json"
Ping = Callable[[str], Awaitable[None]]


def _issue(severity: str, code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": text}],
    }


def outcome(severity: str, code: str, text: str, status: int) -> JSONResponse:
    return JSONResponse(_issue(severity, code, text), status_code=status, media_type=FHIR_JSON)


def _entry(e: EntryOutcome) -> dict[str, Any]:
    response: dict[str, Any] = {"status": e.status, "location": e.reference}
    if not e.status.startswith("200"):
        response["outcome"] = _issue("error", "processing", e.reason)
    elif e.reason:  # taken without events: say why (a type not read, a version already taken)
        response["outcome"] = _issue("information", "informational", e.reason)
    return {"response": response}


def _answer(result: FhirOutcome) -> JSONResponse:
    """A batch/transaction-response Bundle for those, an OperationOutcome otherwise."""
    if result.bundle_type in ("batch", "transaction"):
        failed = result.failed
        if result.bundle_type == "transaction" and failed:
            return outcome("error", "processing", "; ".join(f.reason for f in failed), 400)
        body = {
            "resourceType": "Bundle",
            "type": f"{result.bundle_type}-response",
            "entry": [_entry(e) for e in result.entries],
        }
        return JSONResponse(body, media_type=FHIR_JSON)
    if result.failed and len(result.entries) == 1:
        return outcome("error", "processing", result.failed[0].reason, 422)
    if len(result.entries) == 1 and result.entries[0].unread:
        return outcome("error", "not-supported", result.entries[0].reason, 422)
    text = f"{len(result.entries)} resources, {result.events} events, {len(result.failed)} refused"
    return outcome("information", "informational", text, 200)


def build_fhir_app(intake: FhirIntake, token: str, ping: Ping | None = None) -> FastAPI:
    if len(token) < 16:
        raise ValueError("the FHIR endpoint token must have at least 16 characters")
    app = FastAPI(
        title="Remission Watch FHIR ingest", docs_url=None, redoc_url=None, openapi_url=None
    )
    expected = f"Bearer {token}".encode()

    async def handle(feed: str, request: Request, subscription: bool) -> JSONResponse:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return outcome("error", "login", "a valid bearer token is required", 401)
        fhir_feed = intake.config.fhir_feed(feed)
        if fhir_feed is None:
            return outcome("error", "not-found", f"no FHIR feed named {feed!r}", 404)
        raw = await request.body()
        if len(raw) > fhir_feed.max_message_bytes:
            return outcome("error", "too-costly", "request larger than the feed allows", 413)
        if subscription and not raw.strip():
            if ping is not None:
                await ping(feed)
            return outcome("information", "informational", "ping received", 200)
        try:
            body: Any = json.loads(raw)
        except ValueError:
            return outcome("error", "structure", "the body is not JSON", 400)
        if not isinstance(body, dict) or "resourceType" not in body:
            return outcome("error", "structure", "the body is not a FHIR resource", 400)
        try:
            result = await intake.accept(feed, body)
        except FeedUnknown:
            return outcome("error", "not-found", f"no FHIR feed named {feed!r}", 404)
        except BrokerUnavailable:
            response = outcome("error", "transient", "events could not be stored; retry", 503)
            response.headers["Retry-After"] = "5"
            return response
        return _answer(result)

    @app.post("/fhir/{feed}")
    async def post_resource(feed: str, request: Request) -> JSONResponse:
        return await handle(feed, request, subscription=False)

    @app.post("/fhir/{feed}/subscription")
    async def post_notification(feed: str, request: Request) -> JSONResponse:
        return await handle(feed, request, subscription=True)

    @app.get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
