"""HTTP/1.1 (and 1.0) on a gunpy connection, against real servers: aiohttp's and http.server.

Pipelining, bodies both ways, flow, connection: close, a server dying mid-body,
cookies, the upgrade among requests, cancel, http_opts, and bad input raising
in the caller. Messages are checked in Gun's shapes.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.cookiejar import CookieJar
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from gunpy.actors import ConnectionRef, Mailbox, gun, monitor
from gunpy.actors._process import process_of
from gunpy.protocol import (
    InvalidRequestHeader,
    InvalidRequestTarget,
    OptionsError,
    Ref,
    StreamReply,
    gun_data_h,
)
from tests.aiohttp_peer import AiohttpServer
from tests.helpers import WAIT, exit_reason, open_for_pipeline, receive
from tests.peers import ClosedPort, LeakCheck, wait_for

WS_ONLY = ("badstate", "This connection only accepts Websocket frames.")
HTTP10_WS = ("badstate", "Websocket cannot be used over an HTTP/1.0 connection.")
QUIET = 0.2  # seconds of "nothing arrived": never an assertion about speed
LARGE = 4 * 1024 * 1024


@pytest.fixture
def port(aiohttp_server: AiohttpServer) -> int:
    """aiohttp's server (session-scoped): its routes are in tests.aiohttp_peer."""
    return aiohttp_server.port


@pytest.fixture
def conn(port: int) -> Iterator[ConnectionRef]:
    """A connection (retry 0) to aiohttp's server, up; closed after the test."""
    conn = _open(port)
    yield conn
    gun.close(conn)


def _open(port: int, opts: dict[str, Any] | None = None) -> ConnectionRef:
    conn = gun.open("127.0.0.1", port, {"retry": 0, **(opts or {})})
    assert gun.await_up(conn, WAIT) == ("ok", "http")
    return conn


def _about(ref: Ref) -> Any:
    return lambda m: type(m) is tuple and len(m) > 3 and m[2] is ref


def _answer(conn: ConnectionRef, ref: Ref) -> tuple[int, dict[str, str], bytes]:
    """Gun's ``{response, nofin, Status, Headers}`` then ``{ok, Body}`` (``fin``: no body)."""
    response = gun.await_(conn, ref, WAIT)
    assert response[0] == "response", response
    if response[1] == "fin":  # Gun: a HEAD, a 204/304 or content-length: 0
        return response[2], dict(response[3]), b""
    body = gun.await_body(conn, ref, WAIT)
    assert body[0] == "ok", body
    return response[2], dict(response[3]), body[1]


def _stream(ref: Ref) -> list[tuple[Any, ...]]:
    """Stream ``ref``'s raw messages up to its end (a fin, or an error)."""
    got: list[tuple[Any, ...]] = []
    while True:
        m = Mailbox.current().receive(_about(ref), WAIT)
        got.append(m)
        if m[0] == "gun_error" or (m[0] in ("gun_response", "gun_data") and m[3] == "fin"):
            return got


def _nothing_for(ref: Ref) -> bool:
    """True if no message of ``ref`` arrives for a moment (consumes one that does)."""
    try:
        Mailbox.current().receive(_about(ref), QUIET)
    except TimeoutError:
        return True
    return False


def _no_message_of(*refs: Ref) -> bool:
    box = Mailbox.current()
    return not [m for m in box.messages() if type(m) is tuple and any(r in m for r in refs)]


# -- keep-alive, pipelining, bodies --------------------------------------------------------
def test_pipelined_requests_are_answered_in_order(port: int, leak_check: LeakCheck) -> None:
    conn = _open(port)
    sock_port = gun.info(conn)["sock_port"]
    paths = ["/delayed?ms=200", "/delayed?ms=100", "/hello", "/chunked", "/whoami"]
    refs = [gun.get(conn, path) for path in paths]  # all issued before any answer
    assert [receive("gun_response", conn)[2] for _ in refs] == refs
    bodies = [gun.await_body(conn, ref, WAIT)[1] for ref in refs]
    assert bodies == [b"hello /delayed"] * 2 + [b"hello /hello", b"part0 part1 part2 ", b"nobody"]
    info = gun.info(conn)
    assert (info["state_name"], info["sock_port"]) == ("connected", sock_port)
    gun.close(conn)
    leak_check.assert_clean()


def test_a_chunked_response_is_a_nofin_head_then_data_the_last_fin(conn: ConnectionRef) -> None:
    ref = gun.get(conn, "/chunked?parts=3&gap=20")
    head, *parts = _stream(ref)
    assert head[:5] == ("gun_response", conn, ref, "nofin", 200)
    assert ("transfer-encoding", "chunked") in head[5]
    assert all(m[:3] == ("gun_data", conn, ref) for m in parts)
    assert [m[3] for m in parts] == ["nofin"] * (len(parts) - 1) + ["fin"]
    assert all(m[4] for m in parts[:-1])  # no empty nofin part
    assert b"".join(m[4] for m in parts) == b"part0 part1 part2 "


def test_head_is_a_fin_response_and_no_data(conn: ConnectionRef) -> None:
    ref, after = gun.head(conn, "/hello"), gun.get(conn, "/hello")
    response = gun.await_(conn, ref, WAIT)
    assert response[:3] == ("response", "fin", 200)
    assert dict(response[3])["content-length"] == "12"
    assert _answer(conn, after)[2] == b"hello /hello"
    assert _no_message_of(ref)  # anything for it would have come before `after`'s answer


@pytest.mark.parametrize("body", [b"bytes \x00\xff body", "str body: h\u00e9llo"])
def test_a_post_body_is_echoed_with_its_length(conn: ConnectionRef, body: Any) -> None:
    # The caller's framing headers give way to the body's own content-length, as in Gun.
    framing = [("content-length", "999"), ("transfer-encoding", "chunked")]
    status, headers, echoed = _answer(conn, gun.post(conn, "/echo", framing, body))
    raw = body.encode() if isinstance(body, str) else body
    assert (status, echoed, headers["x-method"]) == (200, raw, "POST")
    assert headers["x-length"] == str(len(raw))


def test_every_method_reaches_the_server_by_name(conn: ConnectionRef) -> None:
    refs = {
        "PUT": gun.request(conn, "PUT", "/echo", [], b"put"),
        "PATCH": gun.patch(conn, "/echo", [], b"patch"),
        "DELETE": gun.delete(conn, "/echo"),
        "OPTIONS": gun.options(conn, "/echo"),
        "PURGE": gun.request(conn, "PURGE", "/echo"),
    }
    for method, ref in refs.items():
        with_body = method in ("PUT", "PATCH")
        response = gun.await_(conn, ref, WAIT)  # content-length: 0 is fin at once, as in Gun
        assert response[:3] == ("response", "nofin" if with_body else "fin", 200)
        assert dict(response[3])["x-method"] == method
        if with_body:
            assert gun.await_body(conn, ref, WAIT) == ("ok", method.lower().encode())


@pytest.mark.parametrize("length", [None, "15"], ids=["chunked", "content-length"])
def test_a_body_streamed_with_data_is_sent_whole(conn: ConnectionRef, length: str | None) -> None:
    # gun.post without a body is Gun's post/3; gun.headers gives the length itself.
    ref = (gun.post(conn, "/echo") if length is None
           else gun.headers(conn, "PUT", "/echo", {"content-length": length}))
    for part in (b"one ", b"", b"two ", "thr\u00e9e"):  # an empty nofin part is ignored
        gun.data(conn, ref, "nofin", part)
    gun.data(conn, ref, "fin", b"!")
    _, headers, body = _answer(conn, ref)
    assert (body, headers["x-length"]) == ("one two thr\u00e9e!".encode(), "15")
    assert headers["x-method"] == ("POST" if length is None else "PUT")
    assert ("transfer-encoding" in headers["x-headers"].split(",")) is (length is None)


def test_a_request_made_while_a_body_streams_waits_for_its_fin(conn: ConnectionRef) -> None:
    ref = gun.headers(conn, "POST", "/echo")
    waiting = gun.get(conn, "/hello")
    gun.data(conn, ref, "nofin", b"first half, ")
    assert _nothing_for(waiting)
    gun.data(conn, ref, "fin", b"second half")
    assert _answer(conn, ref)[2] == b"first half, second half"
    assert _answer(conn, waiting)[2] == b"hello /hello"


def test_expect_100_continue_gives_an_inform_then_the_response(conn: ConnectionRef) -> None:
    ref = gun.post(conn, "/echo", {"expect": "100-continue"}, b"payload")
    assert receive("gun_inform", conn) == ("gun_inform", conn, ref, 100, [])
    assert _answer(conn, ref)[::2] == (200, b"payload")


# -- flow control ------------------------------------------------------------------------
def _one_at_a_time_then_the_rest(conn: ConnectionRef, ref: Ref) -> None:
    assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 200)
    first = gun.await_(conn, ref, WAIT)
    assert first[:2] == ("data", "nofin")
    assert _nothing_for(ref)  # no credit left: gunpy stops reading
    gun.update_flow(conn, ref, 1)
    second = gun.await_(conn, ref, WAIT)
    assert second[:2] == ("data", "nofin")
    assert _nothing_for(ref)
    gun.update_flow(conn, ref, 1_000_000)
    rest = gun.await_body(conn, ref, WAIT)
    assert rest[0] == "ok"
    assert first[2] + second[2] + rest[1] == bytes(LARGE)


def test_req_opts_flow_holds_a_large_body_until_update_flow(conn: ConnectionRef) -> None:
    _one_at_a_time_then_the_rest(conn, gun.get(conn, f"/large?size={LARGE}", None, {"flow": 1}))
    assert _answer(conn, gun.get(conn, "/hello"))[2] == b"hello /hello"  # no flow: all of it


def test_http_opts_flow_is_the_default_of_every_request(port: int) -> None:
    conn = _open(port, {"http_opts": {"flow": 1}})
    _one_at_a_time_then_the_rest(conn, gun.get(conn, f"/large?size={LARGE}"))
    gun.close(conn)


def test_cancelling_a_stream_out_of_credit_lets_the_next_through(conn: ConnectionRef) -> None:
    ref = gun.get(conn, f"/large?size={LARGE}", None, {"flow": 1})
    after = gun.get(conn, "/hello")
    assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 200)
    assert gun.await_(conn, ref, WAIT)[:2] == ("data", "nofin")
    gun.cancel(conn, ref)  # Gun would stay stalled here; gunpy reads (and drops) the rest
    assert _answer(conn, after)[2] == b"hello /hello"
    assert _no_message_of(ref)


# -- the connection ends -----------------------------------------------------------------
def test_connection_close_answers_then_goes_down_normal(port: int, leak_check: LeakCheck) -> None:
    conn = _open(port)
    monitor(conn)
    status, headers, body = _answer(conn, gun.get(conn, "/close"))
    assert (status, body, headers["connection"].lower()) == (200, b"bye", "close")
    assert receive("gun_down", conn) == ("gun_down", conn, "http", "normal", [])
    assert exit_reason(conn) == "normal"
    leak_check.assert_clean()


def test_requests_pipelined_behind_a_connection_close_get_closing(port: int) -> None:
    conn = _open(port)
    monitor(conn)
    first = gun.get(conn, "/delayed?ms=200")  # the three behind it are written meanwhile
    closes, behind, also = gun.get(conn, "/close"), gun.get(conn, "/hello"), gun.get(conn, "/")
    assert _answer(conn, first)[2] == b"hello /delayed"
    assert _answer(conn, closes)[2] == b"bye"
    assert receive("gun_error", conn) == ("gun_error", conn, behind, "closing")
    assert receive("gun_error", conn) == ("gun_error", conn, also, "closing")
    assert receive("gun_down", conn) == ("gun_down", conn, "http", "normal", [])
    assert exit_reason(conn) == "normal"


def test_a_request_saying_connection_close_is_the_last_one(port: int) -> None:
    conn = open_for_pipeline(port)
    last = gun.get(conn, "/hello", {"connection": "close"})
    behind = gun.get(conn, "/hello")
    assert _answer(conn, last)[2] == b"hello /hello"
    assert receive("gun_error", conn) == ("gun_error", conn, behind, "closing")
    assert receive("gun_down", conn) == ("gun_down", conn, "http", "normal", [])
    assert exit_reason(conn) == "normal"


def test_with_retries_left_it_comes_back_and_old_requests_are_not_replayed(port: int) -> None:
    conn = _open(port, {"retry": 1, "retry_timeout": 60_000})
    first = gun.get(conn, "/delayed?ms=200")
    closes, behind = gun.get(conn, "/close"), gun.get(conn, "/whoami")
    assert _answer(conn, first)[2] == b"hello /delayed"
    assert _answer(conn, closes)[2] == b"bye"
    assert gun.await_(conn, behind, WAIT) == ("error", ("stream_error", "closing"))
    assert receive("gun_down", conn) == ("gun_down", conn, "http", "normal", [])
    assert receive("gun_up", conn) == ("gun_up", conn, "http")
    assert _answer(conn, gun.get(conn, "/hello"))[2] == b"hello /hello"
    assert _no_message_of(first, closes, behind)  # a replay would have answered first
    gun.close(conn)


def test_a_server_dying_mid_body_gives_closed_then_gun_down(port: int) -> None:
    conn = _open(port)
    monitor(conn)
    ref = gun.get(conn, "/die")
    head, *parts, error = _stream(ref)
    assert head[:5] == ("gun_response", conn, ref, "nofin", 200)
    assert dict(head[5])["content-length"] == "100"
    assert all(m[:4] == ("gun_data", conn, ref, "nofin") for m in parts)
    assert b"".join(m[4] for m in parts) == b"0123456789"
    assert error == ("gun_error", conn, ref, "closed")
    assert receive("gun_down", conn) == ("gun_down", conn, "http", "closed", [ref])
    assert exit_reason(conn) == ("shutdown", "closed")


# -- cookies and the upgrade among requests ----------------------------------------------
def test_cookie_store_sends_the_session_cookie_back(port: int) -> None:
    jar = CookieJar()
    conn = _open(port, {"cookie_store": jar})
    assert _answer(conn, gun.post(conn, "/login", [], b""))[2] == b"welcome"
    assert [(c.name, c.value) for c in jar] == [("session", "s1")]
    assert _answer(conn, gun.get(conn, "/whoami"))[2] == b"s1"
    gun.close(conn)


def test_log_in_then_upgrade_on_the_same_connection(port: int) -> None:
    # The README's example: log in over HTTP; the WebSocket then needs the cookie.
    conn = _open(port, {"cookie_store": CookieJar()})
    sock_port = gun.info(conn)["sock_port"]
    login = gun.post(conn, "/login", [("content-type", "application/json")], b'{"user":"me"}')
    assert _answer(conn, login)[::2] == (200, b"welcome")
    ws = gun.ws_upgrade(conn, "/needs-cookie")
    assert gun.await_(conn, ws, WAIT)[:2] == ("upgrade", ["websocket"])
    gun.ws_send(conn, ws, ("text", "hello"))
    assert gun.await_(conn, ws, WAIT) == ("ws", ("text", "hello"))
    assert gun.info(conn)["sock_port"] == sock_port
    gun.close(conn)


def test_a_request_after_the_upgrade_is_refused_the_websocket_goes_on(conn: ConnectionRef) -> None:
    ws = gun.ws_upgrade(conn, "/ws")
    assert gun.await_(conn, ws, WAIT)[:2] == ("upgrade", ["websocket"])
    ref = gun.get(conn, "/hello")
    assert receive("gun_error", conn) == ("gun_error", conn, WS_ONLY)
    gun.ws_send(conn, ws, ("binary", b"\x01\x02"))
    assert gun.await_(conn, ws, WAIT) == ("ws", ("binary", b"\x01\x02"))
    assert _no_message_of(ref)


def test_an_upgrade_waits_for_the_answers_before_it(conn: ConnectionRef) -> None:
    slow, quick = gun.get(conn, "/delayed?ms=200"), gun.get(conn, "/hello")
    ws = gun.ws_upgrade(conn, "/ws")
    late = gun.get(conn, "/hello")  # behind the upgrade, issued before its 101
    box, seen = Mailbox.current(), list[tuple[str, Ref]]()
    while not seen or seen[-1][0] != "gun_upgrade":
        m = box.receive(lambda m: type(m) is tuple and m[1] is conn and len(m) > 3, WAIT)
        seen.append((m[0], m[2]))
    steps = [step for step, _ in itertools.groupby(seen)]  # gun_data may come in parts
    assert steps == [("gun_response", slow), ("gun_data", slow), ("gun_response", quick),
                     ("gun_data", quick), ("gun_upgrade", ws)]
    assert receive("gun_error", conn) == ("gun_error", conn, WS_ONLY)
    gun.ws_send(conn, ws, ("text", "after"))
    assert gun.await_(conn, ws, WAIT) == ("ws", ("text", "after"))
    assert _no_message_of(late)


def test_a_refused_upgrade_lets_the_next_request_through(conn: ConnectionRef) -> None:
    sock_port = gun.info(conn)["sock_port"]
    ws, after = gun.ws_upgrade(conn, "/deny"), gun.get(conn, "/hello")
    assert _answer(conn, ws)[::2] == (401, b"log in first")
    assert _answer(conn, after)[::2] == (200, b"hello /hello")
    assert gun.info(conn)["sock_port"] == sock_port


# -- cancel and stream_info --------------------------------------------------------------
def test_a_cancelled_request_gets_nothing_and_the_next_is_answered(conn: ConnectionRef) -> None:
    me = Mailbox.current()
    ref, after = gun.get(conn, "/delayed?ms=200"), gun.get(conn, "/hello")
    assert gun.stream_info(conn, ref) == ("ok", {"ref": ref, "reply_to": me, "state": "running"})
    gun.cancel(conn, ref)
    assert gun.stream_info(conn, ref)[1]["state"] == "stopping"
    assert gun.stream_info(conn, Ref()) == ("ok", None)
    assert _answer(conn, after)[2] == b"hello /hello"
    assert _no_message_of(ref)
    assert gun.stream_info(conn, ref) == ("ok", None)  # its answer is over


def test_stream_info_while_not_connected() -> None:
    with ClosedPort() as closed:
        conn = gun.open("127.0.0.1", closed.port, {"retry": 10, "retry_timeout": 60_000})
        wait_for(lambda: gun.info(conn)["retries_left"] == 8)  # waiting 60 s to retry
        assert gun.info(conn)["state_name"] == "not_connected"
        assert gun.stream_info(conn, Ref()) == ("error", "not_connected")
        gun.close(conn)


# -- http_opts ---------------------------------------------------------------------------
def test_transform_header_name_renames_what_is_sent(port: int) -> None:
    conn = _open(port, {"http_opts": {"transform_header_name": str.title}})
    ref = gun.post(conn, "/echo", {"x-custom-name": "1"}, b"abc")
    names = _answer(conn, ref)[1]["x-headers"].split(",")
    assert sorted(names) == ["Content-Length", "Host", "X-Custom-Name"]
    gun.close(conn)


class Upper:
    """A content handler (Gun's gun_content_handler): upper-cases, adds opts' suffix, passes on."""

    @staticmethod
    def init(reply: StreamReply, ref: Ref, status: int, headers: Any, opts: Any) -> Any:
        return ("ok", opts["suffix"])

    @staticmethod
    def handle(fin: str, data: bytes, suffix: bytes) -> Any:
        return ("ok", data.upper() + suffix, 0, suffix)


def test_content_handlers_run_in_chain_before_gun_data_h(port: int) -> None:
    chain = [(Upper, {"suffix": b"|"}), gun_data_h]
    conn = _open(port, {"http_opts": {"content_handlers": chain}})
    ref = gun.get(conn, "/chunked?parts=2")
    head, *parts = _stream(ref)
    assert head[:5] == ("gun_response", conn, ref, "nofin", 200)
    assert all(m[:3] == ("gun_data", conn, ref) and m[4].endswith(b"|") for m in parts)
    assert b"".join(m[4] for m in parts).replace(b"|", b"") == b"PART0 PART1 "
    gun.close(conn)


# -- HTTP/1.0 against http.server --------------------------------------------------------
class _Http10(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.requestline)
        body = f"hello {self.path}".encode()
        self.send_response(200)
        if self.path != "/until-close":
            self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def http10_port() -> Iterator[int]:
    _Http10.seen.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Http10)
    thread = threading.Thread(target=server.serve_forever, name="peer-http10", daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(WAIT)


def test_http_1_0_answers_one_request_then_the_connection_ends(http10_port: int) -> None:
    conn = open_for_pipeline(http10_port, {"http_opts": {"version": "HTTP/1.0"}})
    ref, behind = gun.get(conn, "/sized"), gun.get(conn, "/second")
    assert _answer(conn, ref)[::2] == (200, b"hello /sized")
    assert receive("gun_error", conn) == ("gun_error", conn, behind, "closing")
    assert receive("gun_down", conn) == ("gun_down", conn, "http", "normal", [])
    assert exit_reason(conn) == "normal"
    assert _Http10.seen == ["GET /sized HTTP/1.0"]


def test_http_1_0_body_until_close_ends_as_gun_does(http10_port: int) -> None:
    conn = _open(http10_port, {"http_opts": {"version": "HTTP/1.0"}})
    monitor(conn)
    ref = gun.get(conn, "/until-close")
    assert _answer(conn, ref)[::2] == (200, b"hello /until-close")
    # Gun (gun_http:close/4, in=body_close): the peer's close ends the body, then
    # gun_down with reason closed (its killed list, [Ref], is a quirk not checked here).
    assert receive("gun_down", conn)[:4] == ("gun_down", conn, "http", "closed")
    assert exit_reason(conn) == ("shutdown", "closed")


def test_ws_upgrade_on_http_1_0_is_a_badstate_stream_error(http10_port: int) -> None:
    conn = _open(http10_port, {"http_opts": {"version": "HTTP/1.0"}})
    ws = gun.ws_upgrade(conn, "/ws")
    assert receive("gun_error", conn) == ("gun_error", conn, ws, HTTP10_WS)
    assert _answer(conn, gun.get(conn, "/after"))[2] == b"hello /after"  # nothing was sent
    assert _Http10.seen == ["GET /after HTTP/1.0"]
    gun.close(conn)


# -- bad input raises in the caller ------------------------------------------------------
def test_bad_input_raises_before_anything_is_sent(conn: ConnectionRef) -> None:
    with pytest.raises(ValueError, match="method"):
        gun.request(conn, "GE T", "/echo")
    for bad in ({"bad name": "x"}, {"x-split": "a\r\nb"}, {"content-length": "ten"}):
        with pytest.raises(InvalidRequestHeader):
            gun.headers(conn, "POST", "/echo", bad)
    for path in ("/with space", "/snow\u2603man", ""):
        with pytest.raises(InvalidRequestTarget):
            gun.get(conn, path)
    bad_opts: list[Any] = [{"bogus": 1}, {"flow": 0}, ["flow"]]
    for req_opts in bad_opts:
        with pytest.raises(OptionsError):
            gun.get(conn, "/echo", None, req_opts)
    assert _answer(conn, gun.get(conn, "/hello"))[2] == b"hello /hello"  # nothing else went out
    assert Mailbox.current().messages() == []


NODE_TRAILERS = """
const http = require('http');
const server = http.createServer((req, res) => {
  res.writeHead(200, {'trailer': 'x-checksum', 'content-type': 'text/plain'});
  res.write('hello ');
  res.write('world');
  res.addTrailers({'x-checksum': 'abc123'});
  res.end();
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_trailers_from_nodes_http_server() -> None:
    # aiohttp and http.server cannot send trailers; Node's http module can.
    node = subprocess.Popen(["node", "-e", NODE_TRAILERS], stdout=subprocess.PIPE, text=True)
    try:
        assert node.stdout is not None
        node_port = int(node.stdout.readline().split()[1])
        conn = _open(node_port)
        ref = gun.get(conn, "/")
        assert gun.await_(conn, ref, WAIT)[:3] == ("response", "nofin", 200)
        assert gun.await_body(conn, ref, WAIT) == ("ok", b"hello world", [("x-checksum", "abc123")])
        assert _no_message_of(ref)  # gun_trailers was the last message of the stream
        gun.close(conn)
    finally:
        node.kill()
        node.wait(WAIT)
        if node.stdout is not None:
            node.stdout.close()


def _downs() -> list[Any]:
    return [m for m in Mailbox.current().messages() if type(m) is tuple and m[0] == "DOWN"]


def test_await_leaves_no_monitor_and_no_down_behind(port: int) -> None:
    conn = _open(port)
    try:
        assert _answer(conn, gun.get(conn, "/hello"))[0] == 200
        process = process_of(conn)
        assert process is not None and not process.monitors.watched()
        assert _downs() == []
    finally:
        gun.close(conn)
    # Dead before the await: its DOWN is the answer, and it is not left queued either.
    assert gun.await_(conn, Ref(), WAIT) == ("error", ("down", "shutdown"))
    assert _downs() == []
