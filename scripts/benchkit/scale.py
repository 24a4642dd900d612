"""Measurement (d): many upgraded connections held in one child process per client."""

from __future__ import annotations

import contextlib
import gc
import json
import resource
import subprocess
import sys
import time
from typing import Any

import websocket
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection

from benchkit import BENCH
from benchkit.clients import Result, gunpy_close, gunpy_upgrade, websockets_connect_plain
from benchkit.common import RAW, TEXT32, BenchError
from benchkit.process import ServerProcess, proc_status
from benchkit.server import die_with_parent
from gunpy.actors import ConnectionRef, Mailbox, gun, monitor
from gunpy.actors import exit as exit_process
from gunpy.protocol import Ref


def raise_nofile(wanted: int) -> int:
    """Raise RLIMIT_NOFILE to ``wanted`` (the hard limit too where allowed, as root);
    return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            with contextlib.suppress(ValueError, OSError):  # not allowed: stay under hard
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
                return wanted
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def hold_gunpy(port: int, count: int, deadline: float) -> dict[str, Any]:
    """Open all at once (``gun.open`` returns at once), upgrade each on its ``gun_up``.

    That is how a Gun owner opens many connections; the I/O loop connects
    them all while the owner goes on opening.
    """
    box = Mailbox.current()
    conn, _ = gunpy_upgrade(port, "/echo")  # warm-up: gun's supervisors, imports, caches
    gunpy_close(conn)
    gc.collect()
    before = proc_status()
    started = time.perf_counter()
    opened_conns = [gun.open("127.0.0.1", port, {"retry": 0}) for _ in range(count)]
    held: list[tuple[ConnectionRef, Ref]] = []
    failures: list[str] = []
    with contextlib.suppress(TimeoutError):
        while len(held) + len(failures) < count and time.monotonic() < deadline:
            match box.receive(None, 30.0):
                case ("gun_up", up, _):
                    gun.ws_upgrade(up, "/echo")
                case ("gun_upgrade", up, ref, _, _):
                    held.append((up, ref))
                case other:
                    failures.append(repr(other)[:200])
    upgraded = len(held)
    opened = time.perf_counter() - started
    gc.collect()
    after = proc_status()
    started = time.perf_counter()
    for conn, ref in held:  # one echo on every connection at once
        gun.ws_send(conn, ref, ("text", TEXT32))
    echoed = 0
    with contextlib.suppress(TimeoutError):
        while echoed < upgraded and time.monotonic() < deadline:
            if box.receive(None, 30.0)[0] == "gun_ws":
                echoed += 1
    echo_s = time.perf_counter() - started
    # Close all at once, as an Erlang owner would: an exit signal to each, then their
    # DOWNs (each fired once its socket is closed). gun.close is synchronous, one
    # supervisor round trip of ~6 thread wake-ups per connection.
    box.flush()
    downs = {monitor(conn) for conn in opened_conns}
    started = time.perf_counter()
    for conn in opened_conns:
        exit_process(conn, "shutdown")
    with contextlib.suppress(TimeoutError):
        while downs and time.monotonic() < deadline + 60:
            downs.discard(box.receive(lambda m: m[0] == "DOWN", 30.0)[1])
    box.flush()
    return hold_report(count, upgraded, echoed, before, after, opened, echo_s, started, failures)


def hold_raw(port: int, count: int, deadline: float) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{port}/echo"
    websocket.create_connection(url).close()  # warm-up
    gc.collect()
    before = proc_status()
    started = time.perf_counter()
    conns: list[websocket.WebSocket] = []
    failures = []
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        try:
            conns.append(websocket.create_connection(url, timeout=30))
        except (OSError, websocket.WebSocketException) as exc:
            failures.append(repr(exc)[:200])
    opened = time.perf_counter() - started
    gc.collect()
    after = proc_status()
    started = time.perf_counter()
    for ws in conns:
        ws.send(TEXT32)
    echoed = 0
    with contextlib.suppress(OSError, websocket.WebSocketException):
        for ws in conns:
            ws.recv()
            echoed += 1
    echo_s = time.perf_counter() - started
    started = time.perf_counter()
    for ws in conns:
        ws.shutdown()  # type: ignore[no-untyped-call]
    return hold_report(count, len(conns), echoed, before, after, opened, echo_s, started, failures)


def hold_websockets(port: int, count: int, deadline: float) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{port}/echo"
    websockets_connect_plain(url).close()  # warm-up
    gc.collect()
    before = proc_status()
    started = time.perf_counter()
    conns: list[ClientConnection] = []
    failures = []
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        try:
            conns.append(websockets_connect_plain(url))
        except (OSError, WebSocketException, TimeoutError) as exc:
            failures.append(repr(exc)[:200])
    opened = time.perf_counter() - started
    gc.collect()
    after = proc_status()
    started = time.perf_counter()
    for ws in conns:
        ws.send(TEXT32)
    echoed = 0
    with contextlib.suppress(OSError, WebSocketException, TimeoutError):
        for ws in conns:
            ws.recv(timeout=30)
            echoed += 1
    echo_s = time.perf_counter() - started
    started = time.perf_counter()
    for ws in conns:
        ws.close()
    return hold_report(count, len(conns), echoed, before, after, opened, echo_s, started, failures)


def hold_report(
    count: int,
    held: int,
    echoed: int,
    before: dict[str, int],
    after: dict[str, int],
    opened: float,
    echo_s: float,
    close_started: float,
    failures: list[str],
) -> dict[str, Any]:
    rss = after["VmRSS"] - before["VmRSS"]
    return {
        "asked": count,
        "held": held,
        "echoed": echoed,
        "rss_mib": after["VmRSS"] / 1024,
        "rss_delta_mib": rss / 1024,
        "rss_kib_per_conn": rss / max(held, 1),
        "vmsize_mib": after["VmSize"] / 1024,
        "threads": after["Threads"],
        "threads_added": after["Threads"] - before["Threads"],
        "open_s": opened,
        "echo_all_s": echo_s,
        "close_s": time.perf_counter() - close_started,
        "failures": len(failures),
        "first_failures": failures[:3],
    }


def hold_main(client: str, port: int, count: int, limit: float) -> int:
    die_with_parent()
    nofile = raise_nofile(count + 256)
    deadline = time.monotonic() + limit
    hold = {"gunpy": hold_gunpy, RAW: hold_raw, "websockets": hold_websockets}[client]
    report = hold(port, count, deadline)
    report["nofile"] = nofile
    print("HOLD " + json.dumps(report), flush=True)
    return 0


def run_hold(server: ServerProcess, client: str, count: int, limit: float) -> Result:
    command = [sys.executable, str(BENCH), "--hold", client]
    command += ["--port", str(server.port), "--connections", str(count), "--limit", str(limit)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=limit + 120)
    for line in done.stdout.splitlines():
        if line.startswith("HOLD "):
            report: dict[str, Any] = json.loads(line[5:])
            return Result(float(report["held"]), report["open_s"], 0.0, report["held"], report)
    raise BenchError(f"{client} hold child failed: {done.returncode} {done.stderr[-2000:]}")




def hold_targets(concurrent: dict[str, Any], count: int) -> list[tuple[str, str]]:
    """The targets of "One I/O thread" for (d), from the medians of the runs.

    Set for 10,000 connections: at fewer they are shown, but as n/a.
    """
    ours, raw = concurrent.get("gunpy", {}), concurrent.get(RAW, {})
    if "held" not in ours or "held" not in raw:
        return []
    at_scale = count >= 10_000
    held = max(int(ours["held_min"]), 1)

    def check(ok: bool, text: str) -> tuple[str, str]:
        return ("PASS" if ok else "FAIL") if at_scale else "n/a", f"{text} (set for 10,000)"

    open_ratio = ours["open_s"] / max(raw["open_s"], 1e-9)
    echo_ratio = ours["echo_all_s"] / max(raw["echo_all_s"], 1e-9)
    return [
        check(ours["threads"] <= held + 64,
              f"threads <= 1 per connection + 64: {int(ours['threads']):,} for {held:,}"),
        check(open_ratio <= 3, f"open all <= 3x raw: {open_ratio:.2f}x"),
        check(echo_ratio <= 3, f"echo all <= 3x raw: {echo_ratio:.2f}x"),
        check(ours["rss_kib_per_conn"] <= 48,
              f"RSS <= 48 KiB per connection: {ours['rss_kib_per_conn']:.1f}"),
        check(ours["close_s"] <= 3, f"close all <= 3 s: {ours['close_s']:.2f} s"),
    ]
