"""The parent's handles on the server processes, CPU accounting, quiet-machine waits, watchdogs."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from benchkit import BENCH, ROOT
from benchkit.common import CLK_TCK, BenchError

# ======================================================================================
# The parent's handle on the server, and what it costs.
# ======================================================================================


def proc_cpu_seconds(pid: int | str = "self") -> float:
    """utime + stime of a process (all its threads), from /proc (10 ms ticks)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds processes used since boot: user, nice and system of /proc/stat.

    Not irq and softirq: loopback TCP's softirq work belongs to whoever sends.
    """
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:4]]
    return sum(values) / CLK_TCK


def proc_status() -> dict[str, int]:
    """VmRSS (KiB), VmSize (KiB) and Threads of this process."""
    wanted = {"VmRSS", "VmSize", "Threads"}
    found: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in wanted:
                found[name] = int(value.split()[0])
    return found


class ServerProcess:
    """``bench.py --serve`` in its own process; its output lines in a queue."""

    def __init__(self, max_seconds: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH), "--serve", str(max_seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, name="bench-server-output", daemon=True).start()
        words = self.expect("port", 20)
        self.port = int(words[1])
        self.url = f"ws://127.0.0.1:{self.port}"

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def expect(self, word: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise BenchError(f"the server did not say {word!r} in {timeout} s") from None
            words = line.split()
            if words and words[0] == word:
                return words

    def command(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def restart(self, downtime_ms: float) -> None:
        """Close every server socket now; listen again after ``downtime_ms``."""
        self.command(f"restart {downtime_ms}")

    def closed_at(self) -> float:
        """The server's time.monotonic() (system-wide) when it closed its sockets."""
        return float(self.expect("closed", 10)[1])

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.command("quit")
        with contextlib.suppress(OSError):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


class HttpServerProcess:
    """aiohttp's server, the HTTP tests' peer (``tests/aiohttp_peer.py``), in its own
    process: its GIL is not the client's. Started only when an HTTP measure runs."""

    def __init__(self) -> None:
        from tests.aiohttp_peer import AiohttpProcess  # aiohttp: only in the parent, if used

        with contextlib.chdir(ROOT):  # it runs ``python -m tests.aiohttp_peer``
            self.peer = AiohttpProcess()
        self.port = self.peer.port

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.peer.process.pid)

    def stop(self) -> None:
        self.peer.stop()


class Watchdog:
    """Calls ``action`` (which must unblock the measuring thread) after ``seconds``."""

    def __init__(self, seconds: float, action: Callable[[], object]) -> None:
        self.fired = False
        self.action = action
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(Exception):
            self.action()

    def __enter__(self) -> Watchdog:
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.cancel()
        if self.fired:
            raise BenchError("watchdog: the run took too long and was cut")


NOISY_CORES = 0.25  # a run during which other processes used more is made again...
NOISY_RETRIES = 2  # ... at most this many times; the last attempt is kept
RETRY_BUDGET = {"runs": 20}  # runs made again, in all (bounds the total time)
QUIET_BUDGET = {"seconds": 90.0}  # all waits for quiet together, beyond the first window


def wait_quiet(max_wait: float, threshold: float = 0.15, window: float = 0.2) -> float:
    """Wait (at most ``max_wait`` s) until other processes use < ``threshold`` cores.

    Returns the load (cores) other processes had in the last window.
    """
    started = time.monotonic()
    deadline = started + min(max_wait, QUIET_BUDGET["seconds"])
    others = 0.0
    while True:
        busy, own = machine_busy_seconds(), proc_cpu_seconds()
        time.sleep(window)
        others = max(0.0, (machine_busy_seconds() - busy) - (proc_cpu_seconds() - own)) / window
        if others < threshold or time.monotonic() >= deadline:
            waited = time.monotonic() - started - window
            QUIET_BUDGET["seconds"] = max(0.0, QUIET_BUDGET["seconds"] - waited)
            return others


