"""The one console command, `remission-watch`; each service registers its own subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Command -> (the module whose `register(subparsers)` adds it, its one-line help). Only the module
# of the command being run is imported: `--help` and `timeline` then start without loading Kafka,
# SQLAlchemy or FastAPI. The help is repeated here for `--help`; a test keeps it equal to what the
# modules register.
COMMANDS = {
    "timeline": (
        "remission_watch.commands",
        "fold a JSONL file of events (no Kafka) and show each patient's state and reminders",
    ),
    "protocols": (
        "remission_watch.protocol_files",
        "validate and list surveillance protocol files",
    ),
    "schemas": ("remission_watch.schemas", "write the JSON Schemas of events and outputs"),
    "worker": ("streams.cli", "run the patient agent (Faust worker)"),
    "ticker": ("streams.cli", "publish wall-clock ticks to every ticks partition"),
    "rebuild": ("streams.cli", "recompute state from the topics and compare with the live table"),
    "publish": ("streams.cli", "validate a JSON Lines file of events and send each to its topic"),
    "notifier": ("notifier.cli", "run the notifier: consumer, dispatcher, HTTP API"),
    "notifier-admin": ("notifier.cli", "notifier recipients, consent and deliveries"),
    "demo": (
        "remission_watch.platform",
        "run the whole platform on embedded parts through five simulated years",
    ),
    "up": (
        "remission_watch.platform",
        "run broker (embedded unless RW_KAFKA_BOOTSTRAP is set), worker, ticker and "
        "notifier on the wall clock until Ctrl-C",
    ),
    "ingest": ("ingest.cli", "HL7 v2 (MLLP, files) and FHIR R4 into events"),
}
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))

EPILOG = "exit status: 0 ok, 1 a problem found in the data, 2 could not run"
# What `COMMAND --help` adds to the one-line help when the command gives no description itself.
DETAILS = {
    "up": "Needs a care-team channel: set RW_CARE_TEAM_URLS (Apprise URLs), or RW_NO_CARE_TEAM=1 "
    "to run knowingly without one (self-harm and delivery alerts then reach no one).",
    "notifier": "Settings come from RW_* variables (docs/operations.md); it needs "
    "RW_CARE_TEAM_URLS, or RW_NO_CARE_TEAM=1.",
}


def build_parser(command: str | None = None, *, full: bool = True) -> argparse.ArgumentParser:
    """The parser; with `full`, every module registers its commands, else only `command`'s."""
    parser = argparse.ArgumentParser(
        prog="remission-watch",
        description="Keep cancer survivors under surveillance on schedule.",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = COMMANDS.get(command or "", ("", ""))[0]
    for name in COMMAND_MODULES:
        if full or name == wanted:
            _register(name, sub)
        else:
            for command_name, (module, help_text) in COMMANDS.items():
                if module == name:
                    sub.add_parser(command_name, help=help_text, add_help=False)
    for command_name, command_parser in sub.choices.items():  # `COMMAND --help` says what and
        if command_parser.description is None:  # how it exits, as the top level does
            help_text = COMMANDS.get(command_name, ("", ""))[1]
            details = DETAILS.get(command_name)
            command_parser.description = f"{help_text}. {details}" if details else help_text
        command_parser.epilog = command_parser.epilog or EPILOG
    return parser


def _register(name: str, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return  # an optional adapter that is not installed: its commands are absent
    module.register(sub)


def _command_word(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (options before it take no values)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_word(argv), full=False)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    from remission_watch.problems import run_explained

    return run_explained(args, "remission-watch")


if __name__ == "__main__":
    sys.exit(main())
