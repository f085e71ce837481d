"""Delivery: real apprise JSON webhooks to a local receiver, batching per recipient, retries then
one warning, and a dead receiver (500 or hanging) that never makes `submit` wait."""

from __future__ import annotations

import time

from structlog.testing import capture_logs

from nija.notify import Dispatcher, Note, apprise_sender
from nija.notify.delivery import MAX_ATTEMPTS
from tests.notify.receiver import Receiver, start_receiver


class FakeClock:
    """Monotonic seconds a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A `Sender` that records (url, title, body) and answers `ok`."""

    def __init__(self, ok: bool = True) -> None:
        self.ok = ok
        self.sent: list[tuple[str, str, str]] = []

    def __call__(self, url: str, title: str, body: str, alert: bool) -> bool:
        self.sent.append((url, title, body))
        return self.ok


OPERATOR = "json://127.0.0.1:9/operator"
ALICE = "json://127.0.0.1:9/alice"


def _dispatcher(send: Recorder, clock: FakeClock, batch: float = 60.0, **kwargs: object) -> Dispatcher:
    return Dispatcher([OPERATOR], {"alice": [ALICE]}, batch_seconds=batch, send=send, clock=clock, **kwargs)


def test_a_note_reaches_a_local_json_webhook_through_apprise(receiver: Receiver) -> None:
    dispatcher = Dispatcher([receiver.url("operator")], {}, batch_seconds=0, send=apprise_sender())
    dispatcher.start()
    assert dispatcher.submit(Note("kraken master: BUY 0.01 BTC/USD @ 65000"))
    [request] = receiver.wait_for(1)
    dispatcher.close(2)
    assert dispatcher.join(5)
    assert request.path == "/operator"
    assert request.payload["title"] == "NIJA"
    assert request.payload["message"] == "kraken master: BUY 0.01 BTC/USD @ 65000"
    assert dispatcher.messages_sent == 1


def test_bursts_are_batched_to_one_message_per_recipient_per_window() -> None:
    send, clock = Recorder(), FakeClock()
    dispatcher = _dispatcher(send, clock)
    dispatcher.submit(Note("first"))
    dispatcher.step()
    assert [body for _, _, body in send.sent] == ["first"]  # nothing waited: it goes at once
    for n in range(5):
        dispatcher.submit(Note(f"copy {n}", follower="alice"))
    dispatcher.step()
    clock.now += 59
    dispatcher.step()
    assert len(send.sent) == 2  # alice's first message went; the operator's window is still shut
    assert send.sent[1] == (ALICE, "NIJA: 5 events", "\n".join(f"copy {n}" for n in range(5)))
    clock.now += 1
    dispatcher.step()
    assert send.sent[2] == (OPERATOR, "NIJA: 5 events", "\n".join(f"copy {n}" for n in range(5)))
    dispatcher.submit(Note("for the follower alone", follower="alice", operator=False))
    clock.now += 60
    dispatcher.step()
    assert send.sent[3:] == [(ALICE, "NIJA", "for the follower alone")]


def test_a_failing_receiver_is_retried_with_backoff_then_dropped_with_one_warning() -> None:
    send, clock = Recorder(ok=False), FakeClock()
    dispatcher = _dispatcher(send, clock, backoff_seconds=2.0)
    dispatcher.submit(Note("kill switch tripped", alert=True))
    with capture_logs() as logs:
        dispatcher.step()
        dispatcher.step()  # the backoff has not passed: no second attempt yet
        assert len(send.sent) == 1
        clock.now += 2
        dispatcher.step()
        clock.now += 4
        dispatcher.step()
        clock.now += 1000
        dispatcher.step()  # nothing is left to send
    assert len(send.sent) == MAX_ATTEMPTS == 3
    assert send.sent[0][1] == "NIJA (attention)"
    assert dispatcher.messages_dropped == 1 and dispatcher.messages_sent == 0
    warnings = [line for line in logs if line["log_level"] == "warning"]
    assert [w["event"] for w in warnings] == ["notify_dropped"]
    assert warnings[0]["recipient"] == "operator" and warnings[0]["notes"] == 1


def test_a_receiver_that_keeps_failing_is_tried_less_and_less_often() -> None:
    send, clock = Recorder(ok=False), FakeClock()
    dispatcher = Dispatcher([OPERATOR], {}, batch_seconds=10, send=send, clock=clock, backoff_seconds=1.0)
    tries_per_hour = []
    for _hour in range(2):
        start = len(send.sent)
        for _ in range(3600):
            dispatcher.submit(Note("tick"))
            dispatcher.step()
            clock.now += 1
        tries_per_hour.append(len(send.sent) - start)
    assert tries_per_hour[1] < tries_per_hour[0] < 3600 / 10  # the cooldown grows while it fails


def test_the_queue_is_bounded_and_submit_never_waits() -> None:
    dispatcher = _dispatcher(Recorder(), FakeClock(), queue_size=10)  # no thread: nothing drains it
    with capture_logs() as logs:
        results = [dispatcher.submit(Note(f"fill {n}")) for n in range(25)]
    assert results.count(True) == 10 and dispatcher.queue_dropped == 15
    assert [line["event"] for line in logs] == ["notify_queue_full"]  # one warning per overflow


def test_a_hanging_receiver_never_slows_the_submitting_side() -> None:
    hanging = start_receiver("hang")
    try:
        dispatcher = Dispatcher(
            [hanging.url()], {}, batch_seconds=0, send=apprise_sender(timeout_seconds=1.0), queue_size=100,
        )
        dispatcher.start()
        dispatcher.submit(Note("first"))
        hanging.wait_for(1)  # the delivery thread is now stuck inside the request
        began = time.monotonic()
        accepted = [dispatcher.submit(Note(f"fill {n}")) for n in range(500)]
        elapsed = time.monotonic() - began
        assert accepted.count(False) == dispatcher.queue_dropped >= 300  # the rest dropped, counted
        assert elapsed < 2.0  # generous: 500 submits take milliseconds; one delivery alone takes 1 s
        dispatcher.close(0.5)
        assert dispatcher.join(10)
    finally:
        hanging.close()


def test_a_receiver_answering_500_drops_the_message_and_delivery_goes_on(receiver: Receiver) -> None:
    failing = start_receiver("fail")
    try:
        dispatcher = Dispatcher(
            [failing.url(), receiver.url()], {}, batch_seconds=0, send=apprise_sender(), backoff_seconds=0.05,
        )
        with capture_logs() as logs:
            dispatcher.start()
            dispatcher.submit(Note("health: FAILED"))
            receiver.wait_for(1)
            failing.wait_for(MAX_ATTEMPTS)
            deadline = time.monotonic() + 10
            while dispatcher.messages_dropped < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            dispatcher.close(1)
            assert dispatcher.join(10)
        assert dispatcher.messages_dropped == 1 and dispatcher.messages_sent == 1
        assert [line["event"] for line in logs if line["log_level"] == "warning"] == ["notify_dropped"]
    finally:
        failing.close()


def test_closing_sends_what_waits_inside_the_batch_window(receiver: Receiver) -> None:
    dispatcher = Dispatcher([receiver.url()], {}, batch_seconds=3600, send=apprise_sender())
    dispatcher.start()
    dispatcher.submit(Note("NIJA started"))
    receiver.wait_for(1)
    dispatcher.submit(Note("NIJA stopping"))
    dispatcher.close(3)
    assert dispatcher.join(5)
    assert [r.payload["message"] for r in receiver.wait_for(2)] == ["NIJA started", "NIJA stopping"]

