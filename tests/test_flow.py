"""Flow control (Gun's flow_SUITE for ws and HTTP/1.1) and dead-peer detection
(ws_opts.keepalive_timeout)."""

from __future__ import annotations

import array
import fcntl
import socket
import termios
import threading
from typing import Any

from gunpy.actors import ConnectionRef, Mailbox, gun
from gunpy.actors.gun._io import RECV_SIZE
from gunpy.protocol import Ref
from tests.aiohttp_peer import AiohttpServer
from tests.helpers import WAIT, exit_reason, open_ws, receive
from tests.peers import (
    LeakCheck,
    encode_server_frame,
    read_client_frame,
    upgraded_server,
    wait_for,
)


def _one_frame_per_request(sock: socket.socket) -> None:
    """Sends one text frame each time the client asks (a client text frame)."""
    n = 0
    while True:
        opcode, _, _ = read_client_frame(sock)
        if opcode != 0x1:
            return
        n += 1
        sock.sendall(encode_server_frame(0x1, str(n).encode()))


def _unread_bytes(sock: socket.socket) -> int:
    """Bytes the kernel holds for ``sock`` that nobody has read yet (FIONREAD)."""
    count = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, count)
    return count[0]


def test_flow_ws() -> None:
    server = upgraded_server(_one_frame_per_request)
    try:
        conn, ref, _ = open_ws(server.port, ws_opts={"flow": 1})
        gun.ws_send(conn, ref, ("text", "more"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "1"))
        # Credit is spent: the reader stops reading the socket. Ask for two more
        # frames; they stay in the kernel until the owner grants credit: the
        # client socket's receive queue fills with them and nothing arrives.
        gun.ws_send(conn, ref, [("text", "more"), ("text", "more")])
        two_frames = 2 * len(encode_server_frame(0x1, b"2"))
        sock = gun.info(conn)["socket"]
        wait_for(lambda: _unread_bytes(sock) >= two_frames)
        assert not [m for m in Mailbox.current().messages() if ref in m]
        gun.update_flow(conn, ref, 2)
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "2"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "3"))
        gun.close(conn)
    finally:
        server.stop()


def test_no_flow_ws() -> None:
    server = upgraded_server(_one_frame_per_request)
    try:
        conn, ref, _ = open_ws(server.port)
        gun.update_flow(conn, ref, 1)  # ignored without ws_opts.flow
        gun.ws_send(conn, ref, [("text", "more")] * 3)
        for n in ("1", "2", "3"):
            assert gun.await_(conn, ref, WAIT) == ("ws", ("text", n))
        gun.close(conn)
    finally:
        server.stop()


def test_flow_keeps_the_owner_queue_bounded_while_the_server_floods(
    leak_check: LeakCheck,
) -> None:
    count, size, credit = 100_000, 1000, 100
    finished = threading.Event()

    def flood(sock: socket.socket) -> None:
        frames = [
            encode_server_frame(0x2, i.to_bytes(4, "big") * (size // 4)) for i in range(count)
        ]
        for start in range(0, count, 1000):
            sock.sendall(b"".join(frames[start : start + 1000]))
        finished.set()
        read_client_frame(sock)

    server = upgraded_server(flood)
    try:
        box = Mailbox.current()
        conn, ref, _ = open_ws(server.port, ws_opts={"flow": credit})
        wait_for(lambda: len(box) >= credit)
        # 100 MB cannot sit in socket buffers: the server is held back by TCP.
        assert not finished.is_set()
        # Credit is checked after each read (Gun's soft limit): one read can complete
        # at most RECV_SIZE bytes of frames beyond the credit.
        bound = credit + RECV_SIZE // size + 1
        received = 0
        while received < count:
            assert len(box) <= bound
            message = box.receive(timeout=WAIT)
            assert message[3] == ("binary", received.to_bytes(4, "big") * (size // 4))
            received += 1
            if received % credit == 0:
                gun.update_flow(conn, ref, credit)
        assert finished.is_set()
        gun.close(conn)
    finally:
        server.stop()
    leak_check.assert_clean()


def test_keepalive_timeout_declares_a_silent_peer_down(leak_check: LeakCheck) -> None:
    """A peer that stops answering without closing TCP is detected."""

    def silent(sock: socket.socket) -> None:
        sock.sendall(encode_server_frame(0x1, b"hello"))
        while sock.recv(4096):  # reads the pings, never answers
            pass

    server = upgraded_server(silent)
    try:
        opts = {"ws_opts": {"keepalive": 20, "keepalive_timeout": 100}}
        conn, ref, _ = open_ws(server.port, opts=opts)
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "hello"))
        assert receive("gun_down", conn)[2:] == ("ws", "timeout", [ref])
        assert exit_reason(conn) == ("shutdown", "timeout")
    finally:
        server.stop()
    leak_check.assert_clean()


def test_keepalive_timeout_spares_a_peer_that_answers_pings() -> None:
    pongs = threading.Semaphore(0)

    def answering(sock: socket.socket) -> None:
        while True:
            opcode, _, payload = read_client_frame(sock)
            if opcode == 0x9:
                sock.sendall(encode_server_frame(0xA, payload))
                pongs.release()
            elif opcode == 0x1:
                sock.sendall(encode_server_frame(0x1, payload))

    server = upgraded_server(answering)
    try:
        opts = {"ws_opts": {"keepalive": 20, "keepalive_timeout": 300}}
        conn, ref, _ = open_ws(server.port, opts=opts)
        for _ in range(40):  # more than two timeout periods' worth of pings and pongs
            assert pongs.acquire(timeout=WAIT)
        gun.ws_send(conn, ref, ("text", "still up"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "still up"))
        gun.close(conn)
    finally:
        server.stop()


# -- HTTP/1.1 (flow_SUITE's flow_http, default_flow_http, no_flow_http) -------------------
#
# Gun's origin is Cowboy's sse_clock_h: a streamed 200 that sends one event a second,
# forever. aiohttp's /chunked?parts=N&gap=MS (chunks "part0 ", "part1 " ...) stands in.
# Gun asserts the silence with ``{error, timeout} = gun:await(.., 3000)``; here no
# assertion waits on a clock: once a gun_data is in, everything gunpy did with the
# bytes of that read has been delivered too (one read, one delivery), so the check
# is that nothing more of the stream is queued, and the parts that come after
# update_flow are exactly the next ones, in order.


def _open(port: int, opts: dict[str, Any] | None = None) -> ConnectionRef:
    conn = gun.open("127.0.0.1", port, {"retry": 0, **(opts or {})})
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    return conn


def _nothing_more_of(ref: Ref) -> bool:
    """True if no message of stream ``ref`` is queued in this thread's mailbox."""
    return not [m for m in Mailbox.current().messages() if type(m) is tuple and ref in m]


def test_flow_http(aiohttp_server: AiohttpServer) -> None:
    conn = _open(aiohttp_server.port)
    ref = gun.get(conn, "/chunked?parts=5", None, {"flow": 1})
    assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 200)
    # Flow 1: one data message, then nothing, because gunpy stops reading.
    assert gun.await_(conn, ref, WAIT) == ("data", "nofin", b"part0 ")
    assert _nothing_more_of(ref)
    # Two more credits: two more data messages, but no more.
    gun.update_flow(conn, ref, 2)
    assert gun.await_(conn, ref, WAIT) == ("data", "nofin", b"part1 ")
    assert gun.await_(conn, ref, WAIT) == ("data", "nofin", b"part2 ")
    assert _nothing_more_of(ref)
    # Not in Gun's case (its stream never ends): enough credit lets the rest come.
    gun.update_flow(conn, ref, 10)
    assert gun.await_body(conn, ref, WAIT) == ("ok", b"part3 part4 ")
    gun.close(conn)


def test_default_flow_http(aiohttp_server: AiohttpServer) -> None:
    # First, http_opts.flow sets the flow of every stream of the connection.
    conn1 = _open(aiohttp_server.port, {"http_opts": {"flow": 1}})
    ref1 = gun.get(conn1, "/chunked?parts=5")
    assert gun.await_(conn1, ref1, WAIT)[:3] == ("response", "nofin", 200)
    assert gun.await_(conn1, ref1, WAIT) == ("data", "nofin", b"part0 ")
    assert _nothing_more_of(ref1)
    gun.close(conn1)
    # Then req_opts.flow overrides it for one request.
    conn2 = _open(aiohttp_server.port, {"http_opts": {"flow": 1}})
    ref2 = gun.get(conn2, "/chunked?parts=5", [], {"flow": 2})
    assert gun.await_(conn2, ref2, WAIT)[:3] == ("response", "nofin", 200)
    assert gun.await_(conn2, ref2, WAIT) == ("data", "nofin", b"part0 ")
    assert gun.await_(conn2, ref2, WAIT) == ("data", "nofin", b"part1 ")
    assert _nothing_more_of(ref2)
    gun.close(conn2)


def test_no_flow_http(aiohttp_server: AiohttpServer) -> None:
    conn = _open(aiohttp_server.port)
    # The parts come 20 ms apart, so most of them come after update_flow: had it
    # given this no-flow stream a flow of 2, the third part would never come.
    ref = gun.get(conn, "/chunked?parts=4&gap=20", [])
    assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 200)
    gun.update_flow(conn, ref, 2)  # ignored: the stream has no flow control
    assert gun.await_(conn, ref, WAIT) == ("data", "nofin", b"part0 ")
    assert gun.await_(conn, ref, WAIT) == ("data", "nofin", b"part1 ")
    assert gun.await_(conn, ref, WAIT) == ("data", "nofin", b"part2 ")
    assert gun.await_body(conn, ref, WAIT) == ("ok", b"part3 ")
    gun.close(conn)
