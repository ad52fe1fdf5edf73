"""A backfill on several processes gives what a backfill on one gives: the same events, the same
answers and the same ledger, corrections, retractions, re-sends and refusals included."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import hl7_samples as s
import pytest

from ingest.config import IngestConfig
from ingest.files import load_file
from ingest.hl7_intake import Hl7Intake
from ingest.ledger import SqliteLedger
from ingest.sink import MemoryEventSink


def many_markers(n: int) -> list[bytes]:
    return [s.tumour_markers(f"BULK-{i}").replace(b"F12345", f"G{i}".encode()) for i in range(n)]


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_backfill_on_workers_equals_one_on_this_process(
    config: IngestConfig, tmp_path: Path, workers: int
) -> None:
    messages = [
        *many_markers(250),  # more than one chunk of the workers
        s.psa_correction("RW-LAB-0057", "0.40", "20270205090000-0600"),  # reads the ledger
        s.tumour_markers(),
        s.psa_correction("RW-LAB-0058", "0.41", "20270206090000-0600"),  # a correction's correction
        s.cea_wrong_patient(),  # a retraction
        s.tumour_markers().replace(b"|P|", b"|T|"),  # refused (AR), quarantined
        s.ct_report(finding="RID49481^Category 2^RadLex"),
        s.ct_report("RIS-7730013", status="W"),  # an imaging retraction
        s.siu("S12", "SIU-1"),
        s.with_z_segment(),
    ]
    path = tmp_path / "backfill.hl7"
    path.write_bytes(s.batch(*messages))
    results = {}
    for n in (1, workers):
        sink, ledger_path = MemoryEventSink(), tmp_path / f"ledger-{n}-{workers}.sqlite3"
        ledger = SqliteLedger(ledger_path)
        intake = Hl7Intake(config, sink, ledger, None, defer=True)
        here, handle = [], intake.handle_segments

        async def counted(segments: list[bytes], size: int, handle=handle, here=here):  # type: ignore[no-untyped-def]
            here.append(1)
            return await handle(segments, size)

        intake.handle_segments = counted  # type: ignore[method-assign]
        counts = await load_file(intake, path, workers=n)
        if n > 1:  # the workers mapped all but those that read the ledger or are refused
            assert 0 < len(here) <= 6
        ledger.close()
        with sqlite3.connect(ledger_path) as db:
            rows = {t: sorted(db.execute(f"select * from {t}")) for t in ("seen", "facts",
                                                                        "corrections")}  # fmt: skip
        results[n] = (dict(counts), [(k, e.model_dump()) for k, e in sink.sent], rows)
    assert results[1][0]["AA"] == len(messages) - 1 and results[1][0]["AR"] == 1
    assert results[workers] == results[1]
