"""TLS over a byte stream, sans-I/O: the origin's TLS inside a proxy tunnel.

The socket already carries a tunnel (a CONNECT through an HTTP proxy, a
SOCKS5 proxy, itself plain or TLS), so the origin's TLS cannot wrap the
socket: `TlsLayer` runs it on memory buffers (`ssl.MemoryBIO`). Bytes from
the tunnel go in with `receive`, plaintext comes out; plaintext to send goes
in with `send`; what the tunnel must carry comes out of `data_to_send`,
handshake records included. It never blocks and touches no socket.
"""

from __future__ import annotations

import ssl


class TlsLayer:
    """One TLS client session on memory buffers (see the module doc).

    ``server_hostname`` is the origin's name: it goes in the SNI and the
    certificate is checked against it (unless the context says otherwise).
    """

    def __init__(self, context: ssl.SSLContext, server_hostname: str | None) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing,
                                     server_hostname=server_hostname)
        self.handshaking = True
        self._pending: list[bytes] = []  # plaintext sent before the handshake ended

    def start(self) -> None:
        """Begin the handshake: the ClientHello is then in `data_to_send`."""
        self._step()

    def receive(self, data: bytes) -> bytes:
        """Feed bytes from the tunnel (b"" at its end); return the plaintext they carry.

        Raises `ssl.SSLError` (a failed handshake, a bad record, a certificate
        that does not verify) and `ssl.SSLEOFError` for an end without
        close_notify; after the server's close_notify it returns b"" for good.
        """
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()
        if self.handshaking:
            self._step()
            if self.handshaking:
                return b""
        parts: list[bytes] = []
        while True:
            try:
                part = self._ssl.read(262144)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                break
            if not part:
                break
            parts.append(part)
        return b"".join(parts)

    def send(self, data: bytes) -> None:
        """Encrypt ``data`` for the tunnel (held until the handshake is done)."""
        if self.handshaking:
            self._pending.append(data)
        elif data:
            self._ssl.write(data)

    def data_to_send(self) -> bytes:
        """The bytes the tunnel must carry now (and forget them)."""
        return self._outgoing.read()

    def _step(self) -> None:
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            return
        self.handshaking = False
        pending, self._pending = self._pending, []
        for data in pending:
            self._ssl.write(data)
