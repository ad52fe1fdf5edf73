"""A lab result whose code is in no marker value set is logged and counted (issue 13, f09)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from remission_watch.protocol_files import load_builtin_catalog
from streams.topics import TopicNames
from tests.unit.streams.conftest import T0, event, memory_processor, treated


async def test_an_unmapped_lab_code_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    names = TopicNames()
    run = memory_processor(load_builtin_catalog(), names)
    for offset, raw in enumerate(treated("p1")):
        await run.processor.handle(raw, topic=names.patients, partition=0, offset=offset, key=b"p1")
    at = T0 + timedelta(days=60)
    sodium = event("p1", "lab-1", "lab.resulted", at, order_id="o1", loinc="2951-2", value=140)
    psa_by_immunoassay = event(
        "p1", "lab-2", "lab.resulted", at, order_id="o2", loinc="83112-3", value=0.1
    )
    with caplog.at_level(logging.WARNING, logger="streams.processor"):
        await run.processor.handle(sodium, topic=names.labs, partition=0, offset=0, key=b"p1")
        await run.processor.handle(
            psa_by_immunoassay, topic=names.labs, partition=0, offset=1, key=b"p1"
        )
    counter = run.processor.metrics.unmapped_lab_results
    assert counter.labels(loinc="2951-2")._value.get() == 1
    assert counter.labels(loinc="83112-3")._value.get() == 0  # a PSA: in the VSAC value set
    lines = [r.getMessage() for r in caplog.records if "maps to no surveillance" in r.getMessage()]
    assert len(lines) == 1 and "2951-2" in lines[0]
    assert "p1" not in lines[0]  # no patient id in the log line


async def test_an_unmapped_code_is_counted_every_time_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    names = TopicNames()
    run = memory_processor(load_builtin_catalog(), names)
    for offset, raw in enumerate(treated("p1")):
        await run.processor.handle(raw, topic=names.patients, partition=0, offset=offset, key=b"p1")
    at = T0 + timedelta(days=60)
    with caplog.at_level(logging.WARNING, logger="streams.processor"):
        for n in range(3):
            sodium = event("p1", f"lab-{n}", "lab.resulted", at + timedelta(days=n),
                           order_id=f"o{n}", loinc="2951-2", value=140)  # fmt: skip
            await run.processor.handle(sodium, topic=names.labs, partition=0, offset=n, key=b"p1")
    assert run.processor.metrics.unmapped_lab_results.labels(loinc="2951-2")._value.get() == 3
    lines = [r.getMessage() for r in caplog.records if "maps to no surveillance" in r.getMessage()]
    assert len(lines) == 1 and "2951-2" in lines[0]
