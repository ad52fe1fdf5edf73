"""`timeline` and `publish` read a JSON Lines file of events one way (remission_watch.event_file):
the same one-line refusal and exit for a file that cannot be used, the same words for a bad line,
and `publish` says so before it asks for a broker."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from remission_watch.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def nowhere() -> str:
    """A broker address where nothing listens: `publish` must not need it to judge a file."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def both(path: Path, nowhere: str) -> list[list[str]]:
    return [["timeline", str(path)], ["publish", str(path), "--bootstrap", nowhere]]


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        (b"", 1, "x.jsonl is empty: no events (one JSON object per line)"),
        (b"\n  \n\n", 1, "x.jsonl is empty: no events"),
        (
            b'[{"type": "patient.enrolled"},\n {"type": "lab.resulted"}]\n',
            1,
            "x.jsonl holds a JSON array, not JSON Lines (one event object per line); convert "
            "it with: jq -c '.[]' ",
        ),
        (
            '{"type": "patient.enrolled"}\n'.encode("utf-16"),  # little-endian, FF FE
            2,
            "x.jsonl is UTF-16 (it starts with the byte-order mark FF FE); save it as UTF-8 "
            "(e.g. iconv -f utf-16 -t utf-8 ",
        ),
        (
            b"\xfe\xff" + '{"type": "patient.enrolled"}\n'.encode("utf-16-be"),
            2,
            "is UTF-16 (it starts with the byte-order mark FE FF)",
        ),
        (
            b'{"type": "patient.enrolled"}\n{"source": "caf\xe9"}\n',
            2,
            "x.jsonl:2: not UTF-8 (byte 0xe9); the file is probably Latin-1 or Windows-1252",
        ),
    ],
)
def test_both_commands_refuse_an_unusable_file_in_the_same_one_line(
    tmp_path: Path,
    nowhere: str,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    code: int,
    words: str,
) -> None:
    events = tmp_path / "x.jsonl"
    events.write_bytes(content)
    said = []
    for command in both(events, nowhere):
        assert main(command) == code, command
        out, err = capsys.readouterr()
        (line,) = err.splitlines()  # one line, and not the broker's: the file comes first
        assert out == "" and line.startswith(f"remission-watch {command[0]}: ")
        assert words in line and "Kafka" not in line
        said.append(line.split(": ", 1)[1])
    assert said[0] == said[1]


def test_a_latin1_byte_refuses_the_whole_file_as_the_readme_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Skipping the accented lines of a Latin-1 file would drop events unnoticed."""
    good = (EXAMPLES / "hodgkin.jsonl").read_bytes()
    events = tmp_path / "latin1.jsonl"
    events.write_bytes(good + b'{"type": "note", "text": "r\xe9sum\xe9"}\n')
    assert main(["timeline", str(events), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "no line of it was used" in err
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "not UTF-8" in readme and "no line of it is used" in readme


def test_publish_names_a_misspelt_field_as_timeline_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enrolment = json.loads((EXAMPLES / "hodgkin.jsonl").read_text().splitlines()[0])
    enrolment["sitee"] = enrolment.pop("site")
    events = tmp_path / "typo.jsonl"
    events.write_text(json.dumps(enrolment) + "\n")
    assert main(["publish", str(events), "--dry-run"]) == 1
    published = capsys.readouterr().out
    assert main(["timeline", str(events), "--json"]) == 1
    (bad,) = json.loads(capsys.readouterr().out)["bad_lines"]
    assert "sitee: not a field of this event type (misspelt?)" in bad["reason"]
    assert f"{events}:1: {bad['reason']}" in published.splitlines()
    assert "Extra inputs" not in published
    assert f"{events}: 0 of 1 lines valid" in published
