"""The ``gunpy`` command's connection: one loop over the main thread's `Mailbox`.

Raw ``gun`` rather than `WebsocketClient`: the command owns its connection,
so it sees every message Gun sends (``--tuples`` prints them), the refused
upgrade's body as it arrives, the server's answer to its close and the
connection's exit reason. ``--retry`` reconnects as the callback client does:
Gun's ``retry`` reconnects, the command upgrades again on every ``gun_up``,
and the client's `Backoff` spaces the attempts after short-lived upgrades.

Phases: ``connecting`` (until ``gun_up``), ``upgrading`` (until the 101 or
a refusal), ``open``, ``closing`` (a close sent, until ``gun_down``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from gunpy.actors import gun
from gunpy.actors._mailbox import Mailbox
from gunpy.actors._process import demonitor, monitor
from gunpy.actors.gun._cli_settings import CLEAN_CLOSE_CODES, FAILED, OK, Settings
from gunpy.actors.gun._cli_term import (
    Console,
    InputEnded,
    Line,
    Signalled,
    binary_preview,
    body_text,
    describe,
    is_tls_failure,
    start_input,
    status_text,
)
from gunpy.actors.gun._client_backoff import Backoff
from gunpy.actors.gun._ref import ConnectionRef
from gunpy.protocol import Headers, Ref


class Session:
    """One run of the command; `run` returns its exit status."""

    def __init__(self, settings: Settings, console: Console, box: Mailbox) -> None:
        self.settings = settings
        self.console = console
        self.box = box
        self.conn: ConnectionRef | None = None
        self.mref: Ref | None = None
        self.ref: Ref | None = None
        self.phase = "connecting"
        self.was_upgraded = False
        self.upgraded_at = 0.0
        self.pending: deque[str] = deque()  # lines read while not upgraded (--retry)
        self.input_started = False
        self.input_ended = False
        self.exit_code = OK  # what `closing` ends with
        self.server_close: tuple[int | None, str] | None = None
        self.refusal: tuple[int, list[bytes]] | None = None
        self.stream_failed = False  # a stream error was reported: gun_down says no more
        self.input_failed = False
        self.deadline: float | None = None
        self.on_deadline: Callable[[], int | None] = lambda: None
        self.backoff = Backoff({}) if settings.retry else None
        self.tunnel_ref: Any = None  # the CONNECT through an HTTP proxy

    # -- the loop -------------------------------------------------------------------

    def run(self) -> int:
        """Connect, upgrade, relay until the end; raises `gun.OptionsError` if refused."""
        host, port, opts = self.settings.target()
        if self.backoff is not None:
            opts["retry_fun"] = self.backoff.retry_fun(None)
        self.conn = gun.open(host, port, opts, owner=self.box)
        self.mref = monitor(self.conn, self.box)
        if not self.settings.retry:  # the connection's own timeouts should come first
            self._expect(self.settings.timeout + 2, self._connect_timed_out)
        try:
            while True:
                code = self._step()
                if code is not None:
                    return code
        finally:
            gun.close(self.conn)
            demonitor(self.mref)
            gun.flush(self.conn, self.box)

    def _step(self) -> int | None:
        timeout = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
        try:
            message = self.box.receive(timeout=timeout)
        except TimeoutError:
            self.deadline = None
            return self.on_deadline()
        if isinstance(message, Line):
            return self._line(message.text)
        if isinstance(message, InputEnded):
            return self._input_ended(message)
        if isinstance(message, Signalled):
            return self._signalled(message.signum)
        if not (type(message) is tuple and message and isinstance(message[0], str)):
            return None
        if self.settings.tuples:
            self.console.frame(repr(message))
        handler = getattr(self, f"_on_{message[0]}", None)
        result: int | None = handler(message) if handler is not None else None
        return result

    def _expect(self, seconds: float, then: Callable[[], int | None]) -> None:
        self.deadline = time.monotonic() + seconds
        self.on_deadline = then

    def _no_deadline(self) -> None:
        self.deadline = None

    # -- Gun's messages -------------------------------------------------------------

    def _on_gun_up(self, message: tuple[Any, ...]) -> int | None:
        if self.settings.proxy is None:
            return self._connected()
        self.phase = "tunnel"  # through the proxy first: its gun_tunnel_up says when
        tunnel = self.settings.tunnel()
        if tunnel is not None:
            assert self.conn is not None
            self.tunnel_ref = gun.connect(self.conn, tunnel)
        self._expect(self.settings.timeout, self._upgrade_timed_out)
        return None

    def _on_gun_tunnel_up(self, message: tuple[Any, ...]) -> int | None:
        if self.phase != "tunnel":
            return None
        self.console.status(f"through {self.settings.proxy}")
        return self._connected()

    def _connected(self) -> int | None:
        self.phase = "upgrading"
        wait = self.backoff.remaining() if self.backoff is not None else 0.0
        if wait > 0:
            self.console.status(f"upgrading again in {wait:.1f} s")
            self._expect(wait, self._upgrade)
            return None
        return self._upgrade()

    def _upgrade(self) -> int | None:
        assert self.conn is not None
        self.ref = gun.ws_upgrade(self.conn, self.settings.path, self.settings.headers)
        self._expect(self.settings.timeout, self._upgrade_timed_out)
        return None

    def _on_gun_upgrade(self, message: tuple[Any, ...]) -> int | None:
        if message[2] is not self.ref:
            return None
        self.phase = "open"
        self._no_deadline()
        self.was_upgraded = True
        self.upgraded_at = time.monotonic()
        self.server_close, self.stream_failed = None, False  # a new connection (--retry)
        headers: Headers = message[4]
        chosen = [value for name, value in headers if name == "sec-websocket-protocol"]
        extra = f" (subprotocol {chosen[0]})" if chosen else ""
        hint = "; Ctrl-D closes, Ctrl-C interrupts" if self.console.interactive else ""
        self.console.status(f"connected to {self.settings.url}{extra}{hint}")
        if not self.input_started:
            self.input_started = True
            start_input(self.box, self.console)
        while self.pending:
            self._send_text(self.pending.popleft())
        if self.input_ended:
            return self._eof_close()
        return None

    def _on_gun_response(self, message: tuple[Any, ...]) -> int | None:
        if self.phase == "tunnel" and message[2] is self.tunnel_ref and message[4] >= 300:
            self.console.error(f"the proxy {self.settings.proxy} refused the tunnel: "
                               f"{message[4]}")
            return FAILED
        if message[2] is not self.ref or self.phase != "upgrading":
            return None
        self.refusal = (message[4], [])
        if message[3] == "fin":
            return self._refused()
        self._expect(self.settings.timeout, self._refused)
        return None

    def _on_gun_data(self, message: tuple[Any, ...]) -> int | None:
        if self.refusal is None or message[2] is not self.ref:
            return None
        self.refusal[1].append(message[4])
        return self._refused() if message[3] == "fin" else None

    def _on_gun_trailers(self, message: tuple[Any, ...]) -> int | None:
        if self.refusal is None or message[2] is not self.ref:
            return None
        return self._refused()

    def _on_gun_inform(self, message: tuple[Any, ...]) -> int | None:
        if message[2] is self.ref:
            self.console.status(f"informational answer {status_text(message[3])}")
        return None

    def _on_gun_ws(self, message: tuple[Any, ...]) -> int | None:
        if message[2] is not self.ref:
            return None
        frame = message[3]
        kind = frame if isinstance(frame, str) else frame[0]
        if kind == "close":
            code, reason = (None, "") if frame == "close" else (frame[1], frame[2])
            self.server_close = (code, reason)
            said = "" if code is None else f" {code}" + (f" {reason}" if reason else "")
            answer = "closed" if self.phase == "closing" else "server closed"
            self.console.status(f"{answer}:{said}" if said else f"{answer} (no code)")
        elif self.settings.tuples:
            pass  # printed as the tuple already
        elif kind == "text":
            self.console.frame(frame[1])
        elif kind == "binary":
            self.console.frame(binary_preview(frame[1]))
        else:
            payload = b"" if isinstance(frame, str) else frame[1]
            self.console.status(f"{kind} {payload.hex(' ')}".rstrip())
        return None

    def _on_gun_error(self, message: tuple[Any, ...]) -> int | None:
        if len(message) == 3:
            self.console.error(f"the connection refused an operation: {describe(message[2])}")
            return None
        if message[2] is not self.ref:
            return None
        reason = message[3]
        if self.phase == "upgrading":
            self.console.error(f"upgrade failed: {describe(reason)}")
            return FAILED
        self.console.error(describe(reason))
        self.stream_failed = True
        return None  # gun_down follows

    def _on_gun_down(self, message: tuple[Any, ...]) -> int | None:
        reason = message[3]
        if self.refusal is not None:
            return self._refused()
        if self.phase == "closing":
            return self._closed(reason)
        lost_early = (self.phase == "upgrading" and self.ref is not None) or (
            self.phase == "open" and self.backoff is not None
            and time.monotonic() - self.upgraded_at < self.backoff.reset_ms / 1000
        )
        was_open = self.phase == "open"
        self.phase, self.ref = "connecting", None
        self._no_deadline()
        if not self.settings.retry:
            return self._ended(reason)
        if self.backoff is not None:
            if lost_early:
                self.backoff.failed()
            elif was_open:
                self.backoff.reset()
        self.console.status(f"connection lost ({describe(reason)}); reconnecting")
        return None

    def _on_DOWN(self, message: tuple[Any, ...]) -> int | None:
        if message[1] is not self.mref:
            return None
        reason = message[4]
        if self.phase == "closing":
            return self._closed(reason)
        if self.was_upgraded:
            self.console.error(f"gave up reconnecting: {describe(reason)}")
            return FAILED
        return self._cannot_connect(reason)

    # -- endings ----------------------------------------------------------------------

    def _cannot_connect(self, reason: object) -> int:
        where = f"{self.settings.host}:{self.settings.port}"
        hint = ""
        if is_tls_failure(reason) and not self.settings.insecure:
            hint = " (--cacert FILE trusts a CA; --insecure skips the check)"
        self.console.error(f"cannot connect to {where}: {describe(reason)}{hint}")
        return FAILED

    def _connect_timed_out(self) -> int:
        where = f"{self.settings.host}:{self.settings.port}"
        within = f"{self.settings.timeout:g} s"
        self.console.error(f"timed out: no connection to {where} within {within}")
        return FAILED

    def _upgrade_timed_out(self) -> int:
        within = f"{self.settings.timeout:g} s"
        self.console.error(f"timed out: no answer to the upgrade within {within}")
        return FAILED

    def _refused(self) -> int:
        assert self.refusal is not None
        status, parts = self.refusal
        self.refusal = None
        self.console.error(f"upgrade refused: {status_text(status)}")
        body = b"".join(parts)
        if body:
            self.console.text(body_text(body))
        return FAILED

    def _ended(self, reason: object) -> int:
        """The connection ended (no --retry) before the command closed it."""
        if self.server_close is not None:
            code = self.server_close[0]
            return OK if code in CLEAN_CLOSE_CODES else FAILED
        if not self.stream_failed:
            self.console.error(f"connection lost: {describe(reason)}")
        return FAILED

    def _closed(self, reason: object) -> int:
        """The end of the close handshake the command started.

        Complete only if the server's close frame came: Gun (and gunpy) end a
        ``closing_timeout`` or a TCP close without one with reason ``normal`` too.
        """
        if self.server_close is None:
            self.console.error(f"the server did not answer the close ({describe(reason)})")
            return self.exit_code or FAILED
        return self.exit_code

    # -- standard input, signals -----------------------------------------------------------

    def _send_text(self, text: str) -> None:
        assert self.conn is not None and self.ref is not None
        gun.ws_send(self.conn, self.ref, ("text", text))

    def _line(self, text: str) -> int | None:
        if self.phase == "open":
            self._send_text(text)
        elif self.phase != "closing":
            self.pending.append(text)
        return None

    def _input_ended(self, event: InputEnded) -> int | None:
        self.input_ended = True
        self.console.end_prompt()
        if event.error is not None:
            self.console.error(event.error)
            self.input_failed = True
        if self.phase != "open":
            return None  # sent after the next upgrade (--retry)
        return self._eof_close()

    def _eof_close(self) -> int | None:
        code = FAILED if self.input_failed else OK
        if self.settings.eof_wait > 0:
            self._expect(self.settings.eof_wait, lambda: self._close(1000, code))
            return None
        return self._close(1000, code)

    def _close(self, code: int, exit_code: int) -> int | None:
        if self.phase != "open":
            return None
        assert self.conn is not None and self.ref is not None
        self.phase, self.exit_code = "closing", exit_code
        gun.ws_send(self.conn, self.ref, ("close", code, ""))
        self._expect(self.settings.timeout + 2, self._close_timed_out)
        return None

    def _close_timed_out(self) -> int:
        within = f"{self.settings.timeout:g} s"
        self.console.error(f"the server did not answer the close within {within}")
        return self.exit_code or FAILED

    def _signalled(self, signum: int) -> int | None:
        code = 128 + signum
        if self.phase == "open":
            self.console.end_prompt()
            self.console.status("interrupted: closing (1001)")
            return self._close(1001, code)
        return code  # before the upgrade, or a second signal while closing
