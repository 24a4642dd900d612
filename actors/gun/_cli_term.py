"""The terminal side of the ``gunpy`` command: output, standard input, signals.

Everything here runs in the command's main thread except two daemon threads
that only put events into the main thread's `Mailbox`: the standard-input
reader (`start_input`) and the signal watcher (`SignalCatcher`). The main
thread alone writes to stdout and stderr.
"""

from __future__ import annotations

import codecs
import contextlib
import http
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from types import FrameType, ModuleType
from typing import Any, Final, TextIO

from gunpy.actors._mailbox import Mailbox

PREVIEW_BYTES: Final = 16
"""How many bytes of a binary message are shown in hex."""

BODY_LIMIT: Final = 8192
"""How much of a refused upgrade's body is shown."""


@dataclass(frozen=True)
class Line:
    """A line of standard input (without its line end), to send as a text frame."""

    text: str


@dataclass(frozen=True)
class InputEnded:
    """Standard input ended (EOF, Ctrl-D), or could not be read (``error``)."""

    error: str | None = None


@dataclass(frozen=True)
class Signalled:
    """The process got signal ``signum`` (SIGINT, SIGTERM)."""

    signum: int


class Console:
    """Where the command writes: frames to stdout, status lines and errors to stderr.

    Interactive (a terminal on both stdin and stdout), a line arriving while
    the user types erases the prompt line, prints, then redraws the prompt and
    what was typed so far (readline's line buffer).
    """

    def __init__(self, *, quiet: bool, interactive: bool, prompt: str = "> ") -> None:
        self.quiet = quiet
        self.interactive = interactive
        self.prompt = prompt if interactive else ""
        self.prompting = False  # the input thread is inside input()
        self._prompt_over = False  # input ended or the command is ending: no redraw
        self._readline: ModuleType | None = None
        if interactive:
            # Imported only for a terminal: it may write escape sequences when loaded.
            with contextlib.suppress(ImportError):
                import readline

                self._readline = readline
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]

    def frame(self, text: str) -> None:
        """A message from the server (or a ``--tuples`` tuple): stdout, always."""
        self._write(sys.stdout, text)

    def status(self, text: str) -> None:
        """What happens to the connection: stderr, unless ``--quiet``."""
        if not self.quiet:
            self._write(sys.stderr, f"* {text}")

    def error(self, text: str) -> None:
        """A failure the user can act on: one line on stderr, even with ``--quiet``."""
        self._write(sys.stderr, f"gunpy: {text}")

    def text(self, text: str) -> None:
        """Free text on stderr (a refused upgrade's body), even with ``--quiet``."""
        self._write(sys.stderr, text)

    def watch_prompt(self) -> bool:
        """Have readline mark `prompting` once the prompt is on screen; False if it cannot."""
        set_hook = getattr(self._readline, "set_pre_input_hook", None)
        if set_hook is None:
            return False

        def shown() -> None:
            self.prompting = True

        set_hook(shown)
        return True

    def end_prompt(self) -> None:
        """Input ended, or the command is ending: clear the prompt's line, redraw it no more."""
        if self.interactive and not self._prompt_over:
            self._prompt_over = True
            self._raw(sys.stdout, "\r\x1b[2K")

    def _write(self, stream: TextIO, text: str) -> None:
        if not (self.interactive and self.prompting) or self._prompt_over:
            self._raw(stream, text + "\n")
            return
        buffer = ""
        if self._readline is not None:
            buffer = self._readline.get_line_buffer()
        # Erase the line being typed, print, then write the prompt and the buffer
        # again: readline.redisplay() repaints only what it thinks changed, and
        # it does not know the line was erased. One write when all goes to
        # stdout, so a keystroke readline echoes meanwhile (in the input thread)
        # has the smallest window to land in the middle.
        erase, redraw = "\r\x1b[2K", self.prompt + buffer
        if stream is sys.stdout:
            self._raw(stream, f"{erase}{text}\n{redraw}")
            return
        self._raw(sys.stdout, erase)
        self._raw(stream, text + "\n")
        self._raw(sys.stdout, redraw)

    @staticmethod
    def _raw(stream: TextIO, text: str) -> None:
        stream.write(text)
        stream.flush()


def start_input(box: Mailbox, console: Console) -> threading.Thread:
    """Read standard input in a daemon thread: a `Line` per line, then `InputEnded`."""

    def read_terminal() -> None:
        hooked = console.watch_prompt()
        while True:
            if not hooked:
                console.prompting = True
            try:
                text = input(console.prompt)
            except EOFError:
                return
            finally:
                console.prompting = False
            box.send(Line(text))

    def read_pipe() -> None:
        # os.read, not sys.stdin: a thread blocked inside a BufferedReader holds
        # its lock, and the interpreter's shutdown would abort on that lock.
        stdin = getattr(sys, "stdin", None)
        if stdin is None:
            raise OSError("it is closed")
        fd = stdin.fileno()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        partial: list[str] = []  # the line so far, in pieces: linear for long lines
        while True:
            data = os.read(fd, 65536)
            *lines, rest = decoder.decode(data, final=not data).split("\n")
            for line in lines:
                partial.append(line)
                box.send(Line("".join(partial).removesuffix("\r")))
                partial.clear()
            partial.append(rest)
            if not data:
                if any(partial):
                    box.send(Line("".join(partial).removesuffix("\r")))
                return

    def run() -> None:
        try:
            (read_terminal if console.interactive else read_pipe)()
        except Exception as exc:  # to the main loop, not a thread's traceback
            box.send(InputEnded(f"cannot read standard input: {exc or type(exc).__name__}"))
            return
        box.send(InputEnded())

    thread = threading.Thread(target=run, name="gunpy-cli-stdin", daemon=True)
    thread.start()
    return thread


class SignalCatcher:
    """Turn signals into `Signalled` events in ``box``, safely.

    A Python signal handler runs in the main thread at any point, perhaps
    while it holds the mailbox's lock, so it must not send. The handler does
    nothing; Python's C handler writes the signal's number to a wake-up socket
    (`signal.set_wakeup_fd`), which a daemon thread reads and forwards.
    """

    def __init__(self, box: Mailbox, signums: tuple[int, ...]) -> None:
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._old: dict[int, Any] = {}
        for signum in signums:
            self._old[signum] = signal.signal(signum, self._nothing)
        self._thread = threading.Thread(
            target=self._forward, args=(box,), name="gunpy-cli-signals", daemon=True
        )
        self._thread.start()

    @staticmethod
    def _nothing(signum: int, frame: FrameType | None) -> None:
        """No KeyboardInterrupt: the wake-up socket reports the signal."""

    def _forward(self, box: Mailbox) -> None:
        while True:
            try:
                data = self._reader.recv(64)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                box.send(Signalled(signum))

    def restore(self) -> None:
        """Put the previous handlers back and stop the watcher."""
        signal.set_wakeup_fd(self._old_fd)
        for signum, handler in self._old.items():
            signal.signal(signum, handler)
        with contextlib.suppress(OSError):
            self._reader.shutdown(socket.SHUT_RDWR)
        self._thread.join(1.0)
        self._reader.close()
        self._writer.close()


class TerminalState:
    """The terminal's settings at start, put back at the end.

    readline switches the terminal to raw mode while it reads; the command can
    end while the input thread is still inside ``input()``.
    """

    def __init__(self) -> None:
        self._saved: list[Any] | None = None
        try:
            import termios

            self._saved = termios.tcgetattr(sys.stdin.fileno())
        except (ImportError, OSError, ValueError):
            pass

    def restore(self) -> None:
        """Put the saved settings back (a no-op if there were none)."""
        if self._saved is None:
            return
        import termios

        with contextlib.suppress(OSError, ValueError):
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)


# -- formatting ----------------------------------------------------------------


def binary_preview(data: bytes) -> str:
    """``< binary 5 bytes: 00 01 02 03 04``; past `PREVIEW_BYTES`, `` ...``."""
    unit = "byte" if len(data) == 1 else "bytes"
    if not data:
        return "< binary 0 bytes"
    shown = " ".join(f"{byte:02x}" for byte in data[:PREVIEW_BYTES])
    more = " ..." if len(data) > PREVIEW_BYTES else ""
    return f"< binary {len(data)} {unit}: {shown}{more}"


def status_text(status: int) -> str:
    """``401 Unauthorized`` (the code alone if the standard does not name it)."""
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def body_text(body: bytes) -> str:
    """A refused upgrade's body as text, at most `BODY_LIMIT` bytes of it."""
    shown = body[:BODY_LIMIT].decode("utf-8", errors="replace").rstrip("\r\n")
    if len(body) > BODY_LIMIT:
        shown += f"\n... ({len(body) - BODY_LIMIT} more bytes)"
    return shown


_CAUSES: Final = {
    "econnrefused": "connection refused (is anything listening there?)",
    "nxdomain": "host not found",
    "timeout": "timed out",
    "ehostunreach": "host unreachable",
    "enetunreach": "network unreachable",
    "econnreset": "connection reset by the server",
    "epipe": "connection closed by the server while writing",
    "closed": "connection closed by the server",
    "normal": "connection closed",
}


def describe(reason: object) -> str:
    """One readable phrase for Gun's reason: ``("shutdown", "econnrefused")`` and the like."""
    while isinstance(reason, tuple) and len(reason) == 2 and reason[0] in ("shutdown", "error"):
        reason = reason[1]
    if isinstance(reason, str):
        return _CAUSES.get(reason, reason)
    if isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "tls_error":
        return f"TLS error: {reason[1]}"
    if isinstance(reason, tuple) and len(reason) == 3 and reason[0] == "protocol_error":
        return f"protocol error {reason[1]}: {reason[2]}"
    if isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "handshake_error":
        return f"bad upgrade answer: {reason[1]}"
    return repr(reason)


def is_tls_failure(reason: object) -> bool:
    """True for ``("tls_error", why)``, wrapped or not."""
    while isinstance(reason, tuple) and len(reason) == 2 and reason[0] in ("shutdown", "error"):
        reason = reason[1]
    return isinstance(reason, tuple) and len(reason) == 2 and reason[0] == "tls_error"
