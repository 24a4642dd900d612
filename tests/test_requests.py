"""Gun's HTTP/1.1 request functions (gun_SUITE's HTTP cases): gun.get, gun.data, gun.cancel,
gun.stream_info, reply_to, keepalive, and requests across reconnects.

Against aiohttp where it serves the case; a scripted `RawServer` where the case is
about bytes on the wire (what the server receives, or a head Gun's case writes by
hand), as Gun's own cases use a raw ``gen_tcp`` origin there.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
from typing import Any

from aiohttp import web

from gunpy.actors import ConnectionRef, Mailbox, ProcessActor, gun, monitor
from gunpy.protocol import Ref
from tests.aiohttp_peer import AiohttpServer
from tests.helpers import WAIT, exit_reason, receive
from tests.peers import ClosedPort, RawServer, read_http_request, wait_for

STREAM_CLOSED = ("badstate", "The stream has already been closed.")
STREAM_NOT_FOUND = ("badstate", "The stream cannot be found.")


def _open(port: int, opts: dict[str, Any] | None = None) -> ConnectionRef:
    conn = gun.open("127.0.0.1", port, opts)
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    return conn


def _until_closed(sock: socket.socket) -> None:
    while sock.recv(4096):
        pass


def _read_until(sock: socket.socket, buffer: bytearray, marker: bytes) -> bytes:
    """Read into ``buffer`` until it holds ``marker``; take and return what ends with it."""
    while marker not in buffer:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("peer closed")
        buffer += chunk
    end = buffer.index(marker) + len(marker)
    taken = bytes(buffer[:end])
    del buffer[:end]
    return taken


def _answer(conn: ConnectionRef, ref: Ref, box: Mailbox | None = None) -> tuple[int, bytes]:
    """Gun's ``{response, nofin, Status, _} = await`` then ``{ok, Body} = await_body``."""
    response = gun.await_(conn, ref, WAIT, box)
    assert response[:2] == ("response", "nofin"), response
    body = gun.await_body(conn, ref, WAIT, box)
    assert body[0] == "ok", body
    return response[2], body[1]


OK_12 = b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nhello world!"


# -- gun_SUITE ------------------------------------------------------------------------


def test_killed_streams_http() -> None:
    """A completed response with connection: close is not a killed stream."""

    def script(sock: socket.socket) -> None:
        read_http_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 12\r\n\r\n"
                     b"hello world!")
        _until_closed(sock)

    server = RawServer(script)
    try:
        conn = _open(server.port)  # Gun's default options: retry 5
        ref = gun.get(conn, "/")
        assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 200)
        assert gun.await_body(conn, ref, WAIT) == ("ok", b"hello world!")
        assert receive("gun_down", conn)[2:] == ("http", "normal", [])
        gun.close(conn)
    finally:
        server.stop()


def test_postpone_request_while_not_connected() -> None:
    """A request made while Gun retries is sent once connected, once."""
    closed = ClosedPort()
    conn = gun.open("127.0.0.1", closed.port, {"retry": 50, "retry_timeout": 50})
    ref = gun.get(conn, "/postponed")  # made while nothing listens
    wait_for(lambda: gun.info(conn)["state_name"] == "not_connected")  # an attempt failed
    lines: list[str] = []

    def script(sock: socket.socket) -> None:
        line, _ = read_http_request(sock)
        lines.append(line)
        sock.sendall(OK_12)
        _until_closed(sock)

    # The server starts on the port only now, so the next retry connects.
    server = RawServer(script, port=closed.port)
    try:
        assert gun.await_up(conn, WAIT) == ("ok", "http")
        assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 200)
        assert gun.await_body(conn, ref, WAIT) == ("ok", b"hello world!")
        assert lines == ["GET /postponed HTTP/1.1"]
        gun.close(conn)
    finally:
        server.stop()


def test_reply_to_http_mailbox(aiohttp_server: AiohttpServer) -> None:
    """Gun's reply_to_http: another process (here a thread's mailbox) gets the stream."""
    conn = _open(aiohttp_server.port)
    box = Mailbox.current()
    mailboxes: queue.Queue[Mailbox] = queue.Queue()
    refs: queue.Queue[Ref] = queue.Queue()

    def reply_to() -> None:
        mailboxes.put(Mailbox.current())
        ref = refs.get(timeout=WAIT)
        box.send(("from reply_to", gun.await_(conn, ref, WAIT)))
        box.send(("from reply_to", gun.await_body(conn, ref, WAIT)))

    thread = threading.Thread(target=reply_to, name="reply-to")
    thread.start()
    ref = gun.get(conn, "/hello", [], {"reply_to": mailboxes.get(timeout=WAIT)})
    refs.put(ref)
    assert receive("from reply_to")[1][:3] == ("response", "nofin", 200)
    assert receive("from reply_to")[1] == ("ok", b"hello /hello")
    thread.join(WAIT)
    assert not [m for m in box.messages() if type(m) is tuple and ref in m]  # none for us
    gun.close(conn)


class _Forwarder(ProcessActor):
    """A pykka actor that forwards what it receives to a mailbox."""

    def __init__(self, inbox: Mailbox) -> None:
        super().__init__()
        self.inbox = inbox

    def handle_message(self, message: Any) -> Any:
        self.inbox.send(message)
        return None


def test_reply_to_http_actor(aiohttp_server: AiohttpServer) -> None:
    """reply_to may be a pykka actor (Gun's reply_to_http with a process)."""
    conn = _open(aiohttp_server.port)
    inbox = Mailbox("actor-inbox")
    actor = _Forwarder.start(inbox)
    ref = gun.get(conn, "/hello", [], {"reply_to": actor})
    assert gun.await_(conn, ref, WAIT, mailbox=inbox)[:3] == ("response", "nofin", 200)
    assert gun.await_body(conn, ref, WAIT, mailbox=inbox) == ("ok", b"hello /hello")
    assert not [m for m in Mailbox.current().messages() if type(m) is tuple and ref in m]
    gun.close(conn)
    actor.stop()


def test_keepalive_infinity() -> None:
    """http_opts keepalive "infinity" is accepted (Gun: the init event comes, then
    the connection to a closed port fails)."""
    events: list[str] = []

    class Handler:  # Gun's gun_test_event_h, for the one event the case looks at
        @staticmethod
        def init(event: dict[str, Any], state: Any) -> Any:
            events.append("init")
            return state

    with ClosedPort() as closed:
        opts = {"event_handler": (Handler, None), "http_opts": {"keepalive": "infinity"},
                "retry": 0}
        conn = gun.open("127.0.0.1", closed.port, opts)
        assert gun.await_up(conn, WAIT) == ("error", ("down", ("shutdown", "econnrefused")))
    assert events == ["init"]
    gun.close(conn)


def test_keepalive_sends_an_empty_line_between_requests() -> None:
    """http_opts keepalive: Gun writes "\\r\\n" while no request body is being sent."""
    between = threading.Event()
    seen: list[bytes] = []

    def script(sock: socket.socket) -> None:
        buffer = bytearray()
        seen.append(_read_until(sock, buffer, b"\r\n\r\n"))
        sock.sendall(OK_12)
        seen.append(_read_until(sock, buffer, b"\r\n"))  # the keepalive
        between.set()
        seen.append(_read_until(sock, buffer, b"\r\n\r\n"))
        sock.sendall(OK_12)
        _until_closed(sock)

    server = RawServer(script)
    try:
        conn = _open(server.port, {"http_opts": {"keepalive": 100}, "retry": 0})
        ref1 = gun.get(conn, "/one")
        assert _answer(conn, ref1) == (200, b"hello world!")
        assert between.wait(WAIT)
        ref2 = gun.get(conn, "/two")
        assert _answer(conn, ref2) == (200, b"hello world!")
        assert seen[0].startswith(b"GET /one HTTP/1.1\r\n")
        assert seen[1] == b"\r\n"
        # What came before the second request is empty lines only (one per keepalive).
        before, _, rest = seen[2].partition(b"GET /two HTTP/1.1\r\n")
        assert rest and before == b"\r\n" * (len(before) // 2)
        gun.close(conn)
    finally:
        server.stop()


def test_retry_1_after_connection_close_serves_new_requests_only() -> None:
    """retry_1_disconnect for requests: after a connection: close answer with retry 1,
    the connection comes back at once and serves a new request; the request that was
    in the pipeline of the closed connection is cut (closing), not replayed."""
    lines: list[list[str]] = []
    lock = threading.Lock()

    def script(sock: socket.socket) -> None:
        with lock:
            lines.append([])
            mine = lines[-1]
            first = len(lines) == 1
        if first:
            # Both requests are read, so the second is surely in the pipeline.
            for _ in range(2):
                mine.append(read_http_request(sock)[0])
            sock.sendall(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 3\r\n\r\nbye")
            _until_closed(sock)
            return
        while True:
            mine.append(read_http_request(sock)[0])
            sock.sendall(OK_12)

    server = RawServer(script)
    try:
        conn = _open(server.port, {"retry": 1, "retry_timeout": 60_000})
        monitor(conn)
        ref1 = gun.get(conn, "/one")
        ref2 = gun.get(conn, "/two")
        assert _answer(conn, ref1) == (200, b"bye")
        assert gun.await_(conn, ref2, WAIT) == ("error", ("stream_error", "closing"))
        assert receive("gun_down", conn)[2:] == ("http", "normal", [])
        # With a 60 s retry_timeout only the immediate first reconnect comes within WAIT.
        assert receive("gun_up", conn)[2] == "http"
        ref3 = gun.get(conn, "/three")
        assert _answer(conn, ref3) == (200, b"hello world!")
        assert lines == [["GET /one HTTP/1.1", "GET /two HTTP/1.1"], ["GET /three HTTP/1.1"]]
        gun.close(conn)
        assert exit_reason(conn) == "shutdown"
    finally:
        server.stop()


def test_stream_info_http() -> None:
    """Gun's stream_info_http: undefined, running, stopping once cancelled, undefined
    once the answer is in, not_connected once the connection is gone."""
    answer = threading.Event()

    def script(sock: socket.socket) -> None:
        read_http_request(sock)
        assert answer.wait(WAIT)  # Gun's origin waits for the cancel
        sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        _until_closed(sock)

    server = RawServer(script)
    try:
        # Retries to a port that will be closed keep the connection in not_connected.
        conn = _open(server.port, {"retry": 5, "retry_timeout": 60_000})
        assert gun.stream_info(conn, Ref()) == ("ok", None)
        ref = gun.get(conn, "/")
        me = Mailbox.current()
        assert gun.stream_info(conn, ref) == ("ok", {"ref": ref, "reply_to": me,
                                                     "state": "running"})
        gun.cancel(conn, ref)
        assert gun.stream_info(conn, ref) == ("ok", {"ref": ref, "reply_to": me,
                                                     "state": "stopping"})
        answer.set()
        wait_for(lambda: gun.stream_info(conn, ref) == ("ok", None))
        server.stop()  # the connection is lost, the immediate retry refused
        assert receive("gun_down", conn)[2:] == ("http", "closed", [])
        assert gun.stream_info(conn, ref) == ("error", "not_connected")
        # A cancelled stream gets no message at all.
        assert not [m for m in me.messages() if type(m) is tuple and ref in m]
        gun.close(conn)
    finally:
        answer.set()
        server.stop()


# -- gun.data and gun.cancel on streams that take none (gun_http:data/7, cancel/5) ----------
#
# Gun 2.4.1's gun_http:data/7 decides by what is being sent, not by the ref:
#   data(State=#http_state{out=head}, ...) -> error_stream_closed   (no body in progress:
#       "The stream has already been closed.", whatever the ref)
#   otherwise, unless lists:last(Streams) is #stream{ref=StreamRef, is_alive=true}
#       -> error_stream_not_found  ("The stream cannot be found.")
# gun_http:cancel/5 answers error_stream_not_found unless is_stream(State, StreamRef).


def test_data_on_a_finished_request_is_already_closed(aiohttp_server: AiohttpServer) -> None:
    """The answer is in, nothing is being sent: out=head."""
    conn = _open(aiohttp_server.port)
    ref = gun.post(conn, "/echo", [], b"body")
    assert _answer(conn, ref) == (200, b"body")
    gun.data(conn, ref, "fin", b"more")
    assert receive("gun_error", conn) == ("gun_error", conn, ref, STREAM_CLOSED)
    gun.close(conn)


def test_data_on_a_request_awaiting_its_answer_is_already_closed(
    aiohttp_server: AiohttpServer,
) -> None:
    conn = _open(aiohttp_server.port)
    ref = gun.get(conn, "/delayed?ms=200")
    gun.data(conn, ref, "fin", b"more")  # its (empty) body is sent: no more
    assert receive("gun_error", conn) == ("gun_error", conn, ref, STREAM_CLOSED)
    assert _answer(conn, ref) == (200, b"hello /delayed")
    gun.close(conn)


def test_data_on_an_unknown_ref_while_idle(aiohttp_server: AiohttpServer) -> None:
    """Gun 2.4.1 checks ``out=head`` first (gun_http.erl, data/7: no body is being sent,
    so nothing can take data) and answers "already been closed" for any ref."""
    conn = _open(aiohttp_server.port)
    ref = Ref()
    gun.data(conn, ref, "fin", b"body")
    assert receive("gun_error", conn) == ("gun_error", conn, ref, STREAM_CLOSED)
    gun.close(conn)


def test_data_on_an_unknown_ref_while_a_body_is_sent(aiohttp_server: AiohttpServer) -> None:
    """While a body is being sent only the stream sending it takes data (Gun: the
    last stream); another ref "cannot be found"."""
    conn = _open(aiohttp_server.port)
    ref = gun.headers(conn, "POST", "/echo", {"content-length": "4"})
    other = Ref()
    gun.data(conn, other, "fin", b"body")
    assert receive("gun_error", conn) == ("gun_error", conn, other, STREAM_NOT_FOUND)
    gun.data(conn, ref, "fin", b"body")
    assert _answer(conn, ref) == (200, b"body")
    gun.close(conn)


def test_data_on_an_earlier_stream_while_a_body_is_sent(aiohttp_server: AiohttpServer) -> None:
    """Gun answers "cannot be found" when the ref is not the last stream (the one
    whose body is being sent), even for a stream it has (gun_http.erl data/7)."""
    conn = _open(aiohttp_server.port)
    earlier = gun.get(conn, "/delayed?ms=200")
    ref = gun.headers(conn, "POST", "/echo", {"content-length": "4"})
    gun.data(conn, earlier, "fin", b"body")
    assert receive("gun_error", conn) == ("gun_error", conn, earlier, STREAM_NOT_FOUND)
    gun.data(conn, ref, "fin", b"body")
    assert _answer(conn, earlier) == (200, b"hello /delayed")
    assert _answer(conn, ref) == (200, b"body")
    gun.close(conn)


def test_cancel_an_unknown_ref(aiohttp_server: AiohttpServer) -> None:
    conn = _open(aiohttp_server.port)
    ref = Ref()
    gun.cancel(conn, ref)
    assert receive("gun_error", conn) == ("gun_error", conn, ref, STREAM_NOT_FOUND)
    gun.close(conn)


def test_cancel_a_finished_request(aiohttp_server: AiohttpServer) -> None:
    conn = _open(aiohttp_server.port)
    ref = gun.get(conn, "/hello")
    assert _answer(conn, ref) == (200, b"hello /hello")
    gun.cancel(conn, ref)
    assert receive("gun_error", conn) == ("gun_error", conn, ref, STREAM_NOT_FOUND)
    gun.close(conn)


def test_unix_socket_connect(tmp_path: Any) -> None:
    # gun_SUITE's unix_socket_connect, against aiohttp's server on a Unix domain socket.
    path = str(tmp_path / "gun.sock")
    loop = asyncio.new_event_loop()

    async def whoami(request: web.Request) -> web.Response:
        return web.Response(text=f"host={request.headers.get('host')}")

    app = web.Application()
    app.router.add_get("/", whoami)
    runner = web.AppRunner(app)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.UnixSite(runner, path).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    thread = threading.Thread(target=serve, name="peer-aiohttp-unix", daemon=True)
    thread.start()
    try:
        assert ready.wait(WAIT)
        conn = gun.open_unix(path, {"retry": 0})
        assert gun.await_up(conn, WAIT) == ("ok", "http")
        assert gun.info(conn)["origin_host"] == "localhost"
        ref = gun.get(conn, "/")
        assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 200)
        assert gun.await_body(conn, ref, WAIT) == ("ok", b"host=localhost")
        gun.close(conn)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT)
