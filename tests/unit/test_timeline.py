"""The offline timeline command, run as a user would, on the shipped examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remission_watch.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["timeline", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_recurrence_then_second_remission(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, str(EXAMPLES / "colorectal-recurrence.jsonl"), "--at", "2023-09-01", "--json"
    )
    assert code == 0
    (patient,) = json.loads(out)["patients"]
    assert patient["status"] == "complete_remission"
    assert [(e["number"], e["ended_by"]) for e in patient["episodes"]] == [
        (1, "progression"),
        (2, None),
    ]
    reminders = {r["item"]: r for r in patient["reminders"]}
    assert {"cea", "history_physical", "ct_chest_abdomen_pelvis"} <= set(reminders)
    cea = reminders["cea"]
    assert cea["reminder_id"].startswith("rem-") and "NCCN" in cea["source"]
    assert cea["earliest"] <= cea["due"] < cea["overdue"]


def test_at_shows_the_state_as_it_was_then(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(EXAMPLES / "colorectal-recurrence.jsonl")
    _, before, _ = run(capsys, path, "--at", "2022-01-01", "--json")
    (then,) = json.loads(before)["patients"]
    assert len(then["episodes"]) == 1 and then["episodes"][0]["ended"] is None


def test_bad_lines_are_reported_and_the_rest_is_processed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, str(EXAMPLES / "thyroid-with-bad-lines.jsonl"), "--at", "2024-06-01", "--json"
    )
    report = json.loads(out)
    assert code == 1  # a problem found in the data; the rest is still shown
    assert [b["line"] for b in report["bad_lines"]] == [9, 10, 11, 12]
    reasons = " ".join(b["reason"] for b in report["bad_lines"])
    assert "timezone" in reasons and "no enrolment" in reasons and "scan.teleported" in reasons
    assert "thyroid-with-bad-lines.jsonl:9: skipped" in err
    (patient,) = report["patients"]
    assert patient["status"] == "complete_remission" and patient["events"] == 8


def test_the_table_names_every_patient(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(EXAMPLES / "all.jsonl"), "--at", "2024-06-01")
    assert code == 0
    for patient in ("EX-BR-01", "EX-CRC-01", "EX-HER2-01", "EX-HL-01", "EX-PR-01"):
        assert patient in out
    assert "not reminded: Tumour markers" in out


def test_a_missing_file_or_bad_date_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.jsonl"))
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, str(EXAMPLES / "hodgkin.jsonl"), "--at", "yesterday")
    assert code == 2 and "not an ISO date" in err


def test_a_utf8_byte_order_mark_is_accepted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    events = tmp_path / "bom.jsonl"
    events.write_bytes(b"\xef\xbb\xbf" + (EXAMPLES / "hodgkin.jsonl").read_bytes())
    code, out, _ = run(capsys, str(events), "--at", "2024-01-01", "--json")
    assert code == 0 and json.loads(out)["bad_lines"] == []
    assert json.loads(out)["patients"][0]["patient_id"] == "EX-HL-01"


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        (b'{"source": "caf\xe9"}\n', 2, "x.jsonl:1: not UTF-8 (byte 0xe9)"),
        (b'[{"type": "patient.enrolled"}]\n', 1, "holds a JSON array, not JSON Lines"),
        (b"", 1, "is empty: no events"),
        (b"\n  \n", 1, "is empty: no events"),
    ],
)
def test_a_file_that_cannot_be_used_gets_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, code: int, words: str
) -> None:
    events = tmp_path / "x.jsonl"
    events.write_bytes(content)
    got, out, err = run(capsys, str(events))
    assert got == code and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err


def test_a_folder_or_a_missing_html_folder_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, str(tmp_path))
    assert code == 2 and "is a folder" in err
    page = tmp_path / "missing" / "page.html"
    code, out, err = run(capsys, str(EXAMPLES / "hodgkin.jsonl"), "--html", str(page))
    assert code == 2 and out == "" and f"folder {page.parent} does not exist" in err
    code, out, err = run(capsys, str(EXAMPLES / "hodgkin.jsonl"), "--html", str(tmp_path))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"remission-watch timeline: --html {tmp_path} is a folder; name a file "
        f"(e.g. {tmp_path}/timeline.html)"
    ]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--at", "0001-01-01"], "--at 0001-01-01: give a date from 1970-01-01 to 2099-12-31"),
        (["--at", "9999-12-31"], "--at 9999-12-31: give a date from 1970-01-01 to 2099-12-31"),
        (["--at", ""], "--at is empty: give an ISO date (e.g. 2027-03-01), or leave --at out"),
        (["--at", "  "], "--at is empty"),
        (["--sends-days", "99999999", "--html", "PAGE"], "--sends-days 99999999: give a number"),
        (["--sends-days", "-5"], "--sends-days -5: give a number of days from 1 to 36500, or 0"),
        (["--html", "/proc/rw-timeline.html"], "--html /proc/rw-timeline.html: cannot write it"),
    ],
)
def test_a_date_or_count_out_of_range_or_an_unwritable_page_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], words: str
) -> None:
    """Each of these was an OverflowError or FileNotFoundError traceback, or ("--at ''")
    silently "now"."""
    args = [str(tmp_path / "page.html") if a == "PAGE" else a for a in args]
    code, _, err = run(capsys, str(EXAMPLES / "hodgkin.jsonl"), "--at", "2024-01-01", *args)
    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith("remission-watch timeline: ") and words in line
    assert not (tmp_path / "page.html").exists()


def test_every_problem_of_a_line_is_spelled_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    enrolment = json.loads((EXAMPLES / "hodgkin.jsonl").read_text().splitlines()[0])
    enrolment["sitee"] = enrolment.pop("site")  # a typo'd field name
    enrolment["occurred_at"] = enrolment["occurred_at"][:19]  # and no time zone
    events = tmp_path / "typo.jsonl"
    events.write_text(json.dumps(enrolment) + "\n")
    code, out, _ = run(capsys, str(events), "--json")
    (bad,) = json.loads(out)["bad_lines"]
    assert code == 1
    assert "site: Field required" in bad["reason"]
    assert "sitee: not a field of this event type" in bad["reason"]
    assert "occurred_at: Input should have timezone info" in bad["reason"]
    assert "more)" not in bad["reason"]


def test_html_picture_shows_episodes_windows_and_sends(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    page = tmp_path / "timeline.html"
    code, _, err = run(
        capsys,
        str(EXAMPLES / "colorectal-recurrence.jsonl"),
        "--at",
        "2023-09-01",
        "--sends-days",
        "0",  # the whole history: the first reminders and their cancellations
        "--html",
        str(page),
    )
    assert code == 0 and f"wrote {page}" in err
    html = page.read_text()
    assert html.startswith("<!doctype html>") and html.count("<svg") == 1
    assert html.count("episode 1: complete") == 1 and html.count("episode 2: complete") == 1
    assert "CEA blood test: earliest 2023-05-20, due 2023-06-03" in html  # a window, explained
    assert "would be sent 20" in html and "would be cancelled 20" in html


def test_simulated_sends_never_repeat_a_reminder_id() -> None:
    from models.events import parse_event
    from remission_watch.protocol_files import load_builtin_catalog
    from remission_watch.simulate import simulate

    lines = (EXAMPLES / "all.jsonl").read_text().splitlines()
    events = [parse_event(line) for line in lines]
    until = max(e.occurred_at for e in events)
    _, emitted = simulate(events, until, load_builtin_catalog())
    ids = [e.output.reminder_id for e in emitted if e.output.type == "reminder.due"]
    assert len(ids) > 20
    assert len(ids) == len(set(ids))


def test_a_date_means_that_day_in_each_patients_own_zone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--at 2024-06-01`: a visit on the evening of June 1 in Los Angeles (June 2 in UTC)
    counts; one on the morning of June 2 in Tokyo (still June 1 in UTC) does not. With a
    date-time, that instant holds for everyone."""
    lines = []
    for pid, zone, visit in (
        ("LA-1", "America/Los_Angeles", "2024-06-01T20:00:00-07:00"),
        ("TYO-1", "Asia/Tokyo", "2024-06-02T08:00:00+09:00"),
    ):
        enrolled = {
            "event_id": f"{pid}-1",
            "patient_id": pid,
            "type": "patient.enrolled",
            "occurred_at": "2023-03-06T15:00:00+00:00",
            "recorded_at": "2023-03-06T16:00:00+00:00",
            "source": "test",
            "site": "breast",
            "stage": "II",
            "time_zone": zone,
        }
        seen = enrolled | {
            "event_id": f"{pid}-2",
            "type": "visit.completed",
            "occurred_at": visit,
            "recorded_at": visit,
            "item": "history_physical",
        }
        for key in ("site", "stage", "time_zone"):
            del seen[key]
        lines += [json.dumps(enrolled), json.dumps(seen)]
    path = tmp_path / "zones.jsonl"
    path.write_text("\n".join(lines) + "\n")

    def visits(at: str) -> dict[str, list[str]]:
        code, out, _ = run(capsys, str(path), "--at", at, "--json")
        assert code == 0
        report = json.loads(out)
        return {
            p["patient_id"]: [
                c["last_done"] for c in p["clocks"] if c["item"] == "history_physical"
            ]
            for p in report["patients"]
        }

    assert visits("2024-06-01") == {"LA-1": ["2024-06-01"], "TYO-1": []}
    assert visits("2024-06-02") == {"LA-1": ["2024-06-01"], "TYO-1": ["2024-06-02"]}
    assert visits("2024-06-01T12:00:00+00:00") == {"LA-1": [], "TYO-1": []}
    _, out, _ = run(capsys, str(path), "--at", "2024-06-01")
    assert out.startswith(
        "Timeline at 2024-06-01 (the end of that day in each patient's own time zone)"
    )
