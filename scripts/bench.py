"""gunpy benchmark: gunpy's actor path against raw websocket-client and the websockets sync client.

Run it with ``scripts/bench`` (``--quick`` for a short run). One server
process on 127.0.0.1, costing almost nothing per message (frames encoded
once, written in bulk), serves every client in the same run; results are
medians of interleaved runs, shown as ratios to raw websocket-client, and
written to ``bench-results/``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import websocket
from websockets.sync.client import connect as ws_connect

from gunpy.actors import Mailbox, gun

SERVER = r'''
import base64, hashlib, os, socket, struct, sys, threading, time

def frame(opcode, payload):
    n = len(payload)
    if n < 126: head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536: head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else: head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload

def handshake(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk: raise ConnectionError
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    key = [l.split(":", 1)[1].strip() for l in lines
           if l.lower().startswith("sec-websocket-key")][0]
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                 + base64.b64encode(digest) + b"\r\n\r\n")
    return lines[0].split()[1], rest

class Reader:
    def __init__(self, sock, buf): self.sock, self.buf = sock, buf
    def need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(262144)
            if not chunk: raise ConnectionError
            self.buf += chunk
    def frame(self):
        self.need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, pos = b1 & 0x7F, 2
        if n == 126: self.need(4); n = struct.unpack("!H", self.buf[2:4])[0]; pos = 4
        elif n == 127: self.need(10); n = struct.unpack("!Q", self.buf[2:10])[0]; pos = 10
        self.need(pos + 4 + n)
        key = self.buf[pos:pos + 4]; payload = self.buf[pos + 4:pos + 4 + n]
        self.buf = self.buf[pos + 4 + n:]
        if n:
            k = int.from_bytes((key * (n // 4 + 1))[:n], "big")
            payload = (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big")
        return b0 & 0x0F, payload

clients = set()
lock = threading.Lock()

def handle(sock):
    with lock: clients.add(sock)
    try:
        path, rest = handshake(sock)
        name, _, query = path.partition("?")
        n = int(query.split("=")[1]) if query else 0
        if name in ("/blast32", "/blast64k"):
            one = frame(1, b"x" * 32) if name == "/blast32" else frame(2, b"y" * 65536)
            batch = max(1, 262144 // len(one))
            for start in range(0, n, batch):
                sock.sendall(one * min(batch, n - start))
            Reader(sock, rest).frame()
        elif name == "/echo":
            reader = Reader(sock, rest)
            while True:
                opcode, payload = reader.frame()
                sock.sendall(frame(opcode, payload))
                if opcode == 8: return
        elif name == "/sink":
            reader = Reader(sock, rest)
            for _ in range(n): reader.frame()
            sock.sendall(frame(1, b"done"))
            reader.frame()
        else:
            while sock.recv(65536): pass
    except (OSError, ConnectionError):
        pass
    finally:
        with lock: clients.discard(sock)
        sock.close()

def serve(listener):
    while True:
        try: sock, _ = listener.accept()
        except OSError: return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handle, args=(sock,), daemon=True).start()

port = int(sys.argv[1])
listener = socket.create_server(("127.0.0.1", port), backlog=4096)
port = listener.getsockname()[1]  # a restart listens on the same port again
print(port, flush=True)
threading.Thread(target=serve, args=(listener,), daemon=True).start()
deadline = time.monotonic() + 900
for line in sys.stdin:  # commands from the parent; EOF (parent gone) ends the server
    if line.strip() == "restart":
        try: listener.shutdown(socket.SHUT_RDWR)  # wakes the accept loop
        except OSError: pass
        listener.close()
        with lock: victims = list(clients)
        for sock in victims:
            try: sock.shutdown(socket.SHUT_RDWR)
            except OSError: pass
        while True:  # the old accept thread may hold the port for a moment
            try:
                listener = socket.create_server(("127.0.0.1", port), backlog=4096)
                break
            except OSError:
                time.sleep(0.001)
        threading.Thread(target=serve, args=(listener,), daemon=True).start()
        print("restarted", flush=True)
    if time.monotonic() > deadline: break
'''


class Server:
    """The blast/echo/sink server in its own process, so its CPU is not the client's."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.url = f"ws://127.0.0.1:{self.port}"

    def restart(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("restart\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "restarted"

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


# -- the three clients ------------------------------------------------------------


class GunpyClient:
    name = "gunpy"

    def __init__(self, server: Server, path: str, opts: dict[str, Any] | None = None) -> None:
        self.box = Mailbox.current()
        self.conn = gun.open("127.0.0.1", server.port, {"retry": 0, **(opts or {})})
        assert gun.await_up(self.conn, 10) == ("ok", "http")
        self.ref = gun.ws_upgrade(self.conn, path)
        assert gun.await_(self.conn, self.ref, 10)[0] == "upgrade"

    def send(self, frame: Any) -> None:
        gun.ws_send(self.conn, self.ref, frame)

    def recv(self) -> Any:
        return self.box.receive(timeout=30)[3][1]

    def close(self) -> None:
        gun.close(self.conn)
        gun.flush(self.conn)


class RawClient:
    name = "websocket-client"

    def __init__(self, server: Server, path: str) -> None:
        self.ws = websocket.create_connection(server.url + path)

    def send(self, frame: Any) -> None:
        if frame[0] == "text":
            self.ws.send(frame[1])
        else:
            self.ws.send_binary(frame[1])

    def recv(self) -> Any:
        return self.ws.recv()

    def close(self) -> None:
        self.ws.sock.close()


class WebsocketsClient:
    name = "websockets"

    def __init__(self, server: Server, path: str) -> None:
        self.ws = ws_connect(server.url + path, compression=None, max_size=None, legacy=True)

    def send(self, frame: Any) -> None:
        self.ws.send(frame[1])

    def recv(self) -> Any:
        return self.ws.recv(timeout=30)

    def close(self) -> None:
        self.ws.socket.close()
        self.ws.close_socket()


CLIENTS: list[Callable[..., Any]] = [GunpyClient, RawClient, WebsocketsClient]


# -- measurements -------------------------------------------------------------------


def round_trip(server: Server, client_class: Any, n: int) -> float:
    client = client_class(server, "/echo")
    frame = ("text", "x" * 32)
    client.send(frame)
    client.recv()
    started = time.perf_counter()
    for _ in range(n):
        client.send(frame)
        client.recv()
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed / n * 1e6  # µs per round trip


def receive(server: Server, client_class: Any, n: int, big: bool) -> float:
    client = client_class(server, f"/blast{'64k' if big else '32'}?n={n}")
    started = time.perf_counter()
    for _ in range(n):
        client.recv()
    elapsed = time.perf_counter() - started
    client.close()
    return n / elapsed


def send(server: Server, client_class: Any, n: int) -> float:
    client = client_class(server, f"/sink?n={n}")
    frame = ("text", "x" * 32)
    started = time.perf_counter()
    for _ in range(n):
        client.send(frame)
    assert client.recv() == "done"
    elapsed = time.perf_counter() - started
    client.close()
    return n / elapsed


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def concurrent(server: Server, client_class: Any, n: int) -> dict[str, float]:
    rss_before, threads_before = _status("VmRSS"), threading.active_count()
    started = time.perf_counter()
    clients = [client_class(server, "/hold") for _ in range(n)]
    opened = time.perf_counter() - started
    rss = _status("VmRSS") - rss_before
    threads = threading.active_count() - threads_before
    for client in clients:
        client.close()
    return {"held": n, "rss_kib_per_conn": rss / n, "threads": threads, "open_s": opened}


def reconnect(server: Server, client_class: Any) -> float:
    """Seconds from a server restart to upgraded again."""
    if client_class is GunpyClient:
        client = GunpyClient(server, "/hold", {"retry": 1000, "retry_timeout": 10})
        started = time.perf_counter()
        server.restart()
        box = client.box
        while True:
            message = box.receive(timeout=30)
            if message[0] == "gun_up":
                ref = gun.ws_upgrade(client.conn, "/hold")
            elif message[0] == "gun_upgrade" and message[2] is ref:
                break
        elapsed = time.perf_counter() - started
        client.close()
        return elapsed
    client = client_class(server, "/hold")
    started = time.perf_counter()
    server.restart()
    deadline = started + 30
    while time.perf_counter() < deadline:
        try:
            client = client_class(server, "/hold")
            break
        except Exception:  # refused while the server re-listens
            time.sleep(0.01)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def measure(runs: int, quick: bool) -> dict[str, dict[str, list[float]]]:
    scale = 10 if quick else 1
    plan: list[tuple[str, Callable[[Server, Any], float]]] = [
        ("round trip 32 B (µs)", lambda s, c: round_trip(s, c, 5000 // scale)),
        ("receive 32 B (msg/s)", lambda s, c: receive(s, c, 100_000 // scale, big=False)),
        ("receive 64 KiB (MB/s)", lambda s, c: receive(s, c, 2000 // scale, True) * 65536 / 1e6),
        ("send 32 B (msg/s)", lambda s, c: send(s, c, 100_000 // scale)),
        ("reconnect (ms)", lambda s, c: reconnect(s, c) * 1000),
    ]
    results: dict[str, dict[str, list[float]]] = {}
    server = Server()
    try:
        for name, function in plan:
            results[name] = {c.name: [] for c in CLIENTS}  # type: ignore[attr-defined]
            for _ in range(runs):  # interleaved: each run measures every client
                for client_class in CLIENTS:
                    value = function(server, client_class)
                    results[name][client_class.name].append(value)  # type: ignore[attr-defined]
    finally:
        server.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts, about a minute")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=0, help="default 2000 (500 quick)")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    machine = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {p: version(p) for p in ("pykka", "websocket-client", "websockets")},
    }
    print(json.dumps(machine))
    results = measure(args.runs, args.quick)
    count = args.connections or (500 if args.quick else 2000)
    server = Server()
    try:
        held = {c.name: concurrent(server, c, count) for c in (GunpyClient, RawClient)}  # type: ignore[attr-defined]
    finally:
        server.stop()

    lines = [f"{'measure':<24}{'gunpy':>12}{'ws-client':>12}{'websockets':>12}{'gunpy/raw':>11}"]
    summary: dict[str, Any] = {"machine": machine, "results": {}, "connections": held}
    for name, per_client in results.items():
        med = {client: statistics.median(values) for client, values in per_client.items()}
        ratio = med["gunpy"] / med["websocket-client"]
        summary["results"][name] = {"median": med, "runs": per_client, "ratio_to_raw": ratio}
        lines.append(
            f"{name:<24}{med['gunpy']:>12.1f}{med['websocket-client']:>12.1f}"
            f"{med['websockets']:>12.1f}{ratio:>10.2f}x"
        )
    for client, info in held.items():
        lines.append(
            f"{client}: held {info['held']} upgraded connections, "
            f"{info['rss_kib_per_conn']:.1f} KiB RSS each, {info['threads']} threads, "
            f"opened in {info['open_s']:.1f} s"
        )
    r = summary["results"]
    targets = {
        "receive >= 0.9x raw": min(r["receive 32 B (msg/s)"]["ratio_to_raw"],
                                   r["receive 64 KiB (MB/s)"]["ratio_to_raw"]) >= 0.9,
        "send >= 0.8x raw": r["send 32 B (msg/s)"]["ratio_to_raw"] >= 0.8,
        "round trip <= 1.25x raw": r["round trip 32 B (µs)"]["ratio_to_raw"] <= 1.25,
        f"{count} concurrent connections": held["gunpy"]["held"] == count,
        "stretch: receive >= websockets": all(
            r[k]["median"]["gunpy"] >= r[k]["median"]["websockets"]
            for k in ("receive 32 B (msg/s)", "receive 64 KiB (MB/s)")
        ),
    }
    summary["targets"] = targets
    lines += [f"target {name}: {'met' if ok else 'MISSED'}" for name, ok in targets.items()]
    print("\n".join(lines))
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    path = out / f"bench-{machine['date'][:10]}.json"
    path.write_text(json.dumps(summary, indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
