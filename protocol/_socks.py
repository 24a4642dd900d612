"""A SOCKS5 client handshake (RFC 1928, RFC 1929 username/password), sans-I/O.

The exchange is Gun's (``gun_socks``): a greeting offering the ``auth``
methods in the caller's order, the username/password sub-negotiation when
the proxy picks it, then a CONNECT (``CMD`` 1) to the destination. A name
goes out as a domain (``ATYP`` 3, UTF-8, resolved by the proxy, as Gun
sends it); an IPv4 or IPv6 literal (or `ipaddress` value) as ``ATYP`` 1 or 4.

`Socks5Handshake.start` gives the greeting; `Socks5Handshake.receive_data`
takes whatever the proxy sent, in chunks of any size, and returns events:

- `SocksSend`: bytes to write to the proxy, in order.
- `SocksUp`: the tunnel is up. ``host``/``port`` are the bound address the
  proxy reported; ``trailing`` are bytes that followed the reply, the
  tunnel's first bytes: the caller hands them to whatever runs over it.
- `SocksFailed`: the handshake failed; ``reason`` is Gun's name for it
  (Gun reports ``{socks5, Reason}``), ``stage`` the step it failed in.

Either of the last two is the final event: nothing after it is read (bytes
that came with or after a fault are dropped), and a later `receive_data`
returns no event after a failure, or raises `RuntimeError` after success
(those bytes belong to the tunnel). ``b""`` means the proxy closed its side.

Leniencies, as Gun's: a proxy may pick "no authentication" even if it was
not offered (pproxy does so when it has no users); ``RSV`` is not checked.
A proxy that closes right after the credentials, without the RFC 1929
status (pproxy does), has refused them: ``username_password_auth_failure``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Final, Literal, NamedTuple

AuthMethod = Literal["none"] | tuple[Literal["username_password"], str | bytes, str | bytes]
"""Gun's ``auth`` entries: ``"none"`` or ``("username_password", user, password)``."""

Stage = Literal["auth_method_select", "auth_username_password", "connect"]
State = Literal["idle", "auth_method_select", "auth_username_password", "connect", "up", "failed"]
Reason = str | tuple[Literal["unknown_error"], int]
BoundHost = ipaddress.IPv4Address | ipaddress.IPv6Address | str

VERSION: Final = 5
AUTH_VERSION: Final = 1  # RFC 1929 sub-negotiation version
NO_AUTH: Final = 0x00
USERNAME_PASSWORD: Final = 0x02
NO_ACCEPTABLE_METHODS: Final = 0xFF
CMD_CONNECT: Final = 0x01
ATYP_IPV4: Final = 0x01
ATYP_DOMAIN: Final = 0x03
ATYP_IPV6: Final = 0x04

# RFC 1928 section 6 reply codes: Gun's reason, and the RFC's words for it.
REPLY_REASONS: Final[dict[int, tuple[str, str]]] = {
    1: ("general_socks_server_failure", "general SOCKS server failure"),
    2: ("connection_not_allowed_by_ruleset", "connection not allowed by ruleset"),
    3: ("network_unreachable", "network unreachable"),
    4: ("host_unreachable", "host unreachable"),
    5: ("connection_refused", "connection refused"),
    6: ("ttl_expired", "TTL expired"),
    7: ("command_not_supported", "command not supported"),
    8: ("address_type_not_supported", "address type not supported"),
}


class SocksSend(NamedTuple):
    """Bytes to write to the proxy."""

    data: bytes


class SocksUp(NamedTuple):
    """The tunnel is up; ``trailing`` came after the reply and belongs to the tunnel."""

    host: BoundHost
    port: int
    trailing: bytes


class SocksError(Exception):
    """A failed SOCKS5 handshake, for callers that raise: see `SocksFailed`."""

    def __init__(self, reason: Reason, message: str, stage: Stage) -> None:
        super().__init__(message)
        self.reason = reason
        self.stage = stage


class SocksFailed(NamedTuple):
    """The handshake failed.

    ``reason``: Gun's name where Gun has one (``"username_password_auth_failure"``,
    the reply codes of `REPLY_REASONS`, ``("unknown_error", code)``), else
    ``"no_acceptable_methods"`` (method X'FF'), ``"auth_method_not_offered"``,
    ``"malformed_reply"`` or ``"closed"`` (the proxy closed before its answer).
    ``message`` says it in words; ``stage`` is the step that failed.
    """

    reason: Reason
    message: str
    stage: Stage

    def error(self) -> SocksError:
        """This failure as an exception."""
        return SocksError(self.reason, self.message, self.stage)


SocksEvent = SocksSend | SocksUp | SocksFailed


def _destination(host: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    """``ATYP`` and ``DST.ADDR`` of a CONNECT request."""
    address = host
    if isinstance(host, str):
        try:
            address = ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
        except ValueError:
            name = host.encode("utf-8")
            if not 0 < len(name) < 256:
                raise ValueError(f"SOCKS5 destination name must be 1-255 bytes: {host!r}") from None
            return bytes([ATYP_DOMAIN, len(name)]) + name
    if isinstance(address, ipaddress.IPv4Address):
        return bytes([ATYP_IPV4]) + address.packed
    assert isinstance(address, ipaddress.IPv6Address)
    return bytes([ATYP_IPV6]) + address.packed


def _credential(value: str | bytes, what: str) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if len(raw) > 255:
        raise ValueError(f"SOCKS5 {what} is longer than 255 bytes")
    return raw


class Socks5Handshake:
    """One SOCKS5 CONNECT handshake to ``host``:``port`` (see the module doc).

    ``auth`` is Gun's option: methods in order of preference, each at most
    once; the default ``["none"]``. Bad input raises `ValueError` here.
    """

    def __init__(
        self,
        host: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
        port: int,
        auth: Sequence[AuthMethod] = ("none",),
    ) -> None:
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"SOCKS5 destination port must be 0-65535: {port!r}")
        methods: list[int] = []
        self._credentials: bytes | None = None
        for method in auth:
            if method == "none":
                code = NO_AUTH
            elif (isinstance(method, tuple) and len(method) == 3
                  and method[0] == "username_password"):
                code = USERNAME_PASSWORD
                user = _credential(method[1], "username")
                password = _credential(method[2], "password")
                self._credentials = (
                    bytes([AUTH_VERSION, len(user)]) + user + bytes([len(password)]) + password
                )
            else:
                raise ValueError(f"unknown SOCKS5 auth method {method!r}")
            if code in methods:
                raise ValueError(f"SOCKS5 auth method listed twice: {method!r}")
            methods.append(code)
        if not methods:
            raise ValueError("SOCKS5 auth must list at least one method")
        self._methods = bytes(methods)
        self._request = (
            bytes([VERSION, CMD_CONNECT, 0]) + _destination(host) + port.to_bytes(2, "big"))
        self._state: State = "idle"
        self._stage: Stage = "auth_method_select"  # the stage awaiting an answer
        self._buffer = b""

    @property
    def state(self) -> State:
        """``idle`` until `start`, then the stage awaiting an answer, then ``up`` or ``failed``."""
        return self._state

    def start(self) -> bytes:
        """The greeting (``VER NMETHODS METHODS``): send it first, once."""
        if self._state != "idle":
            raise RuntimeError("the SOCKS5 handshake has already started")
        self._state = "auth_method_select"
        return bytes([VERSION, len(self._methods)]) + self._methods

    def receive_data(self, data: bytes) -> list[SocksEvent]:
        """Bytes from the proxy (``b""``: it closed); the events they complete."""
        if self._state == "idle":
            raise RuntimeError("receive_data before start")
        if self._state == "up":
            raise RuntimeError("the SOCKS5 tunnel is up: its bytes are not the handshake's")
        if self._state == "failed":
            return []
        if not data:
            return [self._closed()]
        self._buffer += data
        events: list[SocksEvent] = []
        while self._state not in ("up", "failed"):
            event = self._step()
            if event is None:
                break
            events.append(event)
        return events

    def _step(self) -> SocksEvent | None:
        """Read one answer from the buffer if it is complete."""
        buf = self._buffer
        if len(buf) < 2:
            return None
        if self._state == "auth_method_select":
            self._buffer = buf[2:]
            return self._method_selected(buf[0], buf[1])
        if self._state == "auth_username_password":
            self._buffer = buf[2:]
            if buf[0] != AUTH_VERSION:
                return self._fail("malformed_reply", f"auth status version {buf[0]}, not 1")
            if buf[1] != 0:
                return self._fail("username_password_auth_failure",
                                  f"the proxy refused the username and password (status {buf[1]})")
            return self._connect()
        return self._reply(buf)

    def _method_selected(self, version: int, method: int) -> SocksEvent:
        if version != VERSION:
            return self._fail("malformed_reply", f"method selection version {version}, not 5")
        if method == NO_AUTH:
            return self._connect()
        if method == USERNAME_PASSWORD and self._credentials is not None:
            self._state = self._stage = "auth_username_password"
            return SocksSend(self._credentials)
        if method == NO_ACCEPTABLE_METHODS:
            return self._fail("no_acceptable_methods",
                              "the proxy accepts none of the offered auth methods")
        return self._fail("auth_method_not_offered", f"the proxy chose auth method {method}, "
                          f"which was not offered ({list(self._methods)})")

    def _connect(self) -> SocksSend:
        self._state = self._stage = "connect"
        return SocksSend(self._request)

    def _reply(self, buf: bytes) -> SocksEvent | None:
        """``VER REP RSV ATYP BND.ADDR BND.PORT``: a failure is known from ``REP``."""
        if buf[0] != VERSION:
            return self._fail("malformed_reply", f"reply version {buf[0]}, not 5")
        if buf[1] != 0:
            reason, words = REPLY_REASONS.get(buf[1], (None, f"unknown reply code {buf[1]}"))
            return self._fail(reason if reason else ("unknown_error", buf[1]), words)
        if len(buf) < 4:
            return None
        atyp = buf[3]
        if atyp == ATYP_IPV4:
            end = 4 + 4
        elif atyp == ATYP_IPV6:
            end = 4 + 16
        elif atyp != ATYP_DOMAIN:
            return self._fail("malformed_reply", f"reply address type {atyp}")
        elif len(buf) < 5:
            return None
        else:
            end = 5 + buf[4]
        if len(buf) < end + 2:
            return None
        host: BoundHost
        if atyp == ATYP_DOMAIN:
            host = buf[5:end].decode("utf-8", "replace")
        else:
            host = ipaddress.ip_address(buf[4:end])
        self._state = "up"
        self._buffer = b""
        return SocksUp(host, int.from_bytes(buf[end:end + 2], "big"), buf[end + 2:])

    def _closed(self) -> SocksFailed:
        if self._state == "auth_username_password" and not self._buffer:
            return self._fail("username_password_auth_failure",
                              "the proxy closed the connection instead of accepting the login")
        return self._fail("closed", f"the proxy closed the connection during {self._state}")

    def _fail(self, reason: Reason, message: str) -> SocksFailed:
        stage = self._stage
        self._state = "failed"
        self._buffer = b""
        return SocksFailed(reason, f"SOCKS5 {message}", stage)
