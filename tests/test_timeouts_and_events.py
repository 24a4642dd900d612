"""Per-attempt timeouts (connect, TLS, domain lookup) and trace (events: ``test_events.py``)."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import pytest

from gunpy.actors import gun
from tests.helpers import WAIT, open_ws
from tests.peers import EchoServer, LeakCheck, RawServer


def test_connect_timeout_with_a_listener_that_never_accepts(leak_check: LeakCheck) -> None:
    # A full accept queue: the kernel drops further SYNs, so a connect hangs.
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    fillers = []
    try:
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        conn = gun.open("127.0.0.1", port, {"retry": 0, "connect_timeout": 200})
        assert gun.await_up(conn, WAIT) == ("error", ("down", ("shutdown", "timeout")))
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    leak_check.assert_clean()


def test_tls_handshake_timeout_with_a_silent_server(leak_check: LeakCheck) -> None:
    server = RawServer(lambda sock: sock.recv(65536) and sock.recv(1))
    try:
        opts = {"retry": 0, "transport": "tls", "tls_handshake_timeout": 200}
        conn = gun.open("127.0.0.1", server.port, opts)
        assert gun.await_up(conn, WAIT) == ("error", ("down", ("shutdown", "timeout")))
    finally:
        server.stop()
    leak_check.assert_clean()


def test_domain_lookup_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo cannot be interrupted; a stuck one is abandoned at the timeout."""
    release = threading.Event()
    real = socket.getaddrinfo

    def stuck(*args: Any, **kwargs: Any) -> Any:
        release.wait(WAIT)
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    try:
        conn = gun.open("localhost", 1, {"retry": 0, "domain_lookup_timeout": 100})
        assert gun.await_up(conn, WAIT) == ("error", ("down", ("shutdown", "timeout")))
    finally:
        release.set()


def test_trace_logs_what_the_connection_handles(
    echo_server: EchoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gunpy.trace")
    conn, ref, _ = open_ws(echo_server.port, opts={"trace": True})
    gun.ws_send(conn, ref, ("text", "traced"))
    assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "traced"))
    gun.close(conn)
    text = caplog.text
    assert "Connected" in text and "('text', 'traced')" in text
