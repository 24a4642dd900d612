"""Gun's retry rule and owner links: retry_*, shutdown_reason, postpone, supervise_false."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import pytest

from gunpy.actors import Mailbox, ProcessActor, gun, monitor
from gunpy.protocol import BADSTATE_NOT_WS
from gunpy.supervision import RetryPolicy, default_retry_fun
from tests.helpers import WAIT, exit_reason, receive
from tests.peers import (
    ClosedPort,
    LeakCheck,
    RawServer,
    encode_server_frame,
    read_client_frame,
    read_http_request,
    send_101,
    wait_for,
)


def _counting_fun(calls: list[int]) -> Any:
    def retry_fun(retries_left: int, opts: Mapping[str, Any]) -> dict[str, int]:
        calls.append(retries_left)
        return default_retry_fun(retries_left, opts)

    return retry_fun


def test_retry_0() -> None:
    calls: list[int] = []
    with ClosedPort() as closed:
        conn = gun.open("127.0.0.1", closed.port, {"retry": 0, "retry_fun": _counting_fun(calls)})
        assert gun.await_up(conn, WAIT) == ("error", ("down", ("shutdown", "econnrefused")))
    assert calls == []  # retry_fun is never called with no retry left


def _accept_and_close(sock: socket.socket) -> None:
    sock.close()


def test_retry_0_disconnect(leak_check: LeakCheck) -> None:
    server = RawServer(_accept_and_close)
    try:
        conn = gun.open("127.0.0.1", server.port, {"retry": 0})
        monitor(conn)
        assert receive("gun_up", conn)[2] == "http"
        assert receive("gun_down", conn)[2:] == ("http", "closed", [])
        assert exit_reason(conn) == ("shutdown", "closed")
        assert server.accepted == 1
    finally:
        server.stop()
    leak_check.assert_clean()


def test_retry_1() -> None:
    calls: list[int] = []
    with ClosedPort() as closed:
        opts = {"retry": 1, "retry_fun": _counting_fun(calls)}
        conn = gun.open("127.0.0.1", closed.port, opts)
        assert gun.await_up(conn, WAIT) == ("error", ("down", ("shutdown", "econnrefused")))
    assert calls == [1]  # two attempts: the first, then one retry


def test_retry_1_disconnect() -> None:
    """After an established connection drops, the first reconnect is immediate."""
    server = RawServer(_accept_and_close)
    try:
        conn = gun.open("127.0.0.1", server.port, {"retry": 1, "retry_timeout": 60_000})
        monitor(conn)
        assert receive("gun_up", conn)
        assert receive("gun_down", conn)[3] == "closed"
        # With a 60 s retry_timeout, only an immediate reconnect comes within WAIT.
        assert receive("gun_up", conn)
        assert receive("gun_down", conn)[3] == "closed"
        assert server.accepted >= 2
        gun.close(conn)
    finally:
        server.stop()


def test_retry_fun_returning_0_retries_still_gets_a_last_attempt() -> None:
    calls: list[int] = []

    def retry_fun(retries_left: int, opts: Mapping[str, Any]) -> dict[str, int]:
        calls.append(retries_left)
        return {"retries": 0, "timeout": 0}

    with ClosedPort() as closed:
        conn = gun.open("127.0.0.1", closed.port, {"retry": 5, "retry_fun": retry_fun})
        assert gun.await_up(conn, WAIT) == ("error", ("down", ("shutdown", "econnrefused")))
    assert calls == [5]


@pytest.mark.parametrize(
    "bad", [lambda n, o: {"retries": "x", "timeout": 0}, lambda n, o: 1 / 0], ids=["value", "raise"]
)
def test_bad_retry_fun_stops_the_connection_cleanly(bad: Any, leak_check: LeakCheck) -> None:
    with ClosedPort() as closed:
        conn = gun.open("127.0.0.1", closed.port, {"retry": 2, "retry_fun": bad})
        result = gun.await_up(conn, WAIT)
    assert result[0] == "error" and result[1][1][0] == "shutdown"
    assert result[1][1][1][0] == "retry_fun"
    leak_check.assert_clean()


def test_retry_timeout_schedule() -> None:
    """Gun's retry_timeout test, on the schedule itself: 1st retry at once, 2nd after 1 s."""
    policy = RetryPolicy(2, {"retry_timeout": 1000})
    sleeps: list[float] = []
    attempts: list[int] = []

    def connect() -> None:
        attempts.append(1)
        raise ConnectionRefusedError

    with pytest.raises(ConnectionRefusedError):
        policy.retrying(sleep=sleeps.append)(connect)
    assert (len(attempts), sleeps) == (3, [0.0, 1.0])
    # The default: retry 5 gives six attempts, the first retry immediate.
    policy = RetryPolicy(5, {})
    assert [policy.next_delay() for _ in range(6)] == [0.0, 5.0, 5.0, 5.0, 5.0, None]
    policy.reset()  # an established connection was lost: start again, immediately
    assert policy.next_delay() == 0.0


def test_shutdown_reason() -> None:
    with ClosedPort() as closed:
        conn = gun.open("127.0.0.1", closed.port, {"retry": 1, "retry_timeout": 10})
        monitor(conn)
        assert exit_reason(conn) == ("shutdown", "econnrefused")


def test_postpone_upgrade_while_not_connected() -> None:
    closed = ClosedPort()
    conn = gun.open("127.0.0.1", closed.port, {"retry": 50, "retry_timeout": 50})
    ref = gun.ws_upgrade(conn, "/postponed")  # issued while nothing listens
    wait_for(lambda: gun.info(conn)["state_name"] == "not_connected")
    paths: list[str] = []

    def handler(sock: socket.socket) -> None:
        line, headers = read_http_request(sock)
        paths.append(line.split()[1])
        send_101(sock, dict(headers)["sec-websocket-key"])
        opcode, _, payload = read_client_frame(sock)
        sock.sendall(encode_server_frame(opcode, payload))
        read_client_frame(sock)

    server = RawServer(handler, port=closed.port)
    try:
        assert gun.await_(conn, ref, WAIT)[0] == "upgrade"
        assert paths == ["/postponed"]
        gun.ws_send(conn, ref, ("text", "late"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "late"))
        gun.close(conn)
    finally:
        server.stop()


def test_ws_send_postponed_then_badstate_after_reconnect() -> None:
    """Gun 2.3 H: frames sent while disconnected fail with badstate once reconnected."""
    drop = [True]

    def handler(sock: socket.socket) -> None:
        _, headers = read_http_request(sock)
        send_101(sock, dict(headers)["sec-websocket-key"])
        if drop[0]:
            drop[0] = False
            return  # closes the socket: gun_down, then an immediate reconnect
        sock.recv(1)

    server = RawServer(handler)
    try:
        conn = gun.open("127.0.0.1", server.port, {"retry": 3, "retry_timeout": 60_000})
        monitor(conn)
        ref = gun.ws_upgrade(conn, "/")
        assert gun.await_(conn, ref, WAIT)[0] == "upgrade"
        assert receive("gun_down", conn)[2:] == ("ws", "closed", [ref])
        gun.ws_send(conn, ref, ("text", "while down"))
        assert receive("gun_up", conn)
        assert receive("gun_error", conn)[2] == ("badstate", BADSTATE_NOT_WS)
        gun.close(conn)
    finally:
        server.stop()


class _Owner(ProcessActor):
    """A ProcessActor owner that records what it receives."""

    def __init__(self, inbox: Mailbox) -> None:
        super().__init__()
        self.inbox = inbox

    def handle_message(self, message: Any) -> Any:
        self.inbox.send(message)
        if message == "crash":
            raise RuntimeError("owner crashed")
        return None


def test_supervise_false_links_connection_and_owner() -> None:
    inbox = Mailbox("owner-inbox")
    owner = _Owner.start(inbox)
    with ClosedPort() as closed:
        conn = gun.open(
            "127.0.0.1", closed.port, {"retry": 0, "supervise": False}, owner=owner
        )
        owner_watch = monitor(owner)
        # The connection exits ("shutdown", econnrefused): not "normal", so the link
        # takes the non-trapping owner down with the same reason, as in Erlang.
        down = receive("DOWN")
        assert down[1] is owner_watch
        assert down[4] == ("shutdown", "econnrefused")
    del conn


def test_supervise_false_owner_crash_takes_the_connection_down() -> None:
    inbox = Mailbox("owner-inbox")
    owner = _Owner.start(inbox)
    server = RawServer(lambda sock: sock.recv(1))
    try:
        conn = gun.open("127.0.0.1", server.port, {"retry": 0, "supervise": False}, owner=owner)
        monitor(conn)
        assert inbox.receive(timeout=WAIT)[0] == "gun_up"
        owner.tell("crash")
        reason = exit_reason(conn)
        assert isinstance(reason, RuntimeError)  # the link carries the owner's crash
    finally:
        server.stop()
