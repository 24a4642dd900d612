"""What a new user meets first: errors that name their cause, and frame shapes.

A refused connect or certificate is logged at every attempt and reaches
``gun.await_up``'s timeout answer; a TLS record where an HTTP answer should
be is named as such; `frame_kind` reads every frame shape.
"""

from __future__ import annotations

import logging
import socket

import pytest

from gunpy.actors import frame_kind, gun, monitor
from gunpy.actors.gun import AwaitTimeout
from gunpy.protocol._http_answers import TLS_ON_PLAIN
from tests.helpers import WAIT, exit_reason, receive
from tests.peers import (
    ClosedPort,
    EchoServer,
    RawServer,
    make_tls_pair,
    read_http_request,
    wait_for,
)


def test_every_failed_attempt_is_logged_with_its_cause(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gunpy")
    with ClosedPort() as closed:
        conn = gun.open("127.0.0.1", closed.port, {"retry": 2, "retry_timeout": 10})
        monitor(conn)
        assert exit_reason(conn) == ("shutdown", "econnrefused")
    lines = [r.getMessage() for r in caplog.records if r.name == "gunpy"]
    assert len(lines) == 3, lines
    assert all(f"127.0.0.1:{closed.port}" in line and "econnrefused" in line for line in lines)
    assert "next attempt in 0.000 s, 1 retries left" in lines[0]  # Gun: the first at once
    assert "giving up" in lines[-1]


def test_await_up_timing_out_carries_the_last_failure() -> None:
    _, server_ctx, _ = make_tls_pair()  # nobody here trusts its CA
    with EchoServer(ssl_context=server_ctx) as server:
        conn = gun.open("127.0.0.1", server.port, {"transport": "tls", "retry": 1000,
                                                   "retry_timeout": 50})
        wait_for(lambda: gun.info(conn)["last_failure"] is not None)  # an attempt failed
        result = gun.await_up(conn, 0.2)
        gun.close(conn)
    assert result == ("error", "timeout")  # Gun's shape still matches
    timeout = result[1]
    assert isinstance(timeout, AwaitTimeout)
    assert timeout.last_failure[0] == "tls_error"
    assert "certificate verify failed" in timeout.last_failure[1]
    match result:
        case ("error", "timeout"):
            pass
        case _:
            raise AssertionError(result)


def test_a_tls_record_in_answer_to_plain_http_is_named() -> None:
    def tls_server(sock: socket.socket) -> None:
        read_http_request(sock)
        sock.sendall(b"\x15\x03\x01\x00\x02\x02\x46")  # a TLS alert: protocol_version
        sock.recv(1)

    with RawServer(tls_server) as server:
        conn = gun.open("127.0.0.1", server.port, {"retry": 0})
        monitor(conn)
        ref = gun.ws_upgrade(conn, "/")
        result = gun.await_(conn, ref, WAIT)
        assert result[0] == "error" and "TLS record" in str(result[1]), result
        assert "transport" in str(result[1])
        receive("gun_down", conn)
        exit_reason(conn)
    with RawServer(tls_server) as server:
        conn = gun.open("127.0.0.1", server.port, {"retry": 0})
        monitor(conn)
        gun.get(conn, "/")
        assert receive("gun_down", conn)[3] == ("error", TLS_ON_PLAIN)
        exit_reason(conn)


@pytest.mark.parametrize(("frame", "kind"), [
    ("ping", "ping"), (("ping", b"x"), "ping"), ("pong", "pong"), (("pong", b""), "pong"),
    ("close", "close"), (("close", 1000, "bye"), "close"), (("text", "hi"), "text"),
    (("binary", b"\x00"), "binary"),
])
def test_frame_kind_reads_every_shape(frame: object, kind: str) -> None:
    assert frame_kind(frame) == kind


def test_frame_kind_refuses_what_is_not_a_frame() -> None:
    for thing in ("p", ("nope", 1), (), 3):
        with pytest.raises(ValueError):
            frame_kind(thing)
