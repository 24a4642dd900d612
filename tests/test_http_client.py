"""gunpy.protocol._http_client: Gun's HTTP/1.1 streams, driven through a ClientConnection.

No socket: requests are read back with `data_to_send`, answers are hand-written
HTTP/1.1 fed with `receive_data`. The rules are Gun's (``gun_http``): requests
pipelined in order, answers delivered in order to each stream's reply_to in
Gun's message shapes, Gun's closing. Hypothesis cuts the answers anywhere:
the same messages come out (consecutive ``gun_data`` joined), and nothing
after a fault is delivered.
"""

from __future__ import annotations

import re
from http.cookiejar import CookieJar
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gunpy.protocol import (
    BADSTATE_WS_ONLY,
    ClientConnection,
    CloseSent,
    ConnState,
    DataPart,
    Deliver,
    HttpOptions,
    HttpRequest,
    Ref,
    Refused,
    StreamReply,
    Upgraded,
    UpgradeRequest,
    WsOptions,
    gun_data_h,
)
from tests.test_connection import CONN, OWNER, answer_101, connection, messages, upgrade

HOST = "example.com:8080"
UNEXPECTED_101 = (
    "connection_error", "protocol_error", "Unexpected 101 Switching Protocols response."
)  # fmt: skip
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"
SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"


def http(opts: HttpOptions | None = None, jar: CookieJar | None = None) -> ClientConnection:
    if opts is None:
        return connection(jar)
    return ClientConnection(CONN, HOST, ("tcp", "example.com", 8080), jar, opts)


def state(proto: ClientConnection) -> ConnState:
    """``proto.state`` (a call: mypy must not narrow it between two steps)."""
    return proto.state


def paused(proto: ClientConnection) -> bool:
    return proto.reading_paused


def request(
    proto: ClientConnection,
    path: str = "/",
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = b"",
    to: object = OWNER,
    flow: int | None = None,
    ref: Ref | None = None,
) -> Ref:
    """Hand the connection a request (``body`` None: ``gun.headers``); return its ref."""
    ref = ref or Ref()
    events = proto.request(HttpRequest(ref, method, path, headers or [], body, to, flow))
    assert events == [], events
    return ref


def delivered(events: list[Any]) -> list[tuple[object, Any]]:
    """Every message with the reply_to it goes to, in order."""
    return [(e.to, m) for e in events if isinstance(e, Deliver) for m in e.messages]


def response(ref: Ref, fin: str, status: int, headers: list[tuple[str, str]]) -> Any:
    return ("gun_response", CONN, ref, fin, status, headers)


def data(ref: Ref, fin: str, body: bytes) -> Any:
    return ("gun_data", CONN, ref, fin, body)


def error(ref: Ref, reason: object) -> Any:
    return ("gun_error", CONN, ref, reason)


# -- requests on the wire ------------------------------------------------------------


def test_requests_are_written_at_once_in_order_with_gun_s_headers() -> None:
    proto = http()
    request(proto, "/a")
    request(proto, "/b?x=1", "POST", [("content-type", "text/plain")], b"hello")
    request(proto, "/c", "PUT", [("x-a", "1")], None)  # gun.headers: the body follows
    assert proto.data_to_send() == (
        b"GET /a HTTP/1.1\r\nhost: example.com:8080\r\ncontent-length: 0\r\n\r\n"
        b"POST /b?x=1 HTTP/1.1\r\nhost: example.com:8080\r\ncontent-type: text/plain\r\n"
        b"content-length: 5\r\n\r\nhello"
        b"PUT /c HTTP/1.1\r\nhost: example.com:8080\r\nx-a: 1\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
    )
    assert state(proto) is ConnState.CONNECTED


def _head_lines(wire: bytes) -> list[str]:
    return wire.decode("latin-1").split("\r\n\r\n")[0].split("\r\n")


def test_host_goes_first_when_absent_and_a_given_host_is_kept() -> None:
    proto = http()
    request(proto, headers=[("accept", "*/*"), ("x-a", "1")])
    assert _head_lines(proto.data_to_send())[1:] == [
        "host: example.com:8080", "accept: */*", "x-a: 1", "content-length: 0",
    ]  # fmt: skip
    request(proto, headers=[("x-a", "1"), ("host", "other.example")])
    lines = _head_lines(proto.data_to_send())
    assert [line for line in lines if line.lower().startswith("host")] == ["host: other.example"]


def test_a_whole_body_replaces_the_caller_s_framing_headers() -> None:
    proto = http()
    headers = [("content-length", "100"), ("transfer-encoding", "chunked")]
    request(proto, "/", "POST", headers, b"abc")
    wire = proto.data_to_send()
    assert wire.endswith(b"\r\n\r\nabc")
    lines = _head_lines(wire)
    assert "content-length: 3" in lines and "content-length: 100" not in lines
    assert not any(line.startswith("transfer-encoding") for line in lines)


def test_gun_headers_with_a_content_length_is_not_chunked() -> None:
    proto = http()
    request(proto, "/", "POST", [("content-length", "4")], None)
    lines = _head_lines(proto.data_to_send())
    assert "content-length: 4" in lines
    assert not any(line.startswith("transfer-encoding") for line in lines)


def test_http_1_0_requests_are_not_chunked() -> None:
    proto = http(HttpOptions(version="HTTP/1.0"))
    ref = request(proto, "/", "POST", [], None)
    wire = proto.data_to_send()
    assert wire.startswith(b"POST / HTTP/1.0\r\n") and b"transfer-encoding" not in wire
    proto.data(DataPart(ref, False, b"raw", OWNER))
    proto.data(DataPart(ref, True, b" body", OWNER))
    assert proto.data_to_send() == b"raw body"  # until close: no framing at all


def test_the_cookie_header_comes_from_the_jar() -> None:
    jar = CookieJar()
    proto = http(jar=jar)
    login = request(proto, "/login")
    assert b"cookie" not in proto.data_to_send().lower()
    answer = (
        b"HTTP/1.1 200 OK\r\nset-cookie: sid=42; Path=/\r\nset-cookie: lang=en\r\n"
        b"content-length: 0\r\n\r\n"
    )
    assert messages(proto.receive_data(answer))[0][:3] == ("gun_response", CONN, login)
    assert sorted(c.name for c in jar) == ["lang", "sid"]
    request(proto, "/account", headers=[("x-a", "1")])
    lines = _head_lines(proto.data_to_send())
    assert lines[-1] == "cookie: lang=en; sid=42" or lines[-1] == "cookie: sid=42; lang=en"


def test_informational_cookies_are_ignored_on_request() -> None:
    informs = (
        b"HTTP/1.1 103 Early Hints\r\nset-cookie: early=1\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nset-cookie: late=1\r\ncontent-length: 0\r\n\r\n"
    )
    kept = CookieJar()
    proto = http(jar=kept)
    request(proto)
    proto.receive_data(informs)
    assert sorted(c.name for c in kept) == ["early", "late"]
    ignored = CookieJar()
    proto = http(HttpOptions(cookie_ignore_informational=True), ignored)
    request(proto)
    proto.receive_data(informs)
    assert [c.name for c in ignored] == ["late"]


def test_transform_header_name_renames_the_host_and_the_caller_s_headers() -> None:
    proto = http(HttpOptions(transform_header_name=str.title))
    request(proto, headers=[("x-custom-thing", "1"), ("accept", "*/*")])
    lines = _head_lines(proto.data_to_send())
    assert lines[0] == "GET / HTTP/1.1"
    assert lines[1:4] == ["Host: example.com:8080", "X-Custom-Thing: 1", "Accept: */*"]
    gun_s = http(HttpOptions(transform_header_name=lambda n: "HOST" if n == "host" else n))
    request(gun_s)  # gun_SUITE:transform_header_name
    assert [line for line in _head_lines(gun_s.data_to_send()) if line.startswith("HOST: ")] == [
        "HOST: example.com:8080"
    ]


# -- answers -------------------------------------------------------------------------


def test_answers_go_to_each_stream_s_reply_to_in_order() -> None:
    proto = http()
    one, two, three = object(), object(), object()
    a = request(proto, "/a", to=one)
    b = request(proto, "/b", "HEAD", to=two)
    c = request(proto, "/c", to=three)
    answers = (
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"
        b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"  # HEAD: no body
        b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n"
        b"4\r\nnot \r\n5\r\nfound\r\n0\r\n\r\n"
    )
    assert delivered(proto.receive_data(answers)) == [
        (one, response(a, "nofin", 200, [("content-length", "5")])),
        (one, data(a, "fin", b"hello")),
        (two, response(b, "fin", 200, [("content-length", "1000")])),
        (three, response(c, "nofin", 404, [("transfer-encoding", "chunked")])),
        (three, data(c, "nofin", b"not ")),
        (three, data(c, "fin", b"found")),
    ]
    assert proto.killed_streams() == [] and state(proto) is ConnState.CONNECTED


def test_one_deliver_per_run_of_messages_to_the_same_reply_to() -> None:
    proto = http()
    a = request(proto)
    events = proto.receive_data(OK)
    head = response(a, "nofin", 200, [("content-length", "2")])
    assert events == [Deliver(OWNER, [head, data(a, "fin", b"ok")])]


def test_fin_on_the_head_for_bodiless_answers() -> None:
    proto = http()
    refs = [request(proto) for _ in range(3)]
    answers = (
        NO_CONTENT
        + b"HTTP/1.1 304 Not Modified\r\netag: x\r\n\r\n"
        + b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
    )
    assert messages(proto.receive_data(answers)) == [
        response(refs[0], "fin", 204, []),
        response(refs[1], "fin", 304, [("etag", "x")]),
        response(refs[2], "fin", 200, [("content-length", "0")]),
    ]


def test_the_body_arriving_in_reads_ends_with_fin_on_its_last_data() -> None:
    proto = http()
    ref = request(proto)
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n"
    assert messages(proto.receive_data(head)) == [
        response(ref, "nofin", 200, [("content-length", "6")])
    ]
    assert messages(proto.receive_data(b"abc")) == [data(ref, "nofin", b"abc")]
    assert messages(proto.receive_data(b"def")) == [data(ref, "fin", b"def")]


def test_the_last_chunk_alone_is_an_empty_fin_data() -> None:
    proto = http()
    ref = request(proto)
    proto.receive_data(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
    assert messages(proto.receive_data(b"0\r\n\r\n")) == [data(ref, "fin", b"")]


def test_trailers_end_the_answer_after_nofin_data() -> None:
    proto = http()
    ref = request(proto)
    answer = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n"
        b"5\r\nhello\r\n0\r\nx-checksum: 42\r\n\r\n"
    )
    assert messages(proto.receive_data(answer)) == [
        response(ref, "nofin", 200, [("transfer-encoding", "chunked"), ("trailer", "x-checksum")]),
        data(ref, "nofin", b"hello"),
        ("gun_trailers", CONN, ref, [("x-checksum", "42")]),
    ]
    assert proto.killed_streams() == []


def test_informational_answers_then_the_final_one() -> None:
    proto = http()
    ref = request(proto, "/upload", "POST", [("expect", "100-continue")], b"x")
    answers = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n"
        b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"
    )
    assert messages(proto.receive_data(answers)) == [
        ("gun_inform", CONN, ref, 100, []),
        ("gun_inform", CONN, ref, 103, [("link", "</a.css>")]),
        response(ref, "fin", 201, [("content-length", "0")]),
    ]


def test_an_until_close_body_ends_with_the_eof() -> None:
    proto = http()
    ref = request(proto)
    got = messages(proto.receive_data(b"HTTP/1.1 200 OK\r\n\r\nall of "))
    assert got == [response(ref, "nofin", 200, []), data(ref, "nofin", b"all of ")]
    assert messages(proto.receive_data(b"it")) == [data(ref, "nofin", b"it")]
    assert messages(proto.receive_eof()) == [data(ref, "fin", b"")]
    assert state(proto) is ConnState.CLOSED and proto.close_reason == "closed"
    assert proto.killed_streams() == [] and proto.close_streams() == []


def test_a_custom_content_handler_chain() -> None:
    class Upper:
        def init(
            self, reply: StreamReply, ref: object, status: int, headers: Any, opts: Any
        ) -> tuple[str, Any]:
            reply(("x_started", reply.conn, ref, opts))
            return ("ok", opts)

        def handle(self, fin: str, body: bytes, state: Any) -> tuple[Any, ...]:
            return ("ok", body.upper(), 0, state)

    proto = http(HttpOptions(content_handlers=((Upper(), "opts"), (gun_data_h, {}))))
    ref = request(proto)
    got = messages(proto.receive_data(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc"))
    assert got[0] == response(ref, "nofin", 200, [("content-length", "3")])
    assert got[1] == ("x_started", CONN, ref, "opts")
    assert b"".join(m[4] for m in got[2:]) == b"ABC"
    assert got[-1][:4] == ("gun_data", CONN, ref, "fin")


# -- request bodies ------------------------------------------------------------------


def test_data_parts_are_chunks_and_fin_ends_the_body() -> None:
    proto = http()
    ref = request(proto, "/", "POST", [], None)
    proto.data_to_send()
    assert proto.data(DataPart(ref, False, b"abc", OWNER)) == []
    assert proto.data_to_send() == b"3\r\nabc\r\n"
    assert proto.data(DataPart(ref, False, b"", OWNER)) == []
    assert proto.data_to_send() == b""  # an empty part is not the last chunk
    assert proto.data(DataPart(ref, True, b"0123456789abcdef!", OWNER)) == []
    assert proto.data_to_send() == b"11\r\n0123456789abcdef!\r\n0\r\n\r\n"
    # The body is done: Gun's "already closed".
    assert messages(proto.data(DataPart(ref, False, b"late", OWNER))) == [
        error(ref, ("badstate", "The stream has already been closed."))
    ]
    assert proto.data_to_send() == b""


def test_an_empty_fin_part_is_the_last_chunk() -> None:
    proto = http()
    ref = request(proto, "/", "POST", [], None)
    proto.data_to_send()
    proto.data(DataPart(ref, True, b"", OWNER))
    assert proto.data_to_send() == b"0\r\n\r\n"


def test_a_content_length_body_is_counted_down() -> None:
    proto = http()
    ref = request(proto, "/", "POST", [("content-length", "5")], None)
    proto.data_to_send()
    proto.data(DataPart(ref, False, b"ab", OWNER))
    assert proto.data_to_send() == b"ab"  # as is: no chunk framing
    too_long = messages(proto.data(DataPart(ref, False, b"cdef", OWNER)))
    assert too_long[0][:3] == ("gun_error", CONN, ref) and too_long[0][3][0] == "badarg"
    too_short = messages(proto.data(DataPart(ref, True, b"c", OWNER)))
    assert too_short[0][:3] == ("gun_error", CONN, ref) and too_short[0][3][0] == "badarg"
    assert proto.data_to_send() == b""  # nothing of the mismatched parts went out
    proto.data(DataPart(ref, True, b"cde", OWNER))
    assert proto.data_to_send() == b"cde"
    assert proto.killed_streams() == [ref]


def test_data_for_another_stream_while_a_body_is_sent_is_not_found() -> None:
    proto = http()
    done = request(proto)
    sending = request(proto, "/", "POST", [], None)
    proto.data_to_send()
    assert messages(proto.data(DataPart(done, False, b"x", OWNER))) == [
        error(done, ("badstate", "The stream cannot be found."))
    ]
    assert proto.data_to_send() == b""
    proto.data(DataPart(sending, True, b"x", OWNER))
    assert proto.data_to_send() == b"1\r\nx\r\n0\r\n\r\n"


def test_a_request_waits_behind_a_streaming_body() -> None:
    proto = http()
    body = request(proto, "/upload", "POST", [], None)
    proto.data_to_send()
    behind = request(proto, "/next")
    assert proto.data_to_send() == b""  # HTTP/1.1 cannot interleave it with the body
    assert proto.killed_streams() == [body, behind]
    assert proto.stream_info(behind) == {"ref": behind, "reply_to": OWNER, "state": "running"}
    proto.data(DataPart(body, False, b"part", OWNER))
    assert proto.data_to_send() == b"4\r\npart\r\n"
    proto.data(DataPart(body, True, b"", OWNER))
    assert proto.data_to_send() == (
        b"0\r\n\r\nGET /next HTTP/1.1\r\nhost: example.com:8080\r\ncontent-length: 0\r\n\r\n"
    )
    got = messages(proto.receive_data(OK + NO_CONTENT))
    assert [m[2] for m in got] == [body, body, behind]


def test_the_body_of_a_waiting_request_waits_with_it() -> None:
    proto = http()
    first = request(proto, "/1", "POST", [], None)
    second = request(proto, "/2", "POST", [], None)
    assert proto.data_to_send().count(b"POST") == 1
    proto.data(DataPart(second, False, b"bb", OWNER))  # queued behind the first body
    proto.data(DataPart(second, True, b"B", OWNER))
    assert proto.data_to_send() == b""
    proto.data(DataPart(first, True, b"a", OWNER))
    assert proto.data_to_send() == (
        b"1\r\na\r\n0\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nhost: example.com:8080\r\ntransfer-encoding: chunked\r\n\r\n"
        b"2\r\nbb\r\n1\r\nB\r\n0\r\n\r\n"
    )


# -- the upgrade among requests ------------------------------------------------------


def _key(wire: bytes) -> str:
    match = re.search(rb"sec-websocket-key: (\S+)", wire)
    assert match is not None
    return match.group(1).decode()


def test_an_upgrade_waits_until_the_answers_before_it_are_in() -> None:
    proto = http()
    a = request(proto, "/a")
    b = request(proto, "/b")
    proto.data_to_send()
    ws = Ref()
    assert proto.ws_upgrade(UpgradeRequest(ws, "/ws", [], WsOptions(), OWNER)) == []
    assert proto.data_to_send() == b""
    assert proto.killed_streams() == [a, b, ws]
    proto.receive_data(OK)
    assert proto.data_to_send() == b""  # b's answer is still due
    proto.receive_data(OK)
    wire = proto.data_to_send()
    assert wire.startswith(b"GET /ws HTTP/1.1\r\n")
    events = proto.receive_data(answer_101(_key(wire)))
    assert Upgraded(ws) in events
    assert state(proto) is ConnState.CONNECTED_WS_ONLY


def test_a_request_waits_behind_an_upgrade_and_goes_out_after_a_refusal() -> None:
    proto = http()
    ws, _ = upgrade(proto)
    behind = request(proto, "/after")
    assert proto.data_to_send() == b""  # after a 101 the bytes would be frames
    refusal = b"HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\n\r\n"
    got = messages(proto.receive_data(refusal))
    assert got == [response(ws, "fin", 426, [("content-length", "0")])]
    assert proto.data_to_send().startswith(b"GET /after HTTP/1.1\r\n")
    assert messages(proto.receive_data(NO_CONTENT)) == [response(behind, "fin", 204, [])]


def test_a_request_behind_a_successful_upgrade_is_told_ws_only() -> None:
    proto = http()
    ws, key = upgrade(proto)
    request(proto, "/after", to="late")
    events = proto.receive_data(answer_101(key))
    assert ("late", ("gun_error", CONN, ("badstate", BADSTATE_WS_ONLY))) in delivered(events)
    assert proto.data_to_send() == b""
    assert proto.killed_streams() == [ws]


def test_a_101_to_a_plain_request_is_a_connection_error() -> None:
    proto = http()
    ref = request(proto)
    events = proto.receive_data(SWITCH)
    assert messages(events) == [("gun_error", CONN, UNEXPECTED_101)]
    assert state(proto) is ConnState.CLOSED and proto.close_reason == "normal"
    assert proto.killed_streams() == [ref]


def test_a_101_to_another_protocol_than_asked_is_a_connection_error() -> None:
    # Gun's is_expected_upgrade_response: the 101 must name the protocol asked for.
    proto = http()
    request(proto, headers=[("connection", "upgrade"), ("upgrade", "h2c")])
    assert messages(proto.receive_data(SWITCH)) == [("gun_error", CONN, UNEXPECTED_101)]
    assert state(proto) is ConnState.CLOSED and proto.close_reason == "normal"


def test_a_head_block_over_max_header_block_size_is_gun_s_limit_error() -> None:
    proto = http(HttpOptions(max_header_block_size=100))
    ref = request(proto, to="me")
    too_large = ("connection_error", "limit_reached", "The response header block is too large.")
    events = proto.receive_data(b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 300)
    assert delivered(events) == [("me", ("gun_error", CONN, too_large))]
    assert state(proto) is ConnState.CLOSED and proto.close_reason == ("error", too_large)
    assert proto.killed_streams() == [ref]


# -- closing -------------------------------------------------------------------------


def test_a_response_with_connection_close_cuts_the_streams_behind_it() -> None:
    proto = http(HttpOptions(closing_timeout=500))
    a = request(proto, "/a")
    b = request(proto, "/b", to="b")
    c = request(proto, "/c", to="c")
    proto.data_to_send()
    head = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 4\r\n\r\n"
    events = proto.receive_data(head + b"ab")
    assert delivered(events) == [
        (OWNER, response(a, "nofin", 200, [("connection", "close"), ("content-length", "4")])),
        ("b", error(b, "closing")),
        ("c", error(c, "closing")),
        (OWNER, data(a, "nofin", b"ab")),
    ]
    assert CloseSent(500) in events
    assert state(proto) is ConnState.CLOSING
    assert proto.killed_streams() == [a]
    late = HttpRequest(Ref(), "GET", "/late", [], b"", OWNER, None)
    assert proto.request(late) == [Refused(late)]
    upgrade_late = UpgradeRequest(Ref(), "/ws", [], WsOptions(), OWNER)
    assert proto.ws_upgrade(upgrade_late) == [Refused(upgrade_late)]
    assert proto.data_to_send() == b""
    assert messages(proto.receive_data(b"cd")) == [data(a, "fin", b"cd")]
    assert state(proto) is ConnState.CLOSED and proto.close_reason == "normal"
    assert proto.killed_streams() == [] and proto.close_streams() == []


def test_a_waiting_upgrade_is_cut_cleanly_by_an_earlier_connection_close() -> None:
    proto = http()
    a = request(proto)
    ws = Ref()
    proto.ws_upgrade(UpgradeRequest(ws, "/ws", [], WsOptions(), "ws"))
    proto.data_to_send()
    events = proto.receive_data(b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\n"
                                b"content-length: 0\r\n\r\n")
    assert ("ws", error(ws, "closing")) in delivered(events)
    assert proto.data_to_send() == b""  # the upgrade never went out
    assert state(proto) is ConnState.CLOSED and proto.close_reason == "normal"
    assert proto.killed_streams() == [] and a not in proto.killed_streams()


def test_a_request_with_connection_close_is_the_last_written() -> None:
    proto = http()
    a = request(proto, headers=[("connection", "close")])
    b = request(proto)
    assert proto.data_to_send().count(b"GET") == 1
    got = messages(proto.receive_data(OK))
    assert got[0][:3] == ("gun_response", CONN, a) and error(b, "closing") in got
    assert got[-1] == data(a, "fin", b"ok")
    assert state(proto) is ConnState.CLOSED and proto.close_reason == "normal"


def test_an_http_1_0_answer_closes_the_connection() -> None:
    proto = http()
    a = request(proto)
    b = request(proto)
    got = messages(proto.receive_data(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"))
    assert got == [
        response(a, "nofin", 200, [("content-length", "2")]),
        error(b, "closing"),
        data(a, "fin", b"ok"),
    ]
    assert state(proto) is ConnState.CLOSED and proto.close_reason == "normal"


def test_close_with_streams_finishes_the_answer_being_read() -> None:
    proto = http(HttpOptions(closing_timeout=700))
    a = request(proto)
    b = request(proto)
    c = request(proto, "/up", "POST", [], None)
    d = request(proto)  # waits behind c's body
    proto.data_to_send()
    events = proto.close(1001, "shutdown")
    assert messages(events) == [
        error(b, ("closing", "shutdown")),
        error(c, ("closing", "shutdown")),
        error(d, ("closing", "shutdown")),
    ]
    assert CloseSent(700) in events
    assert state(proto) is ConnState.CLOSING and proto.killed_streams() == [a]
    assert proto.close(1001, "shutdown") == []  # already closing
    assert messages(proto.receive_data(OK)) == [
        response(a, "nofin", 200, [("content-length", "2")]),
        data(a, "fin", b"ok"),
    ]
    assert state(proto) is ConnState.CLOSED and proto.close_reason == "normal"


def test_close_while_the_body_being_answered_is_still_sent() -> None:
    proto = http()
    a = request(proto, "/up", "POST", [], None)
    proto.data_to_send()
    assert messages(proto.close(1001, "owner_down")) == []
    assert state(proto) is ConnState.CLOSING
    proto.data(DataPart(a, True, b"end", OWNER))  # the body must still end
    assert proto.data_to_send() == b"3\r\nend\r\n0\r\n\r\n"
    proto.receive_data(NO_CONTENT)
    assert state(proto) is ConnState.CLOSED and proto.close_reason == "normal"


def test_close_without_streams_ends_at_once() -> None:
    proto = http()
    assert proto.close(1001, "shutdown") == []
    assert state(proto) is ConnState.CLOSED and proto.close_reason == "normal"


def test_close_streams_after_eof_gives_closed_to_the_unanswered() -> None:
    proto = http()
    a = request(proto, to="a")
    b = request(proto, to="b")
    c = request(proto, "/up", "POST", [], None, to="c")
    d = request(proto, to="d")  # not written: behind c's body
    proto.receive_data(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\npart")
    assert proto.receive_eof() == []
    assert state(proto) is ConnState.CLOSED and proto.close_reason == "closed"
    assert proto.killed_streams() == [a, b, c, d]
    assert delivered(proto.close_streams()) == [
        ("a", error(a, "closed")),
        ("b", error(b, "closed")),
        ("c", error(c, "closed")),
        ("d", error(d, "closed")),
    ]
    assert proto.receive_data(OK) == [] and proto.receive_eof() == []


def test_close_streams_after_another_end_gives_closed_with_the_reason() -> None:
    proto = http()
    a = request(proto)
    proto.terminate(("error", "etimedout"))
    assert messages(proto.close_streams()) == [error(a, ("closed", ("error", "etimedout")))]


def test_close_streams_skips_cancelled_streams() -> None:
    proto = http()
    a = request(proto)
    b = request(proto)
    proto.cancel(a, OWNER)
    proto.receive_eof()
    assert messages(proto.close_streams()) == [error(b, "closed")]
    assert proto.killed_streams() == [a, b]  # gun_down still lists it, as Gun's down/1


# -- cancel --------------------------------------------------------------------------


def test_a_cancelled_stream_gets_nothing_more_and_the_next_answer_goes_on() -> None:
    proto = http()
    a = request(proto)
    b = request(proto)
    proto.receive_data(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nabc")
    assert proto.cancel(a, OWNER) == []
    assert proto.stream_info(a) == {"ref": a, "reply_to": OWNER, "state": "stopping"}
    got = messages(proto.receive_data(b"def" + NO_CONTENT))
    assert got == [response(b, "fin", 204, [])]
    assert proto.killed_streams() == []


def test_cancelling_an_unwritten_request_drops_it() -> None:
    proto = http()
    body = request(proto, "/up", "POST", [], None)
    dropped = request(proto, "/dropped")
    kept = request(proto, "/kept")
    proto.data_to_send()
    assert proto.cancel(dropped, OWNER) == []
    assert proto.killed_streams() == [body, kept]
    assert proto.stream_info(dropped) is None
    proto.data(DataPart(body, True, b"", OWNER))
    wire = proto.data_to_send()
    assert b"/dropped" not in wire and b"GET /kept HTTP/1.1" in wire
    got = messages(proto.receive_data(NO_CONTENT + NO_CONTENT))
    assert [m[2] for m in got] == [body, kept]


def test_cancelling_an_unknown_stream_is_not_found() -> None:
    proto = http()
    ref = Ref()
    assert messages(proto.cancel(ref, OWNER)) == [
        error(ref, ("badstate", "The stream cannot be found."))
    ]


# -- flow ----------------------------------------------------------------------------

CHUNKED_ABC = (
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n"
)


def test_reading_pauses_once_the_credit_is_used_and_update_flow_resumes_it() -> None:
    proto = http()
    ref = request(proto, flow=1)
    behind = request(proto)
    assert not paused(proto)
    got = messages(proto.receive_data(CHUNKED_ABC + NO_CONTENT))
    assert got == [response(ref, "nofin", 200, [("transfer-encoding", "chunked")]),
                   data(ref, "nofin", b"a")]  # fmt: skip
    assert paused(proto)
    assert proto.update_flow(behind, 10) == [] and paused(proto)  # not its credit
    assert messages(proto.update_flow(ref, 1)) == [data(ref, "nofin", b"b")]
    assert paused(proto)
    assert messages(proto.update_flow(ref, 5)) == [
        data(ref, "fin", b"c"),
        response(behind, "fin", 204, []),
    ]
    assert not paused(proto)


def test_http_opts_flow_is_the_default_and_a_request_s_flow_overrides_it() -> None:
    proto = http(HttpOptions(flow=1))
    ref = request(proto)
    proto.receive_data(CHUNKED_ABC)
    assert paused(proto)
    proto.update_flow(ref, 100)
    assert not paused(proto) and proto.killed_streams() == []
    roomy = http(HttpOptions(flow=1))
    request(roomy, flow=10)
    assert len(messages(roomy.receive_data(CHUNKED_ABC))) == 4
    assert not paused(roomy)


def test_no_flow_means_update_flow_is_a_no_op() -> None:
    proto = http()
    ref = request(proto)
    assert proto.update_flow(ref, 1) == []
    assert len(messages(proto.receive_data(CHUNKED_ABC))) == 4
    assert not paused(proto)


def test_the_answer_s_last_data_is_fin_even_when_it_uses_the_last_credit() -> None:
    # Gun (``{body, Length}``, DataSize =:= Length) sends the last piece with fin and
    # ends the stream, whatever credit is left; the next answer is read on.
    proto = http()
    ref = request(proto, flow=1)
    got = messages(proto.receive_data(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"))
    assert got == [response(ref, "nofin", 200, [("content-length", "5")]),
                   data(ref, "fin", b"hello")]  # fmt: skip
    assert proto.killed_streams() == []
    assert not paused(proto)


def test_cancelling_a_paused_stream_resumes_reading() -> None:
    proto = http()
    ref = request(proto, flow=1)
    behind = request(proto)
    proto.receive_data(CHUNKED_ABC + NO_CONTENT)
    assert paused(proto)
    assert messages(proto.cancel(ref, OWNER)) == [response(behind, "fin", 204, [])]
    assert not paused(proto)


# -- idle ----------------------------------------------------------------------------


def test_data_on_an_idle_connection_ends_it() -> None:
    proto = http()
    request(proto)
    proto.receive_data(NO_CONTENT)
    assert state(proto) is ConnState.CONNECTED
    assert proto.receive_data(b"HTTP/1.1 200 OK\r\n\r\n") == []
    assert state(proto) is ConnState.CLOSED
    assert proto.killed_streams() == [] and proto.close_streams() == []


def test_eof_on_an_idle_connection_is_closed() -> None:
    proto = http()
    request(proto)
    proto.receive_data(NO_CONTENT)
    assert proto.receive_eof() == []
    assert state(proto) is ConnState.CLOSED and proto.close_reason == "closed"


def test_keepalive_is_an_empty_line_between_requests_only() -> None:
    proto = http()
    proto.http_keepalive()
    assert proto.data_to_send() == b"\r\n"
    ref = request(proto, "/", "POST", [], None)
    proto.data_to_send()
    proto.http_keepalive()
    assert proto.data_to_send() == b""  # not in the middle of a body
    proto.data(DataPart(ref, True, b"", OWNER))
    proto.data_to_send()
    proto.http_keepalive()
    assert proto.data_to_send() == b"\r\n"


# -- properties ----------------------------------------------------------------------

HEADER_VALUE = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)
BODY = st.binary(min_size=1, max_size=60)

# One answer: (informs, kind, status, body chunks, trailers).
ANSWER = st.tuples(
    st.lists(st.sampled_from([100, 102, 103]), max_size=2),
    st.sampled_from(["length", "chunked", "head", "none"]),
    st.sampled_from([200, 201, 404, 500]),
    st.lists(BODY, max_size=4),
    st.lists(st.tuples(st.sampled_from(["x-check", "x-more", "expires"]), HEADER_VALUE),
             max_size=2),
)  # fmt: skip
Answer = tuple[list[int], str, int, list[bytes], list[tuple[str, str]]]


def _encode(answer: Answer, last: str = "") -> tuple[str, bytes]:
    """The request method and the answer's bytes (``last``: "close" or "eof" framing)."""
    informs, kind, status, chunks, trailers = answer
    out = b"".join(b"HTTP/1.1 %d Info\r\nx-i: %d\r\n\r\n" % (s, s) for s in informs)
    body = b"".join(chunks)
    head = b"HTTP/1.1 %d Whatever\r\n" % (204 if kind == "none" and last != "eof" else status)
    if last == "close":
        head += b"connection: close\r\n"
    if last == "eof":
        return "GET", out + head + b"\r\n" + body
    if kind == "none":
        return "GET", out + head + b"\r\n"
    if kind == "head":
        return "HEAD", out + head + b"content-length: %d\r\n\r\n" % len(body)
    if kind == "length":
        return "GET", out + head + b"content-length: %d\r\n\r\n" % len(body) + body
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    tail = b"".join(b"%s: %s\r\n" % (n.encode(), v.encode()) for n, v in trailers)
    head += b"transfer-encoding: chunked\r\n\r\n"
    return "GET", out + head + framed + b"0\r\n" + tail + b"\r\n"


def _expected(ref: Ref, answer: Answer, last: str = "") -> list[Any]:
    """Gun's messages for one answer, consecutive gun_data joined."""
    informs, kind, status, chunks, trailers = answer
    got: list[Any] = [("gun_inform", CONN, ref, s, [("x-i", str(s))]) for s in informs]
    body = b"".join(chunks)
    if last == "eof":
        return [*got, response(ref, "nofin", status, []), data(ref, "fin", body)]
    headers = [("connection", "close")] if last == "close" else []
    if kind == "none":
        return [*got, response(ref, "fin", 204, headers)]
    if kind in ("head", "length"):
        headers.append(("content-length", str(len(body))))
        fin = "fin" if kind == "head" or not body else "nofin"
        got.append(response(ref, fin, status, headers))
        return got if fin == "fin" else [*got, data(ref, "fin", body)]
    got.append(response(ref, "nofin", status, [*headers, ("transfer-encoding", "chunked")]))
    if not trailers:
        return [*got, data(ref, "fin", body)]
    if body:
        got.append(data(ref, "nofin", body))
    return [*got, ("gun_trailers", CONN, ref, trailers)]


def _joined(pairs: list[tuple[object, Any]]) -> list[Any]:
    """The messages with consecutive gun_data of one stream joined (only nofin ones join)."""
    out: list[Any] = []
    for _to, message in pairs:
        last = out[-1] if out else None
        if (
            message[0] == "gun_data"
            and last is not None
            and last[0] == "gun_data"
            and last[2] is message[2]
        ):
            assert last[3] == "nofin", (last, message)  # nothing after a fin
            out[-1] = ("gun_data", CONN, message[2], message[3], last[4] + message[4])
        else:
            out.append(message)
    return out


def _feed(proto: ClientConnection, wire: bytes, cuts: list[int], eof: bool) -> list[Any]:
    got: list[Any] = []
    start = 0
    for cut in [*sorted({c for c in cuts if 0 < c < len(wire)}), len(wire)]:
        got += delivered(proto.receive_data(wire[start:cut]))
        start = cut
    if eof:
        got += delivered(proto.receive_eof())
    return got


def _pipeline(answers: list[Answer], last: str) -> tuple[ClientConnection, list[Ref], bytes]:
    """A connection with one request per answer written; the answers' bytes."""
    proto = http()
    refs: list[Ref] = []
    wire = b""
    for index, answer in enumerate(answers):
        method, encoded = _encode(answer, last if index == len(answers) - 1 else "")
        refs.append(request(proto, f"/{index}", method, to=index))
        wire += encoded
    proto.data_to_send()
    return proto, refs, wire


@settings(max_examples=200, deadline=None)
@given(
    answers=st.lists(ANSWER, min_size=1, max_size=5),
    last=st.sampled_from(["", "close", "eof"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_any_chunking_gives_the_same_messages(
    answers: list[Answer], last: str, cuts: list[int]
) -> None:
    proto, refs, wire = _pipeline(answers, last)
    got = _feed(proto, wire, cuts, eof=last == "eof")
    # Each message goes to its own stream's reply_to (the index of its request).
    assert all(to == refs.index(message[2]) for to, message in got)
    expected = [
        m
        for index, (ref, answer) in enumerate(zip(refs, answers, strict=True))
        for m in _expected(ref, answer, last if index == len(answers) - 1 else "")
    ]
    assert _joined(got) == expected
    assert proto.killed_streams() == []
    if last == "":
        assert state(proto) is ConnState.CONNECTED
    else:
        assert state(proto) is ConnState.CLOSED
        assert proto.close_reason == ("normal" if last == "close" else "closed")


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(ANSWER, max_size=3),
    after=st.lists(ANSWER, max_size=3),
    chunks=st.lists(BODY, max_size=3),
    in_body=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6),
)
def test_nothing_after_a_fault_is_delivered(
    before: list[Answer],
    after: list[Answer],
    chunks: list[bytes],
    in_body: bool,
    cuts: list[int],
) -> None:
    proto, refs, wire = _pipeline(before, "")
    faulty = request(proto, "/faulty", to=len(before))
    expected = [m for ref, answer in zip(refs, before, strict=True) for m in _expected(ref, answer)]
    if in_body:  # a chunked answer broken after some chunks
        wire += b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        wire += b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"zz\r\n\r\n"
        expected.append(response(faulty, "nofin", 200, [("transfer-encoding", "chunked")]))
        if chunks:
            expected.append(data(faulty, "nofin", b"".join(chunks)))
    else:  # garbage where an answer should start
        wire += b"NOT HTTP AT ALL\r\n\r\n"
    for index, answer in enumerate(after, start=len(before) + 1):
        method, encoded = _encode(answer)
        request(proto, f"/{index}", method, to=index)
        wire += encoded
    proto.data_to_send()
    got = _feed(proto, wire, cuts, eof=False)
    assert _joined(got) == expected
    assert state(proto) is ConnState.CLOSED
    reason = proto.close_reason
    assert isinstance(reason, tuple) and reason[0] == "error"
    assert proto.receive_data(wire) == [] and proto.receive_eof() == []
    killed = proto.killed_streams()
    assert killed[0] is faulty and len(killed) == 1 + len(after)
    assert [m[3] for m in messages(proto.close_streams())] == [("closed", reason)] * len(killed)
