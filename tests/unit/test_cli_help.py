"""`remission-watch COMMAND --help` says what the command does, what it needs and how it exits."""

from __future__ import annotations

import pytest

from remission_watch.cli import COMMANDS, EPILOG, main


def help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        main([command, "--help"])
    assert stopped.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_help_has_a_description_and_an_exit_status(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = help_of(command, capsys)
    paragraphs = shown.split("\n\n")  # usage, description, arguments..., epilog
    assert paragraphs[1].strip() and not paragraphs[1].startswith(("options:", "positional"))
    assert paragraphs[-1].startswith("exit status: 0 ")


def test_up_help_names_the_care_team_settings(capsys: pytest.CaptureFixture[str]) -> None:
    shown = " ".join(help_of("up", capsys).split())  # argparse wraps lines
    assert "RW_CARE_TEAM_URLS" in shown and "RW_NO_CARE_TEAM=1" in shown
    assert " ".join(EPILOG.split()) in shown
