"""gunpy.protocol on its own: the frame parser and encoder, close codes, options, headers."""

from __future__ import annotations

import random
import struct
from http.cookiejar import CookieJar

import pytest

from gunpy.protocol import (
    FrameError,
    FrameParser,
    InvalidRequestHeader,
    OptionsError,
    check_open_options,
    check_ws_options,
    encode_frame,
)
from gunpy.protocol._close import is_sendable_close_code
from gunpy.protocol._handshake import host_header, normalize_headers
from tests.wire import decode_client_frame
from tests.wire import encode_server_frame as frame


def feed_all(parser: FrameParser, data: bytes, cuts: list[int]) -> list[object]:
    out: list[object] = []
    last = 0
    for cut in [*cuts, len(data)]:
        out += parser.feed(data[last:cut])
        last = cut
    return out


STREAM = b"".join(
    [
        frame(0x1, "héllo".encode()),
        frame(0x2, bytes(range(200))),
        frame(0x9, b""),
        frame(0x1, b"frag", fin=False),
        frame(0xA, b"pong!"),
        frame(0x0, " mént".encode(), fin=False),
        frame(0x0, b"ed"),
        frame(0x2, b"z" * 70000),
        frame(0x8, struct.pack("!H", 4000) + b"bye"),
    ]
)
EXPECTED = [
    ("text", "héllo"),
    ("binary", bytes(range(200))),
    "ping",
    ("pong", b"pong!"),
    ("text", "frag mént" + "ed"),
    ("binary", b"z" * 70000),
    ("close", 4000, "bye"),
]


def test_parser_is_independent_of_how_bytes_are_cut() -> None:
    assert FrameParser().feed(STREAM) == EXPECTED
    rng = random.Random(1234)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 40)))
        assert feed_all(FrameParser(), STREAM, cuts) == EXPECTED
    # Byte by byte, across every boundary of the first frames.
    head = STREAM[:300]
    assert feed_all(FrameParser(), head, list(range(1, 300))) == FrameParser().feed(head)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(0x1, b"a", rsv=4), 1002),
        (frame(0x3, b""), 1002),
        (frame(0xB, b""), 1002),
        (frame(0x9, b"", fin=False), 1002),
        (frame(0x9, b"x" * 126), 1002),
        (frame(0x0, b"a"), 1002),
        (frame(0x1, b"a", fin=False) + frame(0x2, b"b"), 1002),
        (frame(0x1, b"masked", mask=b"abcd"), 1002),
        (frame(0x8, b"\x03"), 1002),
        (frame(0x8, struct.pack("!H", 1005)), 1002),
        (frame(0x8, struct.pack("!H", 2999)), 1002),
        (frame(0x8, struct.pack("!H", 1000) + b"\xff"), 1007),
        (frame(0x1, b"\xce"), 1007),
        (frame(0x1, b"a", fin=False) + frame(0x0, b"\xed\xa0\x80"), 1007),
        (frame(0x2, b"x" * 101), 1009),
        (frame(0x2, b"x" * 60, fin=False) + frame(0x0, b"x" * 60), 1009),
    ],
)
def test_parser_refuses_with_the_right_code(data: bytes, code: int) -> None:
    parser = FrameParser(max_frame_size=100)
    before = frame(0x1, b"first")
    assert parser.feed(before + data) == [("text", "first")]  # what came before is kept
    assert parser.error is not None and parser.error.code == code
    # After the fault nothing comes out; a close is only noted.
    assert parser.feed(frame(0x1, b"dropped") + frame(0x8, b"")) == []
    assert parser.closed_after_error


def test_utf8_fails_in_the_chunk_that_carries_the_bad_byte() -> None:
    parser = FrameParser()
    data = frame(0x1, b"a" * 1000 + b"\xff" + b"b" * 1000)
    assert parser.feed(data[:500]) == [] and parser.error is None
    assert parser.feed(data[500:1100]) == []
    assert parser.error is not None and parser.error.code == 1007  # before the frame ends


def test_oversized_payload_is_skipped_not_buffered() -> None:
    parser = FrameParser(max_frame_size=10)
    assert parser.feed(frame(0x2, b"y" * 1_000_000)[:1000]) == []
    assert parser.error is not None and parser.error.code == 1009
    assert len(parser._buf) == 0  # the rest of the payload is counted down, not kept


def _opcode_payload(wire: bytes) -> tuple[int, bytes]:
    opcode, _, payload = decode_client_frame(wire)
    return opcode, payload


def test_encode_frame_shapes() -> None:
    assert _opcode_payload(encode_frame(("text", "hé"))[0]) == (0x1, "hé".encode())
    assert _opcode_payload(encode_frame(("binary", b"\x00" * 70000))[0]) == (0x2, b"\x00" * 70000)
    assert _opcode_payload(encode_frame("ping")[0]) == (0x9, b"")
    assert _opcode_payload(encode_frame(("pong", b"p" * 125))[0]) == (0xA, b"p" * 125)
    assert encode_frame("close")[1] is True
    assert _opcode_payload(encode_frame(("close", 4000, "bye"))[0]) == (0x8, b"\x0f\xa0bye")
    assert _opcode_payload(encode_frame(("close", "why"))[0]) == (0x8, b"\x03\xe8why")


@pytest.mark.parametrize(
    "bad",
    [
        ("ping", b"x" * 126),
        ("close", 1005, ""),
        ("close", 5000, ""),
        ("close", 1000, "x" * 124),
        ("text", b"\xff"),
        ("foo", b""),
        ("text",),
        42,
        "hello",
    ],
)
def test_encode_frame_refuses(bad: object) -> None:
    with pytest.raises(FrameError):
        encode_frame(bad)


def test_close_codes() -> None:
    sendable = [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999]
    assert all(is_sendable_close_code(code) for code in sendable)
    assert not any(is_sendable_close_code(c) for c in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000])


def test_open_options_defaults_and_errors() -> None:
    opts = check_open_options(8080, None)
    assert (opts.transport, opts.retry, opts.retry_timeout) == ("tcp", 5, 5000)
    assert opts.connect_timeout == "infinity" and opts.supervise is True
    assert opts.ws_opts.closing_timeout == 15000 and opts.ws_opts.silence_pings is True
    assert opts.ws_opts.max_frame_size == 16 * 1024 * 1024
    assert check_open_options(443, {}).transport == "tls"
    assert check_open_options(80, {"transport": "ssl"}).transport == "tls"
    assert check_open_options(80, {"cookie_store": CookieJar()}).cookie_store is not None
    for key, value in [
        ("keepalive", 1000),  # not a top-level key in Gun either
        ("retry", -1),
        ("connect_timeout", "never"),
        ("transport", "quic"),
        ("protocols", ["http2"]),
        ("cookie_store", {}),
    ]:
        with pytest.raises(OptionsError) as info:
            check_open_options(80, {key: value})
        assert info.value.key == key
    with pytest.raises(OptionsError) as info:
        check_open_options(80, {"ws_opts": {"flow": 0}})
    assert info.value.key == "ws_opts.flow"
    with pytest.raises(OptionsError) as info:
        check_open_options(80, {"tls_opts": {"verify": "maybe"}})
    assert info.value.key == "tls_opts.verify"
    with pytest.raises(OptionsError):
        check_ws_options({"deflate_opts": {"level": 10}})


def test_headers_and_handshake_rules() -> None:
    assert normalize_headers({b"X-A": "1", "Authorization": b"t"}) == [
        ("x-a", "1"),
        ("authorization", "t"),
    ]
    with pytest.raises(InvalidRequestHeader):
        normalize_headers([("x", "a\r\nb")])
    assert host_header("example.com", 80, "tcp") == "example.com"
    assert host_header("example.com", 443, "tls") == "example.com"
    assert host_header("example.com", 443, "tcp") == "example.com:443"
    assert host_header("::1", 8080, "tcp") == "[::1]:8080"
