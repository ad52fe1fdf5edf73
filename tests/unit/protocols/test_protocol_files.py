"""Reading protocol files from disk, the `protocols` subcommand, and the purity of the core."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

import models.protocols
from remission_watch.protocol_files import (
    builtin_texts,
    load_catalog,
    register,
    validate_files,
)

DATA = Path(models.protocols.__file__).parent / "data"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_validate_without_files_checks_the_built_in_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["protocols", "validate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {len(builtin_texts())} protocol files, ")
    assert validate_files() == []


def test_validate_reports_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "breast-asco.yaml"
    good.write_text((DATA / "breast-asco.yaml").read_text())
    bad = tmp_path / "broken.yaml"
    bad.write_text(
        (DATA / "breast-asco.yaml")
        .read_text()
        .replace("id: breast-asco\n", "id: broken\n")
        .replace("every_months: [3, 6]", "every_months: [6, 3]")
        .replace("category: scan", "category: xray")
    )
    missing = tmp_path / "missing.yaml"
    assert run(["protocols", "validate", str(good), str(bad), str(missing)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{missing}: cannot read: No such file or directory"
    assert (
        f"{bad}: rule 'history_physical': phases[0]: every_months [6, 3]: minimum above maximum"
        in lines
    )
    assert any(line.startswith(f"{bad}: rule 'mammogram': category: ") for line in lines)
    assert len(lines) == 3


def test_list_shows_id_version_site_provisional_and_rules(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["protocols", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "version", "site", "provisional", "rules"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["breast-asco"] == ["2012.1", "breast", "no", "3"]
    assert rows["dlbcl-esmo"][2] == "yes"
    assert len(rows) == len(builtin_texts())


def test_protocols_without_an_action_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["protocols"]) == 2
    assert "validate" in capsys.readouterr().out


def test_load_catalog_reads_the_given_files(tmp_path: Path) -> None:
    path = tmp_path / "lung-asco.yaml"
    path.write_text((DATA / "lung-asco.yaml").read_text())
    assert load_catalog([path]).ids() == ("lung-asco",)


BANNED_IMPORTS = {"os", "io", "importlib", "socket", "urllib", "uuid", "time", "random"}
BANNED_NAMES = {"open", "now", "today", "utcnow", "uuid4", "read_text", "read_bytes", "Path"}


@pytest.mark.parametrize("module", sorted(Path(models.protocols.__file__).parent.glob("*.py")))
def test_the_protocol_core_does_no_io_and_reads_no_clock(module: Path) -> None:
    tree = ast.parse(module.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not {alias.name.split(".")[0] for alias in node.names} & BANNED_IMPORTS
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in BANNED_IMPORTS
            assert not {alias.name for alias in node.names} & BANNED_NAMES
        elif isinstance(node, ast.Name):
            assert node.id not in BANNED_NAMES, f"{module.name}:{node.lineno} uses {node.id}"
        elif isinstance(node, ast.Attribute):
            assert node.attr not in BANNED_NAMES, f"{module.name}:{node.lineno} uses {node.attr}"
