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
    assert run(["protocols", "validate", str(good), str(bad), str(missing)]) == 2  # unreadable
    lines = capsys.readouterr().err.splitlines()
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


def test_validate_names_the_file_and_rule_of_an_unknown_marker_or_bad_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "prostate-nccn.yaml"
    bad.write_text(
        (DATA / "prostate-nccn.yaml")
        .read_text()
        .replace("satisfied_by: {markers: [psa]}", "satisfied_by: {markers: [pas]}", 1)
        .replace(
            "satisfied_by: {markers: [psa]}",
            "satisfied_by: {markers: [psa], loinc: [83112-4]}",
            1,
        )
    )
    assert run(["protocols", "validate", str(bad)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert (
        f"{bad}: rule 'psa_after_prostatectomy': satisfied_by.loinc: loinc '83112-4': "
        "check digit should be 3" in lines
    )
    assert len(lines) == 1  # the first problem stops that file before marker resolution
    bad.write_text(
        (DATA / "prostate-nccn.yaml")
        .read_text()
        .replace("satisfied_by: {markers: [psa]}", "satisfied_by: {markers: [pas]}", 1)
    )
    assert run(["protocols", "validate", str(bad)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{bad}: rule 'psa': satisfied_by.markers: unknown marker 'pas'")
    assert "known: psa, cea" in line


def test_the_value_set_file_is_valid_and_cites_its_sources() -> None:
    from remission_watch.protocol_files import load_builtin_value_sets

    value_sets = load_builtin_value_sets()
    ids = {marker.id for marker in value_sets.markers}
    assert {
        "psa",
        "cea",
        "ca15_3",
        "ca27_29",
        "ca125",
        "afp",
        "hcg",
        "ldh",
        "thyroglobulin",
        "tg_antibodies",
        "m_protein",
        "free_light_chains",
    } <= ids
    psa = value_sets.marker("psa")
    assert psa is not None and psa.vsac == "2.16.840.1.113883.3.526.3.401"
    assert value_sets.marker_of("83112-3") == "psa"  # f09
    assert value_sets.marker_of("10886-0") is None and value_sets.knows("10886-0")  # free PSA
    assert all(marker.source for marker in value_sets.markers)


def test_a_bad_code_in_the_value_set_file_is_named() -> None:
    from models.protocols import ProtocolError, parse_value_sets
    from remission_watch.protocol_files import builtin_value_sets_text

    text = builtin_value_sets_text().replace("code: 83112-3", "code: 83112-4")
    with pytest.raises(ProtocolError) as caught:
        parse_value_sets(text, "markers.yaml")
    assert caught.value.problems == (
        "markers.yaml: marker 'psa': codes[2].code: loinc '83112-4': check digit should be 3",
    )


def test_validate_exits_2_on_a_file_it_cannot_read_and_writes_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("id: caf\xe9\n".encode("latin-1"))
    for path, reason in [
        (tmp_path / "missing.yaml", "No such file or directory"),
        (tmp_path, "is a folder"),
        (latin, "not UTF-8 (byte 0xe9)"),
    ]:
        assert run(["protocols", "validate", str(path)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        (line,) = captured.err.splitlines()
        assert line.startswith(f"{path}: cannot read: ") and reason in line


def test_a_protocol_folder_with_no_files_or_an_unreadable_file_is_refused(
    tmp_path: Path,
) -> None:
    from remission_watch.problems import CannotRun, explain
    from remission_watch.protocol_files import load_folder

    for folder in (tmp_path / "nonexistent", tmp_path):
        with pytest.raises(CannotRun) as refused:
            load_folder(folder)
        assert explain(refused.value) == (
            f"no protocol files in {folder} (it should hold *.yaml files)"
        )
    (tmp_path / "latin.yaml").write_bytes("id: caf\xe9\n".encode("latin-1"))
    with pytest.raises(CannotRun) as refused:
        load_folder(tmp_path)
    assert str(refused.value).startswith(f"{tmp_path / 'latin.yaml'}: cannot read: not UTF-8")
    (tmp_path / "latin.yaml").unlink()
    (tmp_path / "lung-asco.yaml").write_text((DATA / "lung-asco.yaml").read_text())
    assert load_folder(tmp_path).ids() == ("lung-asco",)


def test_a_worker_given_an_invalid_protocol_file_gets_one_line(tmp_path: Path) -> None:
    from models.protocols import ProtocolError
    from remission_watch.problems import explain
    from remission_watch.protocol_files import load_folder

    broken = tmp_path / "lung-asco.yaml"
    broken.write_text(
        (DATA / "lung-asco.yaml").read_text().replace("category: scan", "category: x")
    )
    with pytest.raises(ProtocolError) as refused:
        load_folder(tmp_path)
    message = explain(refused.value)
    assert message is not None and "\n" not in message
    assert message.startswith(f"invalid protocol files: {broken}: rule ")
