"""Faults are features: each network fault and bad input gives the documented outcome.

For each: the exact message the owner gets, the close code sent, every frame
that arrived before the fault delivered in order, nothing left behind.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from gunpy.actors import gun, monitor
from tests.faultproxy import FaultProxy
from tests.helpers import WAIT, exit_reason, open_ws, receive
from tests.peers import (
    EchoServer,
    LeakCheck,
    RawServer,
    encode_server_frame,
    read_client_frame,
    read_http_request,
    send_101,
    upgraded_server,
    wait_for,
)


def _burst(sock: socket.socket) -> None:
    """After the upgrade: 50 numbered frames, then wait for the client to go away."""
    sock.sendall(b"".join(encode_server_frame(0x1, str(i).encode()) for i in range(50)))
    while sock.recv(4096):
        pass


def _expect_burst(conn: Any, ref: Any, upto: int = 50) -> None:
    for i in range(upto):
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", str(i)))


def test_latency_and_drip_deliver_everything_in_order(leak_check: LeakCheck) -> None:
    server = upgraded_server(_burst)
    proxy = FaultProxy(server.port)
    proxy.latency = 0.02
    proxy.drip = True  # every server byte in its own TCP segment
    try:
        conn, ref, _ = open_ws(proxy.port)
        _expect_burst(conn, ref)
        gun.close(conn)
    finally:
        proxy.stop()
        server.stop()
    leak_check.assert_clean()


@pytest.mark.parametrize(
    ("fault", "reason"), [("fin", "closed"), ("rst", ("error", "econnreset"))]
)
def test_connection_cut_after_frames(fault: str, reason: object, leak_check: LeakCheck) -> None:
    server = upgraded_server(_burst)
    proxy = FaultProxy(server.port)
    try:
        conn, ref, _ = open_ws(proxy.port)
        _expect_burst(conn, ref)
        getattr(proxy, fault)()
        assert receive("gun_down", conn)[2:] == ("ws", reason, [ref])
        assert exit_reason(conn) == ("shutdown", reason)
    finally:
        proxy.stop()
        server.stop()
    leak_check.assert_clean()


def test_truncated_frame_delivers_the_whole_frames_before_it(leak_check: LeakCheck) -> None:
    frames = b"".join(encode_server_frame(0x1, str(i).encode() * 3) for i in range(10))

    def script(sock: socket.socket) -> None:
        read_client_frame(sock)  # "go": the proxy's budget is set by then
        sock.sendall(frames)
        while sock.recv(4096):
            pass

    server = upgraded_server(script)
    proxy = FaultProxy(server.port)
    try:
        conn, ref, _ = open_ws(proxy.port)
        cut = len(frames) - 2  # the last frame loses its last 2 bytes
        proxy.truncate_after(cut)
        gun.ws_send(conn, ref, ("text", "go"))
        for i in range(9):
            assert gun.await_(conn, ref, WAIT) == ("ws", ("text", str(i) * 3))
        assert receive("gun_down", conn)[2:] == ("ws", "closed", [ref])
    finally:
        proxy.stop()
        server.stop()
    leak_check.assert_clean()


def test_stalled_server_is_detected_with_keepalive_timeout(leak_check: LeakCheck) -> None:
    server = EchoServer()
    proxy = FaultProxy(server.port)
    try:
        opts = {"ws_opts": {"keepalive": 20, "keepalive_timeout": 200}}
        conn, ref, _ = open_ws(proxy.port, opts=opts)
        gun.ws_send(conn, ref, ("text", "before the stall"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "before the stall"))
        proxy.stall()
        assert receive("gun_down", conn)[2:] == ("ws", "timeout", [ref])
        assert exit_reason(conn) == ("shutdown", "timeout")
    finally:
        proxy.stop()
        server.stop()
    leak_check.assert_clean()


def test_stalled_server_and_shutdown_end_at_closing_timeout(leak_check: LeakCheck) -> None:
    server = EchoServer()
    proxy = FaultProxy(server.port)
    try:
        conn, _, _ = open_ws(proxy.port, ws_opts={"closing_timeout": 100})
        proxy.stall()
        gun.shutdown(conn)
        assert exit_reason(conn) == "shutdown"
    finally:
        proxy.stop()
        server.stop()
    leak_check.assert_clean()


def test_injected_garbage_closes_with_1002_after_the_good_frames(leak_check: LeakCheck) -> None:
    server = EchoServer()
    proxy = FaultProxy(server.port)
    try:
        conn, ref, _ = open_ws(proxy.port)
        gun.ws_send(conn, ref, ("text", "good"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "good"))
        proxy.inject(encode_server_frame(0x1, b"fine") + encode_server_frame(0xB, b""))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "fine"))
        result = gun.await_(conn, ref, WAIT)
        assert result[1][1][:2] == ("protocol_error", 1002)
        wait_for(lambda: server.close_codes != [])
        assert server.close_codes[-1][0] == 1002  # the real server behind saw our close
        assert exit_reason(conn) == "normal"
    finally:
        proxy.stop()
        server.stop()
    leak_check.assert_clean()


def test_refused_new_connection(leak_check: LeakCheck) -> None:
    server = EchoServer()
    proxy = FaultProxy(server.port)
    try:
        proxy.refuse_new()
        conn = gun.open("127.0.0.1", proxy.port, {"retry": 0})
        assert gun.await_up(conn, WAIT) == ("error", ("down", ("shutdown", "econnrefused")))
    finally:
        proxy.stop()
        server.stop()
    leak_check.assert_clean()


# -- bad handshakes ----------------------------------------------------------------


def _handshake_server(answer: Callable[[socket.socket, str], None]) -> RawServer:
    def handler(sock: socket.socket) -> None:
        _, headers = read_http_request(sock)
        answer(sock, dict(headers)["sec-websocket-key"])
        while sock.recv(4096):
            pass

    return RawServer(handler)


BAD_HANDSHAKES: dict[str, Callable[[socket.socket, str], None]] = {
    "wrong_accept": lambda sock, key: send_101(sock, key, accept="d3Jvbmc="),
    "garbage": lambda sock, key: sock.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n"),
    "no_upgrade_headers": lambda sock, key: sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: x\r\n\r\n"
    ),
    "unoffered_extension": lambda sock, key: send_101(
        sock, key, [("Sec-WebSocket-Extensions", "permessage-deflate")]
    ),
    "unoffered_subprotocol": lambda sock, key: send_101(
        sock, key, [("Sec-WebSocket-Protocol", "chat")]
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_HANDSHAKES))
def test_bad_handshake(name: str, leak_check: LeakCheck) -> None:
    server = _handshake_server(BAD_HANDSHAKES[name])
    try:
        conn = gun.open("127.0.0.1", server.port, {"retry": 0})
        mref = monitor(conn)
        assert gun.await_up(conn, WAIT) == ("ok", "http")
        ref = gun.ws_upgrade(conn, "/")
        result = gun.await_(conn, ref, WAIT)
        assert result[0] == "error" and result[1][0] == "stream_error"
        assert result[1][1][0] == "handshake_error"
        assert receive("gun_down", conn)[2:] == ("http", "normal", [ref])
        down = receive("DOWN", conn)
        assert (down[1], down[4]) == (mref, "normal")
    finally:
        server.stop()
    leak_check.assert_clean()


def test_oversized_frame_is_refused_without_buffering_it(leak_check: LeakCheck) -> None:
    def script(sock: socket.socket) -> None:
        sock.sendall(encode_server_frame(0x1, b"small"))
        sock.sendall(encode_server_frame(0x2, b"\0" * (2 * 1024 * 1024)))
        frame = read_client_frame(sock)
        sock.sendall(encode_server_frame(0x8, frame[2][:2]))
        while sock.recv(4096):
            pass

    server = upgraded_server(script)
    try:
        conn, ref, _ = open_ws(server.port, ws_opts={"max_frame_size": 1024 * 1024})
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "small"))
        result = gun.await_(conn, ref, WAIT)
        assert result[1][1][:2] == ("protocol_error", 1009)
        assert receive("gun_down", conn)[2:] == ("ws", "normal", [ref])  # no close delivered
        assert exit_reason(conn) == "normal"
    finally:
        server.stop()
    leak_check.assert_clean()
