"""OTP supervisors against real crashing actors; Gun's own supervision tree.

Synchronisation: a child's links are told before its monitors fire, so once the
test has the child's DOWN, the supervisor has the EXIT in its inbox, and any
later call (an ask) is answered after the supervisor has handled it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pykka
import pytest

from gunpy.actors import Mailbox, ProcessActor, gun, link, monitor
from gunpy.actors._process import process_of
from gunpy.supervision import (
    ChildSpec,
    Supervisor,
    SupFlags,
    check_child_spec,
    check_flags,
    count_children,
    delete_child,
    gun_conns_sup,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)
from gunpy.supervision._supervisor import _Call
from tests.helpers import WAIT
from tests.peers import EchoServer

Ref = pykka.ActorRef[Any]


class Boom(Exception):
    """A crash."""


class Worker(ProcessActor):
    """Logs its start and stop; crashes, exits or blocks in terminate on demand."""

    def __init__(self, name: str, log: Mailbox, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.name, self.log, self.gate = name, log, gate

    def init(self) -> None:
        self.log.send(("start", self.name))

    def handle_message(self, message: Any) -> Any:
        if message[0] == "crash":
            raise message[1]
        if message[0] == "exit":
            self.exit(message[1])
        return None

    def terminate(self, reason: object) -> None:
        if self.gate is not None:
            self.log.send(("stopping", self.name))
            self.gate.wait(3 * WAIT)  # released by the test; the limit only avoids a hang
        self.log.send(("stop", self.name, reason))


class BadInit(ProcessActor):
    """Fails in init. It holds itself: the runtime forgets a collected actor's exit reason."""

    held: ClassVar[list[BadInit]] = []

    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc
        self.held.append(self)

    def init(self) -> None:
        raise self.exc


class Plain(pykka.ThreadingActor):
    """A plain pykka actor: watched by polling, always seen to exit "normal"."""

    use_daemon_thread = True

    def __init__(self, name: str, log: Mailbox) -> None:
        super().__init__()
        self.name, self.log = name, log

    def on_start(self) -> None:
        self.log.send(("start", self.name))

    def on_receive(self, message: Any) -> Any:
        raise Boom(self.name)

    def on_stop(self) -> None:
        self.log.send(("stop", self.name))


class Clock:
    """The supervisor's clock for intensity tests: time moves only when the test says."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


_supervisors: list[tuple[Ref, object]] = []


def new_sup(flags: dict[str, Any], children: list[dict[str, Any]], **kw: Any) -> Ref:
    """Start a supervisor and hold the actor: a collected actor's exit reason is lost."""
    sup = Supervisor.start(flags, children, **kw)
    _supervisors.append((sup, process_of(sup)))
    return sup


@pytest.fixture(autouse=True)
def _nothing_left() -> Iterator[None]:
    _supervisors.clear()
    yield
    BadInit.held.clear()
    registry = pykka.ActorRegistry
    alive = [ref for cls in (Worker, BadInit, Plain) for ref in registry.get_by_class(cls)]
    alive += [sup for sup, _ in _supervisors if sup.is_alive()]
    assert not alive, f"left running: {alive}"


def spec(name: str, log: Mailbox, **extra: Any) -> dict[str, Any]:
    return {"id": name, "start": (Worker.start, (name, log)), **extra}


def ref_of(sup: Ref, child_id: object) -> Any:
    return next(ref for cid, ref, _, _ in which_children(sup) if cid == child_id)


def events(log: Mailbox, n: int) -> list[Any]:
    return [log.receive(timeout=WAIT) for _ in range(n)]


def down_of(ref: Ref, action: Callable[[], object]) -> object:
    """Monitor ``ref``, run ``action``, and return ``ref``'s exit reason once it is dead."""
    box = Mailbox()
    mref = monitor(ref, watcher=box)
    action()
    return box.receive(lambda m: m[1] == mref, WAIT)[4]


def crash(ref: Ref, exc: BaseException | None = None) -> object:
    return down_of(ref, lambda: ref.tell(("crash", exc or Boom())))


def descendants(sup: Ref) -> list[Ref]:
    found = []
    for _, ref, kind, _ in which_children(sup):
        if isinstance(ref, pykka.ActorRef):
            found += [ref, *(descendants(ref) if kind == "supervisor" else [])]
    return found


def stop_tree(sup: Ref) -> None:
    """Stop ``sup`` and check that every process of its tree is dead."""
    below = descendants(sup)
    assert sup.stop(timeout=WAIT)
    for ref in below:
        assert ref.actor_stopped.wait(WAIT) and not ref.is_alive()


# -- checks in the caller ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "children", "key"),
    [
        ({"strategy": "one_for_none"}, [], "strategy"),
        ({"intensity": -1}, [], "intensity"),
        ({"intensity": True}, [], "intensity"),
        ({"period": 0}, [], "period"),
        ({"intensty": 1}, [], "intensty"),
        ({}, [{"start": (Worker.start, ())}], "id"),
        ({}, [{"id": "a"}], "start"),
        ({}, [{"id": [], "start": (Worker.start, ())}], "id"),
        ({}, [{"id": "a", "start": Worker.start}], "start"),
        ({}, [{"id": "a", "start": (Worker.start, ()), "restart": "sometimes"}], "restart"),
        ({}, [{"id": "a", "start": (Worker.start, ()), "shutdown": -1}], "shutdown"),
        ({}, [{"id": "a", "start": (Worker.start, ()), "type": "boss"}], "type"),
        ({}, [{"id": "a", "start": (Worker.start, ()), "colour": 1}], "colour"),
        ({}, [{"id": "a", "start": (Worker.start, ())}] * 2, "children"),
        ({"strategy": "simple_one_for_one"}, [], "children"),
        ({"auto_shutdown": "sometimes"}, [], "auto_shutdown"),
        ({"strategy": "simple_one_for_one", "auto_shutdown": "any_significant"},
         [{"id": "a", "start": (Worker.start, ()), "restart": "temporary"}], "auto_shutdown"),
        ({"auto_shutdown": "any_significant"},
         [{"id": "a", "start": (Worker.start, ()), "significant": "yes"}], "significant"),
        # OTP's bad combinations: significant under auto_shutdown never, or permanent.
        ({}, [{"id": "a", "start": (Worker.start, ()), "restart": "transient",
               "significant": True}], "significant"),
        ({"auto_shutdown": "all_significant"},
         [{"id": "a", "start": (Worker.start, ()), "significant": True}], "significant"),
    ],
)
def test_flags_and_specs_are_checked_in_the_caller(
    flags: dict[str, Any], children: list[dict[str, Any]], key: str
) -> None:
    before = len(pykka.ActorRegistry.get_all())
    with pytest.raises(ValueError, match=rf"^{key}"):
        Supervisor.start(flags, children)
    assert len(pykka.ActorRegistry.get_all()) == before


def test_otp_defaults() -> None:
    assert check_flags({}) == SupFlags("one_for_one", 1, 5, "never")
    worker = check_child_spec({"id": "w", "start": (Worker.start, ())})
    assert worker == ChildSpec(
        "w", (Worker.start, ()), "permanent", 5000, "worker", ["Worker.start"], False)
    # Without the supervisor's flag (OTP's check_childspecs/1) only permanent is refused.
    assert check_child_spec({"id": "s", "start": (Worker.start, ()), "restart": "temporary",
                             "significant": True}).significant
    sup = check_child_spec({"id": "s", "start": (Supervisor.start, ()), "type": "supervisor"})
    assert (sup.shutdown, sup.modules) == ("infinity", ["Supervisor.start"])


# -- strategies -------------------------------------------------------------------------------


def test_one_for_one_restarts_only_the_crashed_child() -> None:
    log = Mailbox("log")
    sup = new_sup({}, [spec(n, log) for n in "abc"])
    assert events(log, 3) == [("start", "a"), ("start", "b"), ("start", "c")]
    a, b, c = (ref_of(sup, n) for n in "abc")
    exc = Boom()
    assert crash(b, exc) is exc
    assert events(log, 2) == [("stop", "b", exc), ("start", "b")]
    assert [ref_of(sup, n) for n in "ac"] == [a, c] and ref_of(sup, "b") not in (b, None)
    assert log.messages() == []
    stop_tree(sup)
    assert [e[:2] for e in events(log, 3)] == [("stop", "c"), ("stop", "b"), ("stop", "a")]


def test_one_for_all_restarts_everyone() -> None:
    log = Mailbox("log")
    sup = new_sup({"strategy": "one_for_all"}, [spec(n, log) for n in "abc"])
    events(log, 3)
    crash(ref_of(sup, "b"))
    got = events(log, 6)
    assert got[0][:2] == ("stop", "b")  # its own crash
    assert got[1:3] == [("stop", "c", "shutdown"), ("stop", "a", "shutdown")]  # reverse order
    assert got[3:] == [("start", "a"), ("start", "b"), ("start", "c")]  # start order
    stop_tree(sup)


def test_rest_for_one_restarts_the_later_children() -> None:
    log = Mailbox("log")
    sup = new_sup({"strategy": "rest_for_one"}, [spec(n, log) for n in "abcd"])
    events(log, 4)
    a = ref_of(sup, "a")
    crash(ref_of(sup, "b"))
    got = events(log, 6)
    assert got[0][:2] == ("stop", "b")
    assert got[1:3] == [("stop", "d", "shutdown"), ("stop", "c", "shutdown")]
    assert got[3:] == [("start", "b"), ("start", "c"), ("start", "d")]
    assert ref_of(sup, "a") is a and log.messages() == []
    stop_tree(sup)


def test_sibling_restarts_drop_temporary_children() -> None:
    log = Mailbox("log")
    children = [spec("a", log), spec("t", log, restart="temporary"), spec("c", log)]
    sup = new_sup({"strategy": "one_for_all"}, children)
    events(log, 3)
    crash(ref_of(sup, "c"))
    got = events(log, 5)
    assert got[1:3] == [("stop", "t", "shutdown"), ("stop", "a", "shutdown")]
    assert got[3:] == [("start", "a"), ("start", "c")]
    assert [c[0] for c in which_children(sup)] == ["c", "a"]  # newest first, as OTP
    stop_tree(sup)


def test_simple_one_for_one() -> None:
    log = Mailbox("log")
    template = {"id": "w", "start": (Worker.start, ()), "restart": "transient"}
    sup = new_sup({"strategy": "simple_one_for_one", "intensity": 5}, [template])
    refs = [start_child(sup, (f"w{i}", log))[1] for i in range(4)]
    assert events(log, 4) == [("start", f"w{i}") for i in range(4)]
    crash(refs[1])  # abnormal: restarted with the same extra args
    assert events(log, 2)[1] == ("start", "w1")
    assert down_of(refs[2], lambda: refs[2].tell(("exit", "normal"))) == "normal"
    assert events(log, 1) == [("stop", "w2", "normal")]  # transient, normal: gone
    kids = which_children(sup)
    assert [k[0] for k in kids] == ["undefined"] * 3 and refs[2] not in [k[1] for k in kids]
    assert count_children(sup) == {"specs": 1, "active": 3, "supervisors": 0, "workers": 3}
    assert terminate_child(sup, "w") == ("error", "simple_one_for_one")  # by ref only
    assert terminate_child(sup, refs[0]) == "ok"
    assert events(log, 1) == [("stop", "w0", "shutdown")]
    assert restart_child(sup, "w") == ("error", "simple_one_for_one")
    assert delete_child(sup, "w") == ("error", "simple_one_for_one")
    assert start_child(sup, {"id": "x", "start": (Worker.start, ())})[1][0] == "bad_extra_args"
    assert count_children(sup)["active"] == 2
    stop_tree(sup)
    assert sorted(e[1] for e in events(log, 2)) == ["w1", "w3"]


def test_simple_one_for_one_terminate_child_takes_a_ref() -> None:
    log = Mailbox("log")
    template = {"id": "w", "start": (Worker.start, ()), "restart": "temporary"}
    sup = new_sup({"strategy": "simple_one_for_one"}, [template])
    w1, w2 = (start_child(sup, (name, log))[1] for name in ("w1", "w2"))
    stranger = Worker.start("stranger", log)
    assert events(log, 3) == [("start", "w1"), ("start", "w2"), ("start", "stranger")]
    assert terminate_child(sup, "w") == ("error", "simple_one_for_one")  # OTP: by pid only
    assert terminate_child(sup, stranger) == ("error", "not_found")  # alive, not a child
    assert terminate_child(sup, w1) == "ok" and not w1.is_alive()
    assert terminate_child(sup, w1) == "ok"  # already gone: OTP says ok
    assert down_of(w2, lambda: w2.tell(("exit", "normal"))) == "normal"
    assert terminate_child(sup, w2) == "ok"  # gone by itself: ok too
    assert down_of(stranger, lambda: stranger.tell(("exit", "normal"))) == "normal"
    assert events(log, 3) == [("stop", "w1", "shutdown"), ("stop", "w2", "normal"),
                              ("stop", "stranger", "normal")]
    assert which_children(sup) == []
    stop_tree(sup)


# -- restart types and intensity -------------------------------------------------------------

NORMAL_REASONS = ["normal", "shutdown", ("shutdown", "x")]


@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
@pytest.mark.parametrize("reason", [*NORMAL_REASONS, "boom"])
def test_restart_types(restart: str, reason: object) -> None:
    log = Mailbox("log")
    sup = new_sup({}, [spec("a", log, restart=restart)])
    events(log, 1)
    a = ref_of(sup, "a")
    assert down_of(a, lambda: a.tell(("exit", reason))) == reason
    restarted = restart == "permanent" or (restart == "transient" and reason == "boom")
    kids = which_children(sup)
    if restart == "temporary":
        assert kids == []  # its spec is dropped
    else:
        assert kids[0][0] == "a" and (kids[0][1] is not None) is restarted
    assert events(log, 1 + restarted)[1:] == ([("start", "a")] if restarted else [])
    stop_tree(sup)


def test_exits_that_are_not_restarted_do_not_count() -> None:
    log = Mailbox("log")
    children = [spec("t", log, restart="temporary"), spec("n", log, restart="transient"),
                spec("p", log)]
    sup = new_sup({"intensity": 0}, children)
    events(log, 3)
    crash(ref_of(sup, "t"))
    n = ref_of(sup, "n")
    down_of(n, lambda: n.tell(("exit", "shutdown")))
    assert count_children(sup) == {"specs": 2, "active": 1, "supervisors": 0, "workers": 2}
    # Intensity 0: the first counted restart is one too many.
    assert down_of(sup, lambda: crash(ref_of(sup, "p"))) == "shutdown"


def test_intensity_exceeded_stops_children_in_reverse_and_exits_shutdown() -> None:
    log = Mailbox("log")
    sup = new_sup({"intensity": 1, "period": 60}, [spec(n, log) for n in "abcd"])
    events(log, 4)
    crash(ref_of(sup, "b"))
    assert events(log, 2)[1] == ("start", "b")  # one restart is allowed
    children = descendants(sup)
    assert down_of(sup, lambda: crash(ref_of(sup, "b"))) == "shutdown"
    got = events(log, 4)
    assert got[0][:2] == ("stop", "b")
    assert got[1:] == [("stop", n, "shutdown") for n in "dca"]
    assert not any(ref.is_alive() for ref in children)


@pytest.mark.parametrize(("later", "survives"), [(5.0, False), (5.5, True)])
def test_restarts_count_within_the_period(later: float, survives: bool) -> None:
    log = Mailbox("log")
    clock = Clock()
    sup = new_sup({"intensity": 1, "period": 5}, [spec("a", log)], clock=clock)
    events(log, 1)
    box = Mailbox()
    mref = monitor(sup, watcher=box)
    crash(ref_of(sup, "a"))  # restart 1 at t=0 ...
    assert ref_of(sup, "a").is_alive()  # ... handled before the clock moves (an ask is later)
    clock.now = later  # OTP counts a restart still in the period when now =< then + period
    crash(ref_of(sup, "a"))
    if survives:
        assert ref_of(sup, "a").is_alive()  # restarted (an ask to a dead one would raise)
        crash(ref_of(sup, "a"))  # the second restart at t=5.5: too many
    assert box.receive(lambda m: m[1] == mref, WAIT)[4] == "shutdown"


def test_escalation_through_a_nested_supervisor() -> None:
    log = Mailbox("log")
    inner = {"id": "inner", "type": "supervisor",
             "start": (Supervisor.start, ({"intensity": 0}, [spec("w", log)]))}
    top = new_sup({"intensity": 1, "period": 60}, [spec("peer", log), inner])
    events(log, 2)
    peer, first = ref_of(top, "peer"), ref_of(top, "inner")
    assert down_of(first, lambda: crash(ref_of(first, "w"))) == "shutdown"  # inner gave up
    got = events(log, 2)
    assert got[0][:2] == ("stop", "w") and got[1] == ("start", "w")  # top restarted inner
    second = ref_of(top, "inner")
    assert second is not first and ref_of(top, "peer") is peer
    # Once more within top's period: top gives up too, and tells whoever watches it.
    exc = Boom()
    assert down_of(top, lambda: crash(ref_of(second, "w"), exc)) == "shutdown"
    assert events(log, 2) == [("stop", "w", exc), ("stop", "peer", "shutdown")]
    assert not second.is_alive() and not peer.is_alive()


def test_a_failed_restart_is_tried_again_and_counted() -> None:
    log = Mailbox("log")
    outcomes = ["ok", "fail", "fail", "ok"]

    def flaky() -> Any:
        if outcomes.pop(0) == "fail":
            raise Boom("not now")
        return Worker.start("a", log)

    sup = new_sup({"intensity": 3, "period": 60}, [{"id": "a", "start": (flaky, ())}])
    events(log, 1)
    exc = Boom()
    crash(ref_of(sup, "a"), exc)
    assert events(log, 2) == [("stop", "a", exc), ("start", "a")]  # after two failed starts
    assert outcomes == [] and ref_of(sup, "a").is_alive()
    # Three restarts are spent: the next crash is the fourth.
    assert down_of(sup, lambda: crash(ref_of(sup, "a"))) == "shutdown"


def test_a_restart_that_failed_shows_as_restarting() -> None:
    log, busy, release = Mailbox("log"), threading.Event(), threading.Event()
    calls: list[int] = []

    def flaky() -> Any:  # runs in the supervisor's thread
        calls.append(1)
        if len(calls) == 2:
            raise Boom("not now")
        if len(calls) == 3:  # holds the supervisor while the test queues its questions
            busy.set()
            release.wait(WAIT)
            raise Boom("not yet")
        return Worker.start("a", log)

    sup = new_sup({"intensity": 5, "period": 60}, [{"id": "a", "start": (flaky, ())}])
    events(log, 1)
    exc = Boom()
    crash(ref_of(sup, "a"), exc)
    assert busy.wait(WAIT)
    # White-box: requests queued without blocking, surely ahead of the next try_again.
    names = [("which_children", ()), ("restart_child", ("a",)), ("delete_child", ("a",)),
             ("count_children", ())]
    asks = [sup.ask(_Call(name, args), block=False) for name, args in names]
    release.set()
    kids, restarted, deleted, counts = (ask.get(timeout=WAIT) for ask in asks)
    assert kids[0][:2] == ("a", "restarting")  # OTP's which_children shows it so
    assert restarted == deleted == ("error", "restarting")
    assert counts["active"] == 0
    assert events(log, 2) == [("stop", "a", exc), ("start", "a")]  # the fourth call
    assert len(calls) == 4 and ref_of(sup, "a").is_alive()
    stop_tree(sup)


# -- significant children and auto_shutdown (OTP 24) --------------------------------------


@pytest.mark.parametrize(
    ("restart", "reason", "shuts_down"),
    [("transient", "normal", True), ("transient", ("shutdown", "done"), True),
     ("transient", "boom", False), ("temporary", "normal", True), ("temporary", "boom", True)],
)
def test_any_significant(restart: str, reason: object, shuts_down: bool) -> None:
    log = Mailbox("log")
    children = [spec("a", log), spec("s", log, restart=restart, significant=True),
                spec("c", log)]
    sup = new_sup({"auto_shutdown": "any_significant", "intensity": 5}, children)
    events(log, 3)
    s = ref_of(sup, "s")
    box = Mailbox()
    mref = monitor(sup, watcher=box)
    assert down_of(s, lambda: s.tell(("exit", reason))) == reason
    assert events(log, 1) == [("stop", "s", reason)]
    if shuts_down:  # OTP: the supervisor exits shutdown, children in reverse order
        assert box.receive(lambda m: m[1] == mref, WAIT)[4] == "shutdown"
        assert events(log, 2) == [("stop", "c", "shutdown"), ("stop", "a", "shutdown")]
    else:  # a transient child's crash is restarted, and restarted is not ended
        assert events(log, 1) == [("start", "s")] and ref_of(sup, "s").is_alive()
        stop_tree(sup)


def test_all_significant_waits_for_the_last_significant_child() -> None:
    log = Mailbox("log")
    children = [spec("s1", log, restart="transient", significant=True),
                spec("s2", log, restart="temporary", significant=True),
                spec("n", log, restart="transient")]
    sup = new_sup({"auto_shutdown": "all_significant"}, children)
    events(log, 3)
    for name in ("n", "s1"):  # not significant, then one of two
        ref = ref_of(sup, name)
        down_of(ref, lambda ref=ref: ref.tell(("exit", "normal")))
    assert [(c[0], c[1] is None) for c in which_children(sup)] == [
        ("n", True), ("s2", False), ("s1", True)]  # the supervisor is still there
    s2 = ref_of(sup, "s2")
    assert down_of(sup, lambda: s2.tell(("exit", "normal"))) == "shutdown"
    assert events(log, 3) == [("stop", n, "normal") for n in ("n", "s1", "s2")]


def test_auto_shutdown_ignores_children_the_supervisor_stops() -> None:
    log = Mailbox("log")
    children = [spec("t", log, restart="temporary", significant=True),
                spec("s", log, restart="transient", significant=True), spec("p", log)]
    flags = {"strategy": "one_for_all", "auto_shutdown": "any_significant", "intensity": 5}
    sup = new_sup(flags, children)
    events(log, 3)
    crash(ref_of(sup, "p"))  # the group restart stops t (dropped) and s
    got = events(log, 5)
    assert got[1:] == [("stop", "s", "shutdown"), ("stop", "t", "shutdown"),
                       ("start", "s"), ("start", "p")]
    assert terminate_child(sup, "s") == "ok"
    assert events(log, 1) == [("stop", "s", "shutdown")]
    assert [c[:2] for c in which_children(sup)] == [("p", ref_of(sup, "p")), ("s", None)]
    stop_tree(sup)
    assert events(log, 1) == [("stop", "p", "shutdown")]


def test_start_child_checks_significant_against_the_flags() -> None:
    log = Mailbox("log")
    never = new_sup({}, [])
    with pytest.raises(ValueError, match=r"^significant"):  # OTP's bad_combination
        start_child(never, spec("s", log, restart="transient", significant=True))
    assert which_children(never) == []
    stop_tree(never)
    sup = new_sup({"auto_shutdown": "any_significant"}, [])
    with pytest.raises(ValueError, match=r"^significant"):
        start_child(sup, spec("s", log, significant=True))  # permanent
    assert start_child(sup, spec("s", log, restart="temporary", significant=True))[0] == "ok"
    assert events(log, 1) == [("start", "s")]
    s = ref_of(sup, "s")
    assert down_of(sup, lambda: s.tell(("exit", "normal"))) == "shutdown"
    assert events(log, 1) == [("stop", "s", "normal")]


# -- stopping children ----------------------------------------------------------------------


def test_shutdown_timeout_falls_back_and_moves_on() -> None:
    log, gate = Mailbox("log"), threading.Event()
    try:
        stubborn = {"id": "s", "start": (Worker.start, ("s", log, gate)), "shutdown": 100}
        sup = new_sup({"intensity": 0}, [spec("a", log), stubborn, spec("c", log)])
        events(log, 3)
        s = ref_of(sup, "s")
        assert terminate_child(sup, "s", timeout=WAIT) == "ok"  # returned while s still blocks
        assert events(log, 1) == [("stopping", "s")] and not gate.is_set()
        assert which_children(sup)[1][:2] == ("s", None)
        assert down_of(s, gate.set) == "shutdown"
        assert events(log, 1) == [("stop", "s", "shutdown")]
        # Its late EXIT was neither a crash (intensity 0) nor a restart.
        assert which_children(sup)[1][:2] == ("s", None) and log.messages() == []
        gate.clear()
        assert restart_child(sup, "s")[0] == "ok"
        events(log, 1)
        sup.stop(timeout=WAIT)  # c, then s (given up on after 100 ms), then a
        assert events(log, 3) == [("stop", "c", "shutdown"), ("stopping", "s"),
                                  ("stop", "a", "shutdown")]
    finally:
        gate.set()
    assert events(log, 1) == [("stop", "s", "shutdown")]


def test_infinity_waits_for_the_clean_up() -> None:
    log, gate, answers = Mailbox("log"), threading.Event(), Mailbox("answers")
    sup = new_sup({}, [{"id": "s", "start": (Worker.start, ("s", log, gate)),
                        "shutdown": "infinity"}])
    events(log, 1)
    caller = threading.Thread(target=lambda: answers.send(terminate_child(sup, "s")))
    try:
        caller.start()
        assert events(log, 1) == [("stopping", "s")]
        # The one timed wait in this file: it proves an absence, never a speed.
        with pytest.raises(TimeoutError):
            answers.receive(timeout=0.3)
    finally:
        gate.set()
    assert answers.receive(timeout=WAIT) == "ok"
    assert events(log, 1) == [("stop", "s", "shutdown")]
    caller.join(WAIT)
    stop_tree(sup)


def test_brutal_kill_and_timed_shutdown_reasons() -> None:
    log = Mailbox("log")
    children = [spec("k", log, shutdown="brutal_kill"), spec("t", log, shutdown=1000),
                {"id": "p", "start": (Plain.start, ("p", log)), "shutdown": "brutal_kill"}]
    sup = new_sup({}, children)
    events(log, 3)
    assert terminate_child(sup, "k") == "ok"
    assert terminate_child(sup, "t") == "ok"
    assert terminate_child(sup, "p") == "ok"
    assert events(log, 3) == [("stop", "k", "killed"), ("stop", "t", "shutdown"), ("stop", "p")]
    assert count_children(sup)["active"] == 0
    stop_tree(sup)


def test_a_child_that_dies_while_being_stopped_is_not_restarted() -> None:
    log, busy, release = Mailbox("log"), threading.Event(), threading.Event()

    def slow_start() -> Any:  # runs in the supervisor's thread: keeps it busy
        busy.set()
        release.wait(WAIT)
        return Worker.start("slow", log)

    sup = new_sup({"intensity": 0}, [spec("a", log)])
    events(log, 1)
    a = ref_of(sup, "a")
    starting = threading.Thread(
        target=start_child, args=(sup, {"id": "b", "start": (slow_start, ())}))
    starting.start()
    assert busy.wait(WAIT)
    # White-box: terminate_child's own request, queued without blocking, so that it is
    # surely ahead of a's EXIT (one thread's messages keep their order).
    stopping = sup.ask(_Call("terminate_child", ("a",)), block=False)
    exc = Boom()
    assert crash(a, exc) is exc
    release.set()
    assert stopping.get(timeout=WAIT) == "ok"
    starting.join(WAIT)
    assert which_children(sup)[1][:2] == ("a", None)  # not restarted, not counted
    assert events(log, 2) == [("stop", "a", exc), ("start", "slow")]
    stop_tree(sup)


# -- start failures ---------------------------------------------------------------------------

NO = Boom("no")


def _raises() -> Any:
    raise NO


@pytest.mark.parametrize(
    ("start", "reason"),
    [
        ((_raises, ()), NO),
        ((lambda: "not an actor", ()), ("bad_return", "not an actor")),
        ((BadInit.start, (NO,)), NO),  # OTP's start_link waits for init: so does gunpy
    ],
    ids=["raises", "bad_return", "init_fails"],
)
def test_a_child_that_fails_to_start_fails_the_supervisor(start: Any, reason: object) -> None:
    log = Mailbox("log")
    children = [spec("a", log), spec("b", log), {"id": "bad", "start": start}, spec("c", log)]
    sup = new_sup({}, children)
    assert down_of(sup, lambda: None) == ("shutdown", ("failed_to_start_child", "bad", reason))
    assert events(log, 4) == [("start", "a"), ("start", "b"), ("stop", "b", "shutdown"),
                              ("stop", "a", "shutdown")]  # c never started
    assert log.messages() == []


def test_a_nested_supervisor_that_fails_to_start_fails_its_parent() -> None:
    log = Mailbox("log")
    inner_children = [spec("w", log), {"id": "bad", "start": (_raises, ())}]
    inner: dict[str, Any] = {"id": "inner", "type": "supervisor",
             "start": (Supervisor.start, ({}, inner_children))}
    top = new_sup({"intensity": 10}, [spec("peer", log), inner])
    inner_reason = ("shutdown", ("failed_to_start_child", "bad", NO))
    assert down_of(top, lambda: None) == ("shutdown", ("failed_to_start_child", "inner",
                                                       inner_reason))
    assert events(log, 4) == [("start", "peer"), ("start", "w"), ("stop", "w", "shutdown"),
                              ("stop", "peer", "shutdown")]


# -- OTP's module functions -----------------------------------------------------------------


def test_module_functions() -> None:
    log = Mailbox("log")
    sup = new_sup({}, [spec("a", log)])
    events(log, 1)
    ok, b = start_child(sup, spec("b", log))
    assert ok == "ok" and b.is_alive() and events(log, 1) == [("start", "b")]
    assert start_child(sup, spec("b", log)) == ("error", ("already_started", b))
    assert start_child(sup, {"id": "x", "start": (_raises, ())}) == ("error", NO)
    not_a_spec = ("not", "a spec")
    assert start_child(sup, not_a_spec) == ("error", ("invalid_child_spec", not_a_spec))
    with pytest.raises(ValueError, match=r"^restart"):
        start_child(sup, spec("y", log, restart="often"))
    sub: dict[str, Any] = {"id": "sub", "type": "supervisor", "start": (Supervisor.start, ({}, []))}
    assert start_child(sup, sub)[0] == "ok"
    assert which_children(sup) == [  # newest first, as OTP
        ("sub", ref_of(sup, "sub"), "supervisor", ["Supervisor.start"]),
        ("b", b, "worker", ["Worker.start"]),
        ("a", ref_of(sup, "a"), "worker", ["Worker.start"]),
    ]
    assert count_children(sup) == {"specs": 3, "active": 3, "supervisors": 1, "workers": 2}
    assert restart_child(sup, "b") == ("error", "running")
    assert delete_child(sup, "b") == ("error", "running")
    assert terminate_child(sup, b) == "ok"  # by ref works too
    assert events(log, 1) == [("stop", "b", "shutdown")]
    assert terminate_child(sup, "b") == "ok"  # already stopped
    assert start_child(sup, spec("b", log)) == ("error", "already_present")  # OTP's term
    assert count_children(sup) == {"specs": 3, "active": 2, "supervisors": 1, "workers": 2}
    ok, b2 = restart_child(sup, "b")
    assert ok == "ok" and b2 is not b and events(log, 1) == [("start", "b")]
    assert terminate_child(sup, "b") == "ok" and delete_child(sup, "b") == "ok"
    events(log, 1)
    for call in (terminate_child, restart_child, delete_child):
        assert call(sup, "nope") == ("error", "not_found")
    assert start_child(sup, spec("t", log, restart="temporary"))[0] == "ok"
    assert terminate_child(sup, "t") == "ok"  # a temporary child's spec goes with it
    assert [c[0] for c in which_children(sup)] == ["sub", "a"]
    events(log, 2)
    stop_tree(sup)
    assert events(log, 1) == [("stop", "a", "shutdown")]


def test_which_children_lists_newest_first() -> None:
    log = Mailbox("log")
    sup = new_sup({}, [spec(n, log) for n in "abc"])
    events(log, 3)
    assert start_child(sup, spec("d", log))[0] == "ok"
    events(log, 1)
    crash(ref_of(sup, "b"))
    events(log, 2)
    assert [c[0] for c in which_children(sup)] == ["d", "c", "b", "a"]  # b keeps its place
    stop_tree(sup)
    assert [e[1] for e in events(log, 4)] == ["d", "c", "b", "a"]  # reverse start order


def test_the_supervisor_cannot_call_itself() -> None:
    log, sups = Mailbox("log"), list[Ref]()

    def calls_its_supervisor() -> Any:  # start callables run in the supervisor's thread
        return which_children(sups[0], timeout=WAIT)

    sup = new_sup({}, [])
    sups.append(sup)
    result = start_child(sup, {"id": "x", "start": (calls_its_supervisor, ())})
    assert result[0] == "error" and isinstance(result[1], RuntimeError)
    assert which_children(sup) == [] and log.messages() == []
    stop_tree(sup)


# -- links and plain pykka children ---------------------------------------------------------


@pytest.mark.parametrize("reason", ["normal", Boom("parent")])
def test_a_linked_process_that_is_not_a_child_is_the_parent(reason: object) -> None:
    log = Mailbox("log")
    parent = Worker.start("parent", log)
    sup = new_sup({}, [spec("a", log)])
    link(parent, sup)
    events(log, 2)
    down_of(parent, lambda: parent.tell(("exit", reason)))
    assert events(log, 1) == [("stop", "parent", reason)]
    if reason == "normal":  # spares a linked process, as in Erlang
        assert [c[0] for c in which_children(sup)] == ["a"]
        stop_tree(sup)
    else:  # OTP: a supervisor dies with its parent, children first
        assert down_of(sup, lambda: None) is reason
    assert events(log, 1) == [("stop", "a", "shutdown")]


def test_plain_pykka_children_are_seen_to_exit_normal() -> None:
    log = Mailbox("log")
    children = [{"id": "p", "start": (Plain.start, ("p", log))},
                {"id": "t", "start": (Plain.start, ("t", log)), "restart": "transient"}]
    sup = new_sup({}, children)
    assert events(log, 2) == [("start", "p"), ("start", "t")]
    p, t = ref_of(sup, "p"), ref_of(sup, "t")
    assert down_of(p, lambda: p.tell("crash")) == "normal"  # the crash cannot be seen
    assert events(log, 1) == [("start", "p")]  # permanent: restarted all the same
    assert down_of(t, lambda: t.tell("crash")) == "normal"
    assert which_children(sup)[0][:2] == ("t", None)  # transient: not restarted
    stop_tree(sup)
    assert events(log, 1) == [("stop", "p")]


# -- Gun's tree --------------------------------------------------------------------------------


def test_gun_connections_live_under_gun_conns_sup(echo_server: EchoServer) -> None:
    conn = gun.open("127.0.0.1", echo_server.port, {"retry": 0})
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    children = [ref for _, ref, _, _ in which_children(gun_conns_sup())]
    assert conn.actor_ref in children
    unsupervised = gun.open("127.0.0.1", echo_server.port, {"retry": 0, "supervise": False})
    assert gun.await_up(unsupervised, WAIT) == ("ok", "http")
    assert unsupervised.actor_ref not in [r for _, r, _, _ in which_children(gun_conns_sup())]
    gun.close(conn)  # terminate_child, as Gun
    gun.close(unsupervised)  # Gun cannot; gunpy can
    refs = [conn.actor_ref, unsupervised.actor_ref]
    assert all(ref is not None and not ref.is_alive() for ref in refs)
    assert conn.actor_ref not in [r for _, r, _, _ in which_children(gun_conns_sup())]
