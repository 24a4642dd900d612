"""gunpy.actors runtime: Mailbox, the timer Scheduler, and Erlang process semantics
(monitors, links, exit reasons) on ProcessActor.

Threads are synchronised with Events and mailboxes, never with sleeps. Timeouts
below are generous upper bounds for a loaded machine; no test asserts a duration.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from gunpy.actors import Mailbox, ProcessActor
from gunpy.actors._process import (
    demonitor,
    exit,
    exit_reason_of,
    is_normal_exit,
    link,
    monitor,
    process_of,
)
from gunpy.actors._scheduler import Scheduler
from gunpy.protocol import Ref

WAIT = 10.0  # upper bound for something that is bound to happen


@pytest.fixture(autouse=True)
def _stop_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=WAIT)


def is_down_for(mref: Ref) -> Any:
    return lambda m: isinstance(m, tuple) and len(m) == 5 and m[0] == "DOWN" and m[1] is mref


# -- Mailbox ----------------------------------------------------------------------------------


def test_receive_is_fifo() -> None:
    mb = Mailbox()
    for i in range(5):
        mb.send(i)
    mb.send_all([5, 6])
    assert [mb.receive(timeout=0) for _ in range(7)] == list(range(7))
    assert len(mb) == 0


def test_selective_receive_takes_the_first_match_and_keeps_the_rest_in_order() -> None:
    mb = Mailbox()
    mb.send_all(["a", 1, "b", 2, "c", 3])
    assert mb.receive(lambda m: isinstance(m, int), timeout=0) == 1
    assert mb.messages() == ["a", "b", 2, "c", 3]
    assert mb.receive(lambda m: m == "c", timeout=0) == "c"
    assert mb.messages() == ["a", "b", 2, 3]
    assert [mb.receive(timeout=0) for _ in range(4)] == ["a", "b", 2, 3]


def test_selective_receive_timeout_leaves_the_queue_alone() -> None:
    mb = Mailbox()
    mb.send_all(["x", "y"])
    with pytest.raises(TimeoutError):
        mb.receive(lambda m: m == "z", timeout=0.05)
    assert mb.messages() == ["x", "y"]


def test_receive_on_an_empty_mailbox_times_out() -> None:
    mb = Mailbox()
    with pytest.raises(TimeoutError):
        mb.receive(timeout=0.05)
    with pytest.raises(TimeoutError):
        mb.receive(timeout=0)


def test_message_sent_while_receive_waits_is_returned() -> None:
    mb = Mailbox()
    scanned = threading.Event()

    def match(message: object) -> bool:
        if message == "noise":
            scanned.set()  # the receiver holds the lock until it waits
        return message == "wanted"

    def sender() -> None:
        scanned.wait(WAIT)
        mb.send("more noise")
        mb.send("wanted")

    mb.send("noise")
    thread = threading.Thread(target=sender)
    thread.start()
    try:
        assert mb.receive(match, timeout=WAIT) == "wanted"
    finally:
        thread.join(WAIT)
    assert scanned.is_set()
    assert mb.messages() == ["noise", "more noise"]


def test_plain_receive_gets_a_message_from_another_thread() -> None:
    mb = Mailbox()
    go = threading.Event()

    def sender() -> None:
        go.wait(WAIT)
        mb.send(("hello", 1))

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        go.set()
        assert mb.receive(timeout=WAIT) == ("hello", 1)
    finally:
        thread.join(WAIT)


def test_send_all_wakes_a_selective_receiver() -> None:
    mb = Mailbox()
    scanned = threading.Event()

    def match(message: object) -> bool:
        scanned.set()
        return message == 3

    mb.send(0)

    def sender() -> None:
        scanned.wait(WAIT)
        mb.send_all([1, 2, 3, 4])

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        assert mb.receive(match, timeout=WAIT) == 3
    finally:
        thread.join(WAIT)
    assert mb.messages() == [0, 1, 2, 4]


def test_flush_without_match_empties_the_mailbox() -> None:
    mb = Mailbox()
    mb.send_all([1, "two", (3,)])
    assert mb.flush() == [1, "two", (3,)]
    assert mb.messages() == []
    assert mb.flush() == []


def test_flush_with_match_removes_only_matches_in_order() -> None:
    mb = Mailbox()
    mb.send_all([1, "a", 2, "b", 3])
    assert mb.flush(lambda m: isinstance(m, int)) == [1, 2, 3]
    assert mb.messages() == ["a", "b"]
    assert mb.receive(timeout=0) == "a"


def test_current_is_per_thread_and_stable() -> None:
    main = Mailbox.current()
    assert Mailbox.current() is main
    assert main.thread is threading.current_thread()
    seen: list[Mailbox] = []

    def other() -> None:
        seen.extend([Mailbox.current(), Mailbox.current()])

    thread = threading.Thread(target=other, name="gunpy-test-other")
    thread.start()
    thread.join(WAIT)
    assert seen[0] is seen[1]
    assert seen[0] is not main
    assert seen[0].thread is thread
    assert "gunpy-test-other" in seen[0].name
    assert Mailbox.current() is main


def test_close_fires_monitors_once_with_the_reason() -> None:
    mb, watcher = Mailbox(), Mailbox()
    mref = monitor(mb, watcher=watcher)
    assert mb.is_alive()
    assert watcher.messages() == []
    mb.close(("shutdown", "bye"))
    # DOWN is delivered by close() itself.
    assert watcher.messages() == [("DOWN", mref, "process", mb, ("shutdown", "bye"))]
    assert not mb.is_alive()
    mb.close("again")
    assert len(watcher.messages()) == 1
    # Messages may still be sent and read after close.
    mb.send("still works")
    assert mb.receive(timeout=0) == "still works"


def test_monitor_after_close_gets_down_at_once_with_the_recorded_reason() -> None:
    mb, watcher = Mailbox(), Mailbox()
    mb.close("gone")
    mref = monitor(mb, watcher=watcher)
    assert watcher.messages() == [("DOWN", mref, "process", mb, "gone")]


def test_demonitor_on_a_mailbox_stops_the_down() -> None:
    mb, watcher = Mailbox(), Mailbox()
    mref = monitor(mb, watcher=watcher)
    assert demonitor(mref) is True
    assert demonitor(mref) is False
    mb.close("gone")
    assert watcher.messages() == []


def test_thread_mailbox_is_dead_once_the_thread_ends() -> None:
    box: queue.Queue[Mailbox] = queue.Queue()
    finish = threading.Event()

    def body() -> None:
        box.put(Mailbox.current())
        finish.wait(WAIT)

    thread = threading.Thread(target=body)
    thread.start()
    mb = box.get(timeout=WAIT)
    watcher = Mailbox()
    mref = monitor(mb, watcher=watcher)
    assert mb.is_alive()
    finish.set()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert not mb.is_alive()
    assert watcher.receive(timeout=WAIT) == ("DOWN", mref, "process", mb, "normal")


def test_monitor_defaults_to_the_callers_mailbox() -> None:
    mine = Mailbox.current()
    mine.flush()
    target = Mailbox()
    mref = monitor(target)
    target.close("bye")
    assert mine.receive(is_down_for(mref), timeout=0) == ("DOWN", mref, "process", target, "bye")


def test_monitor_refuses_what_it_cannot_watch() -> None:
    with pytest.raises(TypeError):
        monitor(object(), watcher=Mailbox())
    with pytest.raises(TypeError):
        monitor(Mailbox(), watcher=object())


def test_selective_receive_is_not_fooled_by_a_concurrent_flush() -> None:
    mb = Mailbox()
    scanned = threading.Event()

    def match(message: object) -> bool:
        if message == "b":
            scanned.set()
        return message in ("c", "d")

    def meddler() -> None:
        scanned.wait(WAIT)
        mb.flush(lambda m: m == "a")  # runs while the receiver waits: it holds the lock
        mb.send_all(["c", "d"])

    mb.send_all(["a", "b"])
    thread = threading.Thread(target=meddler)
    thread.start()
    try:
        got = mb.receive(match, timeout=WAIT)
    finally:
        thread.join(WAIT)
    assert got == "c"


# -- Scheduler --------------------------------------------------------------------------------


def test_call_later_runs_in_deadline_order() -> None:
    sched = Scheduler("gunpy-test-timers")
    done: queue.Queue[float] = queue.Queue()
    gate = threading.Event()
    # Hold the timer thread until every timer is queued: the order then depends on the
    # deadlines alone, however slow this thread is.
    sched.call_later(0, gate.wait, WAIT)
    for delay in (0.03, 0.01, 0.02):
        sched.call_later(delay, done.put, delay)
    gate.set()
    assert [done.get(timeout=WAIT) for _ in range(3)] == [0.01, 0.02, 0.03]


def test_call_later_passes_args_and_runs_in_the_timer_thread() -> None:
    sched = Scheduler("gunpy-test-timers-args")
    done: queue.Queue[tuple[str, int, str]] = queue.Queue()
    sched.call_later(0, lambda a, b: done.put((a, b, threading.current_thread().name)), "x", 2)
    assert done.get(timeout=WAIT) == ("x", 2, "gunpy-test-timers-args")


def test_cancel_prevents_the_run() -> None:
    sched = Scheduler("gunpy-test-timers-cancel")
    done: queue.Queue[str] = queue.Queue()
    gate = threading.Event()
    sched.call_later(0, gate.wait, WAIT)
    cancelled = sched.call_later(0.01, done.put, "cancelled")
    sched.call_later(0.02, done.put, "sentinel")
    cancelled.cancel()
    assert cancelled.cancelled
    gate.set()
    # The cancelled timer was due first: had it run, it would come out first.
    assert done.get(timeout=WAIT) == "sentinel"
    assert done.empty()


def test_a_failing_callback_does_not_stop_the_timer_thread() -> None:
    sched = Scheduler("gunpy-test-timers-fail")
    done: queue.Queue[str] = queue.Queue()
    gate = threading.Event()
    sched.call_later(0, gate.wait, WAIT)
    sched.call_later(0.001, lambda: 1 / 0)
    sched.call_later(0.002, done.put, "after")
    gate.set()
    assert done.get(timeout=WAIT) == "after"


# -- ProcessActor, monitors, links ------------------------------------------------------------


class Worker(ProcessActor):
    """Echoes asks; ``"crash"`` raises; trapped EXIT signals go to ``inbox``."""

    def __init__(self, inbox: Mailbox | None = None, init_gate: threading.Event | None = None):
        super().__init__()
        self.inbox = inbox
        self.init_gate = init_gate
        self.terminated_with: list[object] = []

    def init(self) -> None:
        if self.init_gate is not None:
            self.init_gate.wait(WAIT)
            raise RuntimeError("init failed")

    def handle_message(self, message: Any) -> Any:
        if message == "crash":
            raise ValueError("boom")
        match message:
            case ("record", value) if self.inbox is not None:
                self.inbox.send(("recorded", value))
            case ("wait", threading.Event() as started, threading.Event() as gate):
                started.set()
                gate.wait(WAIT)
        if isinstance(message, tuple) and message[:1] == ("EXIT",) and self.inbox is not None:
            self.inbox.send(message)
        return message

    def terminate(self, reason: object) -> None:
        self.terminated_with.append(reason)
        if self.inbox is not None:
            self.inbox.send(("terminated", self.actor_ref, reason))


class Trapper(Worker):
    trap_exit = True


class Plain(pykka.ThreadingActor):
    use_daemon_thread = True


def receive_down(watcher: Mailbox, mref: Ref) -> tuple[Any, ...]:
    message: tuple[Any, ...] = watcher.receive(is_down_for(mref), timeout=WAIT)
    return message


def test_down_normal_on_stop() -> None:
    ref = Worker.start()
    watcher = Mailbox()
    mref = monitor(ref, watcher=watcher)
    ref.stop()
    assert receive_down(watcher, mref) == ("DOWN", mref, "process", ref, "normal")
    assert exit_reason_of(ref) == "normal"


def test_down_with_the_exception_when_handle_message_raises() -> None:
    ref = Worker.start()
    watcher = Mailbox()
    mref = monitor(ref, watcher=watcher)
    ref.tell("crash")
    match receive_down(watcher, mref):
        case ("DOWN", r, "process", target, ValueError() as reason) if r is mref:
            assert target == ref
            assert str(reason) == "boom"
        case other:
            pytest.fail(f"unexpected {other!r}")
    assert not ref.is_alive()


def test_ask_that_raises_does_not_kill_the_actor() -> None:
    ref = Worker.start()
    watcher = Mailbox()
    mref = monitor(ref, watcher=watcher)
    with pytest.raises(ValueError, match="boom"):
        ref.ask("crash")
    assert ref.ask("still here") == "still here"
    ref.stop()
    assert receive_down(watcher, mref)[4] == "normal"


@pytest.mark.parametrize(
    ("reason", "seen"),
    [
        (("shutdown", "x"), ("shutdown", "x")),
        ("shutdown", "shutdown"),
        ("custom", "custom"),
        ("kill", "killed"),
    ],
)
def test_down_with_the_reason_given_to_exit(reason: object, seen: object) -> None:
    inbox = Mailbox()
    ref = Worker.start(inbox)
    watcher = Mailbox()
    mref = monitor(ref, watcher=watcher)
    exit(ref, reason)
    assert receive_down(watcher, mref) == ("DOWN", mref, "process", ref, seen)
    # terminate ran first, with the same reason.
    assert inbox.receive(timeout=0) == ("terminated", ref, seen)


def test_exit_skips_the_messages_queued_after_it() -> None:
    inbox = Mailbox()
    started, gate = threading.Event(), threading.Event()
    ref = Worker.start(inbox)
    watcher = Mailbox()
    mref = monitor(ref, watcher=watcher)
    ref.tell(("record", 1))
    ref.tell(("wait", started, gate))
    assert started.wait(WAIT)  # the actor is busy: what follows stays queued
    exit(ref, "stop now")
    ref.tell(("record", 2))
    gate.set()
    assert receive_down(watcher, mref)[4] == "stop now"
    assert inbox.flush(lambda m: m[0] == "recorded") == [("recorded", 1)]


def test_monitor_after_death_gets_the_recorded_reason_at_once() -> None:
    ref = Worker.start()
    first = Mailbox()
    mref1 = monitor(ref, watcher=first)
    exit(ref, ("shutdown", "early"))
    receive_down(first, mref1)
    assert not ref.is_alive()
    late = Mailbox()
    mref2 = monitor(ref, watcher=late)
    assert late.messages() == [("DOWN", mref2, "process", ref, ("shutdown", "early"))]


def test_monitor_after_a_crash_gets_the_exception_at_once() -> None:
    ref = Worker.start()
    first = Mailbox()
    mref1 = monitor(ref, watcher=first)
    ref.tell("crash")
    crash = receive_down(first, mref1)[4]
    late = Mailbox()
    mref2 = monitor(ref, watcher=late)
    assert late.messages() == [("DOWN", mref2, "process", ref, crash)]


def test_demonitor_means_no_down() -> None:
    ref = Worker.start()
    watcher = Mailbox()
    mref = monitor(ref, watcher=watcher)
    kept = monitor(ref, watcher=watcher)
    assert demonitor(mref) is True
    ref.stop()  # waits for on_stop, which fires the monitors
    assert receive_down(watcher, kept)[4] == "normal"
    watcher.send("sentinel")
    assert watcher.receive(timeout=WAIT) == "sentinel"
    assert watcher.messages() == []
    assert demonitor(mref) is False


def test_demonitor_flush_drops_a_queued_down() -> None:
    mine = Mailbox.current()
    mine.flush()
    ref = Worker.start()
    mref = monitor(ref)
    ref.stop()  # blocks until on_stop has fired the monitors: the DOWN is queued
    mine.send("other")
    assert [m if m == "other" else m[0] for m in mine.messages()] == ["DOWN", "other"]
    assert demonitor(mref, flush=True) is False
    assert mine.messages() == ["other"]
    mine.flush()


def test_monitor_a_plain_pykka_actor() -> None:
    ref = Plain.start()
    watcher = Mailbox()
    mref = monitor(ref, watcher=watcher)
    assert watcher.messages() == []
    ref.stop()
    assert receive_down(watcher, mref) == ("DOWN", mref, "process", ref, "normal")


def test_monitor_a_dead_plain_pykka_actor() -> None:
    ref = Plain.start()
    ref.stop()
    watcher = Mailbox()
    mref = monitor(ref, watcher=watcher)
    # At once, as Erlang's noproc.
    assert watcher.messages() == [("DOWN", mref, "process", ref, "noproc")]


def test_link_abnormal_exit_stops_the_other_with_the_same_reason() -> None:
    a, b = Worker.start(), Worker.start()
    link(a, b)
    watcher = Mailbox()
    ma, mb = monitor(a, watcher=watcher), monitor(b, watcher=watcher)
    a.tell("crash")
    reason_a = receive_down(watcher, ma)[4]
    reason_b = receive_down(watcher, mb)[4]
    assert isinstance(reason_a, ValueError)
    assert reason_b is reason_a


def test_link_is_symmetric() -> None:
    a, b = Worker.start(), Worker.start()
    link(a, b)
    watcher = Mailbox()
    ma = monitor(a, watcher=watcher)
    exit(b, "boom")
    assert receive_down(watcher, ma)[4] == "boom"


def test_link_shutdown_also_stops_the_other() -> None:
    a, b = Worker.start(), Worker.start()
    link(a, b)
    watcher = Mailbox()
    mb = monitor(b, watcher=watcher)
    exit(a, ("shutdown", "x"))
    assert receive_down(watcher, mb)[4] == ("shutdown", "x")


def test_link_normal_exit_spares_the_other() -> None:
    a, b = Worker.start(), Worker.start()
    link(a, b)
    watcher = Mailbox()
    ma, mb = monitor(a, watcher=watcher), monitor(b, watcher=watcher)
    a.stop()
    assert receive_down(watcher, ma)[4] == "normal"
    # b got the link signal before a's monitors fired; its inbox is FIFO.
    assert b.ask("alive?") == "alive?"
    assert b.is_alive()
    assert watcher.messages() == []
    b.stop()
    assert receive_down(watcher, mb)[4] == "normal"


def test_trap_exit_turns_the_signal_into_a_message() -> None:
    inbox = Mailbox()
    a, t = Worker.start(), Trapper.start(inbox)
    link(a, t)
    watcher = Mailbox()
    ma = monitor(a, watcher=watcher)
    exit(a, "boom")
    assert receive_down(watcher, ma)[4] == "boom"
    signal = inbox.receive(lambda m: m[0] == "EXIT", timeout=WAIT)
    assert signal == ("EXIT", a, "boom")
    assert t.ask("alive?") == "alive?"


def test_trap_exit_sees_normal_exits_too() -> None:
    inbox = Mailbox()
    a, t = Worker.start(), Trapper.start(inbox)
    link(t, a)
    a.stop()
    assert inbox.receive(lambda m: m[0] == "EXIT", timeout=WAIT) == ("EXIT", a, "normal")
    assert t.ask("alive?") == "alive?"


def test_link_to_a_dead_actor_signals_at_once() -> None:
    a, b = Worker.start(), Worker.start()
    watcher = Mailbox()
    ma, mb = monitor(a, watcher=watcher), monitor(b, watcher=watcher)
    exit(a, "dead already")
    receive_down(watcher, ma)
    link(a, b)
    assert receive_down(watcher, mb)[4] == "dead already"


def test_link_refuses_non_processes() -> None:
    a = Worker.start()
    with pytest.raises(TypeError):
        link(a, Mailbox())
    p = Plain.start()
    with pytest.raises(TypeError):
        link(a, p)
    with pytest.raises(TypeError):
        exit(p, "x")


def test_an_exception_in_init_fires_the_monitors() -> None:
    inbox = Mailbox()
    gate = threading.Event()
    ref = Worker.start(inbox, gate)
    watcher = Mailbox()
    mref = monitor(ref, watcher=watcher)  # init is blocked on the gate: still alive
    assert watcher.messages() == []
    process = process_of(ref)
    assert process is not None
    assert not process.initialized.is_set()
    gate.set()
    match receive_down(watcher, mref):
        case ("DOWN", r, "process", _, RuntimeError() as reason) if r is mref:
            assert str(reason) == "init failed"
        case other:
            pytest.fail(f"unexpected {other!r}")
    assert not process.initialized.is_set()
    match inbox.receive(timeout=0):
        case ("terminated", _, RuntimeError()):
            pass
        case other:
            pytest.fail(f"unexpected {other!r}")


def test_an_exception_in_init_stops_a_linked_actor() -> None:
    gate = threading.Event()
    failing = Worker.start(None, gate)
    other = Worker.start()
    link(failing, other)
    watcher = Mailbox()
    mref = monitor(other, watcher=watcher)
    gate.set()
    assert isinstance(receive_down(watcher, mref)[4], RuntimeError)


def test_initialized_is_set_after_a_good_init() -> None:
    ref = Worker.start()
    process = process_of(ref)
    assert process is not None
    assert process.initialized.wait(WAIT)


def test_monitors_fire_once_per_monitor() -> None:
    ref = Worker.start()
    watcher = Mailbox()
    mrefs = [monitor(ref, watcher=watcher) for _ in range(3)]
    ref.stop()
    downs = [receive_down(watcher, m) for m in mrefs]
    assert [d[1] for d in downs] == mrefs
    watcher.send("sentinel")
    assert watcher.receive(timeout=WAIT) == "sentinel"


def test_an_actor_can_watch_another() -> None:
    inbox = Mailbox()

    class Watcher(ProcessActor):
        def handle_message(self, message: Any) -> Any:
            inbox.send(message)

    target, watching = Worker.start(), Watcher.start()
    mref = monitor(target, watcher=watching)
    exit(target, "bye")
    assert inbox.receive(timeout=WAIT) == ("DOWN", mref, "process", target, "bye")


@pytest.mark.parametrize(
    ("reason", "normal"),
    [
        ("normal", True),
        ("shutdown", True),
        (("shutdown", "x"), True),
        (("shutdown", "x", "y"), False),
        ("killed", False),
        (ValueError("x"), False),
        (None, False),
    ],
)
def test_is_normal_exit(reason: object, normal: bool) -> None:
    assert is_normal_exit(reason) is normal


def test_exit_reason_of_an_unknown_target_is_noproc() -> None:
    assert exit_reason_of(object()) == "noproc"
