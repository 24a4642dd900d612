"""A Mailbox that owns one connection reads its socket in the thread waiting in receive.

(`gunpy.actors.gun._owner_reads`.) Each test sees who read by the thread a
function ``reply_to`` is called in: it forwards every message to the
owner's mailbox and records the thread's name. Real peers only (the
``websockets`` server, with TLS from trustme); no test asserts a duration.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import pykka
import pytest

from gunpy.actors import Mailbox, gun
from gunpy.actors._io_loop import READ, io_loop
from gunpy.actors._mailbox import SELF_SERVE
from gunpy.actors.gun._io import SocketIO
from tests.helpers import WAIT, open_ws, tagged
from tests.peers import EchoServer, LeakCheck, wait_for

pytestmark = pytest.mark.skipif(not SELF_SERVE, reason="owner reads need os.eventfd (Linux)")

LOOP_THREAD = "gunpy-runtime-io"


def recording(box: Mailbox, threads: list[str]) -> Callable[[Any], None]:
    """A reply_to that records the delivering thread, then forwards to ``box``."""

    def reply(message: Any) -> None:
        threads.append(threading.current_thread().name)
        box.send(message)

    return reply


def live_io(conn: Any) -> SocketIO:
    io = conn._channel.io
    assert io is not None
    return io


def watched_for_reading(io: SocketIO) -> bool:
    """Whether the I/O loop's selector watches the connection's socket for reading."""
    selector = io_loop._selector
    assert selector is not None and io.sock is not None
    try:
        return bool(selector.get_key(io.sock).events & READ)
    except KeyError:
        return False


def in_thread(action: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=action, name="test-helper")
    thread.start()
    return thread


def test_the_waiting_owner_reads_its_one_connection_and_gives_it_back(
    echo_server: EchoServer, leak_check: LeakCheck
) -> None:
    box, threads = Mailbox.current(), []
    conn, ref, _ = open_ws(echo_server.port, ws_opts={"reply_to": recording(box, threads)})
    io = live_io(conn)
    assert box.self_served
    seen: list[bool] = []

    def while_owner_waits() -> None:
        wait_for(lambda: io.engaged)
        seen.append(watched_for_reading(io))
        gun.ws_send(conn, ref, ("text", "echo me"))  # the echo comes while the owner waits

    thread = in_thread(while_owner_waits)
    message = box.receive(tagged("gun_ws", conn), WAIT)
    thread.join(WAIT)
    assert message == ("gun_ws", conn, ref, ("text", "echo me"))
    assert seen == [False]  # the loop did not watch it: only this thread could read it
    assert threads[-1] == threading.current_thread().name
    # Given back once receive returned (a moment later: the thread may wait again).
    wait_for(lambda: not io.engaged and watched_for_reading(io))
    gun.close(conn)
    echo_server.stop()
    leak_check.assert_clean()  # the socket, and the mailbox's eventfd with it


def test_the_loop_takes_the_socket_back_while_the_owner_does_something_else(
    echo_server: EchoServer,
) -> None:
    box, threads = Mailbox.current(), []
    conn, ref, _ = open_ws(echo_server.port, ws_opts={"reply_to": recording(box, threads)})
    gun.ws_send(conn, ref, ("text", "one"))
    assert box.receive(tagged("gun_ws", conn), WAIT)[3] == ("text", "one")
    gun.ws_send(conn, ref, ("text", "two"))
    # Not in receive now: the loop reads the echo (once the thread's moment has passed).
    wait_for(lambda: len(box) == 1)
    assert threads[-1] == LOOP_THREAD
    assert box.receive(tagged("gun_ws", conn), WAIT)[3] == ("text", "two")
    gun.close(conn)


def test_a_mailbox_owning_two_connections_sleeps_and_the_loop_reads(
    echo_server: EchoServer,
) -> None:
    box, threads = Mailbox.current(), []
    opened = [open_ws(echo_server.port, ws_opts={"reply_to": recording(box, threads)})
              for _ in range(2)]
    assert not box.self_served
    threads.clear()  # the first upgrade was read while the box had one connection
    for conn, ref, _ in opened:
        gun.ws_send(conn, ref, ("text", "hi"))
    for conn, ref, _ in opened:
        assert box.receive(tagged("gun_ws", conn), WAIT) == ("gun_ws", conn, ref, ("text", "hi"))
        assert not live_io(conn).engaged
    assert set(threads) == {LOOP_THREAD}
    for conn, _, _ in opened:
        gun.close(conn)
    assert not box.self_served  # both detached


def test_frames_keep_their_order_while_the_loop_and_the_owner_take_turns_reading() -> None:
    count = 3000

    def numbered(ws: Any) -> None:
        ws.recv()
        for i in range(count):
            ws.send(str(i))
        ws.recv()

    server = EchoServer(handler=numbered)
    try:
        box, threads = Mailbox.current(), []
        conn, ref, _ = open_ws(server.port, ws_opts={"reply_to": recording(box, threads)})
        gun.ws_send(conn, ref, ("text", "go"))
        for i in range(count):
            message = box.receive(tagged("gun_ws", conn), WAIT)
            assert message[3] == ("text", str(i))
            if i % 100 == 0:
                gun.info(conn)  # the owner is busy elsewhere: the loop reads meanwhile
        gun.close(conn)
    finally:
        server.stop()


def test_closing_from_another_thread_wakes_the_owner_polling_the_socket(
    echo_server: EchoServer, leak_check: LeakCheck
) -> None:
    box = Mailbox.current()
    conn, _, mref = open_ws(echo_server.port)
    io = live_io(conn)

    def close_while_owner_waits() -> None:
        wait_for(lambda: io.engaged)
        gun.close(conn)

    thread = in_thread(close_while_owner_waits)
    down = box.receive(tagged("DOWN", conn), WAIT)
    thread.join(WAIT)
    assert down[1] is mref
    assert not box.self_served
    echo_server.stop()
    leak_check.assert_clean()


def test_the_peer_closing_while_the_owner_reads_gives_the_close_and_gun_down(
    leak_check: LeakCheck,
) -> None:
    def close_after_one(ws: Any) -> None:
        ws.send(ws.recv())
        ws.close(1000, "bye")

    server = EchoServer(handler=close_after_one)
    try:
        box, threads = Mailbox.current(), []
        conn, ref, mref = open_ws(server.port, ws_opts={"reply_to": recording(box, threads)})
        gun.ws_send(conn, ref, ("text", "last"))
        assert box.receive(tagged("gun_ws", conn), WAIT)[3] == ("text", "last")
        assert box.receive(tagged("gun_ws", conn), WAIT)[3] == ("close", 1000, "bye")
        assert box.receive(tagged("gun_down", conn), WAIT)[3] == "normal"
        assert box.receive(tagged("DOWN", conn), WAIT)[1] is mref
        assert not box.self_served
    finally:
        server.stop()
    leak_check.assert_clean()


def test_the_end_of_the_stream_is_read_once_while_the_owner_waits(
    leak_check: LeakCheck,
) -> None:
    # After the peer's FIN the socket stays readable until the loop ends the
    # connection: the owner must not read the EOF again and again meanwhile
    # (it spun, and kept the loop from ending the connection, for milliseconds).
    def echo_then_fin(ws: Any) -> None:
        ws.send(ws.recv())
        ws.socket.shutdown(socket.SHUT_RDWR)

    server = EchoServer(handler=echo_then_fin)
    try:
        box = Mailbox.current()
        conn, ref, mref = open_ws(server.port)
        io = live_io(conn)
        ends: list[str] = []
        take = io._take

        def counting_take(data: bytes, error: OSError | None) -> None:
            if not data:
                ends.append(threading.current_thread().name)
            take(data, error)

        io._take = counting_take  # type: ignore[method-assign]
        gun.ws_send(conn, ref, ("text", "last"))
        assert box.receive(tagged("gun_ws", conn), WAIT)[3] == ("text", "last")
        assert box.receive(tagged("gun_down", conn), WAIT)[0] == "gun_down"
        assert box.receive(tagged("DOWN", conn), WAIT)[1] is mref
        assert len(ends) == 1, ends
    finally:
        server.stop()
    leak_check.assert_clean()


def test_set_owner_moves_the_reading_to_the_new_owner(echo_server: EchoServer) -> None:
    box, other, threads = Mailbox.current(), Mailbox("new-owner"), []
    conn, ref, _ = open_ws(echo_server.port, ws_opts={"reply_to": recording(box, threads)})
    io = live_io(conn)
    gun.set_owner(conn, other)
    wait_for(lambda: other.self_served and not box.self_served)

    def new_owner() -> None:
        other.receive(lambda m: m == "stop", WAIT)

    thread = threading.Thread(target=new_owner, name="new-owner-thread")
    thread.start()
    wait_for(lambda: io.engaged)  # the new owner waits, reading the socket
    gun.ws_send(conn, ref, ("text", "moved"))
    assert box.receive(tagged("gun_ws", conn), WAIT)[3] == ("text", "moved")
    other.send("stop")
    thread.join(WAIT)
    assert threads[-1] == "new-owner-thread"
    gun.close(conn)


def test_tls_is_read_by_the_loop(tls: Any, leak_check: LeakCheck) -> None:
    server_ctx, client_ctx, _ = tls
    server = EchoServer(ssl_context=server_ctx)
    try:
        box, threads = Mailbox.current(), []
        opts = {"transport": "tls", "tls_opts": {"context": client_ctx}}
        conn, ref, _ = open_ws(server.port, opts=opts,
                               ws_opts={"reply_to": recording(box, threads)})
        gun.ws_send(conn, ref, ("text", "secret"))
        assert box.receive(tagged("gun_ws", conn), WAIT)[3] == ("text", "secret")
        assert set(threads) == {LOOP_THREAD}
        assert not live_io(conn).engaged
        gun.close(conn)
    finally:
        server.stop()
    leak_check.assert_clean()


class FrameThreads:
    """An event handler: every callback keeps the state; ``ws_recv_frame_end``
    records the thread it is called in."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def ws_recv_frame_end(self, event: Any, state: Any) -> Any:
        self.threads.append(threading.current_thread().name)
        return state

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda event, state: state


def test_an_event_handler_keeps_the_reading_in_the_loop(echo_server: EchoServer) -> None:
    box, threads, handler = Mailbox.current(), [], FrameThreads()
    conn, ref, _ = open_ws(echo_server.port, opts={"event_handler": (handler, None)},
                           ws_opts={"reply_to": recording(box, threads)})
    assert not box.self_served
    gun.ws_send(conn, ref, ("text", "x"))
    assert box.receive(tagged("gun_ws", conn), WAIT)[3] == ("text", "x")
    assert set(threads) == {LOOP_THREAD} and set(handler.threads) == {LOOP_THREAD}
    gun.close(conn)


class Sink(pykka.ThreadingActor):
    """A pykka owner that keeps what it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[Any] = []

    def on_receive(self, message: Any) -> None:
        self.got.append(message)


def test_set_owner_to_an_actor_while_the_old_owner_reads_gives_the_socket_to_the_loop(
    echo_server: EchoServer,
) -> None:
    box = Mailbox.current()
    conn, ref, _ = open_ws(echo_server.port)  # the stream's reply_to stays this mailbox
    io = live_io(conn)
    sink = Sink.start()
    echoed: list[bool] = []

    def meanwhile() -> None:
        wait_for(lambda: io.engaged)  # this thread's receive below reads the socket
        gun.set_owner(conn, sink)
        wait_for(lambda: not box.self_served)
        for n in (1, 2):  # the second, once the old owner stopped polling for sure
            gun.ws_send(conn, ref, ("text", "still read"))
            wait_for(lambda n=n: sum(m[0] == "gun_ws" for m in box.messages()) == n)
        echoed.append(True)
        box.send("stop")

    thread = in_thread(meanwhile)
    assert box.receive(lambda m: m == "stop", WAIT) == "stop"
    thread.join(WAIT)
    assert echoed == [True]
    for _ in (1, 2):
        assert box.receive(tagged("gun_ws", conn), WAIT)[3] == ("text", "still read")
    gun.close(conn)
    sink.stop()
