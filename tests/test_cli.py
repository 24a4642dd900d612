"""The ``gunpy`` command, end to end: ``python -m gunpy.actors`` against real servers.

Each test runs the command as a subprocess against a server on 127.0.0.1
(the ``websockets`` library's, aiohttp's, or a raw socket) and checks what
a user sees: stdout, stderr, the exit status, and what the server got. Where
the order of events matters, the test talks to the command a turn at a time
(a line in, its echo out) instead of waiting a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from websockets.sync.server import ServerConnection

from gunpy.actors.gun._cli import parse_settings
from tests.aiohttp_peer import AiohttpServer
from tests.peers import ClosedPort, EchoServer, RawServer, upgraded_server, wait_for
from tests.proxy_peers import PproxyServer

CLI = [sys.executable, "-m", "gunpy.actors"]
WAIT = 60.0
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module", autouse=True)
def _bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Let the subprocesses share compiled bytecode, outside the repo: each starts faster.

    Kept in pytest's temporary root, which outlives a session: the next run
    reuses it (Python recompiles what changed).
    """
    cache = tmp_path_factory.getbasetemp().parent / "gunpy-cli-pycache"
    cache.mkdir(exist_ok=True)
    ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    ENV["PYTHONPYCACHEPREFIX"] = str(cache)


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The command with ``stdin`` piped in, to its end."""
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, timeout=WAIT, env=ENV
    )


def assert_one_error_line(stderr: str, *expected: str) -> None:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("gunpy: ")]
    assert len(errors) == 1, stderr
    for text in expected:
        assert text in errors[0], stderr


class Running:
    """The command as a live subprocess: write lines, read its stdout and stderr lines."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*CLI, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env=ENV,
        )
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        self.out_lines: list[str] = []
        for stream, lines in ((self.process.stdout, self.stdout),
                              (self.process.stderr, self.stderr)):
            threading.Thread(target=self._pump, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str] | None, lines: queue.Queue[str]) -> None:
        assert stream is not None
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put("")  # the end

    def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def out(self) -> str:
        line = self.stdout.get(timeout=WAIT)
        self.out_lines.append(line)
        return line

    def err_until(self, text: str) -> str:
        """Read stderr until a line containing ``text``."""
        while True:
            line = self.stderr.get(timeout=WAIT)
            self.err_lines.append(line)
            assert line, f"stderr ended before {text!r}: {self.err_lines}"
            if text in line:
                return line

    def end_input(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def wait(self) -> int:
        return self.process.wait(WAIT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(WAIT)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for command in started:
        command.stop()


def start(started: list[Running], *args: str) -> Running:
    command = Running(*args)
    started.append(command)
    return command


def scripted(*script: Any) -> EchoServer:
    """A websockets server that sends ``script``'s messages, then closes with 1000."""

    def handler(ws: ServerConnection) -> None:
        for message in script:
            ws.send(message)
        ws.close(1000)

    return EchoServer(handler)


# -- talking ------------------------------------------------------------------------


def test_lines_are_echoed_then_eof_closes_with_1000(
    echo_server: EchoServer, running: list[Running]
) -> None:
    command = start(running, echo_server.url + "/chat?room=1")
    command.err_until("connected to")
    for line in ("hello", "", "second line", "ünïcödé ✓"):
        command.say(line)
        assert command.out() == line
    command.end_input()
    assert command.wait() == 0
    wait_for(lambda: echo_server.close_codes)
    assert echo_server.close_codes == [(1000, "")]
    assert echo_server.received == [["hello", "", "second line", "ünïcödé ✓"]]
    assert echo_server.requests[0].path == "/chat?room=1"


def test_piped_lines_and_the_servers_close() -> None:
    """Non-interactive: no prompt; the server's clean close ends the command with 0."""

    def handler(ws: ServerConnection) -> None:
        for _ in range(3):
            ws.send(f"got {ws.recv()}")
        ws.close(1000, "bye")

    with EchoServer(handler) as server:
        result = run("--eof-wait", str(WAIT), server.url, stdin="a\nb\r\nc")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["got a", "got b", "got c"]
    assert "server closed: 1000 bye" in result.stderr
    assert "> " not in result.stdout


def test_binary_frames_print_as_length_and_hex_and_quiet_prints_only_frames() -> None:
    with scripted(bytes(range(5)), bytes(range(40)), b"", "text too") as server:
        result = run("-q", "--eof-wait", str(WAIT), server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "< binary 5 bytes: 00 01 02 03 04",
        "< binary 40 bytes: " + " ".join(f"{i:02x}" for i in range(16)) + " ...",
        "< binary 0 bytes",
        "text too",
    ]
    assert result.stderr == ""  # --quiet: no status lines


def test_a_server_close_with_an_error_code_exits_1() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.close(1011, "oops")

    with EchoServer(handler) as server:
        result = run("--eof-wait", str(WAIT), server.url)
    assert result.returncode == 1
    assert "server closed: 1011 oops" in result.stderr


def test_tuples_print_guns_messages(echo_server: EchoServer) -> None:
    result = run("--tuples", echo_server.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("('gun_up', <gun conn 127.0.0.1:")
    assert lines[1].startswith("('gun_upgrade', ")
    assert "('close', 1000, '')" in lines[2]
    assert lines[3].startswith("('gun_down', ") and "'ws', 'normal'" in lines[3]


# -- the upgrade request ------------------------------------------------------------------


def test_headers_subprotocols_and_ping_reach_the_server() -> None:
    with EchoServer(subprotocols=["chat"]) as server:
        result = run(
            "-H", "X-Test: yes", "-H", "authorization: Bearer a:b",
            "-s", "superchat", "-s", "chat", "--ping", "60000", server.url,
        )
    assert result.returncode == 0, result.stderr
    headers = server.requests[0].headers
    assert headers["x-test"] == "yes"
    assert headers["authorization"] == "Bearer a:b"
    assert headers["sec-websocket-protocol"] == "superchat, chat"
    assert server.connections[0].subprotocol == "chat"
    assert "(subprotocol chat)" in result.stderr


def test_compress_is_passed_on(echo_server: EchoServer) -> None:
    """``--compress`` is ws_opts compress; a library that refuses it is reported cleanly."""
    result = run("--compress", echo_server.url)
    assert "Traceback" not in result.stderr
    if result.returncode == 0:
        offered = echo_server.requests[0].headers.get("sec-websocket-extensions", "")
        assert "permessage-deflate" in offered
    else:
        assert result.returncode == 2
        assert_one_error_line(result.stderr, "compress")


# -- failures ---------------------------------------------------------------------------


def test_a_refused_upgrade_prints_status_and_body(aiohttp_server: AiohttpServer) -> None:
    result = run(f"ws://127.0.0.1:{aiohttp_server.port}/deny")
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "upgrade refused: 401 Unauthorized")
    assert "log in first" in result.stderr


def test_nothing_listening_is_one_line() -> None:
    with ClosedPort() as closed:
        result = run(f"ws://127.0.0.1:{closed.port}/")
    assert result.returncode == 1
    assert_one_error_line(result.stderr, f"127.0.0.1:{closed.port}", "connection refused")
    assert result.stdout == ""


def test_no_answer_to_the_upgrade_times_out() -> None:
    def silent(sock: socket.socket) -> None:
        sock.recv(65536)
        sock.recv(1)  # until the client gives up

    with RawServer(silent) as server:
        result = run("--timeout", "0.2", server.url)
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "timed out", "upgrade")


def test_a_close_the_server_does_not_answer_exits_1() -> None:
    def drop(sock: socket.socket) -> None:
        sock.recv(1)  # the client's close, then TCP closes without one from the server

    with upgraded_server(drop) as server:
        result = run(server.url)
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "did not answer the close")


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["http://127.0.0.1/"], "must be ws://"),
        (["ws://"], "must be ws://"),
        (["ws://127.0.0.1:99999/"], "bad URL"),
        (["ws://user:pw@h/"], "credentials"),
        (["ws://127.0.0.1/a path"], "path"),
        (["-H", "no colon", "ws://h/"], "'name: value'"),
        (["-H", "bad name: x", "ws://h/"], "header"),
        (["--ping", "0", "ws://h/"], "at least 1 ms"),
        (["--retry", "-1", "ws://h/"], "0 or more"),
        (["--timeout", "0", "ws://h/"], ">= 0.001"),
        (["--insecure", "ws://h/"], "for wss://"),
        (["--cacert", "/nonexistent/ca.pem", "wss://h/"], "cannot load CA certificates"),
    ],
)
def test_a_bad_command_line_is_a_usage_error(
    args: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_settings(args)
    assert exit_.value.code == 2
    assert why in capsys.readouterr().err


def test_settings_map_the_url_and_options(tmp_path: Path, tls: tuple[Any, Any, Any]) -> None:
    ca_file = tmp_path / "ca.pem"
    tls[2].cert_pem.write_to_path(str(ca_file))
    plain = parse_settings(["-s", "a", "--ping", "500", "ws://example.com/p?q=1#frag"])
    assert (plain.host, plain.port, plain.path, plain.transport) == (
        "example.com", 80, "/p?q=1", "tcp")
    opts = plain.open_opts()
    assert opts["retry"] == 0  # a command fails fast unless --retry
    assert opts["ws_opts"] == {"closing_timeout": 10000, "protocols": ["a"], "keepalive": 500}
    assert "tls_opts" not in opts
    secure = parse_settings(["--cacert", str(ca_file), "--retry", "2", "wss://[::1]"])
    assert (secure.host, secure.port, secure.path, secure.transport) == ("::1", 443, "/", "tls")
    assert secure.open_opts()["tls_opts"] == {"cacertfile": str(ca_file)}
    assert secure.open_opts()["retry"] == 2
    assert parse_settings(["ws://h:81/?mail=a@b"]).path == "/?mail=a@b"  # not credentials
    insecure = parse_settings(["--insecure", "wss://h:8443"])
    assert insecure.open_opts()["tls_opts"] == {"verify": "verify_none"}


def test_a_bad_command_line_exits_2() -> None:
    result = run("ftp://127.0.0.1/")
    assert result.returncode == 2
    assert "usage: gunpy" in result.stderr
    assert "Traceback" not in result.stderr


# -- TLS --------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tls: tuple[Any, Any, Any]) -> Iterator[EchoServer]:
    server = EchoServer(ssl_context=tls[0])
    yield server
    server.stop()


def test_an_untrusted_certificate_is_one_line(tls_server: EchoServer) -> None:
    result = run(tls_server.url)
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "TLS error", "certificate verify failed", "--cacert")


def test_cacert_trusts_the_servers_ca(
    tls_server: EchoServer, tls: tuple[Any, Any, Any], tmp_path: Path
) -> None:
    ca_file = tmp_path / "ca.pem"
    tls[2].cert_pem.write_to_path(str(ca_file))
    result = run("--cacert", str(ca_file), tls_server.url)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr
    wait_for(lambda: tls_server.close_codes)
    assert tls_server.close_codes == [(1000, "")]


def test_insecure_connects_and_warns(tls_server: EchoServer) -> None:
    result = run("--insecure", "-q", tls_server.url)
    assert result.returncode == 0, result.stderr
    assert "WARNING" in result.stderr and "NOT verified" in result.stderr


# -- signals, reconnects ----------------------------------------------------------------


def test_sigint_closes_with_1001_and_exits_130(
    echo_server: EchoServer, running: list[Running]
) -> None:
    command = start(running, echo_server.url)
    command.err_until("connected to")
    command.say("before")
    assert command.out() == "before"
    command.process.send_signal(signal.SIGINT)
    assert command.wait() == 130
    wait_for(lambda: echo_server.close_codes)
    assert echo_server.close_codes == [(1001, "")]
    assert not any("Traceback" in line for line in command.err_lines)


def test_retry_reconnects_and_upgrades_again(running: list[Running]) -> None:
    def handler(ws: ServerConnection) -> None:
        if len(server.connections) == 1:
            ws.close(1012, "restarting")
            return
        for message in ws:
            ws.send(message)

    server = EchoServer(handler)
    try:
        command = start(running, "--retry", "3", server.url)
        command.err_until("server closed: 1012 restarting")
        command.err_until("reconnecting")
        command.err_until("connected to")
        command.say("again")
        assert command.out() == "again"
        command.end_input()
        assert command.wait() == 0
    finally:
        server.stop()
    assert len(server.connections) == 2


# -- a terminal -------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_interactive_prompt_keeps_the_typed_line() -> None:
    """A frame arriving while the user types is printed above the line, which is redrawn."""
    import pty

    go = threading.Event()
    got: list[str | bytes] = []

    def handler(ws: ServerConnection) -> None:
        for message in ws:  # answers only when the test says: the screen is settled then
            got.append(message)
            go.wait(WAIT)
            ws.send(f"late news about {message}")

    master, slave = pty.openpty()
    output = b""

    def read_until(token: bytes, count: int = 1, at_end: bool = False) -> None:
        """Until ``token`` was written ``count`` times (and is the last thing written)."""
        nonlocal output
        deadline = time.monotonic() + WAIT
        while output.count(token) < count or (at_end and not output.endswith(token)):
            assert time.monotonic() < deadline, output
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                output += os.read(master, 4096)

    with EchoServer(handler) as server:
        process = subprocess.Popen([*CLI, server.url], stdin=slave, stdout=slave,
                                   stderr=slave, env=ENV)
        try:
            read_until(b"> ", at_end=True)
            os.write(master, b"hi\r")
            read_until(b"hi\r\n> ", at_end=True)  # sent; the next prompt
            os.write(master, b"half typ")
            read_until(b"half typ", at_end=True)
            go.set()
            # Printed above the line being typed, which is drawn again.
            read_until(b"\r\x1b[2Klate news about hi\r\n> half typ", at_end=True)
            os.write(master, b"\x15\x04")  # Ctrl-U clears the line, Ctrl-D ends the input
            assert process.wait(WAIT) == 0
            wait_for(lambda: server.close_codes)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(WAIT)
            os.close(master)
            os.close(slave)
    assert got == ["hi"]
    assert server.close_codes == [(1000, "")]


# -- through a proxy --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["http", "socks5"])
def test_through_a_proxy(kind: str, echo_server: EchoServer, running: list[Running]) -> None:
    with PproxyServer(kind, ("me", "pw")) as proxy:  # type: ignore[arg-type]
        command = start(running, "--proxy", proxy.url, echo_server.url + "/chat")
        command.err_until("connected to")
        command.say("through")
        assert command.out() == "through"
        command.end_input()
        assert command.wait() == 0
    assert echo_server.requests[-1].headers["host"] == f"127.0.0.1:{echo_server.port}"


def test_a_proxy_refusing_the_tunnel_is_one_line(echo_server: EchoServer) -> None:
    with PproxyServer("http", ("me", "pw")) as proxy:
        result = run("--proxy", f"http://me:wrong@127.0.0.1:{proxy.port}", echo_server.url)
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "refused the tunnel", "407")


def test_a_bad_proxy_url_is_a_usage_error(echo_server: EchoServer) -> None:
    result = run("--proxy", "ftp://nowhere", echo_server.url)
    assert result.returncode == 2 and "--proxy" in result.stderr
