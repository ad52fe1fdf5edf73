"""`OutageNotices`: one notice when an outage starts and one when it ends, naming the replica."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.outages import OutageNotices

T0 = datetime(2027, 3, 10, 14, 0, tzinfo=UTC)


def test_each_replica_names_itself_in_its_outage_notices() -> None:
    # The outage state is per replica (docs/notifier.md): with two replicas the care team may
    # get the same outage twice, so each notice says which replica saw it.
    replicas = [OutageNotices(reporter="host-a-101"), OutageNotices(reporter="host-b-202")]
    for notices in replicas:
        for n in range(3):
            notices.failed(("sms", "email"), T0 + timedelta(minutes=n))
        notices.recovered(T0 + timedelta(hours=1))
    for notices, name in zip(replicas, ("host-a-101", "host-b-202"), strict=True):
        started, recovered = notices.pending()
        assert started.kind == "started" and recovered.kind == "recovered"
        assert f"replica {name}" in started.message.body
        assert f"replica {name}" in recovered.message.body


def test_two_failures_are_not_an_outage_and_a_notice_is_kept_until_delivered() -> None:
    notices = OutageNotices(reporter="host-a-101")
    notices.failed(("sms",), T0)
    notices.failed(("sms",), T0)
    assert notices.pending() == []
    notices.failed(("sms",), T0)
    (started,) = notices.pending()
    assert notices.pending() == [started]  # not sent yet: still pending
    notices.delivered(started)
    assert notices.pending() == []
