"""`python -m streams worker|ticker|rebuild`: the streams subcommands on their own."""

from __future__ import annotations

import argparse
import sys

from streams.cli import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    from remission_watch.problems import run_explained

    return run_explained(args, "python -m streams")


if __name__ == "__main__":
    sys.exit(main())
