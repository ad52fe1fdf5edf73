"""CLI: `notifier` runs the service; `notifier-admin` manages recipients, consent, deliveries."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from notifier.admin import ConsentIn, RecipientIn
from notifier.service import NotifierService
from notifier.settings import NotifierSettings


def register(sub: Any) -> None:
    run = sub.add_parser("notifier", help="run the notifier: consumer, dispatcher, HTTP API")
    run.add_argument("--log-level", default="INFO")
    run.set_defaults(handler=_run)

    admin = sub.add_parser("notifier-admin", help="notifier recipients, consent and deliveries")
    groups = admin.add_subparsers(dest="notifier_group", metavar="GROUP", required=True)

    recipients = groups.add_parser("recipients", help="contact points and preferences")
    rsub = recipients.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = rsub.add_parser("add", help="add or update a recipient")
    add.add_argument("patient_id")
    add.add_argument("--phone")
    add.add_argument("--email")
    add.add_argument("--time-zone")
    add.add_argument("--language")
    add.add_argument(
        "--send-window-start", "--quiet-start", help="HH:MM local: messages may go out from"
    )
    add.add_argument("--send-window-end", "--quiet-end", help="HH:MM local: ... until (excluded)")
    add.add_argument("--channel-order", help="e.g. sms,email")
    add.set_defaults(handler=_recipients_add)
    show = rsub.add_parser("show", help="show a recipient (contacts masked)")
    show.add_argument("patient_id")
    show.set_defaults(handler=_recipients_show)
    rotate = rsub.add_parser("rotate-keys", help="re-encrypt contacts under the first key")
    rotate.set_defaults(handler=_rotate_keys)

    consent = groups.add_parser("consent", help="consent per channel")
    csub = consent.add_subparsers(dest="action", metavar="ACTION", required=True)
    record = csub.add_parser("record", help="record consent given or revoked")
    record.add_argument("patient_id")
    record.add_argument("--channel", required=True, choices=["sms", "email"])
    state = record.add_mutually_exclusive_group(required=True)
    state.add_argument("--given", dest="granted", action="store_true")
    state.add_argument("--revoked", dest="granted", action="store_false")
    record.add_argument("--how", dest="method", required=True, help="e.g. 'paper form at clinic'")
    record.add_argument("--when", dest="occurred_at", help="ISO time with offset; default now")
    record.add_argument("--unencrypted-ack", action="store_true")
    record.set_defaults(handler=_consent_record)

    deliveries = groups.add_parser("deliveries", help="what was sent, deferred or suppressed")
    dsub = deliveries.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = dsub.add_parser("list", help="a patient's deliveries and why")
    listing.add_argument("--patient", required=True)
    listing.add_argument(
        "--json", action="store_true", help="every field, provider results and the full trail"
    )
    listing.set_defaults(handler=_deliveries_list)

    db = groups.add_parser("db", help="schema")
    dbsub = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    dbsub.add_parser("upgrade", help="alembic upgrade head").set_defaults(handler=_db_upgrade)


# A command that only reads sends nothing, so it needs no call-back number to name in messages;
# this stand-in (phone-shaped, as the renderer insists) is never rendered: nothing is sent.
READS_ONLY_CALLBACK = "000 0000"


def _settings(*, reads_only: bool = False, running: bool = False) -> NotifierSettings:
    """Every problem of the settings in one error; `running`: the care-team channel too."""
    overrides: dict[str, Any] = {}
    if reads_only and not os.environ.get("RW_CALLBACK_NUMBER"):
        overrides["callback_number"] = READS_ONLY_CALLBACK
    return NotifierSettings.read(running=running, **overrides)


SCHEMA_HELP = (
    "create it with `remission-watch notifier-admin db upgrade` (the notifier does too when it "
    "starts)"
)


def _require_schema(url: str) -> None:
    """A command that only reads never creates a database: one line when it has no tables."""
    from pathlib import Path

    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from notifier.database import make_engine
    from remission_watch.problems import CannotRun, _shown_url

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        path = parsed.database or ""
        if path and path != ":memory:" and not path.startswith("file:") and not Path(path).exists():
            raise CannotRun(f"there is no notifier database at {path}; {SCHEMA_HELP}")
    engine = make_engine(url, pool_size=1)
    try:
        if not inspect(engine).has_table("deliveries"):
            raise CannotRun(
                f"the database {_shown_url(url)} has no notifier tables yet; {SCHEMA_HELP}"
            )
    finally:
        engine.dispose()


def _print(value: object) -> None:
    print(json.dumps(value, indent=2, default=str))


def _run(args: argparse.Namespace) -> int:
    from remission_watch.listen import check_can_listen
    from remission_watch.logs import configure_logging

    # Refusals first (settings errors, the care-team channel among them, and the HTTP address:
    # explained by remission_watch.problems, one line, exit 2), then logging: a refused start
    # leaves the handlers alone.
    settings = _settings(running=True)
    check_can_listen(settings.http_host, settings.http_port, "RW_HTTP_HOST, RW_HTTP_PORT")
    service = NotifierService(settings)
    try:
        service.check_care_team()
    except Exception:
        service.close()
        raise
    configure_logging(args.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await service.run(stop)

    asyncio.run(main())
    return 0


def _admin(
    args: argparse.Namespace,
    action: Any,
    show: Any = None,
    *,
    reads_only: bool = False,
    creates: bool = False,
) -> int:
    """Run an admin action. One that only reads (`reads_only`: it sends nothing, so it needs
    no call-back number) needs the schema to exist, unless it `creates` it (db upgrade); the
    others create or upgrade it first."""
    settings = _settings(reads_only=reads_only)
    if reads_only and not creates:
        _require_schema(settings.database_url)
    service = NotifierService(settings)
    try:
        if not reads_only:
            service.upgrade_schema()
        (show or _print)(action(service))
        return 0
    except ValidationError as exc:
        for error in exc.errors():  # field and message only: never echo the input back
            print(f"invalid {'.'.join(map(str, error['loc']))}: {error['msg']}", file=sys.stderr)
        return 2
    except LookupError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except ValueError as exc:  # our own rule messages (patient id, consent date, contacts)
        print(f"invalid: {exc}", file=sys.stderr)
        return 2
    finally:
        with contextlib.suppress(Exception):
            service.close()


def _recipients_add(args: argparse.Namespace) -> int:
    fields = {
        "phone": args.phone,
        "email": args.email,
        "time_zone": args.time_zone,
        "language": args.language,
        "send_window_start": args.send_window_start,
        "send_window_end": args.send_window_end,
        "channel_order": args.channel_order.split(",") if args.channel_order else None,
    }
    return _admin(
        args,
        lambda s: s.admin.upsert_recipient(
            args.patient_id, RecipientIn.model_validate({k: v for k, v in fields.items() if v})
        ),
    )


def _recipients_show(args: argparse.Namespace) -> int:
    def show(s: NotifierService) -> object:
        shown = s.admin.show_recipient(args.patient_id)
        if shown is None:
            raise LookupError("no such recipient")
        return shown

    return _admin(args, show, reads_only=True)


def _rotate_keys(args: argparse.Namespace) -> int:
    return _admin(args, lambda s: {"rotated": s.recipients.rotate_keys()})


def _consent_record(args: argparse.Namespace) -> int:
    data = {
        "channel": args.channel,
        "granted": args.granted,
        "method": args.method,
        "unencrypted_ack": args.unencrypted_ack,
    }
    if args.occurred_at:
        data["occurred_at"] = datetime.fromisoformat(args.occurred_at)
    return _admin(
        args, lambda s: s.admin.record_consent(args.patient_id, ConsentIn.model_validate(data))
    )


def _deliveries_list(args: argparse.Namespace) -> int:
    if args.json:
        return _admin(args, lambda s: s.admin.deliveries(args.patient), reads_only=True)
    return _admin(
        args,
        lambda s: _table(s.admin.deliveries(args.patient)),
        show=_show_table,
        reads_only=True,
    )


def _table(deliveries: list[dict[str, Any]]) -> Any:
    """What the care team asks ("was she reminded about the CT?"): one row per delivery."""
    from rich.table import Table

    zone = deliveries[0]["time_zone"] if deliveries else "-"
    table = Table(title=f"deliveries (times in {zone})", show_lines=False)
    for column in ("kind", "item", "due", "channel", "status", "when", "why"):
        table.add_column(column, overflow="fold")
    for d in deliveries:
        when = d["sent_at"] or d["next_attempt_at"] or ""
        table.add_row(
            d["kind"], d["item"] or "", d["due"] or "", d["channel"] or "", d["status"],
            when, d["why"] or "",
        )  # fmt: skip
    return table


def _show_table(table: Any) -> None:
    from rich.console import Console

    Console(width=160).print(table)


def _db_upgrade(args: argparse.Namespace) -> int:
    def upgrade(service: NotifierService) -> object:
        service.upgrade_schema()
        return {"schema": "upgraded to head"}

    return _admin(args, upgrade, reads_only=True, creates=True)
