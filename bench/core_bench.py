"""Replays a synthetic cohort offline through the pure core and prints what it measured as JSON.

    python bench/core_bench.py [--patients 10000] [--events 50]

Figures: events/s for the batch `replay` and for event-by-event `evolve` (one core, events
already validated), events/s including JSON parsing, and memory per patient state, both as
live Python objects (tracemalloc) and serialised (`dump_state`).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.events import parse_event
from models.state import dump_state, evolve, replay
from remission_watch.cohort import cohort, patient_history


def best_of(runs: int, work) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    events = list(cohort(args.patients, args.events))
    n = len(events)

    def fold_each() -> None:
        states: dict[str, object] = {}
        for e in events:
            states[e.patient_id] = evolve(states.get(e.patient_id), e)  # type: ignore[arg-type]

    replay_s = best_of(args.runs, lambda: replay(events))
    evolve_s = best_of(1, fold_each)

    raw = [
        json.dumps(r)
        for i in range(min(args.patients, 2000))
        for r in patient_history(f"Q{i:06d}", i, events[0].occurred_at, args.events)
    ]
    parse_s = best_of(1, lambda: [parse_event(line) for line in raw])

    gc.collect()
    tracemalloc.start()
    states = replay(events)
    live_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    serialised = sum(len(dump_state(s)) for s in states.values())

    print(
        json.dumps(
            {
                "benchmark": "core replay",
                "python": platform.python_version(),
                "patients": len(states),
                "events": n,
                "replay_events_per_s": round(n / replay_s),
                "evolve_events_per_s": round(n / evolve_s),
                "parse_events_per_s": round(len(raw) / parse_s),
                "state_bytes_per_patient_live": round(live_bytes / len(states)),
                "state_bytes_per_patient_serialised": round(serialised / len(states)),
                "goals": {"events_per_s": 100_000, "bytes_per_patient": 4096},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
