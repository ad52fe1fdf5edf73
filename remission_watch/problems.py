"""One line, for a person, about why a command could not run: settings, broker, database.

The composition root calls `explain` on whatever a command raised. It never prints a setting's
value (only names and rules), and it names the address that could not be reached with any
password hidden.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from typing import Any

SETTINGS_HELP = "see the settings table in docs/operations.md"
DB_URL_EXAMPLE = "postgresql+psycopg://USER:PASSWORD@HOST:5432/DB or sqlite:///PATH"


class CannotRun(Exception):
    """A user's mistake that stops a command; the message is the whole explanation (exit 2).

    Raise it from any command: `explain` prints it as one line, with no traceback. The message
    must not hold a secret (a password, a token, a URL that could not be parsed).
    """

    explained = True


def run_explained(args: argparse.Namespace, program: str) -> int:
    """Run a parsed command's handler; a mistake a user can fix is one line on stderr and exit
    2, never a traceback. Every entry point (`remission-watch`, `python -m streams`,
    `python -m notifier`) runs its commands through this."""
    # Unless a command configures logging, a library's log lines would reach stderr through
    # Python's last-resort handler and bury the one-line explanation below.
    kafka_log = KafkaConnectionLog()  # silent too; keeps the reason behind a failed connect
    logging.getLogger("aiokafka").addHandler(kafka_log)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the exit's flush cannot fail
        return 0
    except Exception as exc:
        if kafka_log.last:
            exc.add_note(kafka_log.last)
        message = explain(exc)
        if message is None:
            raise
        print(f"{program} {args.command}: {message}", file=sys.stderr)
        logging.getLogger("asyncio").disabled = True  # "Unclosed consumer" after a failed start
        return 2
    finally:
        logging.getLogger("aiokafka").removeHandler(kafka_log)


def explain(exc: BaseException) -> str | None:
    """A one-line explanation of `exc`, or None when it is not a mistake a user can fix."""
    for cause in _chain(exc):
        if getattr(cause, "explained", False):  # a refusal that is its own explanation
            return str(cause)
        module = type(cause).__module__
        if module.startswith("models.protocols") and hasattr(cause, "problems"):
            return "invalid protocol files: " + "; ".join(cause.problems)
        if module.startswith("pydantic") and type(cause).__name__ == "ValidationError":
            return _invalid(cause)
        if module.startswith("aiokafka") or module.startswith("kafka"):
            return _broker(cause)
        if module.startswith("sqlalchemy"):
            found = _database(cause)
            if found:
                return found
        if type(cause) is ValueError and "Apprise URL" in str(cause):
            return (
                f"{cause}: check RW_EMAIL_URL, RW_SMS_URL and RW_CARE_TEAM_URLS against "
                "Apprise's URL formats (https://github.com/caronc/apprise/wiki)"
            )
        if isinstance(cause, ConnectionError) and not isinstance(cause, BrokenPipeError):
            return f"could not connect: {cause}; is the service running at the configured address?"
    return None


class KafkaConnectionLog(logging.Handler):
    """Keeps what aiokafka last logged as an error, and no more: its exceptions say only
    "Unable to bootstrap from ...", while why (SASL refused, a certificate not trusted) is
    only in its log. `main` adds it to the exception as a note for `explain`."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()[:500]


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what caused it (a broker error often arrives wrapped)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _invalid(exc: Any) -> str:
    """Every problem of a settings (or input) validation, named, without the values given."""
    is_settings = str(exc.title).endswith("Settings")
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not loc:
            problems.append(message)
        elif is_settings:
            name = "RW_" + loc[0].upper()
            missing = error.get("type") == "missing"
            joint = " " if message.startswith("is ") else ": "
            problems.append(f"{name} is missing" if missing else f"{name}{joint}{message}")
        else:
            problems.append(f"{'.'.join(loc)}: {message}")
    if not is_settings:
        return "invalid input: " + "; ".join(problems)
    return f"settings: {'; '.join(problems)} ({SETTINGS_HELP})"


def _broker(exc: BaseException) -> str:
    text = str(exc)
    from streams.kafka_security import explain_kafka_auth

    logged = " ".join(getattr(exc, "__notes__", ()))  # see KafkaConnectionLog
    refused = explain_kafka_auth(  # reached, but TLS or SASL said no
        f"{text} {logged}",
        os.environ.get("RW_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper(),
        bool(os.environ.get("RW_KAFKA_SSL_CERTFILE")),
    )
    if refused:
        return refused
    hosts = re.findall(r"\('([^']+)', (\d+)", text)
    where = ", ".join(f"{host}:{port}" for host, port in hosts)
    where = where or os.environ.get("RW_KAFKA_BOOTSTRAP", "the configured address")
    if "://" in where:
        return (
            f"RW_KAFKA_BOOTSTRAP (or --bootstrap) is {where}: write host:port[,host:port], "
            "without a scheme"
        )
    return (
        f"cannot reach the Kafka broker at {where} ({type(exc).__name__}); start it, or point "
        "RW_KAFKA_BOOTSTRAP (or --bootstrap) at a running broker"
    )


def _database(exc: BaseException) -> str | None:
    name = type(exc).__name__
    url = _shown_url(os.environ.get("RW_DATABASE_URL"))
    if name in ("NoSuchModuleError", "ArgumentError"):
        return (
            f"RW_DATABASE_URL {url} is not a database URL SQLAlchemy can use; "
            f"write it as {DB_URL_EXAMPLE}"
        )
    if name == "OperationalError":
        orig = getattr(exc, "orig", None) or exc
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else name
        return f"cannot use the database {url}: {first}; start it, or correct RW_DATABASE_URL"
    return None


def _shown_url(url: str | None) -> str:
    if not url:
        return "(RW_DATABASE_URL unset: the default sqlite:///./var/notifier.db)"
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # never echo what could not be parsed: it may be all password
        return "(not a URL; value not shown)"
