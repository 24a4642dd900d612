"""Gun's shutdown_SUITE (HTTP/1.1 and WebSocket cases): how a connection ends, and why."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from gunpy.actors import Mailbox, gun, monitor
from tests.helpers import WAIT, exit_reason, no_message_about, open_ws, receive
from tests.peers import (
    ClosedPort,
    EchoServer,
    LeakCheck,
    RawServer,
    encode_server_frame,
    read_client_frame,
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


def test_closing_gun_shutdown(echo_server: EchoServer) -> None:
    conn, ref, _ = open_ws(echo_server.port)
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
