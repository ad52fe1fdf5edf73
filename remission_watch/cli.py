"""The one console command, `remission-watch`; each service registers its own subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that expose `register(subparsers)`. Imported lazily so a broken optional adapter
# cannot stop the offline commands (timeline, protocols) from working.
COMMAND_MODULES = (
    "remission_watch.commands",
    "remission_watch.protocol_files",
    "remission_watch.schemas",
    "streams.cli",
    "notifier.cli",
    "remission_watch.platform",
    "ingest.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="remission-watch",
        description="Keep cancer survivors under surveillance on schedule.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
