"""`python -m notifier [notifier | notifier-admin ...]`: the notifier's commands on their own."""

from __future__ import annotations

import argparse
import sys

from notifier.cli import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notifier")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
