"""gunpy.protocol._handshake: request input refused before sending, and the 101's checks."""

from __future__ import annotations

import base64
import hashlib

import pytest

from gunpy.protocol import HandshakeError, InvalidRequestHeader, InvalidRequestTarget
from gunpy.protocol._handshake import (
    accept_for,
    check_path,
    check_upgrade_response,
    normalize_headers,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
GOOD = [
    ("upgrade", "websocket"),
    ("connection", "Upgrade"),
    ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),  # RFC 6455 1.3's example
]


def test_accept_for_is_rfc_6455s_example() -> None:
    assert accept_for(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    other = base64.b64encode(b"0123456789abcdef").decode()
    digest = hashlib.sha1((other + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    assert accept_for(other) == base64.b64encode(digest).decode()


def test_a_valid_101_without_protocol_or_extension() -> None:
    assert check_upgrade_response(GOOD, KEY, ()) is None
    # Offered but none chosen: the upgrade succeeds without one (RFC 6455 4.1, Gun 2.4).
    assert check_upgrade_response(GOOD, KEY, ("chat",)) is None


def test_the_chosen_protocol_is_returned() -> None:
    headers = [*GOOD, ("sec-websocket-protocol", "superchat")]
    assert check_upgrade_response(headers, KEY, ("chat", "superchat")) == "superchat"
    assert (
        check_upgrade_response([*GOOD, ("sec-websocket-protocol", " chat ")], KEY, ("chat",))
        == "chat"
    )


def test_header_names_are_matched_as_given_lower_case_and_values_case_insensitively() -> None:
    headers = [("upgrade", "WebSocket"), ("connection", "keep-alive, Upgrade"), GOOD[2]]
    assert check_upgrade_response(headers, KEY, ()) is None


@pytest.mark.parametrize(
    ("headers", "offered", "why"),
    [
        (GOOD[1:], (), "upgrade"),
        ([("upgrade", "h2c"), *GOOD[1:]], (), "upgrade"),
        ([GOOD[0], GOOD[2]], (), "connection"),
        (GOOD[:2], (), "accept"),
        ([*GOOD[:2], ("sec-websocket-accept", "x")], (), "accept"),
        ([*GOOD, GOOD[2]], (), "accept"),  # twice
        ([*GOOD, ("sec-websocket-protocol", "chat")], (), "subprotocol"),
        ([*GOOD, ("sec-websocket-protocol", "other")], ("chat", "superchat"), "subprotocol"),
        ([*GOOD, ("sec-websocket-protocol", "Chat")], ("chat",), "subprotocol"),
        (
            [*GOOD, ("sec-websocket-protocol", "chat, superchat")],
            ("chat", "superchat"),
            "subprotocol",
        ),
        (
            [*GOOD, ("sec-websocket-protocol", "chat"), ("sec-websocket-protocol", "chat")],
            ("chat",),
            "several",
        ),
        ([*GOOD, ("sec-websocket-extensions", "permessage-deflate")], (), "extension"),
        ([*GOOD, ("sec-websocket-extensions", "x-custom; a=1")], ("chat",), "extension"),
    ],
)
def test_a_bad_101_is_refused(
    headers: list[tuple[str, str]], offered: tuple[str, ...], why: str
) -> None:
    with pytest.raises(HandshakeError, match=why):
        check_upgrade_response(headers, KEY, offered)


def test_an_empty_extensions_header_is_no_extension() -> None:
    assert check_upgrade_response([*GOOD, ("sec-websocket-extensions", "  ")], KEY, ()) is None


@pytest.mark.parametrize("path", ["/", "/chat?room=1&x=%20", "/a/b;c", "*", "/caf\xe9"])
def test_paths_http_allows_pass(path: str) -> None:
    assert check_path(path) == path


@pytest.mark.parametrize(
    "path",
    ["", "/ok HTTP/1.1\r\nX: 1\r\n\r\nGET /evil", "/a b", "/a\nb", "/a\x00", "/\x7f", "/\u20ac"],
)
def test_paths_http_forbids_are_refused_naming_the_path(path: str) -> None:
    with pytest.raises(InvalidRequestTarget) as info:
        check_path(path)
    assert info.value.field == "path"
    assert info.value.path == path


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("bad name", "v"),
        ("", "v"),
        ("x:y", "v"),
        ("x", "a\r\nb"),
        ("x", "a\nb"),
        ("x", "a\x00b"),
        ("x", "\u20ac"),
        ("caf\xe9", "v"),
    ],
)
def test_headers_http_forbids_are_refused_naming_the_field(name: str, value: str) -> None:
    with pytest.raises(InvalidRequestHeader) as info:
        normalize_headers([(name, value)])
    assert info.value.field == name.lower()


def test_headers_are_lower_cased_trimmed_and_kept_in_order() -> None:
    headers = normalize_headers([("X-A", " 1 "), (b"x-b", b"2"), ("x-a", "3"), ("x-empty", "")])
    assert headers == [("x-a", "1"), ("x-b", "2"), ("x-a", "3"), ("x-empty", "")]
    assert normalize_headers({"Authorization": "Bearer x y"}) == [("authorization", "Bearer x y")]
