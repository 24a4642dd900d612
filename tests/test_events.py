"""Gun's event handler (``event_handler``): event_SUITE's cases, against real servers.

The handler records ``(name, event)`` in its state, read back with
``gun.info(conn)["event_handler_state"]``; the callbacks run in the
connection actor, the I/O loop and ``ws_send`` callers, one at a time.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from gunpy.actors import gun, monitor
from gunpy.actors.gun._event_sink import EventSink
from tests.aiohttp_peer import AiohttpServer
from tests.helpers import WAIT, exit_reason, open_ws
from tests.peers import ClosedPort, EchoServer, make_tls_pair
from tests.proxy_peers import PproxyServer

Events = list[tuple[str, dict[str, Any]]]


class Recorder:
    """Every callback Gun defines, each appending ``(name, event)`` to the state."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def callback(event: dict[str, Any], state: Events) -> Events:
            return [*state, (name, event)]

        return callback


def _events(conn: Any) -> Events:
    events: Events = gun.info(conn)["event_handler_state"]
    return events


def _wait_for(conn: Any, name: str, count: int = 1) -> Events:
    """The events so far, once ``name`` was seen ``count`` times (generous deadline)."""
    deadline = time.monotonic() + WAIT
    while True:
        events = _events(conn)
        if sum(1 for n, _ in events if n == name) >= count:
            return events
        assert time.monotonic() < deadline, [n for n, _ in events]
        time.sleep(0.01)


def _one(events: Events, name: str) -> dict[str, Any]:
    found = [event for n, event in events if n == name]
    assert len(found) == 1, (name, [n for n, _ in events])
    return found[0]


OPTS = {"event_handler": (Recorder(), [])}


def test_ws_upgrade_all_events(echo_server: EchoServer) -> None:
    conn, ref, _ = open_ws(echo_server.port, opts=OPTS)
    events = _wait_for(conn, "protocol_changed")
    names = [n for n, _ in events]
    assert names == [
        "init", "domain_lookup_start", "domain_lookup_end", "connect_start", "connect_end",
        "ws_upgrade", "request_start", "request_headers", "request_end", "response_start",
        "response_inform", "protocol_changed",
    ]
    me = _one(events, "ws_upgrade")["reply_to"]
    start = _one(events, "request_start")
    assert start["stream_ref"] is ref and start["reply_to"] is me
    assert start["function"] == "ws_upgrade" and start["method"] == "GET"
    assert start["authority"] == f"127.0.0.1:{echo_server.port}" and start["path"] == "/"
    assert any(name == "sec-websocket-key" for name, _ in start["headers"])
    inform = _one(events, "response_inform")
    assert inform["status"] == 101 and inform["headers"] and inform["stream_ref"] is ref
    assert _one(events, "protocol_changed") == {"stream_ref": ref, "protocol": "ws"}
    assert _one(events, "connect_end")["protocol"] == "http"
    gun.close(conn)


def test_ws_recv_frame_start_header_end(echo_server: EchoServer) -> None:
    conn, ref, _ = open_ws(echo_server.port, opts=OPTS)
    gun.ws_send(conn, ref, ("text", "Hello!"))
    assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "Hello!"))
    events = _wait_for(conn, "ws_recv_frame_end")
    start = _one(events, "ws_recv_frame_start")
    assert start["stream_ref"] is ref and start["frag_state"] is None
    assert start["extensions"] == {}
    header = _one(events, "ws_recv_frame_header")
    assert (header["type"], header["rsv"], header["len"]) == ("text", 0, 6)
    end = _one(events, "ws_recv_frame_end")
    assert end["payload"] == b"Hello!" and end["close_code"] is None
    gun.close(conn)


def test_ws_send_frame_start_and_end(echo_server: EchoServer) -> None:
    conn, ref, _ = open_ws(echo_server.port, opts=OPTS)
    gun.ws_send(conn, ref, ("text", "Hello!"))
    events = _wait_for(conn, "ws_send_frame_end")
    for name in ("ws_send_frame_start", "ws_send_frame_end"):
        event = _one(events, name)
        assert event["stream_ref"] is ref and event["extensions"] == {}
        assert event["frame"] == ("text", "Hello!")
    gun.close(conn)


def test_the_extensions_map_names_an_agreed_deflate() -> None:
    with EchoServer(compression="deflate") as server:
        conn, ref, _ = open_ws(server.port, opts=OPTS, ws_opts={"compress": True})
        gun.ws_send(conn, ref, ("text", "squeeze me " * 20))
        gun.await_(conn, ref, WAIT)
        event = _one(_wait_for(conn, "ws_recv_frame_header"), "ws_recv_frame_header")
        assert "permessage-deflate" in event["extensions"] and event["rsv"] == 4
        gun.close(conn)


def test_a_close_frame_received_names_its_code(echo_server: EchoServer) -> None:
    recorded: Events = []

    class Keeper(Recorder):
        def terminate(self, event: dict[str, Any], state: Events) -> Events:
            recorded.extend(state)
            return state

    conn, ref, _ = open_ws(echo_server.port, opts={"event_handler": (Keeper(), [])})
    gun.ws_send(conn, ref, ("close", 4000, "bye"))
    assert exit_reason(conn) == "normal"
    sent = [e["frame"] for n, e in recorded if n == "ws_send_frame_end"]
    assert sent == [("close", 4000, "bye")]
    ends = [e for n, e in recorded if n == "ws_recv_frame_end"]
    assert ends and ends[-1]["close_code"] == 4000  # the server echoes our code


def test_request_and_response_events(aiohttp_server: AiohttpServer) -> None:
    conn = gun.open("127.0.0.1", aiohttp_server.port, {"retry": 0, **OPTS})
    ref = gun.get(conn, "/hello")
    assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 200)
    assert gun.await_body(conn, ref, WAIT) == ("ok", b"hello /hello")
    events = _wait_for(conn, "response_end")
    names = [n for n, _ in events if n.startswith(("request_", "response_"))]
    assert names == ["request_start", "request_headers", "request_end", "response_start",
                     "response_headers", "response_end"]
    start = _one(events, "request_start")
    assert (start["function"], start["method"], start["path"]) == ("request", "GET", "/hello")
    assert _one(events, "response_headers")["status"] == 200
    gun.close(conn)


def test_a_body_sent_in_parts_ends_the_request_at_fin(aiohttp_server: AiohttpServer) -> None:
    conn = gun.open("127.0.0.1", aiohttp_server.port, {"retry": 0, **OPTS})
    ref = gun.post(conn, "/echo", {"content-type": "text/plain"})
    gun.data(conn, ref, "nofin", "a")
    gun.data(conn, ref, "fin", "b")
    assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 200)
    assert gun.await_body(conn, ref, WAIT) == ("ok", b"ab")
    events = _wait_for(conn, "response_end")
    assert _one(events, "request_start")["function"] == "headers"
    names = [n for n, _ in events]
    assert names.index("request_end") > names.index("request_headers")
    gun.close(conn)


def test_cancel_event(aiohttp_server: AiohttpServer) -> None:
    conn = gun.open("127.0.0.1", aiohttp_server.port, {"retry": 0, **OPTS})
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    ref = gun.get(conn, "/delayed?ms=200")  # written when the actor takes it...
    gun.cancel(conn, ref)  # ...before this, so it is cancelled in flight
    events = _wait_for(conn, "cancel")
    cancel = _one(events, "cancel")
    assert cancel["stream_ref"] is ref and (cancel["endpoint"], cancel["reason"]) == (
        "local", "cancel")
    gun.close(conn)


def test_attempt_failures_have_their_end_event_with_the_error() -> None:
    recorded: Events = []

    class Keeper(Recorder):
        def terminate(self, event: dict[str, Any], state: Events) -> Events:
            recorded.extend(state)
            return state

    with ClosedPort() as closed:
        conn = gun.open("127.0.0.1", closed.port, {"retry": 0, "event_handler": (Keeper(), [])})
        monitor(conn)
        exit_reason(conn)
    assert _one(recorded, "connect_end")["error"] == "econnrefused"
    recorded.clear()
    conn = gun.open("name.invalid", 80, {"retry": 0, "event_handler": (Keeper(), [])})
    monitor(conn)
    exit_reason(conn)
    assert _one(recorded, "domain_lookup_end")["error"] == "nxdomain"
    recorded.clear()
    _, server_ctx, _ = make_tls_pair()  # a certificate nobody here trusts
    with EchoServer(ssl_context=server_ctx) as tls_server:
        conn = gun.open("127.0.0.1", tls_server.port,
                        {"retry": 0, "transport": "tls", "event_handler": (Keeper(), [])})
        monitor(conn)
        exit_reason(conn)
    error = _one(recorded, "tls_handshake_end")["error"]
    assert error[0] == "tls_error" and "certificate verify failed" in error[1]


def test_tls_handshake_start_and_end_ok() -> None:
    _, server_ctx, client_ctx = make_tls_pair()
    with EchoServer(ssl_context=server_ctx) as server:
        opts = {"transport": "tls", "tls_opts": {"context": client_ctx}, **OPTS}
        conn, _, _ = open_ws(server.port, opts=opts)
        names = [n for n, _ in _events(conn)]
        assert names[:7] == ["init", "domain_lookup_start", "domain_lookup_end",
                             "connect_start", "connect_end", "tls_handshake_start",
                             "tls_handshake_end"]
        assert _one(_events(conn), "tls_handshake_end")["protocol"] == "http"
        gun.close(conn)


def test_origin_changed_through_a_connect_tunnel(echo_server: EchoServer) -> None:
    with PproxyServer("http") as proxy:
        conn = gun.open("127.0.0.1", proxy.port, {"retry": 0, **OPTS})
        ref = gun.connect(conn, {"host": "127.0.0.1", "port": echo_server.port})
        assert gun.await_(conn, ref, WAIT)[:3] == ("response", "fin", 200)
        events = _wait_for(conn, "origin_changed")
        assert _one(events, "origin_changed") == {
            "type": "connect", "origin_scheme": "http", "origin_host": "127.0.0.1",
            "origin_port": echo_server.port}
        start = _one(events, "request_start")
        assert (start["function"], start["method"]) == ("connect", "CONNECT")
        gun.close(conn)


def test_disconnect_then_terminate(echo_server: EchoServer) -> None:
    recorded: Events = []

    class Keeper(Recorder):
        def terminate(self, event: dict[str, Any], state: Events) -> Events:
            recorded.extend([*state, ("terminate", event)])
            return state

    conn, ref, _ = open_ws(echo_server.port, opts={"event_handler": (Keeper(), [])})
    gun.ws_send(conn, ref, "close")
    assert exit_reason(conn) == "normal"
    names = [n for n, _ in recorded]
    assert names[-2:] == ["disconnect", "terminate"]
    assert _one(recorded, "disconnect")["reason"] == "normal"


@pytest.mark.parametrize("with_handler", [False, True])
def test_without_a_handler_nothing_is_noted(echo_server: EchoServer, with_handler: bool) -> None:
    """Per-frame events cost nothing without a handler: the parser notes nothing."""
    opts = OPTS if with_handler else {}
    conn, _, _ = open_ws(echo_server.port, opts=opts)
    io = conn._channel.io
    assert io is not None
    parser = io.proto._parser
    assert parser is not None and (parser.notes is not None) is with_handler
    assert io.proto.notify is with_handler and io.events.active is with_handler
    gun.close(conn)


def test_the_sink_serialises_callbacks_and_keeps_state() -> None:
    sink = EventSink((Recorder(), []))
    sink.emit("a", {"x": 1})
    sink.emit("b", {})
    assert sink.state == [("a", {"x": 1}), ("b", {})]
    assert not EventSink(None).active
