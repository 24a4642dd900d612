"""Gun's shutdown_SUITE (HTTP/1.1 and WebSocket cases): how a connection ends, and why."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from gunpy.actors import ConnectionRef, Mailbox, gun, monitor
from tests.aiohttp_peer import AiohttpServer
from tests.helpers import WAIT, exit_reason, no_message_about, open_for_pipeline, open_ws, receive
from tests.peers import (
    ClosedPort,
    EchoServer,
    LeakCheck,
    RawServer,
    encode_server_frame,
    read_client_frame,
    read_http_request,
    upgraded_server,
    wait_for,
)

OWNER_EXITS = [("normal", "normal"), ("unexpected", ("shutdown", ("owner_down", "unexpected")))]


def _not_connected(owner: Mailbox | None = None) -> tuple[object, ClosedPort]:
    """A connection waiting to retry (state not_connected) to a refused port."""
    closed = ClosedPort()
    closed.__enter__()
    conn = gun.open("127.0.0.1", closed.port, {"retry": 10, "retry_timeout": 60_000}, owner=owner)
    monitor(conn)
    # The first retry is immediate (10 -> 9 left), the second waits 60 s (8 left).
    wait_for(lambda: gun.info(conn)["retries_left"] == 8)
    assert gun.info(conn)["state_name"] == "not_connected"
    return conn, closed


def test_not_connected_gun_shutdown() -> None:
    conn, closed = _not_connected()
    gun.shutdown(conn)
    assert exit_reason(conn) == "shutdown"
    closed.__exit__(None, None, None)


@pytest.mark.parametrize(("owner_exit", "expected"), OWNER_EXITS, ids=["normal", "error"])
def test_not_connected_owner_down(owner_exit: str, expected: object) -> None:
    owner = Mailbox("owner")
    conn, closed = _not_connected(owner)
    owner.close(owner_exit)
    assert exit_reason(conn) == expected
    assert owner.messages() == []  # no gun_down: the connection was never up
    closed.__exit__(None, None, None)


@pytest.mark.parametrize(("owner_exit", "expected"), OWNER_EXITS, ids=["normal", "error"])
def test_http1_owner_down(echo_server: EchoServer, owner_exit: str, expected: object) -> None:
    owner = Mailbox("owner")
    conn = gun.open("127.0.0.1", echo_server.port, {"retry": 0}, owner=owner)
    monitor(conn)
    assert gun.await_up(conn, WAIT, mailbox=owner) == ("ok", "http")
    owner.close(owner_exit)
    assert exit_reason(conn) == expected


def test_ws_gun_shutdown(echo_server: EchoServer, leak_check: LeakCheck) -> None:
    conn, ref, _ = open_ws(echo_server.port)
    gun.shutdown(conn)
    assert gun.await_(conn, ref, WAIT) == ("ws", ("close", 1001, ""))
    assert exit_reason(conn) == "shutdown"
    assert no_message_about(conn)  # no gun_down after a shutdown
    wait_for(lambda: echo_server.close_codes != [])
    assert echo_server.close_codes[-1][0] == 1001
    leak_check.assert_clean()


def _read_forever(sock: socket.socket) -> None:
    while sock.recv(4096):
        pass


def _silent_after_handshake() -> RawServer:
    """Completes the upgrade, then reads whatever comes and never answers."""
    return upgraded_server(_read_forever)


def test_ws_gun_shutdown_timeout(leak_check: LeakCheck) -> None:
    server = _silent_after_handshake()
    try:
        conn, _, _ = open_ws(server.port, ws_opts={"closing_timeout": 100})
        gun.shutdown(conn)
        assert exit_reason(conn) == "shutdown"
        assert no_message_about(conn)
    finally:
        server.stop()
    leak_check.assert_clean()


@pytest.mark.parametrize(("owner_exit", "expected"), OWNER_EXITS, ids=["normal", "error"])
def test_ws_owner_down(echo_server: EchoServer, owner_exit: str, expected: object) -> None:
    owner = Mailbox("owner")
    conn = gun.open("127.0.0.1", echo_server.port, {"retry": 0}, owner=owner)
    monitor(conn)
    assert gun.await_up(conn, WAIT, mailbox=owner) == ("ok", "http")
    ref = gun.ws_upgrade(conn, "/")
    assert gun.await_(conn, ref, WAIT, mailbox=owner)[0] == "upgrade"
    owner.close(owner_exit)
    assert exit_reason(conn) == expected
    wait_for(lambda: echo_server.close_codes != [])
    assert echo_server.close_codes[-1][0] == 1001


def test_ws_gun_send_close_frame(echo_server: EchoServer) -> None:
    conn, ref, _ = open_ws(echo_server.port)
    gun.ws_send(conn, ref, ("close", 3333, ""))
    assert gun.await_(conn, ref, WAIT) == ("ws", ("close", 3333, ""))
    assert receive("gun_down", conn)[2:] == ("ws", "normal", [ref])
    assert exit_reason(conn) == "normal"


def test_ws_gun_receive_close_frame() -> None:
    def script(sock: socket.socket) -> None:
        sock.sendall(encode_server_frame(0x8, (3333).to_bytes(2, "big")))
        read_client_frame(sock)

    server = upgraded_server(script)
    try:
        conn, ref, _ = open_ws(server.port)
        assert gun.await_(conn, ref, WAIT) == ("ws", ("close", 3333, ""))
        assert receive("gun_down", conn)[2:] == ("ws", "normal", [ref])
        assert exit_reason(conn) == "normal"
    finally:
        server.stop()


@pytest.mark.parametrize("retry", [0, 5], ids=["retry_0", "gun_default_retry"])
def test_closing_gun_shutdown(echo_server: EchoServer, retry: int) -> None:
    conn, ref, _ = open_ws(echo_server.port, opts={"retry": retry})
    gun.ws_send(conn, ref, ("close", 3333, ""))
    gun.shutdown(conn)
    assert gun.await_(conn, ref, WAIT) == ("ws", ("close", 3333, ""))
    assert exit_reason(conn) == "shutdown"
    assert no_message_about(conn)  # neither gun_down nor a reconnect


@pytest.mark.parametrize(("owner_exit", "expected"), OWNER_EXITS, ids=["normal", "error"])
def test_closing_owner_down(owner_exit: str, expected: object) -> None:
    server = _silent_after_handshake()
    try:
        owner = Mailbox("owner")
        conn = gun.open("127.0.0.1", server.port, {"retry": 0}, owner=owner)
        monitor(conn)
        assert gun.await_up(conn, WAIT, mailbox=owner) == ("ok", "http")
        ref = gun.ws_upgrade(conn, "/", None, {"closing_timeout": 100})
        assert gun.await_(conn, ref, WAIT, mailbox=owner)[0] == "upgrade"
        gun.ws_send(conn, ref, "close")
        wait_for(lambda: gun.info(conn)["state_name"] == "closing")
        owner.close(owner_exit)
        assert exit_reason(conn) == expected
    finally:
        server.stop()


@pytest.mark.parametrize("stop", [gun.close, gun.shutdown], ids=["close", "shutdown"])
def test_every_stop_leaves_no_thread_or_socket(
    echo_server: EchoServer, leak_check: LeakCheck, stop: Callable[[object], None]
) -> None:
    for _ in range(5):
        conn, ref, _ = open_ws(echo_server.port)
        gun.ws_send(conn, ref, ("text", "x"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "x"))
        stop(conn)
        assert exit_reason(conn) == "shutdown"
    leak_check.assert_clean()


def test_close_stops_at_once_without_messages(echo_server: EchoServer) -> None:
    conn, ref, _mref = open_ws(echo_server.port)
    gun.close(conn)
    assert exit_reason(conn) == "shutdown"
    gun.ws_send(conn, ref, ("text", "after close"))  # a cast to a dead connection is dropped
    assert no_message_about(conn)
    with pytest.raises(Exception, match=r"not found|dead"):
        gun.info(conn)


# -- HTTP/1.1 (shutdown_SUITE's http1_* and http10_* cases) ------------------------------
#
# Gun's origin is Cowboy: "/" is hello_h, "/delayed" answers after 500 ms. aiohttp's
# /hello and /delayed stand in for them.


def _open_http(port: int, opts: dict[str, Any] | None = None) -> ConnectionRef:
    """gun:open then await_up, as Gun's cases do; the test thread monitors the connection."""
    conn = gun.open("127.0.0.1", port, opts)
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    monitor(conn)
    return conn


def _response_then_body(conn: ConnectionRef, ref: object) -> None:
    """Gun's ``{response, nofin, 200, _} = await`` then ``{ok, _} = await_body``."""
    assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 200)
    assert gun.await_body(conn, ref, WAIT)[0] == "ok"


def test_http1_gun_shutdown_no_streams(aiohttp_server: AiohttpServer) -> None:
    conn = _open_http(aiohttp_server.port)
    gun.shutdown(conn)
    assert exit_reason(conn) == "shutdown"


def test_http1_gun_shutdown_one_stream(aiohttp_server: AiohttpServer) -> None:
    conn = _open_http(aiohttp_server.port)
    ref = gun.get(conn, "/delayed")
    gun.shutdown(conn)
    _response_then_body(conn, ref)
    assert exit_reason(conn) == "shutdown"


def test_http1_gun_shutdown_pipelined_streams(aiohttp_server: AiohttpServer) -> None:
    conn = _open_http(aiohttp_server.port)
    ref1 = gun.get(conn, "/delayed")
    ref2 = gun.get(conn, "/delayed")
    ref3 = gun.get(conn, "/delayed")
    gun.shutdown(conn)
    # Pipelined streams are cancelled at once; the active one is still processed.
    assert gun.await_(conn, ref2, WAIT) == ("error", ("stream_error", ("closing", "shutdown")))
    assert gun.await_(conn, ref3, WAIT) == ("error", ("stream_error", ("closing", "shutdown")))
    _response_then_body(conn, ref1)
    assert exit_reason(conn) == "shutdown"


def test_http1_gun_shutdown_timeout(aiohttp_server: AiohttpServer) -> None:
    conn = _open_http(aiohttp_server.port, {"http_opts": {"closing_timeout": 100}})
    # Gun's /delayed takes 500 ms; 1 s keeps the answer well after the 100 ms
    # closing_timeout (and aiohttp's handler is still done soon: its session
    # teardown waits for it).
    ref = gun.get(conn, "/delayed?ms=1000")
    gun.shutdown(conn)
    # The closing timeout fires before the answer: closed, not closing.
    assert gun.await_(conn, ref, WAIT) == ("error", ("stream_error", ("closed", "shutdown")))
    assert exit_reason(conn) == "shutdown"


def test_http1_request_connection_close(aiohttp_server: AiohttpServer) -> None:
    conn = _open_http(aiohttp_server.port, {"retry": 0})
    ref = gun.get(conn, "/hello", {"connection": "close"})
    # The response, then the connection ends.
    _response_then_body(conn, ref)
    assert exit_reason(conn) == "normal"


def test_http1_request_connection_close_pipeline(aiohttp_server: AiohttpServer) -> None:
    conn = open_for_pipeline(aiohttp_server.port)  # the three are taken at once
    ref1 = gun.get(conn, "/hello", {"connection": "close"})
    ref2 = gun.get(conn, "/hello")
    ref3 = gun.get(conn, "/hello")
    # The response; the pipelined streams are cancelled; then the connection ends.
    assert gun.await_(conn, ref1, WAIT)[:3] == ("response", "nofin", 200)
    assert gun.await_(conn, ref2, WAIT) == ("error", ("stream_error", "closing"))
    assert gun.await_(conn, ref3, WAIT) == ("error", ("stream_error", "closing"))
    assert gun.await_body(conn, ref1, WAIT)[0] == "ok"
    assert exit_reason(conn) == "normal"


# Gun's http1_response_connection_close* start a Cowboy with max_keepalive 1, so the
# first answer says connection: close; aiohttp's /close route answers that way.


def test_http1_response_connection_close(aiohttp_server: AiohttpServer) -> None:
    conn = _open_http(aiohttp_server.port, {"retry": 0})
    ref = gun.get(conn, "/close")
    _response_then_body(conn, ref)
    assert exit_reason(conn) == "normal"


def test_http1_response_connection_close_pipeline(aiohttp_server: AiohttpServer) -> None:
    conn = _open_http(aiohttp_server.port, {"retry": 0})
    # The server waits so that ref3 reaches the connection before it ends: a request
    # sent after the end is answered by nobody (Gun's too), and await_ sees the down.
    ref1 = gun.get(conn, "/close?ms=500")
    ref2 = gun.get(conn, "/hello")
    ref3 = gun.get(conn, "/hello")
    _response_then_body(conn, ref1)
    assert gun.await_(conn, ref2, WAIT) == ("error", ("stream_error", "closing"))
    assert gun.await_(conn, ref3, WAIT) == ("error", ("stream_error", "closing"))
    assert exit_reason(conn) == "normal"


def test_http10_connection_close(aiohttp_server: AiohttpServer) -> None:
    conn = _open_http(aiohttp_server.port, {"http_opts": {"version": "HTTP/1.0"}, "retry": 0})
    ref = gun.get(conn, "/hello")
    _response_then_body(conn, ref)
    assert exit_reason(conn) == "normal"


def test_http1_response_connection_close_delayed_body() -> None:
    """Requests made once a connection: close head is in fail at once (retry 0),
    without waiting for the rest of the body."""
    # aiohttp cannot send a head and part of its body, then the rest later: a
    # scripted peer does. Gun's peer sleeps 500 ms before the rest; this one waits
    # until the test has seen what must come first, so nothing depends on timing.
    # It also reads both pipelined requests before answering, so that the second
    # is surely in the pipeline (cut with closing) rather than made after the head.
    rest = threading.Event()

    def script(sock: socket.socket) -> None:
        for _ in range(2):
            line, _ = read_http_request(sock)
            assert line == "GET / HTTP/1.1"
        sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
                     b"Content-Length: 12\r\n\r\nHello")
        assert rest.wait(WAIT)
        sock.sendall(b" world!")
        while sock.recv(4096):  # until the client closes
            pass

    server = RawServer(script)
    try:
        box = Mailbox.current()
        conn = _open_http(server.port, {"retry": 0})
        ref1 = gun.get(conn, "/")
        ref2 = gun.get(conn, "/")
        # The head with connection: close.
        assert gun.await_(conn, ref1, WAIT)[:3] == ("response", "nofin", 200)
        # The pipelined request fails at once (Gun takes the next message, unfiltered).
        assert box.receive(timeout=WAIT) == ("gun_error", conn, ref2, "closing")
        assert box.receive(timeout=WAIT) == ("gun_data", conn, ref1, "nofin", b"Hello")
        # A request made while closing fails at once.
        ref3 = gun.get(conn, "/")
        assert box.receive(timeout=WAIT) == ("gun_error", conn, ref3, "closing")
        rest.set()
        assert box.receive(timeout=WAIT) == ("gun_data", conn, ref1, "fin", b" world!")
        assert exit_reason(conn) == "normal"
    finally:
        rest.set()
        server.stop()


def test_ws_upgrade_while_closing_with_retry_0_is_closing(aiohttp_server: AiohttpServer) -> None:
    # Gun's closing state: with retry 0 set, a ws_upgrade is answered at once.
    conn = gun.open("127.0.0.1", aiohttp_server.port, {"retry": 0})
    monitor(conn)
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    slow = gun.get(conn, "/delayed?ms=300")
    gun.shutdown(conn)  # closing: the answer being read completes, nothing new is taken
    ref = gun.ws_upgrade(conn, "/ws")
    assert gun.await_(conn, ref, WAIT) == ("error", ("stream_error", "closing"))
    assert gun.await_(conn, slow, WAIT)[:3] == ("response", "nofin", 200)
    assert exit_reason(conn) == "shutdown"


def test_shutdown_during_an_upgrade_waits_for_it_then_closes(echo_server: EchoServer) -> None:
    # Gun's closing: the answer in flight (here the 101) completes; the WebSocket
    # it opens is then closed as any shutdown closes one (1001), and no gun_down.
    conn = gun.open("127.0.0.1", echo_server.port, {"retry": 0})
    monitor(conn)
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    ref = gun.ws_upgrade(conn, "/")
    gun.shutdown(conn)
    assert gun.await_(conn, ref, WAIT)[0] == "upgrade"
    assert gun.await_(conn, ref, WAIT) == ("ws", ("close", 1001, ""))
    assert exit_reason(conn) == "shutdown"
    assert no_message_about(conn)
    wait_for(lambda: echo_server.close_codes != [])
    assert echo_server.close_codes[-1][0] == 1001
