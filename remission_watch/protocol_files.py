"""Protocol files on disk: the packaged catalog, user files, and the `protocols` subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from models.protocols import Catalog, ProtocolError, ValueSets, parse_value_sets

DATA_PACKAGE = "models.protocols"
DATA_FOLDER = "data"


def builtin_texts() -> dict[str, str]:
    """The packaged protocol files, `file name -> text`, in name order."""
    folder = resources.files(DATA_PACKAGE).joinpath(DATA_FOLDER)
    entries = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".yaml")),
        key=lambda entry: entry.name,
    )
    return {entry.name: entry.read_text(encoding="utf-8") for entry in entries}


VALUE_SETS_FILE = "value_sets/markers.yaml"


def builtin_value_sets_text() -> str:
    """The packaged lab-marker value sets (models/protocols/value_sets/markers.yaml)."""
    return resources.files(DATA_PACKAGE).joinpath(VALUE_SETS_FILE).read_text(encoding="utf-8")


@cache
def load_builtin_value_sets() -> ValueSets:
    """The packaged lab-marker value sets, parsed once per process."""
    return parse_value_sets(builtin_value_sets_text(), VALUE_SETS_FILE)


@cache
def load_builtin_catalog() -> Catalog:
    """The catalog of packaged protocols (parsed once per process; a Catalog is immutable)."""
    return Catalog.from_texts(builtin_texts(), load_builtin_value_sets())


def read_texts(paths: Iterable[str | Path]) -> dict[str, str]:
    """`path as given -> text`; raises `ProtocolError` naming each file that cannot be read."""
    texts, problems = _read(paths)
    if problems:
        raise ProtocolError(problems)
    return texts


def _read(paths: Iterable[str | Path]) -> tuple[dict[str, str], list[str]]:
    texts: dict[str, str] = {}
    problems: list[str] = []
    for path in paths:
        try:
            texts[str(path)] = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                f"{path}: cannot read: not UTF-8 (byte 0x{exc.object[exc.start]:02x}); "
                "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
            )
        except IsADirectoryError:
            problems.append(f"{path}: cannot read: is a folder; give protocol YAML files")
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
    return texts, problems


def load_folder(folder: Path) -> Catalog:
    """A catalog of the `*.yaml` files of `folder`; `CannotRun` (one line) when there are none
    or one cannot be read, `ProtocolError` when one is invalid."""
    from remission_watch.problems import CannotRun

    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    if not files:
        raise CannotRun(f"no protocol files in {folder} (it should hold *.yaml files)")
    texts, problems = _read(files)
    if problems:
        raise CannotRun("; ".join(problems))
    return Catalog.from_texts(texts, load_builtin_value_sets())


def load_catalog(paths: Iterable[str | Path]) -> Catalog:
    """A catalog of the given protocol files, with the packaged value sets; raises
    `ProtocolError` listing every problem."""
    return Catalog.from_texts(read_texts(paths), load_builtin_value_sets())


def validate_files(paths: Sequence[str | Path] | None = None) -> list[str]:
    """Every problem in the given files (none given: the packaged ones), one line each."""
    texts, problems = _read(paths) if paths else (builtin_texts(), [])
    try:
        value_sets = load_builtin_value_sets()
    except ProtocolError as exc:
        return [*problems, *exc.problems]
    try:
        Catalog.from_texts(texts, value_sets)
    except ProtocolError as exc:
        problems.extend(exc.problems)
    return problems


def register(sub: Any) -> None:
    """Add `protocols validate [FILES...]` and `protocols list` to the CLI's subparsers."""
    parser = sub.add_parser("protocols", help="validate and list surveillance protocol files")
    commands = parser.add_subparsers(dest="protocols_command", metavar="ACTION")
    parser.set_defaults(handler=_help(parser))

    validate = commands.add_parser("validate", help="check protocol files (default: built-in)")
    validate.add_argument("files", nargs="*", metavar="FILE", help="protocol YAML files")
    validate.set_defaults(handler=_validate)

    listing = commands.add_parser("list", help="list protocols (default: built-in)")
    listing.add_argument("files", nargs="*", metavar="FILE", help="protocol YAML files")
    listing.set_defaults(handler=_list)


def _help(parser: argparse.ArgumentParser) -> Any:
    def show(_args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show


def _validate(args: argparse.Namespace) -> int:
    """Exit 0 all valid, 1 a file is invalid, 2 a file cannot be read (as the README says)."""
    problems = validate_files(args.files)
    for line in problems:
        print(line, file=sys.stderr)
    if any(": cannot read: " in line for line in problems):
        return 2
    if problems:
        return 1
    catalog = _catalog(args.files)
    rules = sum(len(protocol.items) for protocol in catalog)
    print(f"ok: {len(catalog)} protocol files, {rules} rules")
    return 0


def _list(args: argparse.Namespace) -> int:
    try:
        catalog = _catalog(args.files)
    except ProtocolError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2 if any(": cannot read: " in line for line in exc.problems) else 1
    rows = [("id", "version", "site", "provisional", "rules")]
    rows += [
        (
            protocol.id,
            protocol.version,
            protocol.applies_to.site.value,
            "yes" if protocol.provisional else "no",
            str(len(protocol.items)),
        )
        for protocol in catalog
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return 0


def _catalog(files: Sequence[str]) -> Catalog:
    return load_catalog(files) if files else load_builtin_catalog()
