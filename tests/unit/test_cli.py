"""The command line as a new user meets it: fast help, one-line errors, honest exit codes."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import secrets
import socket
import subprocess
import sys

import pytest

from remission_watch.cli import COMMANDS, main

HEAVY = ("sqlalchemy", "aiokafka", "faust", "fastapi", "apprise", "notifier", "streams")


def modules_loaded_by(argv: list[str]) -> set[str]:
    """The heavy top-level packages imported while running `remission-watch ARGV`."""
    script = (
        "import sys, json\n"
        "from remission_watch.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    loaded = json.loads(done.stderr.strip().splitlines()[-1])
    return {name for name in HEAVY if name in loaded}


def test_help_lists_every_command_and_loads_no_service() -> None:
    assert modules_loaded_by(["--help"]) == set()


def test_timeline_loads_no_service(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    events = Path(__file__).resolve().parents[2] / "examples" / "hodgkin.jsonl"
    assert modules_loaded_by(["timeline", str(events), "--at", "2024-01-01"]) == set()


def test_the_help_table_matches_what_each_module_registers() -> None:
    registered: dict[str, str] = {}
    for module in dict.fromkeys(m for m, _ in COMMANDS.values()):
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(module).register(sub)
        helps = {a.dest: a.help for a in sub._choices_actions}
        for name in sub.choices:
            registered[name] = helps[name]
            assert COMMANDS[name][0] == module, name
    assert registered == {name: help_text for name, (_, help_text) in COMMANDS.items()}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("RW_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_missing_settings_are_named_in_one_line_without_values(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "Sh0rt-S3cret"  # too short: refused, and never echoed
    clean_env.setenv("RW_CALLBACK_NUMBER", "+1 555 0100")
    clean_env.setenv("RW_ENCRYPTION_KEYS", "not-a-fernet-key-" + secret)
    clean_env.setenv("RW_INBOUND_SECRET", secret)
    assert main(["notifier"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("remission-watch notifier: settings: RW_")
    assert secret not in err and "S3cret" not in err


def test_a_setting_of_the_wrong_type_is_named(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("RW_HTTP_PORT", "eighty")
    clean_env.setenv("RW_SMS_DAILY_CAP", "-1")
    assert main(["notifier"]) == 2
    err = capsys.readouterr().err
    assert "RW_HTTP_PORT:" in err and "RW_SMS_DAILY_CAP:" in err and "eighty" not in err


def test_a_database_url_with_a_wrong_scheme_says_how_to_write_it(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("RW_ALLOW_DEV_KEY", "1")
    clean_env.setenv("RW_DATABASE_URL", "postgres://rw:hunter2@127.0.0.1:5432/rw")
    assert main(["notifier-admin", "recipients", "show", "P1"]) == 2
    err = capsys.readouterr().err
    assert "postgresql+psycopg://" in err and "hunter2" not in err
    assert len(err.strip().splitlines()) == 1


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_database_names_its_address(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    clean_env.setenv("RW_ALLOW_DEV_KEY", "1")
    clean_env.setenv("RW_DATABASE_URL", f"postgresql+psycopg://rw:hunter2@127.0.0.1:{port}/rw")
    assert main(["notifier-admin", "recipients", "show", "P1"]) == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "hunter2" not in err and "RW_DATABASE_URL" in err
    assert len(err.strip().splitlines()) == 1


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`remission-watch ARGS` in its own process, as a user runs it."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RW_")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "remission_watch.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


def test_an_unreachable_broker_names_its_address() -> None:
    port = closed_port()
    done = run_cli("rebuild", "--bootstrap", f"127.0.0.1:{port}")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"remission-watch rebuild: cannot reach the Kafka broker at 127.0.0.1:{port} "
        "(KafkaConnectionError); start it, or point RW_KAFKA_BOOTSTRAP (or --bootstrap) at a "
        "running broker"
    ]


def run_module(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGS` in its own process (how deploy/ starts the services)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RW_")} | env
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


@pytest.mark.parametrize("command", [["rebuild"], ["ticker", "--at", "2026-01-01T09:00Z"]])
def test_python_m_streams_says_in_one_line_that_the_broker_is_unreachable(
    command: list[str],
) -> None:
    port = closed_port()
    simulated = {"RW_SIMULATED_TIME": "true"}  # else the ticker refuses a tick far from now
    done = run_module("streams", *command, "--bootstrap", f"127.0.0.1:{port}", env=simulated)
    assert done.returncode == 2
    ours = [line for line in done.stderr.splitlines() if not line.startswith("{")]  # log lines
    assert ours == [
        f"python -m streams {command[0]}: cannot reach the Kafka broker at 127.0.0.1:{port} "
        "(KafkaConnectionError); start it, or point RW_KAFKA_BOOTSTRAP (or --bootstrap) at a "
        "running broker"
    ]


def test_python_m_notifier_says_in_one_line_that_the_database_is_unreachable() -> None:
    port = closed_port()
    url = f"postgresql+psycopg://rw:hunter2@127.0.0.1:{port}/rw"
    env = {"RW_ALLOW_DEV_KEY": "1", "RW_DATABASE_URL": url}
    done = run_module("notifier", "notifier-admin", "db", "upgrade", env=env)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith("python -m notifier notifier-admin: cannot use the database ")
    assert f"127.0.0.1:{port}" in line and "hunter2" not in line


def test_a_broker_address_with_a_scheme_is_explained() -> None:
    done = run_cli("rebuild", env={"RW_KAFKA_BOOTSTRAP": f"http://127.0.0.1:{closed_port()}"})
    assert done.returncode == 2
    assert "without a scheme" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--patients", "0"], "--patients: must be at least 1"),
        (["--years", "-1"], "--years: must be at least 0.1"),
        (["--patients", "many"], "'many' is not a number"),
        (["--years", "nan"], "--years: must be a finite number"),
        (["--years", "inf"], "--years: must be a finite number"),
        (["--years", "51"], "--years: must be at most 50"),
        (["--patients", "100000000"], "--patients: must be at most 100000"),
    ],
)
def test_demo_refuses_an_empty_run_before_starting_anything(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["demo", *args])
    assert stopped.value.code == 2
    assert words in capsys.readouterr().err


def test_a_worker_without_protocol_files_refuses_to_start() -> None:
    done = run_cli("worker", "--protocols", "/nonexistent")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "remission-watch worker: no protocol files in /nonexistent (it should hold *.yaml files)"
    ]


@pytest.mark.parametrize("bootstrap", ["nothost:abc", "127.0.0.1:99999", "127.0.0.1:0", "host"])
def test_a_bad_bootstrap_address_is_one_line_for_every_command(
    bootstrap: str, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["rebuild"], ["ticker"], ["worker"], ["publish", "x.jsonl"]):
        assert main([*command, "--bootstrap", bootstrap]) == 2
        err = capsys.readouterr().err
        assert err.splitlines() == [
            f"remission-watch {command[0]}: settings: RW_KAFKA_BOOTSTRAP: {bootstrap!r} is not "
            "host:port with a port from 1 to 65535 (RW_KAFKA_BOOTSTRAP, --bootstrap) "
            "(see the settings table in docs/operations.md)"
        ]
    clean_env.setenv("RW_KAFKA_BOOTSTRAP", bootstrap)
    from pydantic import ValidationError

    from notifier.settings import NotifierSettings

    with pytest.raises(ValidationError, match="is not host:port"):
        NotifierSettings()
    from streams.settings import check_bootstrap

    assert check_bootstrap("a:9092, [::1]:9093") == "a:9092, [::1]:9093"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("notaurl-SuperSecretPw99", "RW_DATABASE_URL is not a URL (value not shown)"),
        ("mysql://rw:SuperSecretPw99@db/rw", "RW_DATABASE_URL: scheme 'mysql' is not supported"),
        ("sqlite:////nonexistent/dir/x.db", "folder /nonexistent/dir does not exist"),
    ],
)
def test_an_unusable_database_url_is_refused_without_its_value(
    url: str, words: str, clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("RW_ALLOW_DEV_KEY", "1")
    clean_env.setenv("RW_DATABASE_URL", url)
    for command in (["notifier"], ["notifier-admin", "recipients", "show", "P1"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and words in err
        assert "SuperSecretPw99" not in err
    assert not os.path.exists("/nonexistent")


def test_an_unparsable_database_url_is_never_echoed(clean_env: pytest.MonkeyPatch) -> None:
    from remission_watch.problems import _shown_url

    assert "Pw99" not in _shown_url("notaurl-SuperSecretPw99")


@pytest.mark.parametrize(
    ("at", "words"),
    [
        (
            "2024-01-01",
            "argument --at: '2024-01-01' needs a time zone (e.g. 2026-01-01T09:00:00+00:00)",
        ),
        ("notadate", "argument --at: 'notadate' is not an ISO date-time (e.g. 2026-01-01T09:00:00"),
    ],
)
def test_ticker_at_without_a_zone_or_not_a_date_is_a_usage_error(
    at: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["ticker", "--at", at])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "fromisoformat" not in err


def test_deliveries_list_reads_without_a_call_back_number(
    tmp_path: pytest.TempPathFactory,
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cryptography.fernet import Fernet

    clean_env.setenv("RW_DATABASE_URL", f"sqlite:///{tmp_path}/n.db")
    clean_env.setenv("RW_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    clean_env.setenv("RW_INBOUND_SECRET", secrets.token_urlsafe(32))
    clean_env.setenv("RW_ADMIN_TOKEN", secrets.token_urlsafe(32))
    assert main(["notifier-admin", "db", "upgrade"]) == 0  # sends nothing either
    capsys.readouterr()
    assert main(["notifier-admin", "deliveries", "list", "--patient", "p-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["notifier"]) == 2  # a command that sends still needs one
    assert "RW_CALLBACK_NUMBER is required" in capsys.readouterr().err


def test_a_tick_the_worker_would_dead_letter_is_refused_with_the_setting_that_allows_it(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ticker --at` far from now printed nothing and exited 0 while the worker dead-lettered
    the tick (wall-clock mode); now it is refused before any broker is asked."""
    nowhere = ["--bootstrap", f"127.0.0.1:{closed_port()}"]
    assert main(["ticker", "--at", "2030-01-01T09:00Z", *nowhere]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("remission-watch ticker: --at 2030-01-01T09:00:00+00:00 is more than ")
    assert "300 s from now" in line and "RW_SIMULATED_TIME=true" in line
    assert "worker and the ticker" in line
    assert main(["ticker", "--at", "2100-01-01T00:00Z", *nowhere]) == 2
    assert "within 1970-01-01 to 2099-12-31" in capsys.readouterr().err

    from datetime import UTC, datetime

    from streams.cli import check_tick
    from streams.settings import StreamsSettings

    now = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    check_tick(now.replace(minute=4), StreamsSettings(), now)  # within 300 s: allowed
    clean_env.setenv("RW_SIMULATED_TIME", "true")
    check_tick(datetime(2030, 1, 1, tzinfo=UTC), StreamsSettings(), now)  # simulated: allowed
    # allowed ticks go on to the broker: here none, so the broker's line, not the tick's
    assert main(["ticker", "--at", "2030-01-01T09:00Z", *nowhere]) == 2
    assert "cannot reach the Kafka broker" in capsys.readouterr().err


def test_the_ticker_help_example_is_a_tick_a_worker_believes() -> None:
    from streams.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    ticker = parser._subparsers._group_actions[0].choices["ticker"]  # type: ignore[union-attr]
    text = " ".join(ticker.format_help().split())  # as one line, however it wraps
    assert "2026-01-01T09:00Z" not in text and "$(date -u +%FT%TZ)" in text
    assert "RW_SIMULATED_TIME=true" in text
