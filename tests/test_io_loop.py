"""gunpy.actors._io_loop over real socketpairs, a fresh `IOLoop` per test (never the
process-wide ``io_loop``; loop threads are daemons with no stop API, so the hypothesis
test shares one). No test asserts a duration: waits are bounded by WAIT."""

from __future__ import annotations

import itertools
import logging
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gunpy.actors import Mailbox
from gunpy.actors._io_loop import READ, WRITE, IOLoop, numeric_address
from tests.peers import WAIT, wait_for

T = TypeVar("T")
Pairs = Callable[[], tuple[socket.socket, socket.socket]]
_names = itertools.count()


def new_loop() -> IOLoop:
    loop = IOLoop(name=f"gunpy-runtime-io-test-{next(_names)}")
    loop.start()
    return loop


@pytest.fixture
def loop() -> IOLoop:
    return new_loop()


@pytest.fixture(scope="module")
def shared_loop() -> IOLoop:
    return new_loop()


@pytest.fixture
def pairs() -> Iterator[Pairs]:
    """Makes socketpairs (the first end non-blocking), closed after the test."""
    made: list[socket.socket] = []

    def make() -> tuple[socket.socket, socket.socket]:
        a, b = socket.socketpair()
        a.setblocking(False)
        made.extend((a, b))
        return a, b

    yield make
    for s in made:
        s.close()


def in_loop_thread(loop: IOLoop, fn: Callable[[], T]) -> T:
    """``fn()`` run in the loop thread (set_interest, forget and again are loop-only)."""
    done, out = threading.Event(), []
    loop.call_soon(lambda: (out.append(fn()), done.set()))
    assert done.wait(WAIT)
    return out[0]


def barrier(loop: IOLoop, turns: int = 2) -> None:
    """Let the loop go round ``turns`` times (each a select, then the queued calls)."""
    for _ in range(turns):
        in_loop_thread(loop, lambda: None)


def raiser(exc: BaseException) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fail


def logged(caplog: pytest.LogCaptureFixture, kind: type[BaseException]) -> bool:
    return any(r.name == "gunpy" and r.exc_info and r.exc_info[0] is kind for r in caplog.records)


class Recorder:
    """A Handler recording its calls. It takes what it reads and drops WRITE interest once
    called for it (the selector is level-triggered); on a crash it forgets its socket."""

    def __init__(self, loop: IOLoop, sock: socket.socket, fail: bool = False) -> None:
        self.loop, self.sock, self.fail = loop, sock, fail
        self.ready: list[tuple[int, bytes, str]] = []
        self.agains = 0
        self.crashes: list[BaseException] = []
        self.event = threading.Event()

    def on_ready(self, mask: int) -> None:
        if self.fail:
            raise RuntimeError("boom")
        data = self.sock.recv(4096) if mask & READ else b""
        if mask & WRITE:
            self.loop.set_interest(self.sock, self, WRITE, 0)
        self.ready.append((mask, data, threading.current_thread().name))
        self.event.set()

    def on_again(self) -> None:
        self.agains += 1
        self.event.set()

    def on_crash(self, exc: BaseException) -> None:
        self.crashes.append(exc)
        self.loop.forget(self.sock)
        self.event.set()

    def boom(self) -> None:
        raise ValueError("bound method failed")


# -- call_soon and in_loop ---------------------------------------------------------------------


def test_call_soon_runs_in_the_loop_thread_in_fifo_order(loop: IOLoop) -> None:
    seen: list[tuple[int, bool, str]] = []

    def record(i: int) -> None:
        seen.append((i, loop.in_loop(), threading.current_thread().name))

    for i in range(100):
        loop.call_soon(record, i)
    barrier(loop, 1)
    assert seen == [(i, True, loop.name) for i in range(100)]
    assert not loop.in_loop()
    other: list[bool] = []
    thread = threading.Thread(target=lambda: other.append(loop.in_loop()))
    thread.start()
    thread.join(WAIT)
    assert other == [False]
    assert not IOLoop(name="gunpy-runtime-io-test-unstarted").in_loop()


def run_from_threads(loop: IOLoop, calls: list[list[int]]) -> list[tuple[int, int]]:
    """Thread ``t`` posts ``call_soon(record, t, v)`` for each v of ``calls[t]``, all at once;
    what ran, in order."""
    seen: list[tuple[int, int]] = []
    start = threading.Barrier(len(calls))

    def post(t: int) -> None:
        start.wait(WAIT)
        for v in calls[t]:
            loop.call_soon(lambda t, v: seen.append((t, v) if loop.in_loop() else (-1, v)), t, v)

    threads = [threading.Thread(target=post, args=(t,)) for t in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    barrier(loop, 1)  # queued after every call of every thread: they all ran before it
    return seen


def test_call_soon_from_many_threads_runs_all_keeping_each_threads_order(loop: IOLoop) -> None:
    calls = [list(range(1000)) for _ in range(8)]
    seen = run_from_threads(loop, calls)
    assert sorted(seen) == sorted((t, v) for t in range(8) for v in range(1000))
    for t in range(8):
        assert [v for (u, v) in seen if u == t] == calls[t]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers()), max_size=200))
def test_every_call_soon_runs_once_in_per_thread_order(
    shared_loop: IOLoop, spec: list[tuple[int, int]]
) -> None:
    calls: list[list[int]] = [[] for _ in range(4)]
    for k, (t, _value) in enumerate(spec):
        calls[t].append(k)  # the position names the call: each must run exactly once
    seen = run_from_threads(shared_loop, calls)
    assert sorted(k for (_, k) in seen) == list(range(len(spec)))
    for t in range(4):
        assert [k for (u, k) in seen if u == t] == calls[t]


def test_failing_callbacks_and_timers_are_logged_and_the_loop_goes_on(
    loop: IOLoop, pairs: Pairs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="gunpy")
    loop.call_soon(raiser(ZeroDivisionError()))
    barrier(loop)
    assert logged(caplog, ZeroDivisionError)
    done = threading.Event()
    loop.call_later(0, raiser(KeyError()))
    loop.call_later(0.01, done.set)
    assert done.wait(WAIT)
    assert logged(caplog, KeyError)
    owner = Recorder(loop, pairs()[0])  # a failing bound method crashes its object
    loop.call_soon(owner.boom)
    assert owner.event.wait(WAIT)
    assert [type(e) for e in owner.crashes] == [ValueError]


# -- call_later --------------------------------------------------------------------------------


def test_call_later_runs_timers_in_deadline_order(loop: IOLoop) -> None:
    seen: list[str] = []
    done = threading.Event()

    def schedule() -> None:  # all at once, in the loop thread; deadlines 0.2 s apart
        for name, delay in [("c", 0.6), ("a", 0.2), ("b", 0.4), ("now", 0.0)]:
            loop.call_later(delay, seen.append, name)
        loop.call_later(0.8, done.set)

    loop.call_soon(schedule)
    assert done.wait(WAIT)
    assert seen == ["now", "a", "b", "c"]


def test_a_cancelled_timer_never_runs(loop: IOLoop) -> None:
    seen: list[str] = []
    in_loop_thread(loop, lambda: loop.call_later(0, seen.append, "in loop").cancel())
    release, done = threading.Event(), threading.Event()
    loop.call_soon(release.wait, WAIT)  # the loop is busy: it cannot look at the timer yet
    loop.call_later(0, seen.append, "other thread").cancel()
    loop.call_later(0.05, done.set)
    release.set()
    assert done.wait(WAIT)
    barrier(loop)
    assert seen == []


def test_a_timer_from_another_thread_wakes_a_loop_sleeping_without_timers(loop: IOLoop) -> None:
    barrier(loop)
    thread = loop._thread
    assert thread is not None and thread.ident is not None

    def asleep() -> bool:  # in select(None): nothing but the wake-up can end it
        frame = sys._current_frames().get(thread.ident or 0)
        return frame is not None and frame.f_code.co_name == "select"

    wait_for(asleep)
    ran = threading.Event()
    loop.call_later(0.01, ran.set)
    assert ran.wait(WAIT)


# -- sockets -----------------------------------------------------------------------------------


def test_read_interest_calls_on_ready_until_it_is_dropped(loop: IOLoop, pairs: Pairs) -> None:
    a, b = pairs()
    h = Recorder(loop, a)
    in_loop_thread(loop, lambda: loop.set_interest(a, h, 0, READ))
    b.sendall(b"one")
    assert h.event.wait(WAIT)
    assert h.ready == [(READ, b"one", loop.name)]
    in_loop_thread(loop, lambda: loop.set_interest(a, h, READ, 0))
    b.sendall(b"two")
    barrier(loop)  # a select after the write: it would have seen a registered socket
    assert h.ready == [(READ, b"one", loop.name)]
    h.event.clear()
    in_loop_thread(loop, lambda: loop.set_interest(a, h, 0, READ))
    assert h.event.wait(WAIT)
    assert [data for _, data, _ in h.ready] == [b"one", b"two"]
    in_loop_thread(loop, lambda: loop.forget(a))
    in_loop_thread(loop, lambda: loop.forget(a))  # forgetting twice is harmless


def test_write_interest_calls_on_ready_with_write(loop: IOLoop, pairs: Pairs) -> None:
    a, _ = pairs()
    h = Recorder(loop, a)
    in_loop_thread(loop, lambda: loop.set_interest(a, h, 0, READ))
    in_loop_thread(loop, lambda: loop.set_interest(a, h, READ, WRITE))  # a modify
    assert h.event.wait(WAIT)
    barrier(loop)
    assert h.ready == [(WRITE, b"", loop.name)]


def test_again_gives_one_on_again_per_call(loop: IOLoop, pairs: Pairs) -> None:
    h = Recorder(loop, pairs()[0])
    for n in range(1, 4):
        h.event.clear()
        in_loop_thread(loop, lambda: loop.again(h))
        assert h.event.wait(WAIT)
        barrier(loop)
        assert h.agains == n
    assert h.ready == []
    # `_again` is a set: calls within one turn merge into one on_again ("another turn")
    in_loop_thread(loop, lambda: (loop.again(h), loop.again(h)))
    barrier(loop)
    assert h.agains == 4


def test_a_crashing_handler_gets_on_crash_and_the_loop_serves_others(
    loop: IOLoop, pairs: Pairs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="gunpy")
    (a1, b1), (a2, b2) = pairs(), pairs()
    bad, good = Recorder(loop, a1, fail=True), Recorder(loop, a2)
    in_loop_thread(loop, lambda: loop.set_interest(a1, bad, 0, READ))
    in_loop_thread(loop, lambda: loop.set_interest(a2, good, 0, READ))
    b1.sendall(b"x")
    assert bad.event.wait(WAIT)
    assert [str(e) for e in bad.crashes] == ["boom"]
    assert logged(caplog, RuntimeError)
    b2.sendall(b"y")
    assert good.event.wait(WAIT)
    assert good.ready == [(READ, b"y", loop.name)]
    assert len(bad.crashes) == 1


# -- resolve and numeric_address ---------------------------------------------------------------


class RecordingMailbox(Mailbox):
    """A Mailbox that records each batch handed to it."""

    def __init__(self) -> None:
        super().__init__("recording")
        self.batches: list[list[Any]] = []

    def send_all(self, messages: list[Any]) -> None:
        self.batches.append(list(messages))
        super().send_all(messages)


def test_deliveries_of_one_turn_arrive_in_one_batch_in_order(loop: IOLoop) -> None:
    box, other = RecordingMailbox(), RecordingMailbox()

    def turn() -> None:  # as three handlers would in one turn
        loop.deliver(box, [1, 2])
        loop.deliver(other, ["a"])
        loop.deliver(box, [3])
        assert box.batches == []  # nothing yet: the turn is not over

    in_loop_thread(loop, turn)
    wait_for(lambda: box.batches and other.batches)
    assert box.batches == [[1, 2, 3]] and other.batches == [["a"]]
    assert [box.receive(timeout=WAIT) for _ in range(3)] == [1, 2, 3]


def test_flush_deliveries_hands_over_at_once(loop: IOLoop) -> None:
    box = RecordingMailbox()

    def report() -> None:  # a handler about to report by another path
        loop.deliver(box, ["frame"])
        loop.flush_deliveries()
        assert box.batches == [["frame"]]

    in_loop_thread(loop, report)


def test_deliver_outside_the_loop_goes_at_once(loop: IOLoop) -> None:
    box = RecordingMailbox()
    loop.deliver(box, ["now"])
    assert box.batches == [["now"]]


def resolve(loop: IOLoop, host: str, port: int) -> tuple[object, bool]:
    """What ``resolve`` passes to its callback, and whether the callback ran in the loop."""
    done, out = threading.Event(), []
    loop.resolve(host, port, lambda r: (out.append((r, loop.in_loop())), done.set()))
    assert done.wait(WAIT)
    return out[0]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]"])
def test_resolve_answers_numeric_addresses_without_a_lookup(
    loop: IOLoop, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", raiser(AssertionError("getaddrinfo called")))
    assert resolve(loop, host, 8080) == (numeric_address(host, 8080), True)


def test_resolve_looks_names_up_in_the_pool(loop: IOLoop, monkeypatch: pytest.MonkeyPatch) -> None:
    real, threads = socket.getaddrinfo, []

    def lookup(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    infos, in_loop = resolve(loop, "localhost", 80)
    assert in_loop
    assert isinstance(infos, list) and infos
    assert all(info[1] == socket.SOCK_STREAM for info in infos)
    assert len(threads) == 1 and threads[0].startswith(loop.name + "-lookup")


def test_resolve_passes_a_lookup_failure_to_the_callback(
    loop: IOLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", raiser(error))
    assert resolve(loop, "no-such-host.invalid", 80) == (error, True)


def v4(ip: str) -> list[tuple[Any, ...]]:
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, 443))]


def v6(ip: str) -> list[tuple[Any, ...]]:
    return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, 443, 0, 0))]


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", v4("127.0.0.1")), ("10.1.2.3", v4("10.1.2.3")), ("::1", v6("::1")),
     ("2001:db8::1", v6("2001:db8::1")), ("[::1]", v6("::1")),
     ("[2001:DB8::0001]", v6("2001:db8::1")), ("localhost", None), ("example.com", None),
     ("", None), ("fe80::1%lo", None), ("[fe80::1%lo]", None)],
)  # fmt: skip
def test_numeric_address(host: str, expected: list[tuple[Any, ...]] | None) -> None:
    assert numeric_address(host, 443) == expected
    if expected is not None and "[" not in host:  # getaddrinfo's own answer, lookup-free
        assert expected == socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)


# Only one pair of brackets, and only around IPv6, as in a URL host; the rest is a name.
@pytest.mark.parametrize("host", ["[127.0.0.1]", "[::1", "::1]", "[[::1]]"])
def test_numeric_address_rejects_malformed_brackets(host: str) -> None:
    assert numeric_address(host, 443) is None
