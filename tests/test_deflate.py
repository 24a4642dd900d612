"""permessage-deflate, sans-I/O (``protocol/_deflate.py`` and its use by `FrameParser`).

No sockets: the offer, RFC 7692 7.1's rules for the server's answer, the
codec both ways, the bound while inflating, and the frame rules (RSV1 only on
the first frame of a message). Server frames are compressed here with zlib
directly, the way any RFC 7692 server does it, so the codec is not tested
against itself only.
"""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gunpy.protocol import FrameParser, check_ws_options, encode_frame
from gunpy.protocol._deflate import (
    Agreement,
    DeflateOptions,
    Deflater,
    InflateError,
    Inflater,
    NegotiationError,
    negotiate,
    offer,
    parse_extensions,
)
from gunpy.protocol._frames import OP_BINARY, OP_CONT, OP_PING, OP_TEXT, compressed_frame
from tests.wire import decode_client_frame
from tests.wire import encode_server_frame as frame

RSV1 = 4
DEFAULT = DeflateOptions()


def server_deflate(*messages: bytes, wbits: int = 15, takeover: bool = True) -> list[bytes]:
    """Messages compressed as a server does (RFC 7692 7.2.1): sync flush, tail removed."""
    out = []
    compressor = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    for message in messages:
        if not takeover:
            compressor = zlib.compressobj(6, zlib.DEFLATED, -wbits)
        data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4])
    return out


def parser(limit: int = 1 << 20, agreement: Agreement | None = None) -> FrameParser:
    return FrameParser(limit, Inflater(agreement or Agreement(), limit))


# -- the offer and the answer ---------------------------------------------------------


def test_the_default_offer_is_guns() -> None:
    assert offer(DEFAULT) == (
        "permessage-deflate; client_max_window_bits; server_max_window_bits=15"
    )


def test_an_offer_with_every_parameter() -> None:
    opts = DeflateOptions(client_max_window_bits=10, server_max_window_bits=9,
                          client_no_context_takeover=True, server_no_context_takeover=True)
    assert offer(opts) == (
        "permessage-deflate; client_no_context_takeover; server_no_context_takeover; "
        "client_max_window_bits=10; server_max_window_bits=9"
    )


def test_no_answer_means_no_compression() -> None:
    assert negotiate([], DEFAULT) is None
    assert negotiate(["", " "], DEFAULT) is None


@pytest.mark.parametrize(
    ("answer", "agreed"),
    [
        ("permessage-deflate", Agreement()),
        ("permessage-deflate; server_no_context_takeover",
         Agreement(server_no_context_takeover=True)),
        ("permessage-deflate; client_no_context_takeover",
         Agreement(client_no_context_takeover=True)),
        ("permessage-deflate; server_max_window_bits=12; client_max_window_bits=10",
         Agreement(server_max_window_bits=12, client_max_window_bits=10)),
        ('Permessage-Deflate ; Server_Max_Window_Bits="9"', Agreement(server_max_window_bits=9)),
        ("permessage-deflate; client_max_window_bits=8", Agreement(client_max_window_bits=8)),
    ],
)
def test_valid_answers_are_agreed(answer: str, agreed: Agreement) -> None:
    assert negotiate([answer], DEFAULT) == agreed


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("x-webkit-deflate-frame", "never offered"),
        ("permessage-deflate, permessage-deflate", "2 times"),
        ("permessage-deflate; server_max_window_bits=16", "8 to 15"),
        ("permessage-deflate; server_max_window_bits=7", "8 to 15"),
        ("permessage-deflate; server_max_window_bits=010", "8 to 15"),
        ("permessage-deflate; server_max_window_bits", "8 to 15"),
        ("permessage-deflate; client_max_window_bits", "8 to 15"),
        ("permessage-deflate; server_no_context_takeover=1", "takes no value"),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover",
         "duplicate"),
        ("permessage-deflate; level=9", "unknown parameter"),
        ("permessage-deflate; =x", "malformed"),
        ("permessage deflate", "malformed"),
    ],
)
def test_answers_that_break_rfc_7692_are_refused(answer: str, why: str) -> None:
    with pytest.raises(NegotiationError, match=why):
        negotiate([answer], DEFAULT)


def test_an_extension_answer_to_no_offer_is_refused() -> None:
    with pytest.raises(NegotiationError, match="never offered"):
        negotiate(["permessage-deflate"], None)


def test_the_answer_must_honour_what_was_asked() -> None:
    asked = DeflateOptions(server_max_window_bits=10, server_no_context_takeover=True)
    with pytest.raises(NegotiationError, match="over the 10 asked"):
        negotiate(["permessage-deflate; server_no_context_takeover; server_max_window_bits=11"],
                  asked)
    with pytest.raises(NegotiationError, match="server_max_window_bits was asked"):
        negotiate(["permessage-deflate; server_no_context_takeover"], asked)
    with pytest.raises(NegotiationError, match="server_no_context_takeover was asked"):
        negotiate(["permessage-deflate; server_max_window_bits=10"], asked)
    agreed = negotiate(["permessage-deflate; server_no_context_takeover; server_max_window_bits=9"],
                       asked)
    assert agreed == Agreement(server_no_context_takeover=True, server_max_window_bits=9)


def test_our_own_limits_hold_whatever_the_server_answers() -> None:
    ours = DeflateOptions(client_max_window_bits=9, client_no_context_takeover=True)
    agreed = negotiate(["permessage-deflate; client_max_window_bits=12"], ours)
    assert agreed == Agreement(client_no_context_takeover=True, client_max_window_bits=9)


def test_quoted_values_and_several_header_lines_parse() -> None:
    assert parse_extensions(['a; b="x\\"y"', "c, d; e"]) == [
        ("a", [("b", 'x"y')]), ("c", []), ("d", [("e", None)]),
    ]


def test_deflate_opts_are_validated_with_their_keys() -> None:
    ws = check_ws_options({"compress": True, "deflate_opts": {"level": 1, "mem_level": 2,
                                                             "min_size": 64}})
    assert ws.compress and ws.deflate_opts == DeflateOptions(level=1, mem_level=2, min_size=64)
    assert check_ws_options({}).compress is False


# -- the codec --------------------------------------------------------------------------


def test_what_we_compress_any_zlib_inflates_with_the_tail_added_back() -> None:
    deflater = Deflater(Agreement(), DEFAULT)
    inflater = zlib.decompressobj(-15)
    for message in (b"hello " * 100, b"", b"hello " * 100, bytes(range(256))):
        data = deflater.compress(message)
        assert inflater.decompress(data + b"\x00\x00\xff\xff") == message


def test_context_takeover_makes_a_repeated_message_smaller() -> None:
    message = b'{"event": "tick", "symbol": "ABC", "price": 1234.5}' * 3
    kept = Deflater(Agreement(), DEFAULT)
    reset = Deflater(Agreement(client_no_context_takeover=True), DEFAULT)
    assert len(kept.compress(message)) == len(reset.compress(message))
    assert len(kept.compress(message)) < len(reset.compress(message))


def test_the_inflater_keeps_or_resets_the_context_as_agreed() -> None:
    messages = [b"abcdefgh" * 50, b"abcdefgh" * 50]
    kept = Inflater(Agreement(), 1 << 20)
    assert [kept.inflate(m, True) for m in server_deflate(*messages)] == messages
    reset = Inflater(Agreement(server_no_context_takeover=True), 1 << 20)
    fresh = server_deflate(*messages, takeover=False)
    assert [reset.inflate(m, True) for m in fresh] == messages
    # A message that refers to the previous one cannot be read once the context is reset.
    with pytest.raises(InflateError):
        reset2 = Inflater(Agreement(server_no_context_takeover=True), 1 << 20)
        for m in server_deflate(*messages):
            assert reset2.inflate(m, True) == messages[0]


def test_a_small_message_that_inflates_past_the_limit_is_1009_without_inflating_it() -> None:
    bomb = server_deflate(b"\x00" * (64 << 20))[0]  # 64 MiB of zeros in about 64 KiB
    assert len(bomb) < 100_000
    inflater = Inflater(Agreement(), 1 << 20)
    with pytest.raises(InflateError) as info:
        inflater.inflate(bomb, True)
    assert info.value.code == 1009


def test_exactly_the_limit_is_accepted() -> None:
    data = server_deflate(b"x" * 1000)[0]
    assert Inflater(Agreement(), 1000).inflate(data, True) == b"x" * 1000
    with pytest.raises(InflateError):
        Inflater(Agreement(), 999).inflate(data, True)


def test_bad_compressed_data_is_1007() -> None:
    with pytest.raises(InflateError) as info:
        Inflater(Agreement(), 1 << 20).inflate(b"\xff\xff\xff\xff", True)
    assert info.value.code == 1007


def test_the_window_bits_agreed_are_used_and_8_works() -> None:
    message = bytes(range(256)) * 40
    for bits in (8, 9, 12, 15):
        agreement = Agreement(server_max_window_bits=bits, client_max_window_bits=bits)
        data = Deflater(agreement, DEFAULT).compress(message)
        # zlib's 9-bit streams never reach back over 256 bytes: an 8-bit window reads them.
        assert zlib.decompressobj(-max(bits, 9)).decompress(data + b"\x00\x00\xff\xff") == message
        sent = server_deflate(message, wbits=max(bits, 9))[0]
        assert Inflater(agreement, 1 << 20).inflate(sent, True) == message


# -- frames -----------------------------------------------------------------------------


def test_a_compressed_text_and_binary_message() -> None:
    text, binary = server_deflate("héllo".encode() * 30, b"\x00\x01" * 500)
    frames = parser().feed(frame(OP_TEXT, text, rsv=RSV1) + frame(OP_BINARY, binary, rsv=RSV1))
    assert frames == [("text", "héllo" * 30), ("binary", b"\x00\x01" * 500)]


def test_a_fragmented_compressed_message_with_a_ping_between() -> None:
    data = server_deflate(b"fragmented " * 200)[0]
    third = len(data) // 3
    wire = (frame(OP_TEXT, data[:third], fin=False, rsv=RSV1) + frame(OP_PING, b"p")
            + frame(OP_CONT, data[third:2 * third], fin=False) + frame(OP_CONT, data[2 * third:]))
    assert parser().feed(wire) == [("ping", b"p"), ("text", "fragmented " * 200)]


def test_uncompressed_messages_mix_with_compressed_ones() -> None:
    data = server_deflate(b"zipped")[0]
    wire = frame(OP_TEXT, b"plain") + frame(OP_TEXT, data, rsv=RSV1) + frame(OP_BINARY, b"raw")
    assert parser().feed(wire) == [("text", "plain"), ("text", "zipped"), ("binary", b"raw")]


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (frame(OP_PING, b"", rsv=RSV1), 1002),  # control frames are never compressed
        (frame(OP_TEXT, b"a", fin=False) + frame(OP_CONT, b"b", rsv=RSV1), 1002),
        (frame(OP_TEXT, b"a", rsv=2), 1002),  # RSV2: no extension uses it
        (frame(OP_TEXT, server_deflate(b"\xff\xfe")[0], rsv=RSV1), 1007),
        (frame(OP_BINARY, b"\xff\xff\xff", rsv=RSV1), 1007),
        (frame(OP_BINARY, server_deflate(b"\x00" * 5_000_000)[0], rsv=RSV1), 1009),
    ],
)
def test_faults_close_with_their_code_and_nothing_after_is_processed(
    wire: bytes, code: int
) -> None:
    p = parser()
    assert p.feed(frame(OP_TEXT, b"before") + wire + frame(OP_TEXT, b"after")) == [
        ("text", "before")
    ]
    assert p.error is not None and p.error.code == code
    assert p.feed(frame(OP_TEXT, server_deflate(b"later")[0], rsv=RSV1)) == []


def test_without_an_agreement_rsv1_is_still_a_fault() -> None:
    p = FrameParser(1 << 20)
    assert p.feed(frame(OP_TEXT, server_deflate(b"x")[0], rsv=RSV1)) == []
    assert p.error is not None and p.error.code == 1002


def test_invalid_utf8_in_a_fragment_fails_before_the_message_ends() -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    first = compressor.compress(b"ok \xff bad") + compressor.flush(zlib.Z_SYNC_FLUSH)
    p = parser()
    assert p.feed(frame(OP_TEXT, first, fin=False, rsv=RSV1)) == []
    assert p.error is not None and p.error.code == 1007


_MESSAGES = st.lists(
    st.one_of(st.text(max_size=300).map(lambda t: ("text", t)),
              st.binary(max_size=300).map(lambda b: ("binary", b))),
    min_size=1, max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(_MESSAGES, st.data())
def test_any_chunking_of_compressed_frames_gives_the_same_messages(
    messages: list[tuple[str, str | bytes]], data: st.DataObject
) -> None:
    payloads = [m[1].encode() if isinstance(m[1], str) else m[1] for m in messages]
    wire = b"".join(
        frame(OP_TEXT if kind == "text" else OP_BINARY, body, rsv=RSV1)
        for (kind, _), body in zip(messages, server_deflate(*payloads), strict=True)
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    p = parser()
    got: list[object] = []
    start = 0
    for cut in [*cuts, len(wire)]:
        got += p.feed(wire[start:cut])
        start = cut
    assert got == messages
    assert p.error is None


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=2000), st.integers(0, 3))
def test_what_we_send_round_trips_through_a_server_side_inflater(
    payload: bytes, sends: int
) -> None:
    deflater = Deflater(Agreement(), DEFAULT)
    inflater = zlib.decompressobj(-15)
    for _ in range(sends + 1):
        wire = compressed_frame(encode_frame(("binary", payload), mask=False), deflater)
        opcode, _, body = decode_client_frame(wire, rsv=RSV1)  # RSV1: compressed
        assert opcode == OP_BINARY
        assert inflater.decompress(body + b"\x00\x00\xff\xff") == payload


def test_small_messages_under_min_size_go_uncompressed() -> None:
    deflater = Deflater(Agreement(), DeflateOptions(min_size=64))
    small = compressed_frame(encode_frame(("text", "tiny")), deflater)
    large = compressed_frame(encode_frame(("text", "x" * 64)), deflater)
    assert not small[0] & 0x40 and large[0] & 0x40
    assert decode_client_frame(small)[2] == b"tiny"
    ping = compressed_frame(encode_frame(("ping", b"x" * 100)), deflater)
    assert not ping[0] & 0x40  # control frames: never
