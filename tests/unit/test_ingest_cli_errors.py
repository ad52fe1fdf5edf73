"""`remission-watch ingest` as a new user gets it wrong: one line each, in the style of every
other command (`remission-watch ingest: ...`), exit 1 for a file that holds no HL7, 2 when it
could not run; never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from remission_watch.cli import main


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("RW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no ingest.yaml, no quarantine folder of anyone else


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "invalid literal" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["fhir", "--listen", "nohostport"], "argument --listen: 'nohostport' is not HOST:PORT"),
        (["fhir", "--listen", ":8085"], "argument --listen: ':8085' is not HOST:PORT"),
        (["fhir", "--listen", "127.0.0.1:http"], "argument --listen: 'http' is not a port number"),
        (["fhir", "--listen", "127.0.0.1:99999"], "argument --listen: 99999 is not a port number"),
        (["mllp", "--port", "70000"], "argument --port: 70000 is not a port number (0-65535)"),
        (["mllp", "--port", "x"], "argument --port: 'x' is not a port number (0-65535)"),
        (["file", "a.hl7", "--workers", "0"], "argument --workers: '0' is not a number of"),
        (["file", "a.hl7", "--workers", "-1"], "argument --workers: '-1' is not a number of"),
    ],
)
def test_a_wrong_address_port_or_worker_count_is_a_usage_error(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["ingest", *argv])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert words in err.strip().splitlines()[-1] and "Traceback" not in err


def test_an_ipv6_listen_address_is_taken(capsys: pytest.CaptureFixture[str]) -> None:
    from remission_watch.listen import listen_address

    assert listen_address("[::1]:8085") == ("::1", 8085)
    assert listen_address("0.0.0.0:0") == ("0.0.0.0", 0)


def test_a_port_in_use_is_one_line_naming_the_address_and_the_settings(
    busy_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RW_FHIR_TOKEN", "fhir-token-0123456789abcdef")
    assert main(["ingest", "fhir", "--listen", f"127.0.0.1:{busy_port}"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"remission-watch ingest: cannot listen on 127.0.0.1:{busy_port}: ")
    assert "address already in use" in line and "--listen, RW_FHIR_HOST, RW_FHIR_PORT" in line

    assert main(["ingest", "mllp", "--port", str(busy_port)]) == 2
    line = one_line(capsys.readouterr().err)
    assert f"cannot listen on 127.0.0.1:{busy_port}: address already in use" in line
    assert "RW_MLLP_PORT" in line


def test_a_host_that_is_not_known_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RW_MLLP_HOST", "no-such-host.invalid")
    assert main(["ingest", "mllp", "--port", "0"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "'no-such-host.invalid' is not a known host name or address" in line


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        (b'{"type": "diagnosis.recorded", "patient_id": "p-1"}\n{"x": 1}\n', 1,
         "is not HL7 v2 (no MSH segment): it looks like JSON Lines"),
        (b"Patient called, results to follow\r\n", 1,
         "is not HL7 v2: it does not start with an MSH segment"),
        (bytes(range(256)) * 4, 1, "is not HL7 v2: it does not start with an MSH"),
        (b"\xef\xbb\xbf\r\n", 1, "is empty: there is no HL7 message in it"),
    ],
)  # fmt: skip
def test_a_file_that_holds_no_hl7_says_what_it_is_and_is_not_quarantined(
    content: bytes, code: int, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "events.hl7"
    data.write_bytes(content)
    assert main(["ingest", "file", str(data)]) == code
    out, err = capsys.readouterr()
    assert one_line(err).startswith(f"remission-watch ingest: {data} {words}")
    assert out == "" and not (tmp_path / "quarantine").exists()
    if content.startswith(b"{"):
        assert "remission-watch publish" in err


def test_a_missing_file_or_a_folder_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", "file", "nonexist.hl7"]) == 2
    assert one_line(capsys.readouterr().err) == "remission-watch ingest: nonexist.hl7: no such file"
    assert main(["ingest", "file", str(tmp_path)]) == 2
    assert "is not a file (a folder?)" in one_line(capsys.readouterr().err)


def test_a_config_that_is_not_yaml_names_the_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - name: X\n   bad: [\n")
    data = tmp_path / "one.hl7"
    data.write_bytes(b"MSH|^~\\&|LAB|FAC|RW|RW|20240101||ORU^R01|1|P|2.5\r")
    assert main(["ingest", "file", str(data), "--config", str(bad)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"remission-watch ingest: {bad}:3:4: is not valid YAML: ")
    assert "<unicode string>" not in line


def test_a_config_with_several_problems_lists_them_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("feeds:\n  - name: X\n    time_zone: Mars/Olympus\n    colour: red\n")
    data = tmp_path / "one.hl7"
    data.write_bytes(b"MSH|^~\\&|LAB|FAC|RW|RW|20240101||ORU^R01|1|P|2.5\r")
    assert main(["ingest", "file", str(data), "--config", str(bad)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"remission-watch ingest: {bad} has 2 problem(s): ")
    assert "feeds.0.time_zone: unknown IANA time zone 'Mars/Olympus'" in line
    assert "feeds.0.colour" in line


def test_a_backfill_kafka_did_not_acknowledge_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from contextlib import asynccontextmanager
    from types import SimpleNamespace

    import ingest.service
    from ingest.hl7_intake import Hl7Intake
    from ingest.ledger import MemoryLedger
    from ingest.sink import MemoryEventSink

    class Unanswered(MemoryEventSink):
        async def drain(self) -> None:
            raise TimeoutError

    @asynccontextmanager
    async def running(_settings: object, defer: bool = False):  # type: ignore[no-untyped-def]
        feed = SimpleNamespace(max_message_bytes=1 << 20)
        pseudonym = SimpleNamespace(key=lambda: b"k", prefix="")
        config = SimpleNamespace(hl7_feed=lambda *_: None, feeds=[feed], pseudonym=pseudonym)
        intake = Hl7Intake(config, Unanswered(), MemoryLedger(), None)  # type: ignore[arg-type]
        yield SimpleNamespace(intake=intake)

    monkeypatch.setattr(ingest.service, "running", running)
    data = tmp_path / "one.hl7"
    data.write_bytes(b"MSH|^~\\&|LAB|FAC|RW|RW|20240101||ORU^R01|1|P|2.5\r")
    assert main(["ingest", "file", str(data)]) == 2
    err = capsys.readouterr().err  # the refusal's log line, then the error
    line = err.strip().splitlines()[-1]
    assert line.startswith("remission-watch ingest: Kafka did not acknowledge the events")
    assert "load it again" in line and "Traceback" not in err
