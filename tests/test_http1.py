"""gunpy.protocol._http1: HTTP/1.1 on the wire, requests written and answers read.

Requests are checked byte for byte; answers are hand-written HTTP/1.1 fed to
a `ResponseReader`, told before each one what request it answers (`expect`).
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gunpy.protocol._http1 import (
    Body,
    End,
    Head,
    HttpFault,
    Inform,
    ResponseEvent,
    ResponseReader,
    Switched,
    encode_chunk,
    encode_request,
    has_token,
    request_headers,
)

AUTHORITY = "example.com:8080"
UPGRADE = [("connection", "upgrade"), ("upgrade", "websocket")]


def reader(method: str = "GET", headers: list[tuple[str, str]] | None = None) -> ResponseReader:
    r = ResponseReader()
    r.expect(method, AUTHORITY, headers or [])
    return r


def events(r: ResponseReader) -> list[ResponseEvent]:
    """Every event the buffered bytes give now (until None)."""
    out: list[ResponseEvent] = []
    while (event := r.next_event()) is not None:
        out.append(event)
    return out


def read(data: bytes, method: str = "GET", eof: bool = False) -> list[ResponseEvent]:
    r = reader(method)
    r.feed(data)
    if eof:
        r.feed(b"")
    return events(r)


def fault(r: ResponseReader) -> object:
    """The reason of the `HttpFault` reading raises (after any events before it)."""
    with pytest.raises(HttpFault) as info:
        events(r)
    return info.value.reason


# -- writing ------------------------------------------------------------------------


def test_encode_request_is_the_request_line_then_the_headers_as_given() -> None:
    headers = [("host", AUTHORITY), ("X-Custom", "a, b"), ("x-custom", "c"), ("accept", "*/*")]
    assert encode_request("GET", "/path?q=1", "HTTP/1.1", headers) == (
        b"GET /path?q=1 HTTP/1.1\r\n"
        b"host: example.com:8080\r\n"
        b"X-Custom: a, b\r\n"
        b"x-custom: c\r\n"
        b"accept: */*\r\n"
        b"\r\n"
    )


def test_encode_request_without_headers_and_in_http_1_0() -> None:
    assert encode_request("OPTIONS", "*", "HTTP/1.1", []) == b"OPTIONS * HTTP/1.1\r\n\r\n"
    assert encode_request("POST", "/", "HTTP/1.0", [("content-length", "0")]) == (
        b"POST / HTTP/1.0\r\ncontent-length: 0\r\n\r\n"
    )


def test_encode_request_writes_latin_1() -> None:
    assert encode_request("GET", "/", "HTTP/1.1", [("x-a", "caf\xe9")]) == (
        b"GET / HTTP/1.1\r\nx-a: caf\xe9\r\n\r\n"
    )


def test_encode_chunk() -> None:
    assert encode_chunk(b"hello", False) == b"5\r\nhello\r\n"
    assert encode_chunk(b"hello", True) == b"5\r\nhello\r\n0\r\n\r\n"
    assert encode_chunk(b"", True) == b"0\r\n\r\n"
    assert encode_chunk(b"x" * 26, False) == b"1a\r\n" + b"x" * 26 + b"\r\n"  # hex, lower case
    assert encode_chunk(b"y" * 4096, False) == b"1000\r\n" + b"y" * 4096 + b"\r\n"


def test_an_empty_nofin_chunk_writes_nothing() -> None:
    # "0\r\n\r\n" would end the body: an empty part that is not the last sends nothing.
    assert encode_chunk(b"", False) == b""


def test_request_headers_frame_the_body_as_gun() -> None:
    # A whole body: content-length, replacing the caller's, and no transfer-encoding.
    given = [("content-length", "99"), ("transfer-encoding", "gzip"), ("x-a", "1")]
    assert request_headers(given, b"hello", "HTTP/1.1") == (
        [("x-a", "1"), ("content-length", "5")],
        None,
    )
    assert request_headers([], b"", "HTTP/1.1") == ([("content-length", "0")], None)
    # A body to follow: the caller's content-length is kept and counted down...
    assert request_headers([("content-length", "12")], None, "HTTP/1.1") == (
        [("content-length", "12")],
        12,
    )
    # ...else chunked in HTTP/1.1, and until close in HTTP/1.0.
    assert request_headers([("x-a", "1")], None, "HTTP/1.1") == (
        [("x-a", "1"), ("transfer-encoding", "chunked")],
        None,
    )
    assert request_headers([("x-a", "1")], None, "HTTP/1.0") == ([("x-a", "1")], None)


def test_has_token() -> None:
    headers = [("connection", "Keep-Alive, Close"), ("upgrade", "websocket")]
    assert has_token(headers, "connection", "close")
    assert has_token(headers, "connection", "keep-alive")
    assert not has_token(headers, "connection", "upgrade")
    assert not has_token([], "connection", "close")


# -- reading: bodies ----------------------------------------------------------------


def test_a_content_length_body() -> None:
    got = read(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: B\r\n\r\nhello")
    assert got == [
        Head(200, [("content-length", "5"), ("x-a", "B")], "1.1", False),
        Body(b"hello"),
        End([]),
    ]


def test_a_content_length_body_in_pieces() -> None:
    r = reader()
    r.feed(b"HTTP/1.1 200 OK\r\ncontent-le")
    assert events(r) == []
    assert r.expecting
    r.feed(b"ngth: 6\r\n\r\nab")
    assert events(r) == [Head(200, [("content-length", "6")], "1.1", False), Body(b"ab")]
    r.feed(b"cd")
    assert events(r) == [Body(b"cd")]
    r.feed(b"ef")
    assert events(r) == [Body(b"ef"), End([])]
    assert not r.expecting


def test_content_length_zero_is_fin_on_the_head() -> None:
    got = read(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
    assert got == [Head(404, [("content-length", "0")], "1.1", True), End([])]


def test_a_chunked_body_with_trailers() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n"
        b"5\r\nhello\r\n"
        b"1;ext=1\r\n \r\n"
        b"6\r\nworld!\r\n"
        b"0\r\nX-Checksum: abc\r\nX-More: 1\r\n\r\n"
    )
    got = read(data)
    assert got[0] == Head(
        200, [("transfer-encoding", "chunked"), ("trailer", "x-checksum")], "1.1", False
    )
    assert b"".join(e.data for e in got if isinstance(e, Body)) == b"hello world!"
    assert got[-1] == End([("x-checksum", "abc"), ("x-more", "1")])


def test_a_chunked_body_without_trailers_ends_with_no_trailers() -> None:
    data = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    assert read(data)[1:] == [Body(b"abc"), End([])]


def test_an_until_close_body_ends_with_the_eof() -> None:
    r = reader()
    r.feed(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nsome")
    assert events(r) == [Head(200, [("content-type", "text/plain")], "1.1", False), Body(b"some")]
    r.feed(b" more")
    assert events(r) == [Body(b" more")]
    assert r.expecting
    r.feed(b"")
    assert events(r) == [End([])]
    assert not r.expecting


def test_an_http_1_0_answer_reads_until_close() -> None:
    got = read(b"HTTP/1.0 200 OK\r\n\r\nold", eof=True)
    assert got == [Head(200, [], "1.0", False), Body(b"old"), End([])]


# -- reading: answers without a body ------------------------------------------------


def test_head_has_no_body_even_with_a_content_length() -> None:
    r = reader("HEAD")
    r.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n")
    assert events(r) == [Head(200, [("content-length", "1234")], "1.1", True), End([])]
    assert not r.expecting and not r.buffered


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body(status: int) -> None:
    r = reader()
    r.feed(b"HTTP/1.1 %d X\r\netag: \"1\"\r\n\r\n" % status)
    assert events(r) == [Head(status, [("etag", '"1"')], "1.1", True), End([])]


def test_a_304_with_the_content_length_of_the_resource_has_no_body() -> None:
    got = read(b"HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n")
    assert got == [Head(304, [("content-length", "10")], "1.1", True), End([])]


# -- reading: 1xx --------------------------------------------------------------------


def test_informational_answers_then_the_final_one() -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    )
    assert read(data) == [
        Inform(100, []),
        Inform(103, [("link", "</s.css>; rel=preload")]),
        Head(200, [("content-length", "2")], "1.1", False),
        Body(b"ok"),
        End([]),
    ]


def test_a_101_to_an_upgrade_gives_the_bytes_that_followed_it() -> None:
    r = reader("GET", UPGRADE)
    frame = b"\x81\x02hi"
    r.feed(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: x\r\n\r\n" + frame
    )
    headers = [("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-accept", "x")]
    assert events(r) == [Switched(headers, frame)]
    assert not r.expecting
    assert r.next_event() is None  # the rest is not HTTP: nothing more is read


def test_a_101_with_nothing_after_it() -> None:
    r = reader("GET", UPGRADE)
    r.feed(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n")
    assert events(r) == [Switched([("upgrade", "websocket"), ("connection", "upgrade")], b"")]


# -- reading: faults -----------------------------------------------------------------


def test_eof_mid_body_is_closed() -> None:
    r = reader()
    r.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
    assert events(r) == [Head(200, [("content-length", "10")], "1.1", False), Body(b"abc")]
    r.feed(b"")
    assert fault(r) == "closed"


def test_eof_mid_chunked_body_is_closed() -> None:
    r = reader()
    r.feed(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel")
    events(r)
    r.feed(b"")
    assert fault(r) == "closed"


@pytest.mark.parametrize("data", [b"", b"HTTP/1.1 20", b"HTTP/1.1 200 OK\r\nx-a: 1\r\n"])
def test_eof_before_the_head_is_complete_is_closed(data: bytes) -> None:
    r = reader()
    r.feed(data)
    r.feed(b"")
    assert fault(r) == "closed"


def test_the_fault_str_is_its_reason() -> None:
    assert str(HttpFault("closed")) == "closed"
    assert str(HttpFault(("error", "bad"))) == "bad"
    assert HttpFault(("error", "bad")).reason == ("error", "bad")


@pytest.mark.parametrize(
    "data",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 2OO OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_garbage_is_an_error(data: bytes) -> None:
    r = reader()
    r.feed(data)
    reason = fault(r)
    assert isinstance(reason, tuple) and reason[0] == "error" and isinstance(reason[1], str)


def test_a_head_block_over_max_header_block_size_is_an_error() -> None:
    r = ResponseReader(max_header_block_size=100)
    r.expect("GET", AUTHORITY, [])
    r.feed(b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 200)
    reason = fault(r)
    assert isinstance(reason, tuple) and reason[0] == "error"


# -- reading: pipelined answers ------------------------------------------------------


def test_pipelined_answers_in_one_buffer_each_after_its_expect() -> None:
    r = ResponseReader()
    r.expect("GET", AUTHORITY, [])
    r.feed(
        b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\none"
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"  # a HEAD's answer: no body
        b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\n\r\n"
    )
    assert events(r) == [Head(200, [("content-length", "3")], "1.1", False), Body(b"one"), End([])]
    assert not r.expecting and r.buffered
    assert r.next_event() is None  # the next answer waits for its expect
    r.expect("HEAD", AUTHORITY, [])
    assert events(r) == [Head(200, [("content-length", "10")], "1.1", True), End([])]
    r.expect("POST", AUTHORITY, [])
    assert events(r) == [
        Head(201, [("transfer-encoding", "chunked")], "1.1", False),
        Body(b"two"),
        End([]),
    ]
    r.expect("DELETE", AUTHORITY, [])
    assert events(r) == [Head(204, [], "1.1", True), End([])]
    assert not r.expecting and not r.buffered


def test_the_same_kind_of_request_expected_many_times() -> None:
    r = ResponseReader()
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx"
    r.feed(answer * 100)
    for _ in range(100):
        r.expect("GET", AUTHORITY, [])
        assert events(r)[-1] == End([])
    assert not r.buffered


def test_bytes_before_any_expect_wait() -> None:
    r = ResponseReader()
    r.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    assert not r.expecting and r.buffered
    assert r.next_event() is None
    r.expect("GET", AUTHORITY, [])
    assert events(r) == [Head(200, [("content-length", "0")], "1.1", True), End([])]


def test_garbage_after_a_complete_answer_is_an_error_for_the_next() -> None:
    r = ResponseReader()
    r.expect("GET", AUTHORITY, [])
    r.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nxNOT HTTP\r\n\r\n")
    assert events(r)[-1] == End([])
    r.expect("GET", AUTHORITY, [])
    reason = fault(r)
    assert isinstance(reason, tuple) and reason[0] == "error"


PIPELINED = (
    b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\none"
    b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"  # a HEAD's answer: no body
    b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\nx-t: 1\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end"
)
METHODS = ("POST", "HEAD", "PUT", "GET")
CLOSING = {"GET": [("connection", "close")]}


def read_pipelined(cuts: list[int], prepare_at: set[int]) -> list[ResponseEvent]:
    """`PIPELINED`, fed in pieces cut at ``cuts``; `prepare` after the expects in
    ``prepare_at`` (the others are left to the next feed or next_event)."""
    r = ResponseReader()
    methods = iter(METHODS)
    out: list[ResponseEvent] = []

    def expect_next() -> None:
        method = next(methods, None)
        if method is not None:
            r.expect(method, AUTHORITY, CLOSING.get(method, []))
            if len(out) in prepare_at:
                r.prepare()

    expect_next()
    edges = sorted({c % (len(PIPELINED) + 1) for c in cuts} | {0, len(PIPELINED)})
    pieces = [PIPELINED[a:b] for a, b in itertools.pairwise(edges)] + [b""]
    for piece in pieces:
        r.feed(piece)
        while (event := r.next_event()) is not None:
            if isinstance(event, Body) and out and isinstance(out[-1], Body):
                out[-1] = Body(out[-1].data + event.data)  # a body comes as the cuts allow
            else:
                out.append(event)
            if isinstance(event, End):
                expect_next()
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(PIPELINED)), max_size=12),
       st.sets(st.integers(min_value=0, max_value=12)))
def test_prepare_early_or_not_the_same_bytes_give_the_same_answers(
    cuts: list[int], prepare_at: set[int]
) -> None:
    """`prepare` only moves h11's share of an expect earlier: whenever it is called
    (or left to feed and next_event), and however the bytes are cut, the answers
    are the same."""
    assert read_pipelined(cuts, prepare_at) == read_pipelined([], set()) == [
        Inform(100, []),
        Head(200, [("content-length", "3")], "1.1", False), Body(b"one"), End([]),
        Head(200, [("content-length", "10")], "1.1", True), End([]),
        Head(201, [("transfer-encoding", "chunked")], "1.1", False), Body(b"two"),
        End([("x-t", "1")]),
        Head(200, [("connection", "close")], "1.1", False), Body(b"until the end"), End([]),
    ]


def test_prepare_is_idempotent_and_a_no_op_without_an_expect() -> None:
    r = ResponseReader()
    r.prepare()
    r.expect("GET", AUTHORITY, [])
    r.prepare()
    r.prepare()
    r.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
    assert events(r) == [Head(200, [("content-length", "0")], "1.1", True), End([])]
