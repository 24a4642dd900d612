"""The HTTP/1.1 CONNECT request that opens a tunnel through a proxy, sans-I/O.

Written as Gun's ``gun:connect`` writes it: ``CONNECT host:port HTTP/1.1``,
``host: host:port`` unless the caller gave one, ``proxy-authorization:
Basic base64(user:password)`` when both credentials are given and the caller
gave none, then the caller's headers; ``content-length`` and
``transfer-encoding`` are dropped (a CONNECT has no body). Unlike Gun an
IPv6 host is bracketed (``[::1]:443``), as RFC 9110 9.3.6 and 7.2 require.
Names are lower case; ``transform_header_name`` (Gun's http_opts option of
that name) rewrites them on the wire, for proxies that match names by case
(pproxy reads only ``Proxy-Authorization``: pass ``str.title``).

Only the request is built here: the proxy's answer is an HTTP response,
read by h11 like any other (a 2xx means the tunnel is up, and the bytes
after its head are the tunnel's).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable
from typing import Final

from gunpy.protocol._handshake import HeadersIn, normalize_headers
from gunpy.protocol._http1 import encode_request
from gunpy.protocol._messages import Headers

# RFC 3986 reg-name (percent-escapes and sub-delims allowed) or an IPv4 literal.
_REG_NAME: Final = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]+\Z")


def connect_authority(host: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
                      port: int) -> str:
    """``host:port`` for the request target and ``host``; IPv6 in brackets.

    Raises `ValueError` for a port outside 1-65535 or a host that cannot be
    sent (spaces, CR, LF, ``/``, ``@`` ...).
    """
    if not isinstance(port, int) or not 0 < port <= 65535:
        raise ValueError(f"CONNECT port must be 1-65535: {port!r}")
    if isinstance(host, ipaddress.IPv6Address):
        return f"[{host.compressed}]:{port}"
    if isinstance(host, ipaddress.IPv4Address):
        return f"{host}:{port}"
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        try:
            return f"[{ipaddress.IPv6Address(bare).compressed}]:{port}"
        except ValueError:
            raise ValueError(f"invalid CONNECT host {host!r}") from None
    if not _REG_NAME.match(bare):
        raise ValueError(f"invalid CONNECT host {host!r}")
    return f"{bare}:{port}"


def basic_proxy_authorization(username: str | bytes, password: str | bytes) -> str:
    """The ``proxy-authorization`` value: ``Basic`` and base64 of ``user:password`` (UTF-8).

    RFC 7617 forbids a ``:`` in the user-id: that raises `ValueError`.
    """
    user = username.encode("utf-8") if isinstance(username, str) else bytes(username)
    secret = password.encode("utf-8") if isinstance(password, str) else bytes(password)
    if b":" in user:
        raise ValueError("a Basic proxy username cannot contain ':'")
    return "Basic " + base64.b64encode(user + b":" + secret).decode("ascii")


def connect_headers(
    authority: str,
    headers: HeadersIn | None = None,
    username: str | bytes | None = None,
    password: str | bytes | None = None,
) -> Headers:
    """The CONNECT request's headers, in Gun's order (see the module doc)."""
    out = [(n, v) for n, v in normalize_headers(headers)
           if n not in ("content-length", "transfer-encoding")]
    if not any(n == "host" for n, _ in out):
        out.insert(0, ("host", authority))
    if (username is not None and password is not None
            and not any(n == "proxy-authorization" for n, _ in out)):
        out.insert(0, ("proxy-authorization", basic_proxy_authorization(username, password)))
    return out


def encode_connect(
    host: str | ipaddress.IPv4Address | ipaddress.IPv6Address,
    port: int,
    headers: HeadersIn | None = None,
    username: str | bytes | None = None,
    password: str | bytes | None = None,
    transform_header_name: Callable[[str], str] | None = None,
) -> bytes:
    """The whole CONNECT request, ready to write to the proxy.

    Raises `ValueError` for a bad host, port or username, and
    `InvalidRequestHeader` for a header HTTP/1.1 does not allow.
    """
    authority = connect_authority(host, port)
    out = connect_headers(authority, headers, username, password)
    if transform_header_name is not None:
        out = [(transform_header_name(n), v) for n, v in out]
    return encode_request("CONNECT", authority, "HTTP/1.1", out)
