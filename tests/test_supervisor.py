"""OTP supervisors against real crashing actors; Gun's own supervision tree."""

from __future__ import annotations

import threading
from typing import Any

import pykka
import pytest

from gunpy.actors import Mailbox, ProcessActor, gun, monitor
from gunpy.supervision import (
    Supervisor,
    count_children,
    delete_child,
    gun_conns_sup,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)
from tests.helpers import WAIT, receive
from tests.peers import EchoServer


class Worker(ProcessActor):
    """Logs its start and stop; crashes or exits on demand."""

    def __init__(self, name: str, log: Mailbox) -> None:
        super().__init__()
        self.name = name
        self.log = log

    def init(self) -> None:
        self.log.send(("start", self.name))

    def handle_message(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError(f"{self.name} crashed")
        if isinstance(message, tuple) and message[0] == "exit":
            self.exit(message[1])
        return None

    def terminate(self, reason: object) -> None:
        self.log.send(("stop", self.name, reason))


class Stubborn(Worker):
    """Blocks in terminate until released: tests the shutdown timeout."""

    release = threading.Event()

    def terminate(self, reason: object) -> None:
        self.release.wait(WAIT)
        super().terminate(reason)


def spec(name: str, log: Mailbox, **extra: Any) -> dict[str, Any]:
    return {"id": name, "start": (Worker.start, (name, log)), **extra}


def ref_of(sup: pykka.ActorRef[Any], name: str) -> Any:
    return next(ref for child_id, ref, _, _ in which_children(sup) if child_id == name)


def events(log: Mailbox, n: int) -> list[tuple[Any, ...]]:
    return [log.receive(timeout=WAIT) for _ in range(n)]


def test_flags_and_specs_are_checked_in_the_caller() -> None:
    with pytest.raises(ValueError, match="strategy"):
        Supervisor.start({"strategy": "one_for_none"}, [])
    with pytest.raises(ValueError, match="restart"):
        Supervisor.start({}, [{"id": "a", "start": (Worker.start, ()), "restart": "sometimes"}])
    with pytest.raises(ValueError, match="unknown"):
        Supervisor.start({"intensty": 1}, [])


def test_one_for_one_restarts_only_the_crashed_child() -> None:
    log = Mailbox("log")
    sup = Supervisor.start({}, [spec("a", log), spec("b", log)])
    assert events(log, 2) == [("start", "a"), ("start", "b")]
    old_a = ref_of(sup, "a")
    old_a.tell("crash")
    assert log.receive(timeout=WAIT)[:2] == ("stop", "a")  # its terminate, with the crash
    assert log.receive(timeout=WAIT) == ("start", "a")
    assert ref_of(sup, "a") is not old_a and ref_of(sup, "b").is_alive()
    assert log.messages() == []  # b was neither stopped nor restarted
    sup.stop()
    assert [e[:2] for e in events(log, 2)] == [("stop", "b"), ("stop", "a")]  # reverse order


def test_one_for_all_restarts_everyone() -> None:
    log = Mailbox("log")
    sup = Supervisor.start({"strategy": "one_for_all"}, [spec(n, log) for n in "abc"])
    events(log, 3)
    ref_of(sup, "b").tell("crash")
    got = events(log, 6)
    assert got[0][:2] == ("stop", "b")  # b's own crash, in its terminate
    assert [e[:2] for e in got[1:3]] == [("stop", "c"), ("stop", "a")]
    assert got[3:] == [("start", "a"), ("start", "b"), ("start", "c")]
    sup.stop()


def test_rest_for_one_restarts_the_later_children() -> None:
    log = Mailbox("log")
    sup = Supervisor.start({"strategy": "rest_for_one"}, [spec(n, log) for n in "abc"])
    events(log, 3)
    ref_of(sup, "b").tell("crash")
    got = events(log, 4)
    assert [e[:2] for e in got[:2]] == [("stop", "b"), ("stop", "c")]
    assert got[2:] == [("start", "b"), ("start", "c")]
    assert log.messages() == []  # a untouched
    sup.stop()


@pytest.mark.parametrize(
    ("restart", "reason", "restarted"),
    [
        ("permanent", "normal", True),
        ("permanent", "boom", True),
        ("transient", "normal", False),
        ("transient", ("shutdown", "x"), False),
        ("transient", "boom", True),
        ("temporary", "boom", False),
    ],
)
def test_restart_types(restart: str, reason: object, restarted: bool) -> None:
    log = Mailbox("log")
    sup = Supervisor.start({"intensity": 5}, [spec("a", log, restart=restart), spec("z", log)])
    events(log, 2)
    ref_of(sup, "a").tell(("exit", reason))
    assert log.receive(timeout=WAIT) == ("stop", "a", reason)
    # z's restart proves the supervisor has handled a's exit before we look.
    ref_of(sup, "z").tell("crash")
    assert log.receive(lambda m: m == ("start", "z"), WAIT)
    starts = [m for m in log.flush() if m == ("start", "a")]
    assert bool(starts) is restarted
    ids = [child_id for child_id, _, _, _ in which_children(sup)]
    assert ("a" in ids) is (restart != "temporary")
    sup.stop()


def test_intensity_exceeded_stops_children_in_reverse_and_exits_shutdown() -> None:
    log = Mailbox("log")
    sup = Supervisor.start({"intensity": 1, "period": 60}, [spec("a", log), spec("b", log)])
    watch = monitor(sup)
    events(log, 2)
    ref_of(sup, "b").tell("crash")
    assert events(log, 2)[1] == ("start", "b")  # first restart: allowed
    ref_of(sup, "b").tell("crash")  # second within the period: too many
    got = events(log, 2)
    assert got[0][:2] == ("stop", "b") and got[1] == ("stop", "a", "shutdown")
    assert receive("DOWN")[1:] == (watch, "process", sup, "shutdown")


def test_escalation_through_a_nested_supervisor() -> None:
    log = Mailbox("log")
    inner = {"id": "inner", "type": "supervisor",
             "start": (Supervisor.start, ({"intensity": 0}, [spec("w", log)]))}
    top = Supervisor.start({"intensity": 3, "period": 60}, [inner, spec("peer", log)])
    events(log, 2)
    inner_ref = ref_of(top, "inner")
    ref_of(inner_ref, "w").tell("crash")  # intensity 0: inner gives up at once
    got = events(log, 2)
    assert got[0][:2] == ("stop", "w") and got[1] == ("start", "w")  # restarted by top
    assert ref_of(top, "inner") is not inner_ref
    top.stop()


def test_shutdown_timeout_falls_back_and_brutal_kill() -> None:
    log = Mailbox("log")
    Stubborn.release.clear()
    stubborn = {"id": "s", "start": (Stubborn.start, ("s", log)), "shutdown": 50}
    brutal = spec("k", log, shutdown="brutal_kill")
    sup = Supervisor.start({}, [stubborn, brutal])
    events(log, 2)
    assert terminate_child(sup, "k") == "ok"
    assert log.receive(timeout=WAIT) == ("stop", "k", "killed")
    assert terminate_child(sup, "s") == "ok"  # returned although s still blocks
    assert log.messages() == []
    Stubborn.release.set()
    assert log.receive(timeout=WAIT) == ("stop", "s", "shutdown")
    sup.stop()


def test_a_child_that_fails_to_start_fails_the_supervisor() -> None:
    log = Mailbox("log")
    bad = {"id": "bad", "start": (lambda: "not an actor", ())}
    sup = Supervisor.start({}, [spec("a", log), bad])
    watch = monitor(sup)
    reason = receive("DOWN")[4]
    assert reason == ("shutdown", ("failed_to_start_child", "bad", ("bad_return", "not an actor")))
    assert events(log, 2) == [("start", "a"), ("stop", "a", "shutdown")]
    assert watch


def test_module_functions() -> None:
    log = Mailbox("log")
    sup = Supervisor.start({}, [spec("a", log)])
    events(log, 1)
    result = start_child(sup, spec("b", log))
    assert result[0] == "ok" and result[1].is_alive()
    assert start_child(sup, spec("b", log)) == ("error", ("already_started", result[1]))
    assert count_children(sup) == {"specs": 2, "active": 2, "supervisors": 0, "workers": 2}
    assert restart_child(sup, "b") == ("error", "running")
    assert delete_child(sup, "b") == ("error", "running")
    assert terminate_child(sup, "b") == "ok"
    assert start_child(sup, spec("b", log)) == ("error", ("already_present", "b"))
    assert restart_child(sup, "b")[0] == "ok"
    assert terminate_child(sup, "b") == "ok"
    assert delete_child(sup, "b") == "ok"
    assert terminate_child(sup, "nope") == ("error", "not_found")
    assert [c[0] for c in which_children(sup)] == ["a"]
    sup.stop()


def test_simple_one_for_one() -> None:
    log = Mailbox("log")
    template = {"id": "w", "start": (Worker.start, ()), "restart": "transient"}
    sup = Supervisor.start({"strategy": "simple_one_for_one", "intensity": 5}, [template])
    refs = [start_child(sup, (f"w{i}", log))[1] for i in range(3)]
    assert events(log, 3) == [("start", "w0"), ("start", "w1"), ("start", "w2")]
    refs[1].tell("crash")
    assert log.receive(lambda m: m == ("start", "w1"), WAIT)
    assert [c[0] for c in which_children(sup)] == ["undefined"] * 3
    assert terminate_child(sup, refs[0]) == "ok"
    assert count_children(sup)["active"] == 2
    sup.stop()


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
    assert not conn.actor_ref.is_alive() and not unsupervised.actor_ref.is_alive()
    assert conn.actor_ref not in [r for _, r, _, _ in which_children(gun_conns_sup())]
