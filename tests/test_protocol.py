"""gunpy.protocol: option schemas, close codes, handshake helpers and message shapes."""

from __future__ import annotations

import dataclasses
import ssl
from http.cookiejar import CookieJar
from typing import Any

import pytest

from gunpy.protocol import (
    BADSTATE_NOT_WS,
    BADSTATE_WS_ONLY,
    CloseError,
    HttpOptions,
    InvalidRequestHeader,
    OpenOptions,
    OptionsError,
    Ref,
    WsOptions,
    check_open_options,
    check_ws_options,
)
from gunpy.protocol._close import build_close_payload, is_sendable_close_code, parse_close_payload
from gunpy.protocol._handshake import host_header, normalize_headers
from gunpy.protocol._messages import (
    BADSTATE_SET_OWNER_CLOSING,
    down,
    exit_signal,
    gun_conn_error,
    gun_data,
    gun_down,
    gun_response,
    gun_stream_error,
    gun_up,
    gun_upgrade,
    gun_ws,
)
from gunpy.protocol._options import check_http_options, is_ip_address

MiB = 1024 * 1024

# -- options: defaults ------------------------------------------------------------------------


def test_open_defaults_are_guns() -> None:
    opts = check_open_options(80, {})
    assert isinstance(opts, OpenOptions)
    assert opts.transport == "tcp"
    assert opts.retry == 5
    assert opts.retry_timeout == 5000
    assert opts.retry_fun is None
    assert opts.connect_timeout == "infinity"
    assert opts.domain_lookup_timeout == "infinity"
    assert opts.tls_handshake_timeout == "infinity"
    assert opts.tcp_opts == (("send_timeout", 15000), ("send_timeout_close", True))
    assert dict(opts.tls_opts) == {}
    assert opts.protocols == ("http",)
    assert opts.supervise is True
    assert opts.trace is False
    assert opts.cookie_store is None
    assert opts.event_handler is None
    assert opts.http_opts == HttpOptions()
    assert opts.ws_opts == WsOptions()
    assert opts.raw == {}


def test_none_means_no_options() -> None:
    assert check_open_options(80, None) == check_open_options(80, {})
    assert check_ws_options(None) == WsOptions()


def test_ws_defaults_are_guns() -> None:
    ws = check_ws_options({})
    assert ws.closing_timeout == 15000
    assert ws.silence_pings is True
    assert ws.keepalive == "infinity"
    assert ws.max_frame_size == 16 * MiB
    assert ws.flow is None
    assert ws.compress is False
    assert ws.protocols == ()
    assert ws.reply_to is None
    assert ws.user_opts is None


def test_http_defaults() -> None:
    http = check_http_options({})
    assert http.closing_timeout == 15000
    assert http.keepalive == "infinity"
    assert http.version == "HTTP/1.1"


def test_options_are_frozen() -> None:
    opts = check_open_options(80, {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.retry = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.ws_opts.flow = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("port", "opts", "transport"),
    [
        (80, {}, "tcp"),
        (8080, {}, "tcp"),
        (443, {}, "tls"),
        (443, {"transport": "tcp"}, "tcp"),
        (80, {"transport": "tls"}, "tls"),
        (8443, {"transport": "ssl"}, "tls"),
        (443, {"transport": "ssl"}, "tls"),
    ],
)
def test_transport(port: int, opts: dict[str, Any], transport: str) -> None:
    assert check_open_options(port, opts).transport == transport


def test_given_values_are_kept() -> None:
    def retry_fun(retries: int, opts: Any) -> dict[str, int]:
        return {"retries": retries - 1, "timeout": 10}

    jar = CookieJar()
    raw = {
        "connect_timeout": 100,
        "domain_lookup_timeout": 0,
        "tls_handshake_timeout": "infinity",
        "retry": 0,
        "retry_timeout": 0,
        "retry_fun": retry_fun,
        "supervise": False,
        "trace": True,
        "event_handler": ("handler", None),
        "cookie_store": jar,
        "protocols": ["http"],
        "http_opts": {"version": "HTTP/1.0", "keepalive": 5000, "closing_timeout": 1},
        "ws_opts": {
            "closing_timeout": "infinity",
            "flow": 10,
            "keepalive": 30000,
            "keepalive_timeout": 60000,
            "max_frame_size": 1,
            "protocols": ["chat", ("superchat", object())],
            "silence_pings": False,
            "compress": False,
            "reply_to": "somebody",
            "user_opts": {"any": "thing"},
        },
    }
    opts = check_open_options(80, raw)
    assert opts.connect_timeout == 100
    assert opts.domain_lookup_timeout == 0
    assert opts.retry == 0
    assert opts.retry_timeout == 0
    assert opts.retry_fun is retry_fun
    assert opts.supervise is False
    assert opts.trace is True
    assert opts.event_handler == ("handler", None)
    assert opts.cookie_store is jar
    assert opts.http_opts == HttpOptions(closing_timeout=1, keepalive=5000, version="HTTP/1.0")
    ws = opts.ws_opts
    assert ws.closing_timeout == "infinity"
    assert ws.flow == 10
    assert ws.keepalive == 30000
    assert ws.keepalive_timeout == 60000
    assert ws.max_frame_size == 1
    assert ws.protocols == ("chat", "superchat")
    assert ws.silence_pings is False
    assert ws.reply_to == "somebody"
    assert ws.user_opts == {"any": "thing"}
    assert opts.raw is raw


def test_flow_infinity_means_off() -> None:
    assert check_ws_options({"flow": "infinity"}).flow is None


@pytest.mark.parametrize(
    "tcp_opts",
    [
        [],
        [("send_timeout", 1000)],
        [("send_timeout_close", False), ("nodelay", True), ("keepalive", True)],
        [(6, 1, 1)],
        ((6, 1, 1), ("nodelay", False)),
        [(1, 9, b"\x01\x00\x00\x00")],
    ],
)
def test_tcp_opts_forms_replace_the_default(tcp_opts: Any) -> None:
    assert check_open_options(80, {"tcp_opts": tcp_opts}).tcp_opts == tuple(tcp_opts)


@pytest.mark.parametrize(
    "tls_opts",
    [
        {},
        {"verify": "verify_none"},
        {"verify": "verify_peer", "server_name_indication": "example.com"},
        [("cacertfile", "/nonexistent/ca.pem"), ("ciphers", "HIGH")],
        {"context": ssl.create_default_context()},
    ],
)
def test_tls_opts_forms(tls_opts: Any) -> None:
    assert dict(check_open_options(443, {"tls_opts": tls_opts}).tls_opts) == dict(tls_opts)


def test_cookie_store_none_is_allowed() -> None:
    assert check_open_options(80, {"cookie_store": None}).cookie_store is None


# -- options: errors name the dotted key ------------------------------------------------------

OPEN_ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"keepalive": 1000}, "keepalive"),  # as in Gun: no top-level keepalive
    ({"unknown": 1}, "unknown"),
    ({"connect_timeout": -1}, "connect_timeout"),
    ({"connect_timeout": 1.5}, "connect_timeout"),
    ({"connect_timeout": True}, "connect_timeout"),
    ({"connect_timeout": "forever"}, "connect_timeout"),
    ({"domain_lookup_timeout": None}, "domain_lookup_timeout"),
    ({"tls_handshake_timeout": "1000"}, "tls_handshake_timeout"),
    ({"transport": "quic"}, "transport"),
    ({"transport": "TCP"}, "transport"),
    ({"transport": None}, "transport"),
    ({"retry": -1}, "retry"),
    ({"retry": "5"}, "retry"),
    ({"retry": True}, "retry"),
    ({"retry": 1.0}, "retry"),
    ({"retry_timeout": -5}, "retry_timeout"),
    ({"retry_timeout": "infinity"}, "retry_timeout"),
    ({"retry_fun": 42}, "retry_fun"),
    ({"supervise": 1}, "supervise"),
    ({"trace": "yes"}, "trace"),
    ({"event_handler": "handler"}, "event_handler"),
    ({"event_handler": ("a", "b", "c")}, "event_handler"),
    ({"cookie_store": {}}, "cookie_store"),
    ({"cookie_store": []}, "cookie_store"),
    ({"protocols": ["http2"]}, "protocols"),
    ({"protocols": ["http2", "http"]}, "protocols"),
    ({"protocols": ["http", "http"]}, "protocols"),
    ({"protocols": []}, "protocols"),
    ({"protocols": "http"}, "protocols"),
    ({"protocols": ["raw"]}, "protocols"),
    ({"tcp_opts": "nodelay"}, "tcp_opts"),
    ({"tcp_opts": [("nodelay",)]}, "tcp_opts"),
    ({"tcp_opts": [("bogus", 1)]}, "tcp_opts"),
    ({"tcp_opts": [["nodelay", True]]}, "tcp_opts"),
    ({"tcp_opts": [("6", 1, 1)]}, "tcp_opts"),
    ({"tcp_opts": [(6, 1, 1, 1)]}, "tcp_opts"),
    ({"tls_opts": "verify_none"}, "tls_opts"),
    ({"tls_opts": {"verify": "yes"}}, "tls_opts.verify"),
    ({"tls_opts": {"verify": None}}, "tls_opts.verify"),
    ({"tls_opts": [("verify", "verify_nothing")]}, "tls_opts.verify"),
    ({"tls_opts": {"bogus": 1}}, "tls_opts.bogus"),
    ({"tls_opts": {"context": "not a context"}}, "tls_opts.context"),
    ({"http_opts": []}, "http_opts"),
    ({"http_opts": {"version": "HTTP/2"}}, "http_opts.version"),
    ({"http_opts": {"keepalive": 0}}, "http_opts.keepalive"),
    ({"http_opts": {"closing_timeout": -1}}, "http_opts.closing_timeout"),
    ({"http_opts": {"flow": 0}}, "http_opts.flow"),
    ({"ws_opts": "x"}, "ws_opts"),
    ({"ws_opts": {"flow": 0}}, "ws_opts.flow"),
    ({"ws_opts": {"flow": -1}}, "ws_opts.flow"),
    ({"ws_opts": {"flow": "lots"}}, "ws_opts.flow"),
    ({"ws_opts": {"flow": True}}, "ws_opts.flow"),
    ({"ws_opts": {"deflate_opts": {"mem_level": 0}}}, "ws_opts.deflate_opts.mem_level"),
    ({"ws_opts": {"deflate_opts": {"server_max_window_bits": 16}}},
     "ws_opts.deflate_opts.server_max_window_bits"),
    ({"ws_opts": {"deflate_opts": {"window": 9}}}, "ws_opts.deflate_opts.window"),
    ({"ws_opts": {"deflate_opts": []}}, "ws_opts.deflate_opts"),
    ({"ws_opts": {"compress": "no"}}, "ws_opts.compress"),
    ({"ws_opts": {"closing_timeout": 0}}, "ws_opts.closing_timeout"),
    ({"ws_opts": {"closing_timeout": "never"}}, "ws_opts.closing_timeout"),
    ({"ws_opts": {"keepalive": 0}}, "ws_opts.keepalive"),
    ({"ws_opts": {"keepalive": 1.5}}, "ws_opts.keepalive"),
    ({"ws_opts": {"keepalive_timeout": -1}}, "ws_opts.keepalive_timeout"),
    ({"ws_opts": {"max_frame_size": 0}}, "ws_opts.max_frame_size"),
    ({"ws_opts": {"max_frame_size": "infinity"}}, "ws_opts.max_frame_size"),
    ({"ws_opts": {"silence_pings": 0}}, "ws_opts.silence_pings"),
    ({"ws_opts": {"protocols": "chat"}}, "ws_opts.protocols"),
    ({"ws_opts": {"protocols": [""]}}, "ws_opts.protocols"),
    ({"ws_opts": {"protocols": ["a,b"]}}, "ws_opts.protocols"),
    ({"ws_opts": {"protocols": [42]}}, "ws_opts.protocols"),
    ({"ws_opts": {"protocols": [(42, "handler")]}}, "ws_opts.protocols"),
    ({"ws_opts": {"default_protocol": "x"}}, "ws_opts.default_protocol"),
    ({"ws_opts": {"bogus": 1}}, "ws_opts.bogus"),
]


@pytest.mark.parametrize(
    ("opts", "key"),
    [pytest.param(o, k, id=f"{k}-{i}") for i, (o, k) in enumerate(OPEN_ERRORS)],
)
def test_bad_open_options_name_the_dotted_key(opts: dict[str, Any], key: str) -> None:
    with pytest.raises(OptionsError) as info:
        check_open_options(80, opts)
    assert info.value.key == key
    assert key in str(info.value)


def test_options_error_carries_the_value_and_is_a_value_error() -> None:
    with pytest.raises(ValueError) as info:
        check_open_options(80, {"ws_opts": {"flow": 0}})
    assert isinstance(info.value, OptionsError)
    assert info.value.key == "ws_opts.flow"
    assert info.value.value == 0


def test_first_bad_key_is_reported_after_a_good_one() -> None:
    with pytest.raises(OptionsError) as info:
        check_open_options(80, {"retry": 1, "ws_opts": {"silence_pings": True, "flow": 0}})
    assert info.value.key == "ws_opts.flow"


def test_opts_must_be_a_mapping() -> None:
    with pytest.raises(OptionsError) as info:
        check_open_options(80, [("retry", 1)])  # type: ignore[arg-type]
    assert info.value.key == "opts"


def test_ws_options_alone_use_the_scope_in_the_key() -> None:
    with pytest.raises(OptionsError) as info:
        check_ws_options({"flow": 0})
    assert info.value.key == "ws_opts.flow"
    with pytest.raises(OptionsError) as info:
        check_ws_options({"bogus": 1}, scope="upgrade_opts")
    assert info.value.key == "upgrade_opts.bogus"


@pytest.mark.parametrize(
    "tls_opts",
    [pytest.param([("verify",)], id="1-tuple"), pytest.param([1], id="int-item")],
)
def test_malformed_tls_opts_list_is_an_options_error(tls_opts: list[Any]) -> None:
    with pytest.raises(OptionsError) as info:
        check_open_options(443, {"tls_opts": tls_opts})
    assert info.value.key == "tls_opts"


@pytest.mark.parametrize(
    "ws_opts",
    [pytest.param([], id="empty-list"), pytest.param(0, id="zero"), pytest.param("", id="str")],
)
def test_falsy_non_dict_ws_opts_is_refused(ws_opts: Any) -> None:
    with pytest.raises(OptionsError) as info:
        check_open_options(80, {"ws_opts": ws_opts})
    assert info.value.key == "ws_opts"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("example.com", False),
        ("localhost", False),
        ("256.0.0.1", False),
        ("", False),
    ],
)
def test_is_ip_address(host: str, expected: bool) -> None:
    assert is_ip_address(host) is expected


# -- close helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "sendable"),
    [
        (0, False),
        (999, False),
        (1000, True),
        (1001, True),
        (1002, True),
        (1003, True),
        (1004, False),
        (1005, False),
        (1006, False),
        (1007, True),
        (1011, True),
        (1014, True),
        (1015, False),
        (1016, False),
        (2999, False),
        (3000, True),
        (4999, True),
        (5000, False),
        (65535, False),
        (-1, False),
    ],
)
def test_is_sendable_close_code(code: int, sendable: bool) -> None:
    assert is_sendable_close_code(code) is sendable


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", None),
        (b"\x03\xe8", (1000, "")),
        (b"\x0b\xb8bye", (3000, "bye")),
        (b"\x13\x87" + "ünï".encode(), (4999, "ünï")),
    ],
)
def test_parse_close_payload(payload: bytes, expected: tuple[int, str] | None) -> None:
    assert parse_close_payload(payload) == expected


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\x03", 1002),
        (b"\x03\xed", 1002),  # 1005
        (b"\x03\xee", 1002),  # 1006
        (b"\x03\xe7", 1002),  # 999
        (b"\x13\x88", 1002),  # 5000
        (b"\x00\x00", 1002),
        (b"\x03\xe8\xff", 1007),
        (b"\x03\xe8\xc3", 1007),  # truncated
    ],
)
def test_parse_close_payload_errors(payload: bytes, code: int) -> None:
    with pytest.raises(CloseError) as info:
        parse_close_payload(payload)
    assert info.value.code == code
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("code", "reason", "payload"),
    [
        (None, b"", b""),
        (None, "", b""),
        (1000, b"", b"\x03\xe8"),
        (1001, "bye", b"\x03\xe9bye"),
        (4000, "é", b"\x0f\xa0\xc3\xa9"),
        (3000, b"r" * 123, b"\x0b\xb8" + b"r" * 123),
    ],
)
def test_build_close_payload(code: int | None, reason: str | bytes, payload: bytes) -> None:
    assert build_close_payload(code, reason) == payload


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (None, "reason without code"),
        (1005, ""),
        (1006, ""),
        (999, ""),
        (5000, ""),
        (1000, "r" * 124),
        (1000, "é" * 62),  # 124 bytes
    ],
)
def test_build_close_payload_errors(code: int | None, reason: str) -> None:
    with pytest.raises(ValueError):
        build_close_payload(code, reason)


def test_build_then_parse_close_round_trip() -> None:
    for code in (1000, 1003, 1007, 1014, 3000, 4999):
        assert parse_close_payload(build_close_payload(code, "why ☃")) == (code, "why ☃")


# -- handshake helpers ------------------------------------------------------------------------


def test_normalize_headers_from_a_dict() -> None:
    # Annotated: HeadersIn's Mapping[object, object] rejects a dict[str, str] under mypy.
    headers: dict[object, object] = {
        "X-One": "1",
        "Content-Type": "text/plain",
        "x-three": "Mixed Case",
    }
    assert normalize_headers(headers) == [
        ("x-one", "1"),
        ("content-type", "text/plain"),
        ("x-three", "Mixed Case"),
    ]


def test_normalize_headers_from_a_list_keeps_order_and_duplicates() -> None:
    headers = [("Z", "1"), (b"A-B", b"v"), ("z", "2"), (b"Accept", "*/*"), ("X-N", 42)]
    assert normalize_headers(headers) == [
        ("z", "1"),
        ("a-b", "v"),
        ("z", "2"),
        ("accept", "*/*"),
        ("x-n", "42"),
    ]


def test_normalize_headers_none_and_empty() -> None:
    assert normalize_headers(None) == []
    assert normalize_headers({}) == []
    assert normalize_headers([]) == []


def test_normalize_headers_returns_plain_str_pairs() -> None:
    out = normalize_headers([(b"X-Bin", b"caf\xe9")])
    assert out == [("x-bin", "caf\xe9")]
    assert all(type(n) is str and type(v) is str for n, v in out)


@pytest.mark.parametrize(
    "headers",
    [
        [("x-a", "one\r\ntwo: injected")],
        [("x-a", "line\nfeed")],
        [("x-a", "carriage\rreturn")],
        [("x-a\r\n", "v")],
        [(b"x-\nb", b"v")],
        [("x-ok", "fine"), ("x-bad", b"v\r")],
        {"x-a": "v\n"},
        [("", "empty name")],
    ],
)
def test_normalize_headers_refuses_cr_lf(headers: Any) -> None:
    with pytest.raises(InvalidRequestHeader) as info:
        normalize_headers(headers)
    assert isinstance(info.value, ValueError)
    bad = info.value.name + info.value.value
    assert "\r" in bad or "\n" in bad or info.value.name == ""


@pytest.mark.parametrize(
    ("host", "port", "transport", "expected"),
    [
        ("example.com", 80, "tcp", "example.com"),
        ("example.com", 443, "tls", "example.com"),
        ("example.com", 443, "tcp", "example.com:443"),
        ("example.com", 80, "tls", "example.com:80"),
        ("example.com", 8080, "tcp", "example.com:8080"),
        ("example.com", 8443, "tls", "example.com:8443"),
        ("127.0.0.1", 80, "tcp", "127.0.0.1"),
        ("127.0.0.1", 9000, "tcp", "127.0.0.1:9000"),
        ("::1", 80, "tcp", "[::1]"),
        ("::1", 8080, "tcp", "[::1]:8080"),
        ("2001:db8::1", 443, "tls", "[2001:db8::1]"),
        ("fe80::1", 444, "tls", "[fe80::1]:444"),
    ],
)
def test_host_header(host: str, port: int, transport: str, expected: str) -> None:
    assert host_header(host, port, transport) == expected


# -- messages ---------------------------------------------------------------------------------


def test_refs_are_unique_hashable_and_equal_only_to_themselves() -> None:
    a, b = Ref(), Ref()
    assert a != b
    assert a == a
    assert len({a, b, a}) == 2
    assert a.number != b.number
    assert repr(a) == f"#Ref<{a.number}>"


def test_message_builders_return_plain_tuples() -> None:
    conn, ref, mref = object(), Ref(), Ref()
    headers = [("server", "x")]
    built = [
        (gun_up(conn, "http"), ("gun_up", conn, "http")),
        (gun_down(conn, "ws", "closed", [ref]), ("gun_down", conn, "ws", "closed", [ref])),
        (
            gun_upgrade(conn, ref, headers),
            ("gun_upgrade", conn, ref, ["websocket"], headers),
        ),
        (
            gun_response(conn, ref, "nofin", 404, headers),
            ("gun_response", conn, ref, "nofin", 404, headers),
        ),
        (gun_data(conn, ref, "fin", b"body"), ("gun_data", conn, ref, "fin", b"body")),
        (gun_ws(conn, ref, ("text", "hi")), ("gun_ws", conn, ref, ("text", "hi"))),
        (gun_ws(conn, ref, "close"), ("gun_ws", conn, ref, "close")),
        (gun_stream_error(conn, ref, "closed"), ("gun_error", conn, ref, "closed")),
        (
            gun_conn_error(conn, ("badstate", BADSTATE_WS_ONLY)),
            ("gun_error", conn, ("badstate", BADSTATE_WS_ONLY)),
        ),
        (down(mref, conn, "normal"), ("DOWN", mref, "process", conn, "normal")),
        (exit_signal(conn, "killed"), ("EXIT", conn, "killed")),
    ]
    for message, expected in built:
        assert type(message) is tuple
        assert message == expected


def classify(message: object) -> str:
    match message:
        case ("gun_up", _conn, protocol):
            return f"up {protocol}"
        case ("gun_down", _conn, protocol, reason, list(killed)):
            return f"down {protocol} {reason} {len(killed)}"
        case ("gun_upgrade", _conn, _ref, ["websocket"], _headers):
            return "upgrade"
        case ("gun_response", _conn, _ref, "fin" | "nofin" as fin, int(status), _headers):
            return f"response {fin} {status}"
        case ("gun_data", _conn, _ref, fin, bytes(data)):
            return f"data {fin} {data!r}"
        case ("gun_ws", _conn, _ref, ("text", str(text))):
            return f"text {text}"
        case ("gun_ws", _conn, _ref, ("binary", bytes(data))):
            return f"binary {data!r}"
        case ("gun_ws", _conn, _ref, ("close", int(code), str(reason))):
            return f"close {code} {reason}"
        case ("gun_ws", _conn, _ref, "close" | "ping" | "pong" as atom):
            return atom
        case ("gun_ws", _conn, _ref, ("ping" | "pong" as kind, bytes(data))):
            return f"{kind} {data!r}"
        case ("gun_error", _conn, Ref(), reason):
            return f"stream error {reason}"
        case ("gun_error", _conn, ("badstate", str(why))):
            return f"badstate {why[:20]}"
        case ("DOWN", Ref(), "process", _target, reason):
            return f"DOWN {reason}"
        case ("EXIT", _source, reason):
            return f"EXIT {reason}"
    return "unmatched"


def test_match_statements_on_messages() -> None:
    conn, ref = object(), Ref()
    cases = [
        (gun_up(conn, "http"), "up http"),
        (gun_down(conn, "ws", "normal", [ref]), "down ws normal 1"),
        (gun_upgrade(conn, ref, []), "upgrade"),
        (gun_response(conn, ref, "fin", 426, []), "response fin 426"),
        (gun_data(conn, ref, "nofin", b"x"), "data nofin b'x'"),
        (gun_ws(conn, ref, ("text", "héllo")), "text héllo"),
        (gun_ws(conn, ref, ("binary", b"\x00")), "binary b'\\x00'"),
        (gun_ws(conn, ref, ("close", 1000, "")), "close 1000 "),
        (gun_ws(conn, ref, "close"), "close"),
        (gun_ws(conn, ref, "ping"), "ping"),
        (gun_ws(conn, ref, ("pong", b"p")), "pong b'p'"),
        (gun_stream_error(conn, ref, "closed"), "stream error closed"),
        (gun_conn_error(conn, ("badstate", BADSTATE_NOT_WS)), "badstate This connection does"),
        (down(Ref(), conn, "noproc"), "DOWN noproc"),
        (exit_signal(conn, "normal"), "EXIT normal"),
    ]
    for message, expected in cases:
        assert classify(message) == expected


def test_badstate_texts_are_guns() -> None:
    assert BADSTATE_WS_ONLY == "This connection only accepts Websocket frames."
    assert BADSTATE_NOT_WS.startswith("This connection does not currently accept Websocket frames.")
    assert "automatic reconnect" in BADSTATE_NOT_WS
    assert BADSTATE_SET_OWNER_CLOSING == (
        "The owner of the connection cannot be changed when the connection is shutting down."
    )


def test_ws_protocols_take_gun_pairs_with_binary_names() -> None:
    ws = check_ws_options({"protocols": [(b"xmpp", "gun_ws_h"), b"mqtt", "chat"]})
    assert ws.protocols == ("xmpp", "mqtt", "chat")


def test_default_protocol_is_refused_with_why() -> None:
    with pytest.raises(OptionsError) as info:
        check_ws_options({"default_protocol": "my_ws_h"})
    assert info.value.key == "ws_opts.default_protocol"
    assert "gun_ws_protocol handlers" in str(info.value)
