"""gunpy.protocol._frames: the sans-I/O FrameParser (server -> client) and encode_frame.

Server frames are built with the wire kit's `frame`, client frames are taken
apart by its `decode_client`; neither uses the library's own framing code.
"""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websocket import ABNF

from gunpy.protocol import Frame, FrameError, FrameParser, encode_frame
from gunpy.protocol._frames import xor_mask
from tests.wire import decode_client_frame as decode_client
from tests.wire import encode_server_frame as frame
from tests.wire import xor_mask as wire_kit_xor

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

MiB = 1024 * 1024


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def feed_chunks(parser: FrameParser, data: bytes, cuts: list[int]) -> list[object]:
    """Feed ``data`` cut at the offsets in ``cuts``; return every frame produced."""
    out: list[object] = []
    last = 0
    for cut in [*cuts, len(data)]:
        out += parser.feed(data[last:cut])
        last = cut
    return out


def feed_bytewise(parser: FrameParser, data: bytes) -> list[object]:
    return feed_chunks(parser, data, list(range(1, len(data))))


def code(parser: FrameParser) -> int | None:
    """The close code of the parser's error, None while there is none."""
    return None if parser.error is None else parser.error.code


def parse(data: bytes, max_frame_size: int | None = None) -> tuple[list[Frame], FrameParser]:
    parser = FrameParser() if max_frame_size is None else FrameParser(max_frame_size)
    return parser.feed(data), parser


# -- FrameParser: frame kinds and Gun's shapes ---------------------------------------------

SINGLE_FRAMES: list[tuple[str, bytes, object]] = [
    ("text", frame(OP_TEXT, b"hello"), ("text", "hello")),
    ("text-empty", frame(OP_TEXT, b""), ("text", "")),
    ("text-utf8", frame(OP_TEXT, "héllo €𝄞".encode()), ("text", "héllo €𝄞")),
    ("binary", frame(OP_BINARY, b"\x00\xff\x80"), ("binary", b"\x00\xff\x80")),
    ("binary-empty", frame(OP_BINARY, b""), ("binary", b"")),
    ("ping-empty", frame(OP_PING, b""), "ping"),
    ("ping-payload", frame(OP_PING, b"are you there"), ("ping", b"are you there")),
    ("ping-125", frame(OP_PING, b"p" * 125), ("ping", b"p" * 125)),
    ("pong-empty", frame(OP_PONG, b""), "pong"),
    ("pong-payload", frame(OP_PONG, b"\x01\x02"), ("pong", b"\x01\x02")),
    ("close-empty", frame(OP_CLOSE, b""), "close"),
    ("close-code", frame(OP_CLOSE, close_payload(1000)), ("close", 1000, "")),
    ("close-reason", frame(OP_CLOSE, close_payload(3333, b"bye")), ("close", 3333, "bye")),
    (
        "close-utf8-reason",
        frame(OP_CLOSE, close_payload(4000, "adiós".encode())),
        ("close", 4000, "adiós"),
    ),
    (
        "close-123-byte-reason",
        frame(OP_CLOSE, close_payload(1001, b"r" * 123)),
        ("close", 1001, "r" * 123),
    ),
]


@pytest.mark.parametrize(
    ("data", "expected"),
    [pytest.param(d, e, id=name) for name, d, e in SINGLE_FRAMES],
)
def test_each_frame_kind_has_guns_shape(data: bytes, expected: object) -> None:
    frames, parser = parse(data)
    assert frames == [expected]
    assert parser.error is None
    if isinstance(expected, tuple) and expected[0] in ("binary", "ping", "pong"):
        assert type(frames[0][1]) is bytes
    if isinstance(expected, tuple) and expected[0] in ("text", "close"):
        assert type(frames[0][-1]) is str


@pytest.mark.parametrize(
    ("data", "expected"),
    [pytest.param(d, e, id=name) for name, d, e in SINGLE_FRAMES],
)
def test_each_frame_kind_fed_at_every_split_point(data: bytes, expected: object) -> None:
    for cut in range(1, len(data)):
        parser = FrameParser()
        assert feed_chunks(parser, data, [cut]) == [expected], cut
        assert parser.error is None
    parser = FrameParser()
    assert feed_bytewise(parser, data) == [expected]
    assert parser.error is None


STREAM_PARTS: list[tuple[bytes, object | None]] = [
    (frame(OP_TEXT, "héllo".encode()), ("text", "héllo")),
    (frame(OP_BINARY, bytes(range(256))), ("binary", bytes(range(256)))),
    (frame(OP_PING, b""), "ping"),
    (frame(OP_TEXT, b"frag", fin=False), None),
    (frame(OP_PONG, b"pong!"), ("pong", b"pong!")),
    (frame(OP_CONT, " m\xc3".encode("latin-1"), fin=False), None),  # "é" split in two
    (frame(OP_PING, b"mid"), ("ping", b"mid")),
    (frame(OP_CONT, b"\xa9nt"), ("text", "frag mént")),
    (frame(OP_BINARY, b"a", fin=False), None),
    (frame(OP_CONT, b"b" * 300, fin=False), None),
    (frame(OP_PONG, b""), "pong"),
    (frame(OP_CONT, b"c"), ("binary", b"a" + b"b" * 300 + b"c")),
    (frame(OP_BINARY, b"z" * 70000), ("binary", b"z" * 70000)),
    (frame(OP_TEXT, b""), ("text", "")),
    (frame(OP_CLOSE, close_payload(4000, b"bye")), ("close", 4000, "bye")),
]
STREAM = b"".join(part for part, _ in STREAM_PARTS)
STREAM_EXPECTED = [out for _, out in STREAM_PARTS if out is not None]


def test_several_frames_in_one_chunk_come_out_in_order() -> None:
    frames, parser = parse(STREAM)
    assert frames == STREAM_EXPECTED
    assert parser.error is None


def test_stream_fed_one_byte_at_a_time_equals_one_chunk() -> None:
    small = b"".join(part for part, _ in STREAM_PARTS if len(part) < 1000)
    expected = [out for part, out in STREAM_PARTS if len(part) < 1000 and out is not None]
    assert parse(small)[0] == expected
    parser = FrameParser()
    assert feed_bytewise(parser, small) == expected
    assert parser.error is None


def test_stream_cut_at_every_position_in_two_equals_one_chunk() -> None:
    small = b"".join(part for part, _ in STREAM_PARTS if len(part) < 1000)
    expected = parse(small)[0]
    for cut in range(1, len(small)):
        parser = FrameParser()
        assert feed_chunks(parser, small, [cut]) == expected, cut
        assert parser.error is None


def test_fragmented_text_with_interleaved_ping() -> None:
    data = (
        frame(OP_TEXT, b"Hel", fin=False)
        + frame(OP_PING, b"1")
        + frame(OP_CONT, b"lo, ", fin=False)
        + frame(OP_PING, b"")
        + frame(OP_CONT, "wörld".encode())
    )
    expected = [("ping", b"1"), "ping", ("text", "Hello, wörld")]
    assert parse(data)[0] == expected
    assert feed_bytewise(FrameParser(), data) == expected


def test_fragmented_binary_with_interleaved_ping_and_pong() -> None:
    data = (
        frame(OP_BINARY, b"\x00", fin=False)
        + frame(OP_PONG, b"x")
        + frame(OP_CONT, b"", fin=False)
        + frame(OP_PING, b"y")
        + frame(OP_CONT, b"\xff\xfe")
    )
    expected = [("pong", b"x"), ("ping", b"y"), ("binary", b"\x00\xff\xfe")]
    assert parse(data)[0] == expected
    assert feed_bytewise(FrameParser(), data) == expected


def test_multibyte_character_split_across_fragments() -> None:
    snowman = "☃".encode()  # 3 bytes
    data = (
        frame(OP_TEXT, snowman[:1], fin=False)
        + frame(OP_CONT, snowman[1:2], fin=False)
        + frame(OP_CONT, snowman[2:])
    )
    assert parse(data)[0] == [("text", "☃")]
    assert feed_bytewise(FrameParser(), data) == [("text", "☃")]


def test_parser_is_reusable_after_a_fragmented_message() -> None:
    parser = FrameParser()
    assert parser.feed(frame(OP_TEXT, b"a", fin=False) + frame(OP_CONT, b"b")) == [("text", "ab")]
    assert parser.feed(frame(OP_BINARY, b"c", fin=False) + frame(OP_CONT, b"d")) == [
        ("binary", b"cd")
    ]
    assert parser.feed(frame(OP_TEXT, b"e")) == [("text", "e")]
    assert parser.error is None


@pytest.mark.parametrize("size", [125, 126, 127, 1000, 65535])
def test_16_bit_lengths(size: int) -> None:
    data = frame(OP_BINARY, bytes(i % 251 for i in range(size)))
    if size >= 126:
        assert data[1] == 126
    frames, parser = parse(data)
    assert frames == [("binary", bytes(i % 251 for i in range(size)))]
    assert parser.error is None


@pytest.mark.parametrize("size", [65536, 200_000])
def test_64_bit_lengths(size: int) -> None:
    text = "ab€" * (size // 5 + 1)
    data = frame(OP_TEXT, text.encode())
    assert data[1] == 127
    frames, parser = parse(data)
    assert frames == [("text", text)]
    cuts = [1, 2, 5, 9, 10, 11, 4096, 65536, len(data) - 1]
    assert feed_chunks(FrameParser(), data, cuts) == [("text", text)]
    assert parser.error is None


def test_one_mib_binary_fed_in_64_kib_chunks() -> None:
    payload = random.Random(1234).randbytes(MiB)
    data = frame(OP_BINARY, payload) + frame(OP_PING, b"after")
    parser = FrameParser()
    step = 64 * 1024
    results = [parser.feed(data[i : i + step]) for i in range(0, len(data), step)]
    assert all(r == [] for r in results[:-1])
    assert results[-1] == [("binary", payload), ("ping", b"after")]
    assert type(results[-1][0][1]) is bytes
    assert parser.error is None


def test_one_mib_text_fed_in_64_kib_chunks() -> None:
    text = ("gunpy ☃ " * (MiB // 10))[: MiB // 2]
    data = frame(OP_TEXT, text.encode())
    parser = FrameParser()
    out = feed_chunks(parser, data, list(range(64 * 1024, len(data), 64 * 1024)))
    assert out == [("text", text)]
    assert parser.error is None


def test_random_splits_of_a_long_stream_of_small_frames() -> None:
    rng = random.Random(1234)
    parts: list[bytes] = []
    expected: list[object] = []
    for i in range(400):
        kind = rng.choice(["text", "binary", "ping", "pong", "frag"])
        body = rng.randbytes(rng.randrange(0, 300))
        if kind == "text":
            text = f"msg {i} ü€ {body.hex()}"
            parts.append(frame(OP_TEXT, text.encode()))
            expected.append(("text", text))
        elif kind == "binary":
            parts.append(frame(OP_BINARY, body))
            expected.append(("binary", body))
        elif kind == "frag":
            encoded = f"frag {i} ☃☃".encode()
            cut = rng.randrange(0, len(encoded) + 1)
            parts.append(frame(OP_TEXT, encoded[:cut], fin=False))
            parts.append(frame(OP_PING, b""))
            parts.append(frame(OP_CONT, encoded[cut:]))
            expected += ["ping", ("text", encoded.decode())]
        else:
            small = body[:125]
            op = OP_PING if kind == "ping" else OP_PONG
            parts.append(frame(op, small))
            expected.append((kind, small) if small else kind)
    parts.append(frame(OP_CLOSE, close_payload(1000, b"done")))
    expected.append(("close", 1000, "done"))
    data = b"".join(parts)
    whole, parser = parse(data)
    assert whole == expected
    assert parser.error is None
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randrange(1, 300)))
        parser = FrameParser()
        assert feed_chunks(parser, data, cuts) == whole
        assert parser.error is None


# -- FrameParser: protocol errors ------------------------------------------------------------

PROTOCOL_ERRORS: list[tuple[str, bytes]] = [
    ("masked-text", frame(OP_TEXT, b"hi", mask=b"\x01\x02\x03\x04")),
    ("masked-ping", frame(OP_PING, b"", mask=b"\x00\x00\x00\x00")),
    ("rsv1", frame(OP_TEXT, b"hi", rsv=4)),
    ("rsv2", frame(OP_BINARY, b"hi", rsv=2)),
    ("rsv3", frame(OP_PING, b"", rsv=1)),
    *[(f"opcode-{op:#x}", frame(op, b"")) for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)],
    ("fragmented-ping", frame(OP_PING, b"x", fin=False)),
    ("fragmented-pong", frame(OP_PONG, b"", fin=False)),
    ("ping-126", frame(OP_PING, b"p" * 126)),
    ("pong-200", frame(OP_PONG, b"p" * 200)),
    ("close-126", frame(OP_CLOSE, close_payload(1000, b"r" * 124))),
    ("continuation-first", frame(OP_CONT, b"orphan")),
    ("continuation-after-complete", frame(OP_TEXT, b"done") + frame(OP_CONT, b"more")),
    ("text-inside-fragmented", frame(OP_TEXT, b"a", fin=False) + frame(OP_TEXT, b"b")),
    ("binary-inside-fragmented", frame(OP_BINARY, b"a", fin=False) + frame(OP_BINARY, b"b")),
    ("text-inside-binary", frame(OP_BINARY, b"a", fin=False) + frame(OP_TEXT, b"b", fin=False)),
    ("close-1-byte", frame(OP_CLOSE, b"\x03")),
    *[
        (f"close-code-{code}", frame(OP_CLOSE, close_payload(code)))
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
    ],
]


@pytest.mark.parametrize("data", [pytest.param(d, id=name) for name, d in PROTOCOL_ERRORS])
def test_protocol_errors_are_1002(data: bytes) -> None:
    frames, parser = parse(data)
    # Only the valid frame ahead of the fault comes out.
    assert frames == ([("text", "done")] if data.startswith(frame(OP_TEXT, b"done")) else [])
    assert code(parser) == 1002
    assert parser.error is not None and parser.error.message


@pytest.mark.parametrize("data", [pytest.param(d, id=name) for name, d in PROTOCOL_ERRORS])
def test_protocol_errors_are_found_when_fed_byte_by_byte(data: bytes) -> None:
    whole, whole_parser = parse(data)
    parser = FrameParser()
    assert feed_bytewise(parser, data) == whole
    assert code(parser) == code(whole_parser) == 1002


INVALID_UTF8: list[tuple[str, bytes]] = [
    ("bad-byte", frame(OP_TEXT, b"abc\xffdef")),
    ("overlong", frame(OP_TEXT, b"\xc0\xaf")),
    ("surrogate", frame(OP_TEXT, b"\xed\xa0\x80")),
    ("above-max", frame(OP_TEXT, b"\xf4\x90\x80\x80")),
    ("truncated-at-end", frame(OP_TEXT, "ok ☃".encode()[:-1])),
    (
        "fragmented-bad-byte",
        frame(OP_TEXT, b"ok", fin=False) + frame(OP_CONT, b"\xfe", fin=False) + frame(OP_CONT, b""),
    ),
    (
        "fragmented-across-boundary",
        frame(OP_TEXT, b"\xe2\x82", fin=False) + frame(OP_CONT, b"(ok"),
    ),
    (
        "fragmented-truncated-at-end",
        frame(OP_TEXT, b"ok", fin=False) + frame(OP_CONT, "☃".encode()[:2]),
    ),
    ("close-reason", frame(OP_CLOSE, close_payload(1000, b"bad \xff"))),
    ("close-reason-truncated", frame(OP_CLOSE, close_payload(1000, "é".encode()[:1]))),
]


@pytest.mark.parametrize("data", [pytest.param(d, id=name) for name, d in INVALID_UTF8])
def test_invalid_utf8_is_1007(data: bytes) -> None:
    frames, parser = parse(data)
    assert frames == []
    assert code(parser) == 1007
    bytewise = FrameParser()
    assert feed_bytewise(bytewise, data) == []
    assert code(bytewise) == 1007


def test_frame_over_max_frame_size_is_1009() -> None:
    frames, parser = parse(frame(OP_BINARY, b"x" * 101), max_frame_size=100)
    assert frames == []
    assert code(parser) == 1009
    frames, parser = parse(frame(OP_TEXT, b"x" * 101), max_frame_size=100)
    assert code(parser) == 1009


def test_frame_of_exactly_max_frame_size_is_accepted() -> None:
    frames, parser = parse(frame(OP_BINARY, b"x" * 100), max_frame_size=100)
    assert frames == [("binary", b"x" * 100)]
    assert parser.error is None


def test_max_frame_size_is_checked_on_the_header_alone() -> None:
    parser = FrameParser(max_frame_size=1000)
    header = frame(OP_BINARY, b"x" * 5000)[:4]
    assert parser.feed(header) == []
    assert code(parser) == 1009


def test_default_max_frame_size_is_16_mib() -> None:
    parser = FrameParser()
    assert parser.max_frame_size == 16 * MiB
    header = bytes([0x82, 127]) + struct.pack("!Q", 16 * MiB + 1)
    assert parser.feed(header) == []
    assert code(parser) == 1009


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_fragmented_message_over_max_frame_size_is_1009(opcode: int) -> None:
    data = (
        frame(opcode, b"a" * 40, fin=False)
        + frame(OP_CONT, b"b" * 40, fin=False)
        + frame(OP_CONT, b"c" * 40)
    )
    frames, parser = parse(data, max_frame_size=100)
    assert frames == []
    assert code(parser) == 1009
    frames, parser = parse(data, max_frame_size=120)
    assert parser.error is None
    assert len(frames) == 1


# -- FrameParser: fail fast, and what follows an error --------------------------------------


def test_invalid_utf8_fails_in_the_chunk_that_carries_it() -> None:
    payload = b"valid start " + b"\xff" + b"z" * 10_000
    data = frame(OP_TEXT, payload)
    bad_at = data.index(b"\xff")
    parser = FrameParser()
    assert parser.feed(data[: bad_at - 3]) == []
    assert parser.error is None
    assert parser.feed(data[bad_at - 3 : bad_at + 1]) == []
    assert code(parser) == 1007
    # The rest of the bad frame is dropped; a close after it is only noted.
    assert parser.feed(data[bad_at + 1 :] + frame(OP_CLOSE, close_payload(1000))) == []
    assert parser.closed_after_error


def test_invalid_utf8_fails_fast_when_the_header_came_alone() -> None:
    data = frame(OP_TEXT, b"\xc3\x28" + b"y" * 500)
    parser = FrameParser()
    assert parser.feed(data[:4]) == []  # header only
    assert parser.error is None
    assert parser.feed(data[4:6]) == []
    assert code(parser) == 1007


def test_invalid_utf8_across_fragment_boundary_fails_before_the_fragment_ends() -> None:
    first = frame(OP_TEXT, b"abc\xe2\x82", fin=False)
    second = frame(OP_CONT, b"(" + b"q" * 1000)  # 0xe2 0x82 0x28 is invalid
    parser = FrameParser()
    assert parser.feed(first) == []
    assert parser.error is None
    assert parser.feed(second[:4]) == []  # header of the continuation
    assert parser.error is None
    assert parser.feed(second[4:5]) == []
    assert code(parser) == 1007


def test_invalid_utf8_fails_fast_in_a_later_fragment_fed_in_chunks() -> None:
    data = (
        frame(OP_TEXT, b"x" * 300, fin=False)
        + frame(OP_CONT, b"y" * 300, fin=False)
        + frame(OP_CONT, b"z" * 50 + b"\xf8" + b"z" * 3000)
    )
    bad_at = data.index(b"\xf8")
    parser = FrameParser()
    out = feed_chunks(parser, data[: bad_at + 1], list(range(7, bad_at, 7)))
    assert out == []
    assert code(parser) == 1007


def test_truncated_sequence_at_the_end_of_a_chunked_frame_fails_at_the_end() -> None:
    data = frame(OP_TEXT, b"t" * 200 + "€".encode()[:2])
    parser = FrameParser()
    assert parser.feed(data[:-1]) == []
    assert parser.error is None  # still a valid prefix
    assert parser.feed(data[-1:]) == []
    assert code(parser) == 1007


@pytest.mark.xfail(
    strict=True,
    reason="CPython's incremental UTF-8 decoder accepts ED A0 (a surrogate lead) until "
    "the third byte arrives, so the fault is seen one chunk late",
)
def test_surrogate_lead_fails_in_the_chunk_that_carries_it() -> None:
    data = frame(OP_TEXT, b"ok\xed\xa0\x80" + b"x" * 100)
    cut = data.index(b"\xa0") + 1
    parser = FrameParser()
    parser.feed(data[:cut])
    assert code(parser) == 1007


def test_frames_before_the_fault_are_returned_in_order() -> None:
    data = (
        frame(OP_TEXT, b"one")
        + frame(OP_PING, b"")
        + frame(OP_BINARY, b"two")
        + frame(OP_TEXT, b"bad \xff")
        + frame(OP_TEXT, b"after")
    )
    frames, parser = parse(data)
    assert frames == [("text", "one"), "ping", ("binary", b"two")]
    assert code(parser) == 1007


def test_frames_before_a_fault_in_the_same_chunk_as_a_partial_bad_frame() -> None:
    bad = frame(OP_TEXT, b"\xff" + b"x" * 500)
    data = frame(OP_TEXT, b"one") + frame(OP_BINARY, b"two") + bad[:10]
    parser = FrameParser()
    assert parser.feed(data) == [("text", "one"), ("binary", b"two")]
    assert code(parser) == 1007


def test_after_an_error_nothing_is_returned_and_a_close_is_noted() -> None:
    data = (
        frame(OP_TEXT, b"before")
        + frame(OP_BINARY, b"x", rsv=4)
        + frame(OP_TEXT, b"after")
        + frame(OP_BINARY, b"y" * 70000)
        + frame(OP_PING, b"p")
        + frame(OP_PONG, b"")
        + frame(OP_CLOSE, close_payload(1000, b"bye"))
    )
    expected = [("text", "before")]
    frames, parser = parse(data)
    assert frames == expected
    assert code(parser) == 1002
    assert parser.closed_after_error
    for cut in (5, 20, 60, 1000, len(data) - 3):
        chunked = FrameParser()
        assert feed_chunks(chunked, data, [cut]) == expected, cut
        assert chunked.closed_after_error, cut
    chunked = FrameParser()
    assert feed_chunks(chunked, data, list(range(1000, len(data), 1000))) == expected
    assert chunked.closed_after_error


def test_after_an_error_a_second_fault_does_not_replace_the_first() -> None:
    parser = FrameParser()
    parser.feed(frame(OP_TEXT, b"\xff"))
    assert code(parser) == 1007
    first = parser.error
    assert parser.feed(frame(OP_CONT, b"x") + frame(OP_PING, b"p" * 126)) == []
    assert parser.error is first
    assert code(parser) == 1007
    assert not parser.closed_after_error
    assert parser.feed(frame(OP_CLOSE, b"")) == []
    assert parser.closed_after_error


def test_after_an_error_a_data_frame_split_over_reads_is_dropped() -> None:
    parser = FrameParser()
    parser.feed(frame(OP_CONT, b""))  # continuation with no message
    assert code(parser) == 1002
    big = frame(OP_BINARY, b"b" * 10_000)
    assert parser.feed(big[:3000]) == []
    assert parser.feed(big[3000:]) == []
    assert not parser.closed_after_error
    assert parser.feed(frame(OP_CLOSE, close_payload(1002))) == []
    assert parser.closed_after_error


def test_after_an_error_a_fragmented_message_is_abandoned() -> None:
    parser = FrameParser()
    out = parser.feed(frame(OP_TEXT, b"half", fin=False) + frame(OP_PING, b"", rsv=2))
    assert out == []
    assert code(parser) == 1002
    assert parser.feed(frame(OP_CONT, b" done")) == []
    assert parser.feed(frame(OP_CLOSE, b"")) == []
    assert parser.closed_after_error


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(frame(OP_CLOSE, close_payload(1000), rsv=4), id="rsv"),
        pytest.param(frame(OP_CLOSE, close_payload(1000), mask=b"abcd"), id="masked"),
        pytest.param(frame(OP_CLOSE, close_payload(1000), fin=False), id="not-fin"),
    ],
)
def test_a_malformed_close_frame_is_not_returned(data: bytes) -> None:
    frames, parser = parse(data)
    assert code(parser) == 1002
    assert frames == []


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
)
def test_valid_close_codes_are_accepted(code: int) -> None:
    frames, parser = parse(frame(OP_CLOSE, close_payload(code, b"why")))
    assert frames == [("close", code, "why")]
    assert parser.error is None


def test_close_frame_after_close_is_still_parsed() -> None:
    # The parser does not police the session; both closes come out.
    data = frame(OP_CLOSE, b"") + frame(OP_CLOSE, close_payload(1000))
    assert parse(data)[0] == ["close", ("close", 1000, "")]


# -- encode_frame ------------------------------------------------------------------------------


ENCODE_CASES: list[tuple[str, object, int, bytes, bool]] = [
    ("text", ("text", "héllo"), OP_TEXT, "héllo".encode(), False),
    ("text-bytes", ("text", b"plain"), OP_TEXT, b"plain", False),
    ("text-empty", ("text", ""), OP_TEXT, b"", False),
    ("binary", ("binary", b"\x00\xff"), OP_BINARY, b"\x00\xff", False),
    ("binary-bytearray", ("binary", bytearray(b"ba")), OP_BINARY, b"ba", False),
    ("binary-memoryview", ("binary", memoryview(b"mv")), OP_BINARY, b"mv", False),
    ("binary-16bit", ("binary", b"m" * 300), OP_BINARY, b"m" * 300, False),
    ("binary-64bit", ("binary", b"L" * 70000), OP_BINARY, b"L" * 70000, False),
    ("ping", "ping", OP_PING, b"", False),
    ("ping-payload", ("ping", b"hi"), OP_PING, b"hi", False),
    ("ping-125", ("ping", b"p" * 125), OP_PING, b"p" * 125, False),
    ("pong", "pong", OP_PONG, b"", False),
    ("pong-125", ("pong", b"q" * 125), OP_PONG, b"q" * 125, False),
    ("close", "close", OP_CLOSE, b"", True),
    ("close-code", ("close", 1000, ""), OP_CLOSE, close_payload(1000), True),
    ("close-code-reason", ("close", 4000, "bye"), OP_CLOSE, close_payload(4000, b"bye"), True),
    ("close-bytes-reason", ("close", 3000, b"x"), OP_CLOSE, close_payload(3000, b"x"), True),
    ("close-reason-only", ("close", "reason"), OP_CLOSE, close_payload(1000, b"reason"), True),
    ("close-123", ("close", 1001, "r" * 123), OP_CLOSE, close_payload(1001, b"r" * 123), True),
    ("close-4999", ("close", 4999, ""), OP_CLOSE, close_payload(4999), True),
]


@pytest.mark.parametrize(
    ("value", "opcode", "payload", "is_close"),
    [pytest.param(v, o, p, c, id=name) for name, v, o, p, c in ENCODE_CASES],
)
def test_encode_frame_round_trip(
    value: object, opcode: int, payload: bytes, is_close: bool
) -> None:
    wire, closing = encode_frame(value)[:2]
    assert isinstance(wire, bytes)
    assert closing is is_close
    got_opcode, _key, got_payload = decode_client(wire)
    assert got_opcode == opcode
    assert got_payload == payload


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (("text", "héllo"), ("text", "héllo")),
        (("binary", b"\x00" * 70000), ("binary", b"\x00" * 70000)),
        (("ping", b"x"), ("ping", b"x")),
        ("pong", "pong"),
        ("close", "close"),
        (("close", 3001, "é"), ("close", 3001, "é")),
        (("close", "just a reason"), ("close", 1000, "just a reason")),
    ],
)
def test_encoded_frames_parse_back_to_the_same_frame(value: object, expected: object) -> None:
    wire = encode_frame(value).wire
    opcode, _, payload = decode_client(wire)
    frames, parser = parse(frame(opcode, payload))
    assert frames == [expected]
    assert parser.error is None


def test_encode_frame_masks_with_a_fresh_key() -> None:
    payload = b"\x00" * 64
    keys = set()
    for _ in range(8):
        wire = encode_frame(("binary", payload)).wire
        _, key, got = decode_client(wire)
        assert got == payload
        keys.add(key)
    assert len(keys) > 1  # 8 identical 4-byte random keys would be a broken RNG


@given(key=st.binary(min_size=4, max_size=4), payload=st.binary(max_size=2000))
def test_xor_mask_is_websocket_clients_mask(key: bytes, payload: bytes) -> None:
    # gunpy calls websocket-client's XOR with bytes, not through ABNF.mask's
    # array copies: the bytes must be the same, and masking twice undoes it.
    masked = xor_mask(key, payload)
    assert masked == ABNF.mask(key, payload) == wire_kit_xor(key, payload)
    assert xor_mask(key, masked) == payload


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(("ping", b"p" * 126), id="ping-126"),
        pytest.param(("pong", b"p" * 126), id="pong-126"),
        pytest.param(("ping", "€" * 42), id="ping-126-bytes-of-text"),
        pytest.param(("close", 1005, ""), id="close-1005"),
        pytest.param(("close", 1006, ""), id="close-1006"),
        pytest.param(("close", 1015, ""), id="close-1015"),
        pytest.param(("close", 999, ""), id="close-999"),
        pytest.param(("close", 5000, ""), id="close-5000"),
        pytest.param(("close", 0, ""), id="close-0"),
        pytest.param(("close", 1000, "r" * 124), id="close-reason-124"),
        pytest.param(("close", "r" * 124), id="close-reason-only-124"),
        pytest.param(("close", "1000", "x"), id="close-code-str"),
        pytest.param(("close", 1000, 5), id="close-reason-int"),
        pytest.param(("close", 1000, "x", "y"), id="close-4-tuple"),
        pytest.param(("text", b"\xff\xfe"), id="text-bytes-not-utf8"),
        pytest.param(("text", bytearray(b"\xc3")), id="text-bytearray-truncated"),
        pytest.param(42, id="int"),
        pytest.param(None, id="none"),
        pytest.param(b"text", id="bytes"),
        pytest.param((), id="empty-tuple"),
        pytest.param(("text",), id="text-1-tuple"),
        pytest.param(("text", "a", "b"), id="text-3-tuple"),
        pytest.param(("foo", b""), id="unknown-kind"),
        pytest.param("foo", id="unknown-atom"),
        pytest.param("text", id="text-atom"),
        pytest.param(["text", "a"], id="list"),
        pytest.param(("binary", 42), id="binary-int"),
        pytest.param(("ping", None), id="ping-none"),
    ],
)
def test_encode_frame_refuses(bad: object) -> None:
    with pytest.raises(FrameError):
        encode_frame(bad)


def test_frame_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        encode_frame(("close", 5000, ""))


def test_encode_frame_refuses_a_close_reason_that_is_not_utf8() -> None:
    with pytest.raises(FrameError):
        encode_frame(("close", 1000, b"\xff"))
