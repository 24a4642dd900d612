"""The upgrade on a connection gunpy owns: refusals keep it, faults close with their code.

Against real peers: the websockets server, aiohttp's server, and byte-level
servers for what no real server does on purpose.
"""

from __future__ import annotations

import socket
import threading
from http.cookiejar import CookieJar
from typing import Any

import pytest
from websockets.datastructures import Headers as WsHeaders
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection

from gunpy.actors import Mailbox, gun, monitor
from gunpy.protocol import InvalidRequestHeader, InvalidRequestTarget
from gunpy.protocol._messages import BADSTATE_NOT_WS
from tests.aiohttp_peer import AiohttpServer
from tests.helpers import WAIT, exit_reason, open_ws, receive
from tests.peers import (
    EchoServer,
    LeakCheck,
    RawServer,
    read_client_frame,
    read_http_request,
    send_101,
    upgraded_server,
    wait_for,
)


def _open(port: int, opts: dict[str, object] | None = None) -> object:
    conn = gun.open("127.0.0.1", port, {"retry": 0, **(opts or {})})
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    return conn


def test_a_refusal_then_the_server_closes_and_the_retry_upgrades(leak_check: LeakCheck) -> None:
    """websockets' server closes the TCP connection after refusing: gun_down with no stream."""
    refused: list[bool] = []

    def once_unauthorized(ws: ServerConnection, request: Request) -> Response | None:
        if not refused:
            refused.append(True)
            headers = WsHeaders([("set-cookie", "a=1"), ("set-cookie", "b=2"), ("x-why", "1")])
            return Response(401, "Unauthorized", headers, b"who are you?")
        return None

    server = EchoServer(process_request=once_unauthorized)
    try:
        conn = _open(server.port, {"retry": 1})
        monitor(conn)
        ref = gun.ws_upgrade(conn, "/")
        status = gun.await_(conn, ref, WAIT)
        assert status[:3] == ("response", "nofin", 401)
        headers = status[3]
        # Every header, repeated ones apart and in order (h11 keeps them).
        assert [v for n, v in headers if n == "set-cookie"] == ["a=1", "b=2"]
        assert ("x-why", "1") in headers
        assert gun.await_body(conn, ref, WAIT) == ("ok", b"who are you?")
        assert receive("gun_down", conn)[2:] == ("http", "closed", [])  # the stream completed
        assert gun.await_up(conn, WAIT) == ("ok", "http")
        ref2 = gun.ws_upgrade(conn, "/")
        assert gun.await_(conn, ref2, WAIT)[:2] == ("upgrade", ["websocket"])
        gun.shutdown(conn)
        assert exit_reason(conn) == "shutdown"
    finally:
        server.stop()
    leak_check.assert_clean()


def test_aiohttp_refusal_with_chunked_body_and_cookies_then_upgrade(leak_check: LeakCheck) -> None:
    with AiohttpServer() as server:
        jar = CookieJar()
        conn = _open(server.port, {"cookie_store": jar})
        sock_port = gun.info(conn)["sock_port"]
        ref = gun.ws_upgrade(conn, "/deny")
        status = gun.await_(conn, ref, WAIT)
        assert status[:3] == ("response", "nofin", 401)
        cookies = [v.split(";")[0] for n, v in status[3] if n == "set-cookie"]
        assert cookies == ["session=s1", "theme=dark"]
        assert gun.await_body(conn, ref, WAIT) == ("ok", b"log in first")
        assert sorted(cookie.name for cookie in jar) == ["session", "theme"]
        assert gun.info(conn)["state_name"] == "connected"
        # The same connection, the cookie from the refusal: now the upgrade works.
        ref2 = gun.ws_upgrade(conn, "/needs-cookie")
        assert gun.await_(conn, ref2, WAIT)[:2] == ("upgrade", ["websocket"])
        gun.ws_send(conn, ref2, [("text", "héllo"), ("binary", b"\x00\x01")])
        assert gun.await_(conn, ref2, WAIT) == ("ws", ("text", "héllo"))
        assert gun.await_(conn, ref2, WAIT) == ("ws", ("binary", b"\x00\x01"))
        assert gun.info(conn)["sock_port"] == sock_port  # one TCP connection all along
        gun.close(conn)
    leak_check.assert_clean()


def test_aiohttp_refusal_without_the_cookie_then_retry_on_the_same_connection() -> None:
    with AiohttpServer() as server:
        conn = _open(server.port)
        ref = gun.ws_upgrade(conn, "/needs-cookie")
        assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 403)
        assert gun.await_body(conn, ref, WAIT) == ("ok", b"no session")
        ref2 = gun.ws_upgrade(conn, "/ws")
        assert gun.await_(conn, ref2, WAIT)[:2] == ("upgrade", ["websocket"])
        gun.close(conn)


def test_offered_subprotocols_with_none_chosen_still_upgrade(echo_server: EchoServer) -> None:
    conn = _open(echo_server.port)
    ref = gun.ws_upgrade(conn, "/", None, {"protocols": ["chat", "superchat"]})
    result = gun.await_(conn, ref, WAIT)
    assert result[:2] == ("upgrade", ["websocket"])
    assert not [v for n, v in result[2] if n == "sec-websocket-protocol"]
    assert echo_server.requests[-1].headers["sec-websocket-protocol"] == "chat, superchat"
    gun.close(conn)


def test_a_fault_and_a_close_in_one_read_close_with_the_faults_code(
    leak_check: LeakCheck,
) -> None:
    seen: list[tuple[int, bool, bytes]] = []

    def script(sock: socket.socket) -> None:
        # A text frame holding the invalid byte ff, then close 1000, in one write.
        sock.sendall(bytes.fromhex("8101ff880203e8"))
        seen.append(read_client_frame(sock))
        while sock.recv(4096):
            pass

    server = upgraded_server(script)
    try:
        conn, ref, _ = open_ws(server.port)
        result = gun.await_(conn, ref, WAIT)
        assert result[0] == "error" and result[1][1][:2] == ("protocol_error", 1007)
        wait_for(lambda: seen)
        opcode, _, payload = seen[0]
        assert (opcode, int.from_bytes(payload[:2], "big")) == (0x8, 1007)
        # The server's close came after the fault: it is not delivered.
        assert receive("gun_down", conn)[2:] == ("ws", "normal", [ref])
        assert exit_reason(conn) == "normal"
    finally:
        server.stop()
    leak_check.assert_clean()


def test_the_fault_close_goes_out_while_the_owner_leaves_its_mailbox_alone() -> None:
    closes: list[int] = []
    got_close = threading.Event()

    def script(sock: socket.socket) -> None:
        sock.sendall(bytes.fromhex("8101ce"))  # an invalid UTF-8 text frame
        opcode, _, payload = read_client_frame(sock)
        if opcode == 0x8:
            closes.append(int.from_bytes(payload[:2], "big"))
        got_close.set()
        while sock.recv(4096):
            pass

    server = upgraded_server(script)
    try:
        box = Mailbox.current()
        box.send(("unrelated",))
        # A long closing_timeout: a close sent only when it fires cannot pass.
        conn, ref, _ = open_ws(server.port, ws_opts={"closing_timeout": 600_000})
        assert got_close.wait(WAIT)  # the owner has read nothing since the upgrade
        assert closes == [1007]
        result = gun.await_(conn, ref, WAIT)
        assert result[1][1][:2] == ("protocol_error", 1007)
        assert box.receive(lambda m: m == ("unrelated",), WAIT) == ("unrelated",)
        gun.close(conn)
    finally:
        server.stop()


def test_a_send_before_the_upgrade_completes_is_refused_never_written_late() -> None:
    release = threading.Event()
    frames: list[tuple[int, bool, bytes]] = []

    def handler(sock: socket.socket) -> None:
        _, headers = read_http_request(sock)
        release.wait(WAIT)  # the client sends while its upgrade waits for the 101
        send_101(sock, dict(headers)["sec-websocket-key"])
        frames.append(read_client_frame(sock))
        frames.append(read_client_frame(sock))

    server = RawServer(handler)
    try:
        conn = _open(server.port)
        ref = gun.ws_upgrade(conn, "/")
        wait_for(lambda: gun.info(conn)["state_name"] == "connected")
        gun.ws_send(conn, ref, ("text", "early"))
        assert receive("gun_error", conn)[2] == ("badstate", BADSTATE_NOT_WS)
        release.set()
        assert gun.await_(conn, ref, WAIT)[0] == "upgrade"
        gun.ws_send(conn, ref, ("text", "one"))
        gun.ws_send(conn, ref, ("text", "two"))
        wait_for(lambda: len(frames) == 2)
        assert [payload for _, _, payload in frames] == [b"one", b"two"]
        gun.close(conn)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("path", "headers", "error"),
    [
        ("/ok HTTP/1.1\r\nX: 1\r\n\r\nGET /evil", None, InvalidRequestTarget),
        ("/a b", None, InvalidRequestTarget),
        ("/", [("bad name", "v")], InvalidRequestHeader),
        ("/", [("x", "a\r\nb")], InvalidRequestHeader),
        ("/", {"x": "nul\x00"}, InvalidRequestHeader),
    ],
)
def test_bad_request_input_is_refused_before_anything_is_sent(
    path: str, headers: object, error: type[Exception]
) -> None:
    requests: list[str] = []

    def handler(sock: socket.socket) -> None:
        requests.append(read_http_request(sock)[0])
        while sock.recv(4096):
            pass

    server = RawServer(handler)
    try:
        conn = _open(server.port)
        with pytest.raises(error):
            gun.ws_upgrade(conn, path, headers)  # type: ignore[arg-type]
        gun.ws_upgrade(conn, "/after")
        wait_for(lambda: requests)
        assert requests == ["GET /after HTTP/1.1"]
        assert gun.info(conn)["state_name"] == "connected"
        gun.close(conn)
    finally:
        server.stop()


def test_info_tells_the_state_of_the_live_connection(echo_server: EchoServer) -> None:
    conn, ref, _ = open_ws(echo_server.port, ws_opts={"closing_timeout": 600_000})
    assert gun.info(conn)["state_name"] == "connected_ws_only"
    assert gun.info(conn)["protocol"] == "ws"
    gun.ws_send(conn, ref, ("close", 4000, "bye"))
    assert gun.await_(conn, ref, WAIT) == ("ws", ("close", 4000, "bye"))
    assert receive("gun_down", conn)[2:] == ("ws", "normal", [ref])


def test_tls_reads_and_writes_from_several_threads_at_once(tls: Any) -> None:
    """One SSL call at a time: the I/O thread reads while two callers write big frames."""
    server_ctx, client_ctx, _ = tls
    server = EchoServer(ssl_context=server_ctx)
    try:
        opts = {"transport": "tls", "tls_opts": {"context": client_ctx}}
        conn, ref, _ = open_ws(server.port, opts=opts)
        payload = b"\xa5" * 20_000

        def sender() -> None:
            for _ in range(50):
                gun.ws_send(conn, ref, ("binary", payload))

        senders = [threading.Thread(target=sender) for _ in range(2)]
        for thread in senders:
            thread.start()
        for _ in range(100):
            assert gun.await_(conn, ref, WAIT) == ("ws", ("binary", payload))
        for thread in senders:
            thread.join(WAIT)
        gun.close(conn)
    finally:
        server.stop()


# -- Gun 2.2's reply_to forms ------------------------------------------------------------


class _Collector:
    """Where a reply_to function puts what it is given (a module-like object for {M, F, A})."""

    def __init__(self) -> None:
        self.got: list[tuple[Any, ...]] = []
        self.done = threading.Event()

    def take(self, message: Any, *args: Any) -> None:
        self.got.append((message, *args))
        if message[0] == "gun_ws":
            self.done.set()


@pytest.mark.parametrize("form", ["fun", "fun_args", "module_name_args"])
def test_ws_reply_to_takes_gun_function_forms(echo_server: EchoServer, form: str) -> None:
    sink = _Collector()
    reply_to = {
        "fun": sink.take,
        "fun_args": (sink.take, ["extra"]),
        "module_name_args": (sink, "take", ["extra"]),
    }[form]
    conn = _open(echo_server.port)
    ref = gun.ws_upgrade(conn, "/", None, {"reply_to": reply_to})
    wait_for(lambda: any(m[0][0] == "gun_upgrade" for m in sink.got))
    gun.ws_send(conn, ref, ("text", "to a function"))
    assert sink.done.wait(WAIT)
    extra = () if form == "fun" else ("extra",)
    assert sink.got[0][0][:3] == ("gun_upgrade", conn, ref) and sink.got[0][1:] == extra
    assert sink.got[-1] == (("gun_ws", conn, ref, ("text", "to a function")), *extra)
    assert not [m for m in Mailbox.current().messages() if ref in m]  # none went to the owner
    gun.close(conn)


def test_a_reply_to_that_cannot_be_used_is_an_options_error() -> None:
    with pytest.raises(gun.OptionsError) as info:
        gun.open("127.0.0.1", 1, {"ws_opts": {"reply_to": 42}})
    assert info.value.key == "ws_opts.reply_to"
    with pytest.raises(gun.OptionsError):
        gun.open("127.0.0.1", 1, {"ws_opts": {"reply_to": (print, "not a list")}})
