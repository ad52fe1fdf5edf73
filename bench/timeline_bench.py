"""Times `remission-watch timeline FILE --at DATE --html PAGE` on a large synthetic file; JSON.

    python bench/timeline_bench.py [--patients 20000] [--events 10] [--sends-days 365]

Figures: the events and patients in the file, the command's wall and CPU seconds (CPU: this
process only, so a busy machine shows in wall but not in CPU), and the page's size.
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
    parser.add_argument("--sends-days", type=int, default=365)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rw-timeline-bench-") as tmp:
        events = Path(tmp) / "events.jsonl"
        page = Path(tmp) / "timeline.html"
        count = write_events(events, args.patients, args.events)
        argv = ["timeline", str(events), "--at", args.at, "--html", str(page)]
        argv += ["--sends-days", str(args.sends_days)]
        wall, cpu = time.perf_counter(), time.process_time()
        with open(os.devnull, "w") as sink, redirect_stdout(sink), redirect_stderr(sink):
            code = cli_main(argv)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        sections = page.read_text(encoding="utf-8").count("<section id=")
        print(
            json.dumps(
                {
                    "bench": "timeline --html",
                    "python": platform.python_version(),
                    "cores": os.cpu_count(),
                    "load_average_1m": round(os.getloadavg()[0], 1),
                    "events": count,
                    "patients_drawn": sections,
                    "sends_days": args.sends_days,
                    "command_wall_s": round(wall, 1),
                    "command_cpu_s": round(cpu, 1),
                    "command_exit": code,
                    "page_mb": round(page.stat().st_size / 1e6, 1),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
