"""Option schemas for ``gun.open`` and ``gun.ws_upgrade``, with Gun's defaults.

Options are plain dicts with Gun's keys; times are milliseconds, as in Gun,
and ``"infinity"`` means no limit. Validation happens in the caller, before
anything starts: an unknown key or a bad value raises `OptionsError` naming
the key. The result is a frozen dataclass, so the rest of gunpy reads typed
fields instead of dict lookups.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any, Final, Literal, TypeAlias

from gunpy.protocol._content import check_content_handlers, gun_data_h
from gunpy.protocol._deflate import DeflateOptions
from gunpy.protocol._frames import DEFAULT_MAX_FRAME_SIZE
from gunpy.protocol._options_base import OptionsError, Timeout
from gunpy.protocol._options_base import check_timeout as _timeout
from gunpy.protocol._tunnel_options import SocksOptions, check_socks_options

RetryFun: TypeAlias = Callable[[int, Mapping[str, Any]], Mapping[str, int]]


@dataclass(frozen=True)
class WsOptions:
    """WebSocket options (Gun's ``ws_opts``), for ``gun.open`` or one ``ws_upgrade``."""

    closing_timeout: Timeout = 15000
    compress: bool = False
    deflate_opts: DeflateOptions = field(default_factory=DeflateOptions)
    flow: int | None = None
    keepalive: Timeout = "infinity"
    keepalive_timeout: Timeout = "infinity"
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    protocols: tuple[str, ...] = ()
    reply_to: object = None
    silence_pings: bool = True
    user_opts: object = None


@dataclass(frozen=True)
class HttpOptions:
    """HTTP/1.1 options (Gun's ``http_opts``), Gun's defaults.

    ``content_handlers`` are ``(handler, opts)`` pairs (see ``gunpy.protocol._content``);
    ``flow`` None is Gun's infinity; ``transform_header_name`` rewrites request
    header names as they are written (for servers that care about case).
    """

    closing_timeout: Timeout = 15000
    content_handlers: tuple[tuple[Any, Any], ...] = ((gun_data_h, {}),)
    cookie_ignore_informational: bool = False
    flow: int | None = None
    keepalive: Timeout = "infinity"
    max_header_block_size: int = 100_000
    transform_header_name: Callable[[str], str] | None = None
    version: Literal["HTTP/1.1", "HTTP/1.0"] = "HTTP/1.1"


DEFAULT_TCP_OPTS: Final = (("send_timeout", 15000), ("send_timeout_close", True))


@dataclass(frozen=True)
class OpenOptions:
    """Every option of ``gun.open``, defaults filled in. ``raw`` is the caller's dict."""

    transport: Literal["tcp", "tls"]
    connect_timeout: Timeout = "infinity"
    domain_lookup_timeout: Timeout = "infinity"
    tls_handshake_timeout: Timeout = "infinity"
    tcp_opts: tuple[tuple[Any, ...], ...] = DEFAULT_TCP_OPTS
    tls_opts: Mapping[str, Any] = field(default_factory=dict)
    protocols: tuple[str, ...] = ("http",)
    socks: SocksOptions | None = None  # protocols=[("socks", opts)]: through a SOCKS5 proxy
    http_opts: HttpOptions = HttpOptions()
    ws_opts: WsOptions = WsOptions()
    retry: int = 5
    retry_timeout: int = 5000
    retry_fun: RetryFun | None = None
    supervise: bool = True
    trace: bool = False
    event_handler: tuple[Any, Any] | None = None
    cookie_store: CookieJar | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    unix_path: str | None = None  # set by gun.open_unix, not an option key


def _int(key: str, value: object, minimum: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise OptionsError(key, value, f"must be an integer >= {minimum}")


def _bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise OptionsError(key, value, "must be True or False")


def _mapping(key: str, value: object) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise OptionsError(key, value, "must be a dict")


def check_ws_options(opts: Mapping[str, Any] | None, scope: str = "ws_opts") -> WsOptions:
    """Validate a ``ws_opts`` dict; return it with Gun's defaults filled in."""
    values: dict[str, Any] = {}
    for key, value in _mapping(scope, {} if opts is None else opts).items():
        name = f"{scope}.{key}"
        if key == "closing_timeout" or key in ("keepalive", "keepalive_timeout"):
            values[key] = _timeout(name, value, minimum=1)
        elif key == "compress":
            values[key] = _bool(name, value)
        elif key == "deflate_opts":
            values[key] = _deflate_opts(name, value)
        elif key == "flow":
            values[key] = None if value == "infinity" else _int(name, value, 1)
        elif key == "max_frame_size":
            values[key] = _int(name, value, 1)
        elif key == "protocols":
            values[key] = _protocols(name, value)
        elif key == "silence_pings":
            values[key] = _bool(name, value)
        elif key in ("reply_to", "user_opts"):
            values[key] = value  # user_opts: kept for Gun code; no handler reads it here
        elif key == "default_protocol":
            why = ("gunpy has no gun_ws_protocol handlers: frames always arrive as "
                   "gun_ws messages (use reply_to to route them)")
            raise OptionsError(name, value, why)
        else:
            raise OptionsError(name, value, "unknown option")
    return WsOptions(**values)


_DEFLATE_RANGES: Final = {
    "level": (0, 9), "mem_level": (1, 9),
    "client_max_window_bits": (8, 15), "server_max_window_bits": (8, 15),
}


def _deflate_opts(name: str, value: object) -> DeflateOptions:
    """``deflate_opts``: zlib's level and mem_level, window bits, context takeover."""
    values: dict[str, Any] = {}
    for key, item in _mapping(name, value).items():
        item_name = f"{name}.{key}"
        if key in _DEFLATE_RANGES:
            low, high = _DEFLATE_RANGES[key]
            if not (isinstance(item, int) and not isinstance(item, bool) and low <= item <= high):
                raise OptionsError(item_name, item, f"must be an integer from {low} to {high}")
            values[key] = item
        elif key in ("client_no_context_takeover", "server_no_context_takeover"):
            values[key] = _bool(item_name, item)
        elif key == "min_size":
            values[key] = _int(item_name, item, 0)
        else:
            raise OptionsError(item_name, item, "unknown option")
    return DeflateOptions(**values)


def _protocols(name: str, value: object) -> tuple[str, ...]:
    """Gun takes ``[{Name, Handler}]``; gunpy takes names (str or bytes), or (name, anything)."""
    if not isinstance(value, list | tuple):
        raise OptionsError(name, value, "must be a list of subprotocol names")
    names: list[str] = []
    for item in value:
        item_name = item[0] if isinstance(item, tuple) and item else item
        if isinstance(item_name, bytes):  # Gun's binaries, as Gun code writes them
            item_name = item_name.decode("latin-1")
        if not isinstance(item_name, str) or not item_name or "," in item_name:
            raise OptionsError(name, value, f"{item!r} is not a subprotocol name")
        names.append(item_name)
    return tuple(names)


def check_http_options(opts: object) -> HttpOptions:
    """Validate an ``http_opts`` dict."""
    values: dict[str, Any] = {}
    for key, value in _mapping("http_opts", opts).items():
        name = f"http_opts.{key}"
        if key == "closing_timeout" or key == "keepalive":
            values[key] = _timeout(name, value, minimum=1)
        elif key == "content_handlers":
            handlers = check_content_handlers(value)
            if handlers is None:
                why = "must be a non-empty list of handlers (with init and handle) or pairs"
                raise OptionsError(name, value, why)
            values[key] = handlers
        elif key == "cookie_ignore_informational":
            values[key] = _bool(name, value)
        elif key == "flow":
            values[key] = None if value == "infinity" else _int(name, value, 1)
        elif key == "max_header_block_size":
            values[key] = _int(name, value, 1)
        elif key == "transform_header_name":
            if not callable(value):
                raise OptionsError(name, value, "must be a function str -> str")
            values[key] = value
        elif key == "version":
            if value not in ("HTTP/1.1", "HTTP/1.0"):
                raise OptionsError(name, value, 'must be "HTTP/1.1" or "HTTP/1.0"')
            values[key] = value
        else:
            raise OptionsError(name, value, "unknown option")
    return HttpOptions(**values)


_TCP_NAMED: Final = {"send_timeout", "send_timeout_close", "nodelay", "keepalive"}


def _tcp_opts(value: object) -> tuple[tuple[Any, ...], ...]:
    """Gun-named pairs (``("send_timeout", ms)``) or ``setsockopt`` triples."""
    if not isinstance(value, list | tuple):
        raise OptionsError("tcp_opts", value, "must be a list")
    out: list[tuple[Any, ...]] = []
    for item in value:
        ok = isinstance(item, tuple) and (
            (len(item) == 2 and item[0] in _TCP_NAMED)
            or (len(item) == 3 and isinstance(item[0], int) and isinstance(item[1], int))
        )
        if not ok:
            raise OptionsError(
                "tcp_opts", value, f"{item!r} is neither (name, value) nor (level, option, value)"
            )
        out.append(item)
    return tuple(out)


_TLS_KEYS: Final = {
    "context",
    "verify",
    "cacertfile",
    "cacerts",
    "certfile",
    "keyfile",
    "password",
    "server_name_indication",
    "ciphers",
    "alpn_advertised_protocols",
}


def _tls_opts(value: object) -> Mapping[str, Any]:
    if isinstance(value, list):
        try:
            opts: Mapping[str, Any] = dict(value)
        except (TypeError, ValueError):
            raise OptionsError("tls_opts", value, "must be a dict or a list of pairs") from None
    else:
        opts = _mapping("tls_opts", value)
    for key, item in opts.items():
        if key not in _TLS_KEYS:
            raise OptionsError(f"tls_opts.{key}", item, "unknown option")
    if "context" in opts and not isinstance(opts["context"], ssl.SSLContext):
        raise OptionsError("tls_opts.context", opts["context"], "must be an ssl.SSLContext")
    if opts.get("verify", "verify_peer") not in ("verify_peer", "verify_none"):
        why = 'must be "verify_peer" or "verify_none"'
        raise OptionsError("tls_opts.verify", opts["verify"], why)
    return opts


def check_open_options(port: int, opts: Mapping[str, Any] | None) -> OpenOptions:
    """Validate ``gun.open`` options; raise `OptionsError` naming the first bad key."""
    raw = _mapping("opts", opts or {})
    values: dict[str, Any] = {"raw": raw}
    transport: str = "tls" if port == 443 else "tcp"
    for key, value in raw.items():
        if key in ("connect_timeout", "domain_lookup_timeout", "tls_handshake_timeout"):
            values[key] = _timeout(key, value)
        elif key == "transport":
            if value not in ("tcp", "tls", "ssl"):
                raise OptionsError(key, value, 'must be "tcp" or "tls"')
            transport = "tls" if value == "ssl" else value
        elif key == "tcp_opts":
            values[key] = _tcp_opts(value)
        elif key == "tls_opts":
            values[key] = _tls_opts(value)
        elif key == "protocols":
            if isinstance(value, list | tuple) and len(value) == 1 and (
                isinstance(value[0], tuple) and len(value[0]) == 2 and value[0][0] == "socks"
            ):
                values["socks"] = check_socks_options(value[0][1])
            elif not isinstance(value, list | tuple) or list(value) != ["http"]:
                raise OptionsError(key, value, 'must be ["http"] (HTTP/1.1) or [("socks", opts)]')
            values[key] = ("http",)
        elif key == "http_opts":
            values[key] = check_http_options(value)
        elif key == "ws_opts":
            values[key] = check_ws_options(value)
        elif key == "retry" or key == "retry_timeout":
            values[key] = _int(key, value, 0)
        elif key == "retry_fun":
            if not callable(value):
                raise OptionsError(key, value, "must be a function (retries_left, opts) -> dict")
            values[key] = value
        elif key in ("supervise", "trace"):
            values[key] = _bool(key, value)
        elif key == "event_handler":
            if value is not None and not (isinstance(value, tuple) and len(value) == 2):
                raise OptionsError(key, value, "must be (handler, initial_state)")
            values[key] = value
        elif key == "cookie_store":
            if value is not None and not isinstance(value, CookieJar):
                raise OptionsError(key, value, "must be an http.cookiejar.CookieJar")
            values[key] = value
        else:
            raise OptionsError(key, value, "unknown option")
    return OpenOptions(transport=transport, **values)  # type: ignore[arg-type]


def is_ip_address(host: str) -> bool:
    """True if ``host`` is an IPv4 or IPv6 literal (no SNI, no hostname check by name)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return True
    return False
