"""WebsocketClient: callbacks against servers that echo, close, refuse, drop and restart."""

from __future__ import annotations

from http.cookiejar import CookieJar
from typing import Any

import pykka
import pytest
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection

from gunpy.actors import Mailbox, SendQueueFull, WebsocketClient, monitor
from gunpy.actors.gun._client import parse_ws_url
from gunpy.protocol import OptionsError
from tests.helpers import WAIT, receive
from tests.peers import EchoServer


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


def _start(url: str, box: Mailbox, **opts: Any) -> pykka.ActorRef[Any]:
    return Recorder.start(url, state=box, **opts)


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
        assert box.receive(lambda m: m[0] == "connect", WAIT)
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
        assert box.receive(lambda m: m[0] == "connect", WAIT)
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
            assert box.receive(lambda m: m[0] == "connect", WAIT)
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
    assert box.receive(lambda m: m[0] == "connect", WAIT)  # a new client connected again
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
