"""What a tunnel goes to: ``gun.connect``'s destination and ``("socks", opts)``, checked.

Both are Gun 2.x's maps, validated in the caller like every other option
(`OptionsError` naming the key), into frozen values the connection reads:

- `TunnelDestination` (``gun.connect(conn, destination)``): ``host``, ``port``
  (1080, Gun's default), ``username`` / ``password`` (Basic
  ``proxy-authorization``), ``transport`` (``"tcp"``; ``"tls"`` runs TLS to
  the origin inside the tunnel, verified against ``host``), ``tls_opts``,
  ``tls_handshake_timeout``, ``protocols`` (``["http"]``).
- `SocksOptions` (``gun.open`` ``protocols=[("socks", opts)]``): ``host``,
  ``port``, ``auth`` (``["none"]`` or ``[("username_password", user,
  password)]``, in order of preference), ``version`` (5), ``transport``,
  ``tls_opts``, ``tls_handshake_timeout``, ``protocols``.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gunpy.protocol._options_base import OptionsError, Timeout, check_timeout


@dataclass(frozen=True)
class TunnelDestination:
    """The far end of a tunnel: the origin the requests go to once it is up."""

    host: str
    port: int = 1080
    username: str | None = None
    password: str | None = None
    transport: Literal["tcp", "tls"] = "tcp"
    tls_opts: Mapping[str, Any] = field(default_factory=dict)
    tls_handshake_timeout: Timeout = "infinity"
    protocols: tuple[str, ...] = ("http",)


@dataclass(frozen=True)
class SocksOptions:
    """A SOCKS5 proxy between the socket and the origin (``("socks", opts)``)."""

    destination: TunnelDestination
    auth: tuple[Any, ...] = ("none",)
    version: int = 5


_COMMON = {"host", "port", "transport", "tls_opts", "tls_handshake_timeout", "protocols"}


def check_destination(value: object, scope: str = "destination") -> TunnelDestination:
    """Validate ``gun.connect``'s destination (Gun's map); raise `OptionsError`."""
    return _destination(value, scope, _COMMON | {"username", "password"})


def check_socks_options(value: object, scope: str = "protocols.socks") -> SocksOptions:
    """Validate the ``opts`` of ``("socks", opts)``; raise `OptionsError`."""
    if not isinstance(value, Mapping):
        raise OptionsError(scope, value, "must be a dict")
    destination = _destination(value, scope, _COMMON | {"auth", "version"})
    version = value.get("version", 5)
    if version != 5:
        raise OptionsError(f"{scope}.version", version, "only SOCKS version 5 is supported")
    auth = value.get("auth", ["none"])
    if not isinstance(auth, list | tuple) or not auth:
        raise OptionsError(f"{scope}.auth", auth, 'must be a non-empty list: "none" or '
                           '("username_password", user, password)')
    for method in auth:
        ok = method == "none" or (
            isinstance(method, tuple) and len(method) == 3 and method[0] == "username_password"
            and all(isinstance(part, str | bytes) for part in method[1:])
        )
        if not ok:
            raise OptionsError(f"{scope}.auth", auth, f"{method!r} is not an auth method")
    return SocksOptions(destination, tuple(auth), version)


def _destination(value: object, scope: str, allowed: set[str]) -> TunnelDestination:
    if not isinstance(value, Mapping):
        raise OptionsError(scope, value, "must be a dict")
    for key in value:
        if key not in allowed:
            raise OptionsError(f"{scope}.{key}", value[key], "unknown option")
    host = value.get("host")
    if isinstance(host, bytes):
        host = host.decode("latin-1")
    if not isinstance(host, str) or not host:
        raise OptionsError(f"{scope}.host", host, "must be a host name or address")
    port = value.get("port", 1080)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port <= 65535:
        raise OptionsError(f"{scope}.port", port, "must be a port number")
    values: dict[str, Any] = {"host": host.strip("[]"), "port": port}
    for key in ("username", "password"):
        if key in value:
            item = value[key]
            if not isinstance(item, str | bytes):
                raise OptionsError(f"{scope}.{key}", item, "must be str or bytes")
            values[key] = item.decode("utf-8") if isinstance(item, bytes) else item
    transport = value.get("transport", "tcp")
    if transport not in ("tcp", "tls"):
        raise OptionsError(f"{scope}.transport", transport, 'must be "tcp" or "tls"')
    values["transport"] = transport
    tls_opts = value.get("tls_opts", {})
    if isinstance(tls_opts, list):
        tls_opts = dict(tls_opts)
    if not isinstance(tls_opts, Mapping):
        raise OptionsError(f"{scope}.tls_opts", tls_opts, "must be a dict")
    if "context" in tls_opts and not isinstance(tls_opts["context"], ssl.SSLContext):
        raise OptionsError(f"{scope}.tls_opts.context", tls_opts["context"],
                           "must be an ssl.SSLContext")
    values["tls_opts"] = tls_opts
    values["tls_handshake_timeout"] = check_timeout(
        f"{scope}.tls_handshake_timeout", value.get("tls_handshake_timeout", "infinity"))
    protocols = value.get("protocols", ["http"])
    if not isinstance(protocols, list | tuple) or list(protocols) != ["http"]:
        raise OptionsError(f"{scope}.protocols", protocols, 'only ["http"] (HTTP/1.1)')
    return TunnelDestination(**values)
