"""gunpy.protocol._connection: the sans-I/O ClientConnection, with no socket at all.

The server's bytes are built by the wire kit in tests.peers; hypothesis cuts
them anywhere: any chunking of the same bytes gives the same events and the
same bytes out, and nothing after a fault is processed.
"""

from __future__ import annotations

import re
from http.cookiejar import CookieJar
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gunpy.protocol import (
    ClientConnection,
    CloseSent,
    ConnState,
    Deliver,
    Ref,
    SendOutcome,
    Upgraded,
    UpgradeRequest,
    WsOptions,
    encode_frames,
)
from tests.wire import encode_server_frame, response_101

CONN = object()
OWNER = object()


def connection(jar: CookieJar | None = None) -> ClientConnection:
    return ClientConnection(CONN, "example.com:8080", ("tcp", "example.com", 8080), jar)


def upgrade(
    proto: ClientConnection, path: str = "/", ws_opts: WsOptions | None = None
) -> tuple[Ref, str]:
    """Queue an upgrade; return its ref and the key it sent."""
    ref = Ref()
    proto.ws_upgrade(UpgradeRequest(ref, path, [("x-a", "1")], ws_opts or WsOptions(), OWNER))
    request = proto.data_to_send().decode("latin-1")
    match = re.search(r"sec-websocket-key: (\S+)", request)
    assert match is not None
    return ref, match.group(1)


def answer_101(key: str, extra: list[tuple[str, str]] | None = None) -> bytes:
    return response_101(key, extra)


def messages(events: list[Any]) -> list[Any]:
    return [m for e in events if isinstance(e, Deliver) for m in e.messages]


def test_the_upgrade_request_is_gun_s() -> None:
    proto = connection()
    ref = Ref()
    opts = WsOptions(protocols=("chat", "superchat"))
    proto.ws_upgrade(UpgradeRequest(ref, "/chat?x=1", [("x-a", "1")], opts, OWNER))
    head = proto.data_to_send().decode("latin-1").split("\r\n")
    assert head[0] == "GET /chat?x=1 HTTP/1.1"
    names = [line.split(":")[0].lower() for line in head[1:] if line]
    assert names == [
        "host", "connection", "upgrade", "sec-websocket-version", "sec-websocket-key",
        "sec-websocket-protocol", "x-a",
    ]  # fmt: skip
    assert "sec-websocket-protocol: chat, superchat" in head
    assert proto.state is ConnState.CONNECTED and proto.killed_streams() == [ref]


def test_101_then_frames_in_the_same_read() -> None:
    proto = connection()
    ref, key = upgrade(proto)
    data = answer_101(key) + encode_server_frame(0x1, b"hi") + encode_server_frame(0x9, b"p")
    events = proto.receive_data(data)
    assert isinstance(events[1], Upgraded) and events[1].ref is ref
    assert messages(events)[0][:3] == ("gun_upgrade", CONN, ref)
    assert messages(events)[1:] == [("gun_ws", CONN, ref, ("text", "hi"))]
    assert proto.state is ConnState.CONNECTED_WS_ONLY
    pong = proto.data_to_send()
    assert pong[0] == 0x8A and pong[1] == 0x81  # a masked pong with the ping's payload


def test_a_refusal_keeps_the_connection_and_the_next_upgrade_goes_out() -> None:
    proto = connection()
    ref, _ = upgrade(proto)
    second = Ref()
    proto.ws_upgrade(UpgradeRequest(second, "/two", [], WsOptions(), OWNER))
    assert proto.data_to_send() == b""  # h11 sends one request at a time
    body = b"5\r\nhello\r\n0\r\n\r\n"
    head = b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
    got = messages(proto.receive_data(head + body))
    headers = [("transfer-encoding", "chunked"), ("x-a", "1"), ("x-a", "2")]
    assert got == [
        ("gun_response", CONN, ref, "nofin", 403, headers),
        ("gun_data", CONN, ref, "fin", b"hello"),
    ]
    assert proto.state is ConnState.CONNECTED
    assert proto.data_to_send().startswith(b"GET /two HTTP/1.1\r\n")
    assert proto.killed_streams() == [second]


def test_a_bad_accept_fails_the_upgrade_and_ends_the_connection() -> None:
    proto = connection()
    ref, _ = upgrade(proto)
    events = proto.receive_data(answer_101("wrong key"))
    error = messages(events)[0]
    assert error[:3] == ("gun_error", CONN, ref) and error[3][0] == "handshake_error"
    assert proto.state is ConnState.CLOSED and proto.close_reason == "normal"
    assert proto.killed_streams() == [ref]


def test_cookies_are_stored_from_every_set_cookie_and_sent() -> None:
    jar = CookieJar()
    proto = connection(jar)
    _, key = upgrade(proto)
    proto.receive_data(answer_101(key, [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2")]))
    assert sorted(c.name for c in jar) == ["a", "b"]
    again = connection(jar)
    again.ws_upgrade(UpgradeRequest(Ref(), "/", [], WsOptions(), OWNER))
    assert b"cookie: a=1; b=2" in again.data_to_send()


def upgraded(ws_opts: WsOptions | None = None) -> tuple[ClientConnection, Ref]:
    proto = connection()
    ref, key = upgrade(proto, ws_opts=ws_opts)
    proto.receive_data(answer_101(key))
    proto.data_to_send()
    return proto, ref


def test_sending_follows_the_state() -> None:
    proto, _ = upgraded()
    assert proto.send_frames(encode_frames(("text", "a"))) is SendOutcome.SENT
    outcome = proto.send_frames(encode_frames([("text", "b"), ("close", 4000, ""), ("text", "c")]))
    assert outcome is SendOutcome.CLOSE_SENT
    assert proto.state is ConnState.CLOSING
    assert proto.send_frames(encode_frames(("text", "d"))) is SendOutcome.NOT_OPEN
    assert connection().send_frames(encode_frames(("text", "x"))) is SendOutcome.NOT_WEBSOCKET
    assert proto.close(1001) == []  # a close is already out


def test_the_peer_s_close_is_delivered_and_echoed_then_the_connection_ends() -> None:
    proto, ref = upgraded()
    events = proto.receive_data(encode_server_frame(0x8, (3333).to_bytes(2, "big") + b"bye"))
    assert messages(events) == [("gun_ws", CONN, ref, ("close", 3333, "bye"))]
    echo = proto.data_to_send()
    assert echo[0] == 0x88 and echo[1] == 0x82  # masked, 2 bytes: the code only
    assert proto.state is ConnState.CLOSED and proto.close_reason == "normal"
    assert proto.receive_data(encode_server_frame(0x1, b"late")) == []


def test_our_close_then_the_peer_s_ends_normally() -> None:
    proto, _ = upgraded(WsOptions(closing_timeout=100))
    assert proto.close(1001) == [CloseSent(100)]
    assert proto.receive_data(encode_server_frame(0x1, b"still")) != []  # Gun delivers
    proto.receive_data(encode_server_frame(0x8, (1001).to_bytes(2, "big")))
    assert proto.state is ConnState.CLOSED and proto.close_reason == "normal"
    assert proto.data_to_send()[:2] == b"\x88\x82"  # our 1001, sent once, masked


def test_eof_reasons() -> None:
    proto, _ = upgraded()
    proto.receive_eof()
    assert proto.close_reason == "closed"
    closing, _ = upgraded()
    closing.close(1000)
    closing.receive_eof()
    assert closing.close_reason == "normal"
    idle = connection()
    idle.receive_eof()
    assert idle.close_reason == "closed"


def test_flow_credit_pauses_reading_and_update_flow_resumes_it() -> None:
    proto, ref = upgraded(WsOptions(flow=1))
    frames = b"".join(encode_server_frame(0x1, b"m") for _ in range(3))
    assert len(messages(proto.receive_data(frames))) == 3  # a soft limit, as in Gun
    assert proto.reading_paused and proto.credit == -2
    proto.update_flow(Ref(), 5)  # another stream's credit is not this one's
    assert proto.update_flow(ref, 2) == [] and proto.reading_paused
    proto.update_flow(ref, 1)
    assert not proto.reading_paused


def test_data_on_an_idle_http_connection_ends_it() -> None:
    proto = connection()
    assert proto.receive_data(b"HTTP/1.1 200 OK\r\n\r\n") == []
    assert proto.state is ConnState.CLOSED
    assert proto.close_reason == ("error", "unexpected data on an idle HTTP connection")


# -- properties ---------------------------------------------------------------------


def _run(proto: ClientConnection, data: bytes, cuts: list[int]) -> tuple[list[Any], bytes]:
    """Feed ``data`` cut at ``cuts``; return every message and every byte to send."""
    got: list[Any] = []
    out = b""
    last = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        got += messages(proto.receive_data(data[last:cut]))
        out += proto.data_to_send()
        last = cut
    return got, out


FRAMES = st.lists(
    st.one_of(
        st.tuples(st.just(0x1), st.text(max_size=40).map(lambda s: s.encode())),
        st.tuples(st.just(0x2), st.binary(max_size=300)),
        st.tuples(st.just(0x9), st.binary(max_size=20)),
        st.tuples(st.just(0xA), st.binary(max_size=20)),
        st.tuples(st.just(0x1), st.just(b"\xff bad utf-8")),
        st.tuples(st.just(0x3), st.binary(max_size=5)),  # a reserved opcode
        st.tuples(st.just(0x8), st.just((1000).to_bytes(2, "big"))),
    ),
    max_size=12,
)


def _stream(frames: list[tuple[int, bytes]]) -> bytes:
    return b"".join(encode_server_frame(opcode, payload) for opcode, payload in frames)


@settings(max_examples=150, deadline=None)
@given(frames=FRAMES, cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=8))
def test_any_chunking_gives_the_same_events_and_bytes(
    frames: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    data = _stream(frames)
    whole, _ = upgraded(WsOptions(silence_pings=False))
    expected, expected_out = _run(whole, data, [])
    chunked, _ = upgraded(WsOptions(silence_pings=False))
    got, out = _run(chunked, data, [c for c in cuts if c < len(data)])
    # Pong bytes differ only by their random masks: compare their sizes and messages.
    assert [m[3] for m in got] == [m[3] for m in expected]
    assert len(out) == len(expected_out)
    assert (chunked.state, chunked.close_reason) == (whole.state, whole.close_reason)


@settings(max_examples=150, deadline=None)
@given(before=FRAMES, after=FRAMES, cut=st.integers(min_value=0, max_value=4000))
def test_nothing_after_a_fault_is_processed(
    before: list[tuple[int, bytes]], after: list[tuple[int, bytes]], cut: int
) -> None:
    fault = encode_server_frame(0x2, b"x", rsv=4)  # RSV1 with no extension: 1002
    data = _stream(before) + fault + _stream(after)
    proto, _ = upgraded(WsOptions(silence_pings=False))
    got, out = _run(proto, data, [cut] if cut < len(data) else [])
    tags = [m[0] for m in got]
    if "gun_error" in tags:
        # The error is the last thing delivered: nothing after the fault is processed.
        assert tags.index("gun_error") == len(tags) - 1
        code = got[-1][3][1]
        if not any(opcode == 0x8 for opcode, _ in before):
            # Our close with the fault's code is the last frame out (masked: unmask it).
            last = out[-8:]
            assert last[:2] == b"\x88\x82"
            assert (
                int.from_bytes(bytes(b ^ last[2 + i] for i, b in enumerate(last[6:])), "big")
                == code
            )
    assert proto.state in (ConnState.CLOSED, ConnState.CLOSING)
    alone, _ = upgraded(WsOptions(silence_pings=False))
    delivered_before, _ = _run(alone, _stream(before), [])
    assert [m[3] for m in got if m[0] == "gun_ws"] == [
        m[3] for m in delivered_before if m[0] == "gun_ws"
    ]


def test_an_informational_answer_then_a_refusal_with_trailers() -> None:
    proto = connection()
    ref, _ = upgrade(proto)
    data = (
        b"HTTP/1.1 100 Continue\r\nX-Hint: 1\r\n\r\n"
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nbad\r\n0\r\nX-Check: ok\r\n\r\n"
    )
    got = messages(proto.receive_data(data))
    assert got == [
        ("gun_inform", CONN, ref, 100, [("x-hint", "1")]),
        ("gun_response", CONN, ref, "nofin", 400, [("transfer-encoding", "chunked")]),
        ("gun_data", CONN, ref, "nofin", b"bad"),
        ("gun_trailers", CONN, ref, [("x-check", "ok")]),
    ]
    assert proto.state is ConnState.CONNECTED


def test_a_refusal_without_a_body_is_one_fin_response_even_cut_after_its_head() -> None:
    proto = connection()
    ref, _ = upgrade(proto)
    head = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    assert messages(proto.receive_data(head[:20])) == []
    assert messages(proto.receive_data(head[20:])) == [
        ("gun_response", CONN, ref, "fin", 404, [("content-length", "0")])
    ]
    assert proto.killed_streams() == []


def test_a_refusal_with_connection_close_ends_the_connection_normally() -> None:
    proto = connection()
    upgrade(proto)
    head = b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 2\r\n\r\n"
    proto.receive_data(head + b"no")
    assert proto.state is ConnState.CLOSED and proto.close_reason == "normal"
    assert proto.killed_streams() == []
