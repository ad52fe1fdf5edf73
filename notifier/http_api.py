"""The notifier's HTTP API: the signed inbound-SMS webhook and the bearer-token admin API."""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ValidationError

from notifier.admin import AdminService, ConsentIn, RecipientIn
from notifier.inbound import InboundHandler, InboundSms, signature_valid
from notifier.metrics import NotifierMetrics


def create_app(
    inbound: InboundHandler,
    admin: AdminService,
    inbound_secret: str,
    admin_token: str,
    metrics: NotifierMetrics | None = None,
) -> FastAPI:
    app = FastAPI(title="Remission Watch notifier", docs_url=None, redoc_url=None)

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
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    if metrics is not None:

        @app.get("/metrics")
        async def prometheus() -> Response:
            # Counts only: no patient ids, no contact details, so no authentication needed.
            return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/inbound/sms")
    async def inbound_sms(
        request: Request, x_rw_signature: Annotated[str | None, Header()] = None
    ) -> Response:
        raw = await request.body()
        if not signature_valid(inbound_secret, raw, x_rw_signature):
            return JSONResponse({"error": "bad or missing X-RW-Signature"}, status_code=401)
        try:
            sms = InboundSms.model_validate_json(raw)
        except ValidationError as exc:
            fields = sorted({".".join(map(str, e["loc"])) or "body" for e in exc.errors()})
            return JSONResponse({"error": "malformed body", "fields": fields}, status_code=422)
        outcome = await inbound.handle(sms)
        if outcome.status == 404:
            return JSONResponse({"error": "unknown sender"}, status_code=404)
        return JSONResponse({"action": outcome.action}, status_code=outcome.status)

    admin_only = [Depends(require_admin)]

    @app.put("/admin/recipients/{patient_id}", dependencies=admin_only)
    async def put_recipient(patient_id: str, data: RecipientIn) -> dict[str, Any]:
        return await asyncio.to_thread(admin.upsert_recipient, patient_id, data)

    @app.get("/admin/recipients/{patient_id}", dependencies=admin_only)
    async def get_recipient(patient_id: str) -> dict[str, Any]:
        shown = await asyncio.to_thread(admin.show_recipient, patient_id)
        if shown is None:
            raise HTTPException(404, "no such recipient")
        return shown

    @app.post("/admin/recipients/{patient_id}/consents", dependencies=admin_only)
    async def post_consent(patient_id: str, data: ConsentIn) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(admin.record_consent, patient_id, data)
        except LookupError:
            raise HTTPException(404, "no such recipient") from None

    @app.get("/admin/patients/{patient_id}/deliveries", dependencies=admin_only)
    async def get_deliveries(patient_id: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(admin.deliveries, patient_id)

    return app
