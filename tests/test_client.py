"""WebsocketClient: callbacks against servers that echo, close, refuse, drop and restart."""

from __future__ import annotations

import socket
import time
from http.cookiejar import CookieJar
from typing import Any

import pykka
import pytest
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection

from gunpy.actors import Mailbox, SendQueueFull, WebsocketClient, monitor
from gunpy.actors.gun._client import UpgradeRefused, parse_ws_url
from gunpy.protocol import OptionsError
from tests.aiohttp_peer import AiohttpServer
from tests.helpers import WAIT, receive
from tests.peers import EchoServer, wait_for


class Recorder(WebsocketClient):
    """Reports every callback to the Mailbox passed as ``state``."""

    def on_connect(self, headers: Any, conn: Any, state: Mailbox) -> Any:
        state.send(("connect", dict(headers).get("set-cookie")))
        return ("reply", ("text", "hello"), state)

    def on_message(self, message: Any, conn: Any, state: Mailbox) -> Any:
        state.send(("message", message))
        if message == ("text", "crash"):
            raise ValueError("callback crashed")
        if message == ("text", "stop"):
            return ("stop", state)
        return state

    def on_disconnect(self, conn: Any, state: Mailbox) -> Any:
        state.send(("disconnect",))
        return state

    def on_close(self, code: int | None, reason: str, conn: Any, state: Mailbox) -> Any:
        state.send(("close", code, reason))
        return state

    def on_error(self, reason: Any, conn: Any, state: Mailbox) -> Any:
        state.send(("error", reason))
        return state

    def on_info(self, info: Any, conn: Any, state: Mailbox) -> Any:
        state.send(("info", info))
        if info == "two frames":
            return ("reply", [("text", "a"), ("text", "b")], state)
        if info == "then close":
            return ("reply", [("text", "last"), ("close", 4000, "bye"), ("text", "dropped")], state)
        if info == "stop":
            return ("stop", state)
        if info == "crash":
            raise KeyError("info crashed")
        return state

    def on_terminate(self, reason: Any, state: Mailbox) -> None:
        state.send(("terminate", reason))


def _start(url: str, box: Mailbox, **opts: Any) -> pykka.ActorRef[Any]:
    return Recorder.start(url, state=box, **opts)


def _connected(box: Mailbox) -> None:
    """Wait for the Recorder's next on_connect (an upgrade)."""
    assert box.receive(lambda m: m[0] == "connect", WAIT)


def test_url_parsing() -> None:
    assert parse_ws_url("ws://example.com/chat?x=1") == ("example.com", 80, "/chat?x=1", "tcp")
    assert parse_ws_url("wss://example.com") == ("example.com", 443, "/", "tls")
    assert parse_ws_url("ws://[::1]:9000/") == ("::1", 9000, "/", "tcp")
    with pytest.raises(OptionsError):
        parse_ws_url("http://example.com/")


def test_echo_and_reply(echo_server: EchoServer) -> None:
    box = Mailbox("callbacks")
    client = _start(echo_server.url + "/echo", box, retry=0)
    assert box.receive(timeout=WAIT)[0] == "connect"
    assert box.receive(timeout=WAIT) == ("message", ("text", "hello"))
    client.proxy().send([("binary", b"\x01"), ("text", "two")]).get(timeout=WAIT)
    assert box.receive(timeout=WAIT) == ("message", ("binary", b"\x01"))
    assert box.receive(timeout=WAIT) == ("message", ("text", "two"))
    client.proxy().send(("text", "stop")).get(timeout=WAIT)  # on_message answers ("stop", state)
    assert box.receive(timeout=WAIT) == ("message", ("text", "stop"))
    mref = monitor(client)
    assert receive("DOWN")[1:] == (mref, "process", client, "normal")


def test_server_close_calls_on_close_then_on_disconnect() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.recv()
        ws.close(4001, "go away")

    server = EchoServer(handler=handler)
    try:
        box = Mailbox("callbacks")
        _start(server.url, box, retry=0)
        assert box.receive(timeout=WAIT)[0] == "connect"
        assert box.receive(timeout=WAIT) == ("close", 4001, "go away")
        assert box.receive(timeout=WAIT) == ("disconnect",)
    finally:
        server.stop()


def test_refused_upgrade_calls_on_error() -> None:
    def refuse(conn: ServerConnection, request: Request) -> Response:
        return conn.respond(403, "no\n")

    server = EchoServer(process_request=refuse)
    try:
        box = Mailbox("callbacks")
        _start(server.url, box, retry=0)
        error = box.receive(timeout=WAIT)
        assert error[0] == "error" and error[1][:2] == ("upgrade_refused", 403)
    finally:
        server.stop()


def test_survives_a_server_restart_and_sends_what_was_queued() -> None:
    server = EchoServer()
    port = server.port
    box = Mailbox("callbacks")
    jar = CookieJar()
    client = _start(server.url, box, retry=1000, retry_timeout=20, cookie_store=jar)
    try:
        assert box.receive(timeout=WAIT)[0] == "connect"
        assert box.receive(timeout=WAIT) == ("message", ("text", "hello"))
        server.stop()  # closes with 1001
        assert box.receive(lambda m: m[0] == "disconnect", WAIT)
        client.proxy().send(("text", "queued while down")).get(timeout=WAIT)
        server = EchoServer(port=port)
        _connected(box)
        # The queue is sent once upgraded again, after on_connect's own reply.
        assert box.receive(lambda m: m[0] == "message", WAIT) == ("message", ("text", "hello"))
        assert box.receive(lambda m: m[0] == "message", WAIT) == (
            "message",
            ("text", "queued while down"),
        )
        client.proxy().send(("text", "and live")).get(timeout=WAIT)
        assert box.receive(lambda m: m[0] == "message", WAIT) == ("message", ("text", "and live"))
    finally:
        client.stop()
        server.stop()


def test_send_queue_is_bounded() -> None:
    from tests.peers import ClosedPort

    with ClosedPort() as closed:
        box = Mailbox("callbacks")
        client = _start(
            f"ws://127.0.0.1:{closed.port}/", box, retry=1000, retry_timeout=60_000,
            send_queue_limit=2,
        )
        proxy = client.proxy()
        proxy.send(("text", "1")).get(timeout=WAIT)
        proxy.send(("text", "2")).get(timeout=WAIT)
        with pytest.raises(SendQueueFull):
            proxy.send(("text", "3")).get(timeout=WAIT)
        client.stop()


def test_cookies_set_by_the_server_go_out_on_the_next_upgrade() -> None:
    def set_cookie(conn: ServerConnection, request: Request, response: Response) -> Response:
        response.headers["Set-Cookie"] = "session=abc; Path=/"
        return response

    server = EchoServer(process_response=set_cookie)
    jar = CookieJar()
    box = Mailbox("callbacks")
    try:
        client = _start(server.url, box, retry=0, cookie_store=jar)
        assert box.receive(timeout=WAIT) == ("connect", "session=abc; Path=/")
        assert [c.name for c in jar] == ["session"]
        client.stop()
        _start(server.url, box, retry=0, cookie_store=jar)
        _connected(box)
        assert server.requests[-1].headers["cookie"] == "session=abc"
    finally:
        server.stop()


def test_no_cookie_leaks_between_connections_without_a_cookie_store() -> None:
    """websocket-client's global jar would send a Domain cookie on every connection."""

    def set_cookie(conn: ServerConnection, request: Request, response: Response) -> Response:
        response.headers["Set-Cookie"] = "tracker=1; Domain=127.0.0.1; Path=/"
        return response

    server = EchoServer(process_response=set_cookie)
    box = Mailbox("callbacks")
    try:
        for _ in range(2):
            client = _start(server.url, box, retry=0)
            _connected(box)
            client.stop()
        assert [r.headers.get("cookie") for r in server.requests] == [None, None]
    finally:
        server.stop()


def test_a_crash_in_a_callback_is_the_exit_reason(echo_server: EchoServer) -> None:
    box = Mailbox("callbacks")
    client = _start(echo_server.url, box, retry=0)
    mref = monitor(client)
    assert box.receive(timeout=WAIT)[0] == "connect"
    client.proxy().send(("text", "crash")).get(timeout=WAIT)
    down = receive("DOWN")
    assert down[1] is mref
    assert isinstance(down[4], ValueError)


def test_a_crashed_client_is_restarted_by_its_supervisor(echo_server: EchoServer) -> None:
    from gunpy.supervision import Supervisor, which_children

    box = Mailbox("callbacks")
    spec = Recorder.child_spec(echo_server.url, id="ticker", state=box, retry=0)
    sup = Supervisor.start({"intensity": 3}, [spec])
    assert box.receive(timeout=WAIT)[0] == "connect"
    first = which_children(sup)[0][1]
    first.proxy().send(("text", "crash")).get(timeout=WAIT)
    _connected(box)  # a new client connected again
    second = which_children(sup)[0][1]
    assert second is not first and not first.is_alive()
    second.proxy().send(("text", "back")).get(timeout=WAIT)
    assert box.receive(lambda m: m == ("message", ("text", "back")), WAIT)
    sup.stop()


def test_a_flooding_server_with_flow_control() -> None:
    count = 20_000

    def flood(ws: ServerConnection) -> None:
        ws.recv()  # the client's hello
        for i in range(count):
            ws.send(str(i))
        ws.recv()

    class Counter(WebsocketClient):
        def on_message(self, message: Any, conn: Any, state: Any) -> Any:
            box, seen = state
            assert message == ("text", str(seen))
            if seen + 1 == count:
                box.send("all received, in order")
            gunpy_gun.update_flow(conn, self.ref, 1)  # one more credit per message handled
            return (box, seen + 1)

        def on_connect(self, headers: Any, conn: Any, state: Any) -> Any:
            return ("reply", ("text", "hello"), state)

    from gunpy.actors import gun as gunpy_gun

    server = EchoServer(handler=flood)
    box = Mailbox("done")
    try:
        client = Counter.start(server.url, state=(box, 0), retry=0, ws_opts={"flow": 50})
        assert box.receive(timeout=WAIT * 3) == "all received, in order"
        client.stop()
    finally:
        server.stop()


# -- backoff: no reconnect storms --------------------------------------------------


def _errors(box: Mailbox, count: int) -> list[Any]:
    return [box.receive(lambda m: m[0] == "error", WAIT)[1] for _ in range(count)]


def test_a_refusing_server_that_closes_gets_upgrades_spaced_by_the_backoff() -> None:
    """Gun alone reconnects at once after each close: thousands of upgrades in 2 s."""

    def refuse(conn: ServerConnection, request: Request) -> Response:
        return conn.respond(401, "no\n")  # and websockets closes the connection

    server = EchoServer(process_request=refuse)
    box = Mailbox("callbacks")
    try:
        started = time.monotonic()
        client = _start(server.url, box, retry=100, retry_timeout=200,
                        backoff_min=50, backoff_max=400)
        errors = _errors(box, 5)
        elapsed = time.monotonic() - started
        assert all(e[:2] == ("upgrade_refused", 401) for e in errors)
        # Four waits between five refusals, each at least 50 ms doubling (capped at 400).
        assert elapsed >= 0.05 + 0.1 + 0.2 + 0.4
        client.stop()
        assert len(server.requests) <= 6  # the five, and at most one more on its way
    finally:
        server.stop()


def test_a_refusal_reports_status_headers_and_body_then_retries_later(
    aiohttp_server: AiohttpServer,
) -> None:
    box = Mailbox("callbacks")
    started = time.monotonic()
    client = _start(f"ws://127.0.0.1:{aiohttp_server.port}/deny", box, retry=0, backoff_min=50)
    errors = _errors(box, 3)  # aiohttp keeps the connection: upgrades again on it
    assert time.monotonic() - started >= 0.05 + 0.1
    refused = errors[0]
    assert isinstance(refused, UpgradeRefused)
    tag, status, headers = refused  # still the 3-tuple it was
    assert (tag, status, refused.status) == ("upgrade_refused", 401, 401)
    cookies = [v for k, v in headers if k == "set-cookie"]
    assert cookies == ["session=s1; Path=/", "theme=dark; Path=/"]
    assert refused.body == b"log in first"
    assert [e.body for e in errors] == [b"log in first"] * 3
    client.stop()


def test_connections_lost_right_after_the_upgrade_back_off() -> None:
    def drop(ws: ServerConnection) -> None:
        ws.close(1011, "not now")

    server = EchoServer(handler=drop)
    box = Mailbox("callbacks")
    try:
        started = time.monotonic()
        client = _start(server.url, box, retry=100, retry_timeout=200,
                        backoff_min=50, backoff_max=1000)
        for _ in range(4):
            _connected(box)
        assert time.monotonic() - started >= 0.05 + 0.1 + 0.2
        client.stop()
        assert len(server.requests) <= 5
    finally:
        server.stop()


def test_a_connection_that_stayed_up_resets_the_backoff() -> None:
    def close_later(ws: ServerConnection) -> None:
        ws.recv()  # the client's hello
        time.sleep(0.2)  # up longer than backoff_reset
        ws.close(1001, "restarting")

    server = EchoServer(handler=close_later)
    box = Mailbox("callbacks")
    try:
        # Were the loss counted as a failure, the next upgrade would wait a minute.
        client = _start(server.url, box, retry=100, backoff_min=60_000, backoff_max=60_000,
                        backoff_reset=50)
        for _ in range(3):
            _connected(box)
        client.stop()
    finally:
        server.stop()


def test_backoff_options_are_checked() -> None:
    for bad in ({"backoff_min": -1}, {"backoff_max": "x"}, {"backoff_min": 10, "backoff_max": 5},
                {"idle_timeout": 0}):
        with pytest.raises(OptionsError):
            Recorder("ws://127.0.0.1:1/", **bad)


# -- Cowboy's handler contract -------------------------------------------------------


def _terminated(box: Mailbox, client: pykka.ActorRef[Any], mref: Any) -> Any:
    """The one on_terminate reason, once the client is down; and its exit reason."""
    down = receive("DOWN")
    assert down[1] is mref and down[3] is client
    reasons = [m[1] for m in box.messages() if m[0] == "terminate"]
    assert len(reasons) == 1, reasons
    return reasons[0], down[4]


def test_on_info_gets_other_messages_and_replies_with_several_frames(
    echo_server: EchoServer,
) -> None:
    box = Mailbox("callbacks")
    client = _start(echo_server.url, box, retry=0)
    _connected(box)
    client.tell("two frames")
    assert box.receive(lambda m: m[0] == "info", WAIT) == ("info", "two frames")
    assert box.receive(lambda m: m == ("message", ("text", "b")), WAIT)
    client.tell(("anything", 1))
    assert box.receive(lambda m: m[0] == "info", WAIT) == ("info", ("anything", 1))
    assert echo_server.received[-1] == ["hello", "a", "b"]
    mref = monitor(client)
    client.tell("stop")
    assert _terminated(box, client, mref) == ("stop", "normal")


def test_a_reply_ending_in_a_close_sends_it_and_stops() -> None:
    got: list[Any] = []

    def record(ws: ServerConnection) -> None:
        got.extend(ws)  # no echo: nothing of ours races the client's close

    server = EchoServer(handler=record)
    try:
        box = Mailbox("callbacks")
        client = _start(server.url, box, retry=0)
        _connected(box)
        mref = monitor(client)
        client.tell("then close")
        assert _terminated(box, client, mref) == ("stop", "normal")
        wait_for(lambda: len(server.close_codes) == 1)
        assert server.close_codes == [(4000, "bye")]
        assert got == ["hello", "last"]  # and nothing after the close
    finally:
        server.stop()


def test_on_terminate_normal_when_stopped_from_outside(echo_server: EchoServer) -> None:
    box = Mailbox("callbacks")
    client = _start(echo_server.url, box, retry=0)
    _connected(box)
    mref = monitor(client)
    client.stop()
    assert _terminated(box, client, mref) == ("normal", "normal")


def test_on_terminate_remote_when_the_server_closed_and_retries_are_spent() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.recv()
        ws.close(4001, "go away")

    server = EchoServer(handler=handler)
    try:
        box = Mailbox("callbacks")
        client = _start(server.url, box, retry=0)
        mref = monitor(client)
        assert _terminated(box, client, mref)[0] == ("remote", 4001, "go away")
    finally:
        server.stop()


def test_on_terminate_error_closed_when_the_tcp_connection_drops() -> None:
    def drop(ws: ServerConnection) -> None:
        ws.recv()
        ws.socket.shutdown(socket.SHUT_RDWR)

    server = EchoServer(handler=drop)
    try:
        box = Mailbox("callbacks")
        client = _start(server.url, box, retry=0)
        mref = monitor(client)
        reason, _ = _terminated(box, client, mref)
        assert reason[0] == "error" and reason != ("error", "normal"), reason
    finally:
        server.stop()


def test_on_terminate_crash(echo_server: EchoServer) -> None:
    box = Mailbox("callbacks")
    client = _start(echo_server.url, box, retry=0)
    _connected(box)
    mref = monitor(client)
    client.tell("crash")
    reason, exit_reason = _terminated(box, client, mref)
    assert reason[:2] == ("crash", "KeyError") and reason[2] is exit_reason


def test_idle_timeout_stops_the_client(echo_server: EchoServer) -> None:
    box = Mailbox("callbacks")
    started = time.monotonic()  # before any frame the timeout counts from
    client = _start(echo_server.url, box, retry=100, idle_timeout=300)
    mref = monitor(client)
    _connected(box)
    assert box.receive(lambda m: m[0] == "message", WAIT)  # the echo of hello: a frame
    reason, exit_reason = _terminated(box, client, mref)
    assert (reason, exit_reason) == ("timeout", ("shutdown", "timeout"))
    assert time.monotonic() - started >= 0.3
