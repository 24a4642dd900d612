"""Real proxies for the tests: PyPI's ``pproxy`` run as a subprocess on 127.0.0.1.

`PproxyServer` starts ``python -m pproxy -l KIND://127.0.0.1:0[#user:pass]
--auth -1`` (KIND ``socks5`` or ``http``, the latter a CONNECT proxy with
optional Basic auth), reads the port it bound from its
``Serving on ... 127.0.0.1:PORT by ...`` line, and stops it on `stop` or
at the end of a ``with`` block. `echo_server` is a TCP echo target.

pproxy's ways, as seen on the wire (pproxy 2.7.9), which tests must expect:

- SOCKS5: it writes the success reply (``05 00 00`` and the *requested*
  address as the bound one) before it connects to the target; a target it
  cannot reach shows as a close right after that reply, never as REP 1-8.
- SOCKS5 with users: a wrong username/password, or a greeting without
  method 02, is answered by closing, without the RFC 1929 status
  ``01 01`` or the method X'FF'. Without users it answers ``05 00`` even
  to a greeting that offers only 02.
- HTTP with users: no or wrong ``Proxy-Authorization`` gets
  ``407 Proxy Authentication Required`` and a close; CONNECT success is
  ``HTTP/1.1 200 Connection established``.
- It remembers, per client IP, a user who logged in and lets that IP in
  without credentials afterwards; ``--auth -1`` (the re-auth interval)
  turns that off, so each test sees every connection authenticated anew.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from typing import Literal

from tests.peers import WAIT, RawServer

_SERVING = re.compile(r"Serving on \S+ 127\.0\.0\.1:(\d+) by ")


def pproxy_command(kind: Literal["socks5", "http"], auth: tuple[str, str] | None = None,
                   port: int = 0, tls_pem: str | None = None) -> list[str]:
    """The command line that runs pproxy listening as ``kind`` on 127.0.0.1.

    ``tls_pem`` (a file with the key and the certificate chain): it listens in TLS.
    """
    url = f"{kind}{'+ssl' if tls_pem else ''}://127.0.0.1:{port}"
    if auth is not None:
        user, password = auth
        if "\n" in user + password or user.startswith("#") or ":" in user:
            raise ValueError("pproxy users cannot contain newlines, start with '#' or hold ':'")
        url += f"#{user}:{password}"
    command = [sys.executable, "-u", "-m", "pproxy", "-l", url, "--auth", "-1"]
    return command + (["--ssl", tls_pem] if tls_pem else [])


class PproxyServer:
    """A pproxy process listening on 127.0.0.1; ``port`` is known once started."""

    def __init__(self, kind: Literal["socks5", "http"] = "socks5",
                 auth: tuple[str, str] | None = None, timeout: float = WAIT,
                 tls_pem: str | None = None) -> None:
        self.kind = kind
        self.auth = auth
        self.host = "127.0.0.1"
        self.command = pproxy_command(kind, auth, tls_pem=tls_pem)
        self.output: list[str] = []
        self._ready = threading.Event()
        self.port = 0
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env=env)
        self._reader = threading.Thread(target=self._read, name="pproxy-output", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pproxy did not start: {self.command}\n{''.join(self.output)}")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            match = _SERVING.search(line)
            if match and not self._ready.is_set():
                self.port = int(match.group(1))
                self._ready.set()

    @property
    def url(self) -> str:
        """The proxy URL a client would be given (credentials included)."""
        userinfo = f"{self.auth[0]}:{self.auth[1]}@" if self.auth else ""
        return f"{self.kind}://{userinfo}{self.host}:{self.port}"

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL) and its output reader."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(WAIT)
        self._reader.join(WAIT)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> PproxyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _echo(sock: socket.socket) -> None:
    while data := sock.recv(65536):
        sock.sendall(data)


def echo_server() -> RawServer:
    """A TCP server on 127.0.0.1 that sends back every byte it receives."""
    return RawServer(_echo)
