"""Resuming a flow that was never suspended keeps the records already in the stream buffers."""

from __future__ import annotations

from pathlib import Path

from mode.utils.queues import FlowControlEvent, FlowControlQueue

from models.protocols import Catalog
from streams.app import _FlowControl, create_app
from streams.settings import StreamsSettings
from tests.unit.streams.conftest import PROTOCOL


async def test_a_resume_without_a_suspend_keeps_the_buffered_records() -> None:
    # The end of table recovery resumes a flow that is running while the fetcher has put
    # source records in the buffers; Faust's own resume drops them (the first record of a
    # never-committed partition was then lost for good).
    flow = _FlowControl()  # created suspended, as Faust's
    buffer: FlowControlQueue = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    flow.resume()  # recovery starts reading
    buffer.put_nowait("record 0")
    flow.resume()  # recovery ends
    assert buffer.qsize() == 1
    assert flow.is_active()


async def test_a_rebalance_still_clears_the_buffers() -> None:
    flow = _FlowControl()
    buffer: FlowControlQueue = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    flow.resume()
    buffer.put_nowait("from the old generation")
    flow.suspend()
    flow.resume()
    assert buffer.qsize() == 0
    assert flow.is_active()


async def test_faust_alone_drops_them() -> None:
    # What the fix is for: the same steps with Faust's flow control lose the record.
    flow = FlowControlEvent()
    buffer: FlowControlQueue = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    flow.resume()
    buffer.put_nowait("record 0")
    flow.resume()
    assert buffer.qsize() == 0


async def test_the_patient_app_uses_it(tmp_path: Path) -> None:
    settings = StreamsSettings(data_dir=tmp_path, app_id="flow-test")
    app = create_app(settings, Catalog.from_texts({"test-breast.yaml": PROTOCOL}))
    assert isinstance(app.flow_control, _FlowControl)
