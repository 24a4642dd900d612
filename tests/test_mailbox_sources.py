"""gunpy.actors runtime: a Mailbox whose waiting thread serves its one `Source` itself.

The source here is a socketpair that the test writes to: what the waiting
thread reads from it, it sends to the mailbox, as a connection's socket does.
Threads are synchronised with events and messages; no test asserts a duration.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gunpy.actors import Mailbox
from tests.peers import wait_for

WAIT = 10.0


class PairSource:
    """A `Source`: the waiting thread reads ``inside`` and sends each chunk to the box."""

    def __init__(self, box: Mailbox, servable: bool = True) -> None:
        self.box = box
        self.inside, self.outside = socket.socketpair()
        self.inside.setblocking(False)
        self.servable = servable
        self.calls: list[str] = []
        self.serving = threading.Event()
        self.reader_threads: set[int] = set()
        self.reads: list[bytes] = []

    def engage(self) -> bool:
        self.calls.append("engage")
        return self.servable

    def serve(self, mailbox: Mailbox, wake_fd: int, timeout: float | None) -> bool:
        self.calls.append("serve")
        assert mailbox is self.box
        if not self.servable:
            self.calls.append("gave up")
            return False
        poll = select.poll()
        poll.register(self.inside, select.POLLIN)
        poll.register(wake_fd, select.POLLIN)
        self.serving.set()
        ready = poll.poll(None if timeout is None else timeout * 1000)
        self.serving.clear()
        if any(fd == self.inside.fileno() for fd, _ in ready):
            data = self.inside.recv(65536)
            self.reads.append(data)
            self.reader_threads.add(threading.get_ident())
            self.box.send(("read", data))
        return True

    def disengage(self) -> None:
        self.calls.append("disengage")

    def close(self) -> None:
        self.inside.close()
        self.outside.close()


@pytest.fixture
def box() -> Iterator[Mailbox]:
    yield Mailbox()


@pytest.fixture
def source(box: Mailbox) -> Iterator[PairSource]:
    source = PairSource(box)
    box.attach(source)
    yield source
    box.detach(source)
    source.close()


def test_the_waiting_thread_reads_its_one_source_then_gives_it_back(
    box: Mailbox, source: PairSource
) -> None:
    source.outside.send(b"hello")
    assert box.receive(timeout=WAIT) == ("read", b"hello")
    assert source.reader_threads == {threading.get_ident()}
    assert source.calls == ["engage", "serve", "disengage"]


def test_a_message_already_queued_needs_no_source(box: Mailbox, source: PairSource) -> None:
    box.send("queued")
    assert box.receive(timeout=WAIT) == "queued"
    assert source.calls == []


def test_a_selective_receive_serves_until_its_match_comes(
    box: Mailbox, source: PairSource
) -> None:
    def writer() -> None:
        for count, part in enumerate((b"a", b"b", b"c")):
            # Each part while the receiver polls, after it read the ones before.
            wait_for(lambda n=count: len(source.reads) == n and source.serving.is_set())
            source.outside.send(part)

    thread = threading.Thread(target=writer)
    thread.start()
    assert box.receive(lambda m: m == ("read", b"c"), timeout=WAIT) == ("read", b"c")
    thread.join(WAIT)
    assert box.messages() == [("read", b"a"), ("read", b"b")]
    assert source.calls[0] == "engage" and source.calls[-1] == "disengage"
    assert source.calls.count("engage") == 1  # engaged once for the whole receive


def test_a_send_from_another_thread_wakes_the_serving_thread(
    box: Mailbox, source: PairSource
) -> None:
    def sender() -> None:
        assert source.serving.wait(WAIT)
        box.send("from elsewhere")

    thread = threading.Thread(target=sender)
    thread.start()
    assert box.receive(timeout=WAIT) == "from elsewhere"
    thread.join(WAIT)
    assert "disengage" in source.calls


def test_a_source_that_cannot_be_served_leaves_the_thread_asleep_as_usual(box: Mailbox) -> None:
    source = PairSource(box, servable=False)
    box.attach(source)
    try:
        threading.Thread(target=lambda: box.send("late")).start()
        assert box.receive(timeout=WAIT) == "late"
        assert "serve" not in source.calls and "disengage" not in source.calls
    finally:
        box.detach(source)
        source.close()


def test_a_source_giving_up_while_served_is_not_given_back_again(box: Mailbox) -> None:
    source = PairSource(box)
    box.attach(source)
    try:
        def sender() -> None:
            assert source.serving.wait(WAIT)
            source.servable = False  # the next serve gives up, as a closed connection does
            box.send("nudge")
            wait_for(lambda: "gave up" in source.calls)
            box.send("wake")

        threading.Thread(target=sender).start()
        assert box.receive(lambda m: m == "wake", timeout=WAIT) == "wake"
        assert source.calls == ["engage", "serve", "serve", "gave up"]
        assert box.messages() == ["nudge"]
    finally:
        box.detach(source)
        source.close()


def test_two_sources_are_never_served(box: Mailbox) -> None:
    first, second = PairSource(box), PairSource(box)
    box.attach(first)
    box.attach(second)
    try:
        assert not box.self_served
        threading.Thread(target=lambda: box.send("hi")).start()
        assert box.receive(timeout=WAIT) == "hi"
        assert first.calls == second.calls == []
    finally:
        for source in (first, second):
            box.detach(source)
            source.close()


def test_a_timeout_while_serving_raises_and_gives_the_source_back(
    box: Mailbox, source: PairSource
) -> None:
    with pytest.raises(TimeoutError):
        box.receive(timeout=0.05)
    assert source.calls[0] == "engage" and source.calls[-1] == "disengage"


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_the_wake_up_descriptor_lives_only_while_a_source_is_attached(box: Mailbox) -> None:
    before = _open_fds()
    source = PairSource(box)
    box.attach(source)
    source.outside.send(b"x")
    assert box.receive(timeout=WAIT) == ("read", b"x")
    kinds = set()
    for fd in _open_fds() - before:
        with contextlib.suppress(OSError):  # the listing's own descriptor, gone by now
            kinds.add(os.readlink(f"/proc/self/fd/{fd}"))
    assert "anon_inode:[eventfd]" in kinds
    box.detach(source)
    source.close()
    assert _open_fds() - before == set()


def test_whichever_thread_waits_serves_and_leaves_the_source_to_the_next(
    box: Mailbox, source: PairSource
) -> None:
    got: list[Any] = []

    def other() -> None:
        got.append(box.receive(lambda m: m == "for the other", timeout=WAIT))

    thread = threading.Thread(target=other)
    thread.start()
    assert source.serving.wait(WAIT)  # the other thread serves
    box.send("for the other")
    source.outside.send(b"mine")
    assert box.receive(lambda m: m == ("read", b"mine"), timeout=WAIT) == ("read", b"mine")
    thread.join(WAIT)
    assert got == ["for the other"]


def test_a_receiver_asleep_behind_a_serving_one_takes_the_source_over(
    box: Mailbox, source: PairSource
) -> None:
    got: list[Any] = []
    first = threading.Thread(target=lambda: got.append(box.receive(lambda m: m == "A", WAIT)))
    first.start()
    wait_for(source.serving.is_set)  # the first receiver serves
    second = threading.Thread(
        target=lambda: got.append(box.receive(lambda m: m == ("read", b"B"), WAIT)))
    second.start()
    wait_for(lambda: box._waiting == 1)  # the second sleeps: the source is taken
    box.send("A")
    first.join(WAIT)
    source.outside.send(b"B")  # only a thread serving the source can see this
    second.join(WAIT)
    assert got == ["A", ("read", b"B")]
