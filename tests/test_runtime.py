"""The runtime on its own: monitors, links, timers."""

from __future__ import annotations

from typing import Any

from gunpy.actors import Mailbox, ProcessActor, demonitor, link, monitor
from gunpy.actors._scheduler import scheduler


class Proc(ProcessActor):
    def __init__(self, log: Mailbox, trap: bool = False) -> None:
        super().__init__()
        self.log = log
        self.trap_exit = trap

    def handle_message(self, message: Any) -> Any:
        if message == "crash":
            raise ValueError("crashed")
        if isinstance(message, tuple) and message[0] == "exit":
            self.exit(message[1])
        self.log.send(message)
        return None


def test_monitor_reasons_and_demonitor() -> None:
    box = Mailbox.current()
    log = Mailbox("log")
    a, b = Proc.start(log), Proc.start(log)
    ma, mb = monitor(a), monitor(b)
    a.tell("crash")
    down = box.receive(lambda m: m[:2] == ("DOWN", ma), timeout=5)
    assert isinstance(down[4], ValueError) and down[3] is a
    assert demonitor(mb) is True
    b.tell(("exit", ("shutdown", "bye")))
    later = monitor(b)  # after death: at once, with the real reason
    assert box.receive(lambda m: m[:2] == ("DOWN", later), timeout=5)[4] == ("shutdown", "bye")
    assert not any(m[:2] == ("DOWN", mb) for m in box.messages())


def test_links_propagate_abnormal_exits_unless_trapped() -> None:
    box = Mailbox.current()
    log = Mailbox("log")
    a, b, trapper = Proc.start(log), Proc.start(log), Proc.start(log, True)
    link(a, b)
    link(a, trapper)
    mb = monitor(b)
    a.tell("crash")
    assert isinstance(box.receive(lambda m: m[:2] == ("DOWN", mb), timeout=5)[4], ValueError)
    signal = log.receive(lambda m: m[0] == "EXIT", timeout=5)
    assert signal[1] is a and isinstance(signal[2], ValueError)
    assert trapper.is_alive()
    c, d = Proc.start(log), Proc.start(log)
    link(c, d)
    md = monitor(d)
    c.tell(("exit", "normal"))  # "normal" spares a linked process
    d.tell("still here")
    assert log.receive(lambda m: m == "still here", timeout=5)
    assert not any(m[:2] == ("DOWN", md) for m in box.messages())
    trapper.stop()
    d.stop()


def test_timers_run_in_deadline_order_and_cancel() -> None:
    box = Mailbox("timers")
    scheduler.call_later(0.03, box.send, "third")
    scheduler.call_later(0.01, box.send, "first")
    cancelled = scheduler.call_later(0.015, box.send, "cancelled")
    scheduler.call_later(0.02, box.send, "second")
    cancelled.cancel()
    assert [box.receive(timeout=5) for _ in range(3)] == ["first", "second", "third"]


def test_the_exit_reason_outlives_the_actor_object() -> None:
    import gc

    from gunpy.actors import gun
    from tests.peers import ClosedPort

    box = Mailbox.current()
    ref = Proc.start(Mailbox("log"))
    ref.stop()
    gc.collect()
    mref = monitor(ref)
    assert box.receive(lambda m: m[:2] == ("DOWN", mref), timeout=5)[4] == "normal"
    with ClosedPort() as closed:
        conn = gun.open("127.0.0.1", closed.port, {"retry": 0})
        assert gun.await_up(conn, 5)[0] == "error"
    gc.collect()  # the connection's actor object may be gone; its reason is not
    assert gun.await_up(conn, 5) == ("error", ("down", ("shutdown", "econnrefused")))
