"""The notifier's HTTP API: the signed inbound-SMS webhook and the bearer-token admin API."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ValidationError

from notifier.admin import PATIENT_ID_PATTERN, AdminService, ConsentIn, RecipientIn
from notifier.checkin_page import MAX_FORM_BYTES, CheckinPage
from notifier.inbound import MAX_BODY_BYTES, InboundHandler, InboundSms, signature_valid
from notifier.metrics import NotifierMetrics

PatientId = Annotated[str, Path(pattern=PATIENT_ID_PATTERN)]


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is longer than `limit` (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    received = bytearray()
    async for chunk in request.stream():
        received.extend(chunk)
        if len(received) > limit:
            return None
    return bytes(received)


def create_app(
    inbound: InboundHandler,
    admin: AdminService,
    inbound_secret: str,
    admin_token: str,
    metrics: NotifierMetrics | None = None,
    wall_clock: Callable[[], float] = time.time,
    health: Callable[[], dict[str, Any]] | None = None,
    checkin_page: CheckinPage | None = None,
) -> FastAPI:
    # No open schema: /openapi.json is served below, behind the admin token.
    app = FastAPI(title="Remission Watch notifier", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RequestValidationError)
    async def _no_echo(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes the input back, which may be a phone number or an address.
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    def require_admin(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.encode(), admin_token.encode()
        ):
            raise HTTPException(401, "admin bearer token required", {"WWW-Authenticate": "Bearer"})

    @app.get("/healthz")
    async def healthz() -> Response:
        report = await asyncio.to_thread(health) if health else {"status": "ok"}
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    @app.get("/openapi.json", dependencies=[Depends(require_admin)], include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    if metrics is not None:

        @app.get("/metrics")
        async def prometheus() -> Response:
            # Counts only: no patient ids, no contact details, so no authentication needed.
            return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/inbound/sms")
    async def inbound_sms(
        request: Request,
        x_rw_signature: Annotated[str | None, Header()] = None,
        x_rw_timestamp: Annotated[str | None, Header()] = None,
    ) -> Response:
        raw = await read_capped(request, MAX_BODY_BYTES)
        if raw is None:  # refused before the body is read whole, signed or not
            return JSONResponse({"error": "body too large"}, status_code=413)
        if not signature_valid(inbound_secret, raw, x_rw_signature, x_rw_timestamp, wall_clock()):
            return JSONResponse(
                {"error": "bad, missing or expired X-RW-Signature / X-RW-Timestamp"},
                status_code=401,
            )
        try:
            sms = InboundSms.model_validate_json(raw)
        except ValidationError as exc:
            fields = sorted({".".join(map(str, e["loc"])) or "body" for e in exc.errors()})
            return JSONResponse({"error": "malformed body", "fields": fields}, status_code=422)
        outcome = await inbound.handle(sms)
        if outcome.status == 404:
            return JSONResponse({"error": "unknown sender"}, status_code=404)
        return JSONResponse({"action": outcome.action}, status_code=outcome.status)

    if checkin_page is not None:
        page = checkin_page

        @app.get("/checkin/{token}", include_in_schema=False)
        async def checkin_form(token: Annotated[str, Path(max_length=200)]) -> Response:
            return await page.show(token)

        @app.post("/checkin/{token}", include_in_schema=False)
        async def checkin_answer(
            request: Request, token: Annotated[str, Path(max_length=200)]
        ) -> Response:
            return await page.answer(token, await read_capped(request, MAX_FORM_BYTES))

    admin_only = [Depends(require_admin)]

    @app.put("/admin/recipients/{patient_id}", dependencies=admin_only)
    async def put_recipient(patient_id: PatientId, data: RecipientIn) -> dict[str, Any]:
        return await asyncio.to_thread(admin.upsert_recipient, patient_id, data)

    @app.get("/admin/recipients/{patient_id}", dependencies=admin_only)
    async def get_recipient(patient_id: PatientId) -> dict[str, Any]:
        shown = await asyncio.to_thread(admin.show_recipient, patient_id)
        if shown is None:
            raise HTTPException(404, "no such recipient")
        return shown

    @app.post("/admin/recipients/{patient_id}/consents", dependencies=admin_only)
    async def post_consent(patient_id: PatientId, data: ConsentIn) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(admin.record_consent, patient_id, data)
        except LookupError:
            raise HTTPException(404, "no such recipient") from None
        except ValueError as exc:  # e.g. consent dated in the future; names the rule only
            raise HTTPException(422, str(exc)) from None

    @app.get("/admin/patients/{patient_id}/deliveries", dependencies=admin_only)
    async def get_deliveries(patient_id: PatientId) -> list[dict[str, Any]]:
        return await asyncio.to_thread(admin.deliveries, patient_id)

    return app
