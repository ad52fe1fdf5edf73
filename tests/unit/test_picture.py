"""The care team's picture (`timeline --html`): what the page says, and what a browser draws."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models.clocks import settle
from models.events import Event, parse_event
from models.state import PatientState, evolve
from remission_watch.cli import main
from remission_watch.cohort import patient_history
from remission_watch.picture import COLOURS
from remission_watch.protocol_files import load_builtin_catalog
from remission_watch.simulate import simulate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AT = "2024-06-01"


@pytest.fixture
def page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    out = tmp_path / "timeline.html"
    assert main(["timeline", str(EXAMPLES / "all.jsonl"), "--at", AT, "--html", str(out)]) == 0
    capsys.readouterr()
    return out.read_text(encoding="utf-8")


def test_the_summary_counts_and_links_every_chart(page: str) -> None:
    summary = page[page.index("<section class='summary'>") : page.index("</section>")]
    overdue = len(re.findall(r"<li>Overdue: ", page))
    alerts = len(re.findall(r"<li>Alert \(", page))
    assert overdue > 0 and alerts > 0
    assert f"<b>5</b> patients · <b>{overdue}</b> overdue items · <b>{alerts}</b> open" in summary
    for anchor in re.findall(r"<section id='(p-[^']+)'>", page):
        assert f"href='#{anchor}'" in summary
    assert "EX-CRC-01</a> (4 overdue, 4 alerts)" in summary


def test_items_are_named_in_words_and_the_legend_says_nothing_was_sent(page: str) -> None:
    assert "CT chest, abdomen and pelvis" in page
    assert ">ct_chest_abdomen_pelvis<" not in page and "Overdue: ct_chest" not in page
    assert "Overdue: Colonoscopy: due 2024-03-03, overdue since 2024-05-02" in page
    assert "would be sent (offline replay from 2023-06-02: nothing was sent)" in page
    assert "reminder sent" not in page


def test_treatments_recurrence_today_and_year_ticks_are_drawn(page: str) -> None:
    crc = page[page.index("<section id='p-EX-CRC-01'>") :]
    crc = crc[: crc.index("</section>")]
    assert "chemotherapy (salvage) 2022-10-04 to 2023-03-03" in crc
    assert "progression 2022-09-24: episode 1 ended" in crc
    assert crc.count("class='today'") == 1 and f"today {AT}" in crc
    assert [y for y in ("2022", "2023", "2024") if f">{y}</text>" in crc] == [
        "2022",
        "2023",
        "2024",
    ]


def test_each_source_is_written_once_and_cited_by_number(page: str) -> None:
    """A long citation on every item of every patient made the page of 20,000 patients
    102 MB; each is listed once at the end and the charts cite its number."""
    listed = page[page.index("<section class='sources'>") :]
    sources = re.findall(r"<li>(.*?)</li>", listed)
    assert len(sources) >= 3 and len(set(sources)) == len(sources)
    for number, source in enumerate(sources, 1):
        assert page.count(source) == 1
        assert f"Source [{number}].</title>" in page
    assert "style=" not in page[page.index("<svg") :]  # colours come from the page's CSS


def shot(page: Path, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--user-data-dir={tmp_path / 'profile'}",
            *flags,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


PROBE = """<script>
const section = document.getElementById('p-EX-CRC-01');
const boxes = {};
for (const name of ['today', 'overdue', 'alert']) {
  const r = section.querySelector('svg .' + name).getBoundingClientRect();
  boxes[name] = [r.left + scrollX, r.top + scrollY, r.right + scrollX, r.bottom + scrollY];
}
const probe = "<pre id='probe'>" + JSON.stringify(boxes) + "</pre>";
document.body.insertAdjacentHTML('beforeend', probe);
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (CI installs it)")
def test_a_browser_draws_the_today_line_an_overdue_item_and_an_alert(
    page: str, tmp_path: Path
) -> None:
    from PIL import Image

    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</html>", PROBE + "</html>"), encoding="utf-8")
    dom = shot(probed, tmp_path, "--window-size=1240,1400", "--dump-dom")
    found = re.search(r"<pre id=\"probe\">(.*?)</pre>", dom.stdout)
    assert found, dom.stderr[-2000:]
    boxes = json.loads(found.group(1))
    height = int(max(box[3] for box in boxes.values())) + 40

    image_path = tmp_path / "page.png"
    done = shot(probed, tmp_path, f"--window-size=1240,{height}", f"--screenshot={image_path}")
    assert image_path.exists(), done.stderr[-2000:]
    image = Image.open(image_path).convert("RGB")
    for name, (left, top, right, bottom) in boxes.items():
        assert bottom - top >= 6, (name, boxes[name])  # a line's box has no width: widen it
        want = tuple(int(COLOURS[name][i : i + 2], 16) for i in (1, 3, 5))
        pixels = [
            image.getpixel((x, y))
            for x in range(int(left) - 2, int(right) + 3)
            for y in range(int(top), int(bottom) + 1)
        ]
        assert pixels.count(want) >= 6, f"{name}: no {COLOURS[name]} pixels where it is drawn"


# ------------------------------------------------------------------------- the replay's cost


def every_day(
    events: list[Event], until: datetime
) -> tuple[dict[str, PatientState], list[tuple[datetime, str]]]:
    """The plain definition: every patient settled on every daily tick."""
    catalog = load_builtin_catalog()
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.type != "patient.enrolled"))
    states: dict[str, PatientState] = {}
    emitted: list[tuple[datetime, str]] = []
    tick, index = ordered[0].occurred_at, 0
    while tick <= until:
        while index < len(ordered) and ordered[index].occurred_at <= tick:
            event = ordered[index]
            states[event.patient_id] = evolve(states.get(event.patient_id), event)
            index += 1
        for pid, state in states.items():
            result = settle(state, tick, catalog)
            states[pid] = result.state
            emitted += [(tick, o.model_dump_json()) for o in result.outputs]
        tick += timedelta(days=1)
    return states, emitted


@pytest.mark.slow
def test_waking_patients_only_when_due_emits_what_settling_every_day_emits() -> None:
    events = [parse_event(line) for line in (EXAMPLES / "all.jsonl").read_text().splitlines()]
    start = datetime(2021, 3, 1, 9, tzinfo=UTC)
    for n in range(6):
        events += [
            parse_event(json.dumps(raw, default=str))
            for raw in patient_history(f"SIM-{n}", n, start + timedelta(days=41 * n), 24)
        ]
    until = max(e.occurred_at for e in events) + timedelta(days=400)
    daily_states, daily = every_day(events, until)
    states, emitted = simulate(events, until, load_builtin_catalog())
    assert sorted(daily) == sorted((e.at, e.output.model_dump_json()) for e in emitted)
    assert len(daily) > 300
    assert states == daily_states


@pytest.mark.slow
def test_a_replay_since_a_date_emits_what_the_whole_replay_emits_after_it() -> None:
    events = [parse_event(line) for line in (EXAMPLES / "all.jsonl").read_text().splitlines()]
    start = datetime(2021, 3, 1, 9, tzinfo=UTC)
    for n in range(6):
        events += [
            parse_event(json.dumps(raw, default=str))
            for raw in patient_history(f"SIM-{n}", n, start + timedelta(days=41 * n), 24)
        ]
    until = max(e.occurred_at for e in events) + timedelta(days=200)
    catalog = load_builtin_catalog()
    whole_states, whole = simulate(events, until, catalog)
    since = until - timedelta(days=365)
    states, recent = simulate(events, until, catalog, since=since)
    first_tick = min(e.at for e in recent)
    later = [(e.at, e.output.model_dump_json()) for e in whole if e.at >= first_tick]
    assert [(e.at, e.output.model_dump_json()) for e in recent] == later
    assert len(later) > 10 and first_tick - since < timedelta(days=120)
    # The same patients stand in the same place; only the memory of old outputs is shorter.
    assert {p: s.view for p, s in states.items()} == {p: s.view for p, s in whole_states.items()}
