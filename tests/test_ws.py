"""WebSocket behaviour against real servers: Gun's ws_SUITE (HTTP/1.1 cases) and more."""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any

import pykka
import pytest
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection

from gunpy.actors import Mailbox, gun, monitor
from gunpy.protocol import BADSTATE_NOT_WS, BADSTATE_WS_ONLY, InvalidRequestHeader, OptionsError
from tests.helpers import WAIT, exit_reason, no_message_about, open_ws, receive
from tests.peers import (
    EchoServer,
    LeakCheck,
    encode_server_frame,
    read_client_frame,
    upgraded_server,
    wait_for,
)

# -- ws_SUITE ------------------------------------------------------------------


def test_await(echo_server: EchoServer) -> None:
    conn, ref, _ = open_ws(echo_server.port)
    gun.ws_send(conn, ref, ("text", "Hello!"))
    assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "Hello!"))
    gun.close(conn)


def test_headers_normalized_upgrade(echo_server: EchoServer) -> None:
    conn, _, _ = open_ws(echo_server.port, headers={b"X-Bytes": "1", "X-Mixed-Case": b"two"})
    request = echo_server.requests[-1]
    assert request.headers["x-bytes"] == "1"
    assert request.headers["x-mixed-case"] == "two"
    gun.close(conn)


def test_http10_upgrade_error(echo_server: EchoServer) -> None:
    opts = {"retry": 0, "http_opts": {"version": "HTTP/1.0"}}
    conn = gun.open("127.0.0.1", echo_server.port, opts)
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    ref = gun.ws_upgrade(conn, "/")
    result = gun.await_(conn, ref, WAIT)
    assert result[0] == "error" and result[1][0] == "stream_error"
    assert result[1][1][0] == "badstate"
    assert echo_server.requests == []  # nothing was sent
    gun.close(conn)


def test_http11_keepalive(echo_server: EchoServer) -> None:
    conn, ref, _ = open_ws(
        echo_server.port, opts={"ws_opts": {"keepalive": 50, "silence_pings": False}}
    )
    assert gun.await_(conn, ref, WAIT) == ("ws", "pong")
    assert gun.await_(conn, ref, WAIT) == ("ws", "pong")  # periodic, not once
    gun.close(conn)


def test_http11_keepalive_default_silence_pings() -> None:
    def script(sock: socket.socket) -> None:
        for _ in range(3):
            opcode, _, payload = read_client_frame(sock)
            assert opcode == 0x9
            sock.sendall(encode_server_frame(0xA, payload))
        sock.sendall(encode_server_frame(0x1, b"after three pings"))
        read_client_frame(sock)

    server = upgraded_server(script)
    try:
        conn, ref, _ = open_ws(server.port, opts={"ws_opts": {"keepalive": 20}})
        # Three pings went out and were answered, yet the first message is the text.
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "after three pings"))
        gun.close(conn)
    finally:
        server.stop()


def test_http11_ws_only_after_upgrade(echo_server: EchoServer) -> None:
    """Gun's http11_request_error: after the upgrade only WebSocket frames are accepted."""
    conn, _, _ = open_ws(echo_server.port)
    ref2 = gun.ws_upgrade(conn, "/again")
    expected = ("error", ("connection_error", ("badstate", BADSTATE_WS_ONLY)))
    assert gun.await_(conn, ref2, WAIT) == expected
    gun.close(conn)


def _reject(conn: ServerConnection, request: Request) -> Response | None:
    if request.path == "/reject":
        return conn.respond(400, "Rejected.\n")
    return None


def test_reject_upgrade() -> None:
    server = EchoServer(process_request=_reject)
    try:
        conn = gun.open("127.0.0.1", server.port, {"retry": 0})
        assert gun.await_up(conn, WAIT) == ("ok", "http")
        ref = gun.ws_upgrade(conn, "/reject")
        result = gun.await_(conn, ref, WAIT)
        assert result[:3] == ("response", "nofin", 400)
        assert ("content-length", "10") in result[3]
        assert gun.await_body(conn, ref, WAIT) == ("ok", b"Rejected.\n")
        gun.close(conn)
    finally:
        server.stop()


def test_reply_to(echo_server: EchoServer) -> None:
    other = Mailbox("reply-to")
    conn = gun.open("127.0.0.1", echo_server.port, {"retry": 0})
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    ref = gun.ws_upgrade(conn, "/", None, {"reply_to": other})
    assert gun.await_(conn, ref, WAIT, mailbox=other)[0] == "upgrade"
    gun.ws_send(conn, ref, ("text", "to the other mailbox"))
    assert gun.await_(conn, ref, WAIT, mailbox=other) == ("ws", ("text", "to the other mailbox"))
    assert Mailbox.current().messages() == []  # the owner got nothing of the stream
    gun.close(conn)


def test_send_many(echo_server: EchoServer) -> None:
    conn, ref, _ = open_ws(echo_server.port)
    gun.ws_send(conn, ref, [("text", "One"), ("binary", b"Two")])
    assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "One"))
    assert gun.await_(conn, ref, WAIT) == ("ws", ("binary", b"Two"))
    gun.close(conn)


def _raw_echo(sock: socket.socket) -> None:
    """Echo frames in order, the close included: an ordered echo peer."""
    while True:
        opcode, _, payload = read_client_frame(sock)
        sock.sendall(encode_server_frame(opcode, payload))
        if opcode == 0x8:
            return


def test_send_many_close() -> None:
    server = upgraded_server(_raw_echo)
    try:
        conn, ref, _ = open_ws(server.port)
        gun.ws_send(conn, ref, [("text", "One"), ("binary", b"Two"), "close", ("text", "dropped")])
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "One"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("binary", b"Two"))
        assert gun.await_(conn, ref, WAIT) == ("ws", "close")
        assert receive("gun_down", conn)[2:] == ("ws", "normal", [ref])
        assert exit_reason(conn) == "normal"  # and "dropped" was never sent: the echo would show
    finally:
        server.stop()


def test_subprotocol_match() -> None:
    server = EchoServer(subprotocols=["echo"])
    try:
        conn, ref, _ = open_ws(server.port, ws_opts={"protocols": ["dummy", "echo", "junk"]})
        offered = server.requests[-1].headers["sec-websocket-protocol"]
        assert [p.strip() for p in offered.split(",")] == ["dummy", "echo", "junk"]
        wait_for(lambda: server.connections)  # the handler starts after the 101
        assert server.connections[-1].subprotocol == "echo"
        gun.ws_send(conn, ref, ("text", "negotiated"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "negotiated"))
        gun.close(conn)
    finally:
        server.stop()


@pytest.mark.parametrize("offered", [["dummy"], []], ids=["nomatch", "required_but_missing"])
def test_subprotocol_refused_by_server(offered: list[str]) -> None:
    server = EchoServer(subprotocols=["echo"])
    try:
        conn = gun.open("127.0.0.1", server.port, {"retry": 0})
        assert gun.await_up(conn, WAIT) == ("ok", "http")
        ref = gun.ws_upgrade(conn, "/", None, {"protocols": offered})
        result = gun.await_(conn, ref, WAIT)
        assert result[:3] == ("response", "nofin", 400)
        gun.close(conn)
    finally:
        server.stop()


# -- the upgrade ---------------------------------------------------------------


def test_upgrade_request_carries_gun_and_caller_headers(echo_server: EchoServer) -> None:
    conn, _, _ = open_ws(echo_server.port, "/path?q=1", headers=[("authorization", "Bearer t")])
    request = echo_server.requests[-1]
    assert request.path == "/path?q=1"
    assert request.headers["authorization"] == "Bearer t"
    assert request.headers["upgrade"].lower() == "websocket"
    assert request.headers["sec-websocket-version"] == "13"
    assert request.headers["host"] == f"127.0.0.1:{echo_server.port}"
    assert "origin" not in request.headers  # websocket-client adds one unless told not to
    gun.close(conn)


def test_invalid_request_header_raises_in_caller(echo_server: EchoServer) -> None:
    conn = gun.open("127.0.0.1", echo_server.port, {"retry": 0})
    with pytest.raises(InvalidRequestHeader):
        gun.ws_upgrade(conn, "/", [("x-evil", "a\r\nb: c")])
    with pytest.raises(OptionsError) as info:
        gun.ws_upgrade(conn, "/", None, {"flow": 0})
    assert info.value.key == "ws_opts.flow"
    gun.close(conn)


def test_ws_send_on_plain_http_is_badstate(echo_server: EchoServer) -> None:
    conn = gun.open("127.0.0.1", echo_server.port, {"retry": 0})
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    gun.ws_send(conn, None, ("text", "too early"))  # type: ignore[arg-type]
    expected = ("error", ("connection_error", ("badstate", BADSTATE_NOT_WS)))
    assert gun.await_(conn, None, WAIT) == expected
    gun.close(conn)


# -- sending and receiving -----------------------------------------------------


def test_control_frame_over_125_bytes_is_refused_and_the_connection_survives(
    echo_server: EchoServer,
) -> None:
    conn, ref, _ = open_ws(echo_server.port, opts={"ws_opts": {"silence_pings": False}})
    gun.ws_send(conn, ref, [("text", "sent?"), ("ping", b"x" * 126)])
    result = gun.await_(conn, ref, WAIT)
    assert result[0] == "error" and result[1][1][0] == "badframe"
    gun.ws_send(conn, ref, [("ping", b"y" * 125), ("text", "still alive")])
    assert gun.await_(conn, ref, WAIT) == ("ws", ("pong", b"y" * 125))
    assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "still alive"))
    # The list with the bad ping was refused whole: its text never went out.
    assert [m for c in echo_server.received for m in c] == ["still alive"]
    gun.close(conn)


def test_fragmented_messages_are_reassembled() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send(["Frag", "mented ", "text"])
        ws.send([b"\x00", b"\x01\x02"])

    server = EchoServer(handler=handler)
    try:
        conn, ref, _ = open_ws(server.port)
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "Fragmented text"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("binary", b"\x00\x01\x02"))
        gun.close(conn)
    finally:
        server.stop()


def test_server_pings_are_answered_and_silenced_by_default() -> None:
    answered = threading.Event()

    def handler(ws: ServerConnection) -> None:
        if ws.ping(b"are you there").wait(WAIT):
            answered.set()
        ws.send("done")
        for _ in ws:
            pass

    server = EchoServer(handler=handler)
    try:
        conn, ref, _ = open_ws(server.port)
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "done"))  # no ping first
        assert answered.is_set()
        gun.close(conn)
    finally:
        server.stop()


def test_pings_are_delivered_when_not_silenced() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.ping(b"payload").wait(WAIT)
        ws.ping(b"").wait(WAIT)
        for _ in ws:
            pass

    server = EchoServer(handler=handler)
    try:
        conn, ref, _ = open_ws(server.port, ws_opts={"silence_pings": False})
        assert gun.await_(conn, ref, WAIT) == ("ws", ("ping", b"payload"))
        assert gun.await_(conn, ref, WAIT) == ("ws", "ping")
        gun.close(conn)
    finally:
        server.stop()


def test_pykka_actor_owner_gets_messages_and_its_death_closes_with_1001(
    echo_server: EchoServer,
) -> None:
    got = Mailbox("copy-of-actor-messages")

    class Owner(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> None:
            got.send(message)
            if message[0] == "gun_up":
                gun.ws_upgrade(message[1], "/")
            elif message[0] == "gun_upgrade":
                gun.ws_send(message[1], message[2], ("text", "from an actor"))

    owner = Owner.start()
    conn = gun.open("127.0.0.1", echo_server.port, {"retry": 0}, owner=owner)
    monitor(conn)
    assert got.receive(lambda m: m[0] == "gun_ws", WAIT)[3] == ("text", "from an actor")
    owner.stop()
    assert exit_reason(conn) == "normal"
    wait_for(lambda: echo_server.close_codes != [])
    assert echo_server.close_codes[-1][0] == 1001


# -- server faults -------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (encode_server_frame(0x1, b"ok\xff"), 1007),
        (encode_server_frame(0x3, b""), 1002),
        (encode_server_frame(0x1, b"x", rsv=4), 1002),
        (encode_server_frame(0x9, b"", fin=False), 1002),
        (encode_server_frame(0x1, b"masked", mask=b"abcd"), 1002),
        (encode_server_frame(0x2, b"z" * 200), 1009),
    ],
    ids=["invalid_utf8", "reserved_opcode", "rsv_bit", "fragmented_ping", "masked", "too_big"],
)
def test_protocol_errors_close_with_the_right_code(
    bad: bytes, code: int, leak_check: LeakCheck
) -> None:
    seen: list[tuple[int, bool, bytes]] = []

    def script(sock: socket.socket) -> None:
        sock.sendall(encode_server_frame(0x1, b"before") + bad)
        frame = read_client_frame(sock)
        seen.append(frame)
        sock.sendall(encode_server_frame(0x8, frame[2][:2]))  # echo the close code

    server = upgraded_server(script)
    try:
        conn, ref, _ = open_ws(server.port, ws_opts={"max_frame_size": 100})
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "before"))
        result = gun.await_(conn, ref, WAIT)
        assert result[0] == "error" and result[1][1][:2] == ("protocol_error", code)
        # The server's close after the fault only ends the handshake (RFC 6455 7.1.7).
        assert receive("gun_down", conn)[2:] == ("ws", "normal", [ref])
        assert exit_reason(conn) == "normal"
        assert no_message_about(conn)
        assert seen[0][0] == 0x8 and int.from_bytes(seen[0][2][:2], "big") == code
    finally:
        server.stop()
    leak_check.assert_clean()


def test_server_close_is_delivered_and_echoed(leak_check: LeakCheck) -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send("last words")
        ws.close(4000, "bye")

    server = EchoServer(handler=handler)
    try:
        conn, ref, _ = open_ws(server.port)
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "last words"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("close", 4000, "bye"))
        assert receive("gun_down", conn)[2:] == ("ws", "normal", [ref])
        assert exit_reason(conn) == "normal"
        wait_for(lambda: server.close_codes != [])
        assert server.close_codes[-1][0] == 4000  # RFC 6455 5.5.1: the reply echoes the code
    finally:
        server.stop()
    leak_check.assert_clean()


@pytest.mark.parametrize(
    ("cut", "reason"), [("fin", "closed"), ("rst", ("error", "econnreset"))], ids=["fin", "rst"]
)
def test_abrupt_tcp_loss(cut: str, reason: object, leak_check: LeakCheck) -> None:
    def script(sock: socket.socket) -> None:
        sock.sendall(encode_server_frame(0x1, b"one") + encode_server_frame(0x2, b"two"))
        read_client_frame(sock)  # wait until the client has both
        if cut == "rst":
            linger = struct.pack("ii", 1, 0)  # close with an RST
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        sock.close()

    server = upgraded_server(script)
    try:
        conn, ref, _ = open_ws(server.port)
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "one"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("binary", b"two"))
        gun.ws_send(conn, ref, ("text", "go"))
        assert receive("gun_down", conn)[2:] == ("ws", reason, [ref])
        assert exit_reason(conn) == ("shutdown", reason)
    finally:
        server.stop()
    leak_check.assert_clean()


def test_client_close_waits_for_closing_timeout(leak_check: LeakCheck) -> None:
    def script(sock: socket.socket) -> None:
        read_client_frame(sock)
        sock.recv(1)  # never answers the close; returns when the client gives up

    server = upgraded_server(script)
    try:
        conn, ref, _ = open_ws(server.port, ws_opts={"closing_timeout": 100})
        gun.ws_send(conn, ref, ("close", 1000, ""))
        assert receive("gun_down", conn)[2:] == ("ws", "normal", [ref])
        assert exit_reason(conn) == "normal"
    finally:
        server.stop()
    leak_check.assert_clean()


def test_refused_connection_with_retry_0() -> None:
    from tests.peers import ClosedPort

    with ClosedPort() as closed:
        conn = gun.open("127.0.0.1", closed.port, {"retry": 0})
        assert gun.await_up(conn, WAIT) == ("error", ("down", ("shutdown", "econnrefused")))


# -- TLS -----------------------------------------------------------------------


def test_tls_with_trustme_ca(tls: Any, leak_check: LeakCheck) -> None:
    server_ctx, client_ctx, _ = tls
    server = EchoServer(ssl_context=server_ctx)
    try:
        conn, ref, _ = open_ws(
            server.port, opts={"transport": "tls", "tls_opts": {"context": client_ctx}}
        )
        assert gun.info(conn)["transport"] == "tls"
        gun.ws_send(conn, ref, ("text", "secret"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "secret"))
        gun.shutdown(conn)
        assert exit_reason(conn) == "shutdown"
    finally:
        server.stop()
    leak_check.assert_clean()


def test_tls_opts_are_mapped_onto_an_ssl_context(tls: Any) -> None:
    server_ctx, _, ca = tls
    server = EchoServer(ssl_context=server_ctx)
    try:
        # Gun-style tls_opts instead of a ready context: the CA as PEM, the name to check.
        tls_opts = {"cacerts": ca.cert_pem.bytes().decode(), "server_name_indication": "localhost"}
        conn, ref, _ = open_ws(server.port, opts={"transport": "tls", "tls_opts": tls_opts})
        gun.ws_send(conn, ref, ("text", "mapped"))
        assert gun.await_(conn, ref, WAIT) == ("ws", ("text", "mapped"))
        gun.close(conn)
    finally:
        server.stop()


def test_tls_untrusted_certificate_fails_the_attempt(tls: Any) -> None:
    server_ctx, _, _ = tls
    server = EchoServer(ssl_context=server_ctx)
    try:
        conn = gun.open("127.0.0.1", server.port, {"retry": 0, "transport": "tls"})
        result = gun.await_up(conn, WAIT)
        assert result[0] == "error" and result[1][1][0] == "shutdown"
        assert result[1][1][1][0] == "tls_error"
    finally:
        server.stop()


# -- the rest of the API ---------------------------------------------------------


def test_info_and_set_owner(echo_server: EchoServer) -> None:
    conn, _ref, _ = open_ws(echo_server.port)
    info = gun.info(conn)
    assert info["state_name"] == "connected_ws_only"
    assert info["protocol"] == "ws"
    assert info["owner"] is Mailbox.current()
    assert (info["transport"], info["origin_host"], info["origin_port"]) == (
        "tcp",
        "127.0.0.1",
        echo_server.port,
    )
    assert info["sock_ip"] == "127.0.0.1"
    new_owner = Mailbox("new-owner")
    gun.set_owner(conn, new_owner)
    assert gun.info(conn)["owner"] is new_owner
    wait_for(lambda: echo_server.connections)  # the handler starts after the 101
    echo_server.connections[-1].socket.shutdown(socket.SHUT_RDWR)
    assert new_owner.receive(lambda m: m[0] == "gun_down", WAIT)[3] == "closed"
    assert exit_reason(conn) == ("shutdown", "closed")


def test_flush() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send("a")
        ws.send("b")
        ws.close()

    server = EchoServer(handler=handler)
    try:
        conn, ref, _ = open_ws(server.port)
        assert exit_reason(conn) == "normal"
        box = Mailbox.current()
        box.send("unrelated")
        assert gun.flush(ref) == 3  # a, b and the close
        assert [m if m == "unrelated" else m[0] for m in box.messages()] == [
            "gun_down",
            "unrelated",
        ]
        assert gun.flush(conn) == 1
        assert box.messages() == ["unrelated"]
    finally:
        server.stop()
