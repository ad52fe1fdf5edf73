"""Times `remission-watch timeline FILE --html PAGE` on a large synthetic file; prints JSON.

    python bench/timeline_bench.py [--patients 20000] [--events 10]

Figures: the events and patients in the file, seconds to read and fold it, forecast every
patient and replay what would have been sent (`timeline(..., with_sends=True)`), seconds to
draw the page, the page's size, and the whole command's seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from remission_watch.cli import main as cli_main
from remission_watch.cohort import patient_history


def write_events(path: Path, patients: int, events: int) -> int:
    begin = datetime.fromisoformat("2021-01-04T09:00:00+00:00")
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for n in range(patients):
            start = begin + timedelta(days=(n * 37) % 365)
            for raw in patient_history(f"BENCH-{n:06d}", n, start, events):
                out.write(json.dumps(raw, default=str) + "\n")
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=10, help="about this many per patient")
    parser.add_argument("--at", default="2026-01-01")
    args = parser.parse_args()

    from remission_watch.commands import read_event_lines
    from remission_watch.picture import write_html
    from remission_watch.protocol_files import load_builtin_catalog
    from remission_watch.timeline import timeline

    with tempfile.TemporaryDirectory(prefix="rw-timeline-bench-") as tmp:
        events = Path(tmp) / "events.jsonl"
        page = Path(tmp) / "timeline.html"
        count = write_events(events, args.patients, args.events)
        at = datetime.fromisoformat(args.at + "T00:00:00+00:00")
        catalog = load_builtin_catalog()

        started = time.perf_counter()
        report = timeline(read_event_lines(events), at, catalog)
        no_sends = time.perf_counter() - started
        started = time.perf_counter()
        report = timeline(read_event_lines(events), at, catalog, with_sends=True)
        folded = time.perf_counter() - started
        started = time.perf_counter()
        write_html(report, page)
        drawn = time.perf_counter() - started

        started = time.perf_counter()
        with open(os.devnull, "w") as sink, redirect_stdout(sink), redirect_stderr(sink):
            code = cli_main(["timeline", str(events), "--at", args.at, "--html", str(page)])
        command = time.perf_counter() - started
        print(
            json.dumps(
                {
                    "bench": "timeline --html",
                    "python": platform.python_version(),
                    "events": count,
                    "patients": len(report["patients"]),
                    "bad_lines": len(report["bad_lines"]),
                    "timeline_s": round(no_sends, 2),
                    "timeline_with_sends_s": round(folded, 2),
                    "write_html_s": round(drawn, 2),
                    "page_mb": round(page.stat().st_size / 1e6, 1),
                    "command_s": round(command, 2),
                    "command_exit": code,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
