"""gunpy benchmark: gunpy's actor path, raw websocket-client and the websockets sync client.

Run it with ``scripts/bench`` (``--quick`` for a run of about a minute,
``--runs 5`` for five runs of everything). Every client talks to the same
server, a process of its own on 127.0.0.1 that costs almost nothing per
message: it does the upgrade by hand, then blasts frames encoded once and
written in bulk, echoes, or only counts (a sink). Measured, in one run:

(a) round trip of a 32-byte text, sequential (median per round trip);
(b) one-way receive of 32-byte text and 64 KiB binary messages;
(c) send of 32-byte text until the sink has them all;
(d) concurrent upgraded connections in one process: RSS and threads each,
    one child process per client (gunpy, websocket-client, websockets);
(e) time from a server restart (its sockets closed) to upgraded again;
(f) HTTP/1.1 GET round trip on one keep-alive connection, sequential (median
    per request): gunpy (gun.get, gun.await_, gun.await_body) against raw
    http.client.HTTPConnection, both to aiohttp's server (tests/aiohttp_peer.py)
    in a process of its own;
(g) permessage-deflate: receive and send of ~1 KiB JSON messages, gunpy
    against the websockets sync client (the ratios are to it), with the
    bytes on the wire per message sent (scripts/benchkit/deflate.py).

Three more variants are shown for reference, not for the targets: websocket-client
with ``skip_utf8_validation=True`` (without wsaccel its UTF-8 check is pure
Python), websocket-client with its ``recv()`` in a reader thread (the
floor of any design that reads in a thread, as gunpy does), and in (g) the
floor of a compressed send: no client, only zlib, a C mask and ``sendall``.

Every measurement starts with one untimed run of each client (the first run
in a process is slow). The runs of the client variants are interleaved
(their order rotates); each waits (bounded) until other processes use little
CPU, and a run during which they used more than NOISY_CORES is made again
(bounded). Every loop is bounded by a count and a wall-clock watchdog. The
table shows the median of the runs with min and max, and ratios to raw
websocket-client (for (f), to http.client); the same data goes to
``bench-results/bench-<date>.json``.

Internal modes: ``--serve`` runs the server, ``--hold CLIENT`` is the child
of measurement (d).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from benchkit import ROOT
from benchkit.clients import (
    Ctx,
    Result,
    reconnect_gunpy,
    reconnect_raw,
    reconnect_websockets,
    recv_gunpy,
    recv_raw,
    recv_websockets,
    rt_gunpy,
    rt_raw,
    rt_raw_reader_thread,
    rt_websockets,
    send_gunpy,
    send_raw,
    send_websockets,
)
from benchkit.common import (
    DEFLATE_FLOOR,
    HOLD_CLIENTS,
    RAW,
    RAW_NOUTF8,
    RAW_THREAD,
    BenchError,
)
from benchkit.deflate import recv_gunpy as recv_deflate_gunpy
from benchkit.deflate import recv_websockets as recv_deflate_websockets
from benchkit.deflate import send_floor as send_deflate_floor
from benchkit.deflate import send_gunpy as send_deflate_gunpy
from benchkit.deflate import send_websockets as send_deflate_websockets
from benchkit.http_get import HTTP_RAW, get_gunpy, get_raw
from benchkit.process import (
    NOISY_CORES,
    NOISY_RETRIES,
    RETRY_BUDGET,
    HttpServerProcess,
    ServerProcess,
    machine_busy_seconds,
    proc_cpu_seconds,
    wait_quiet,
)
from benchkit.scale import hold_main, hold_targets, raise_nofile, run_hold
from benchkit.server import serve_main

from gunpy.actors import Mailbox

# ======================================================================================
# The plan, the runs, the table.
# ======================================================================================


@dataclass
class Measure:
    key: str
    title: str
    unit: str
    higher_is_better: bool
    kernels: dict[str, Callable[[Ctx, int], Result]]  # (ctx, n) -> result
    n: int
    warmup: bool = True  # one untimed run of every client at n/5 first
    baseline: str = RAW  # the client the ratios are to


@dataclass
class Run:
    value: float | None
    error: str | None
    client_cpu_us_per_msg: float | None
    server_cpu_us_per_msg: float | None
    other_cores: float | None
    extra: dict[str, Any]
    attempts: int = 1  # runs disturbed by other processes are made again (NOISY_RETRIES)


def plan(args: argparse.Namespace) -> list[Measure]:
    q = args.quick
    n_rt = 1000 if q else 5000
    n_small = 20_000 if q else 100_000
    n_big = 800 if q else 4000
    n_send = 20_000 if q else 100_000
    n_http = 300 if q else 1000
    k = 65536

    def with_n(function: Callable[..., Result], *a: Any) -> Callable[[Ctx, int], Result]:
        return lambda ctx, n: function(ctx, n, *a)

    measures = [
        Measure("rt", f"(a) round trip, 32 B text, {n_rt:,} sequential: median", "µs", False, {
            "gunpy": rt_gunpy,
            RAW: rt_raw,
            RAW_NOUTF8: with_n(rt_raw, True),
            RAW_THREAD: rt_raw_reader_thread,
            "websockets": rt_websockets,
        }, n_rt),
        Measure("recv32", f"(b) receive {n_small:,} x 32 B text", "msg/s", True, {
            "gunpy": with_n(recv_gunpy, 32, "msg/s"),
            RAW: with_n(recv_raw, 32, "msg/s"),
            RAW_NOUTF8: with_n(recv_raw, 32, "msg/s", True),
            "websockets": with_n(recv_websockets, 32, "msg/s"),
        }, n_small),
        Measure("recv64k", f"(b) receive {n_big:,} x 64 KiB binary", "MB/s", True, {
            "gunpy": with_n(recv_gunpy, k, "MB/s"),
            RAW: with_n(recv_raw, k, "MB/s"),
            "websockets": with_n(recv_websockets, k, "MB/s"),
        }, n_big),
        Measure("send32", f"(c) send {n_send:,} x 32 B text to a sink", "msg/s", True, {
            "gunpy": send_gunpy,
            RAW: send_raw,
            "websockets": send_websockets,
        }, n_send),
    ]
    for downtime in (0, 100):
        title = f"(e) server restart, down {downtime} ms, to upgraded again"
        measures.append(Measure(f"reconnect{downtime}", title, "ms", False, {
            "gunpy": reconnect_gunpy,
            RAW: reconnect_raw,
            "websockets": reconnect_websockets,
        }, downtime, warmup=False))
    title = f"(f) HTTP GET, one keep-alive connection, {n_http:,} sequential: median"
    measures.append(Measure("http", title, "µs", False, {
        "gunpy": get_gunpy,
        HTTP_RAW: get_raw,
    }, n_http, baseline=HTTP_RAW))
    n_deflate = 5000 if q else 20_000
    measures.append(Measure("recvz", f"(g) permessage-deflate: receive {n_deflate:,} x ~1 KiB JSON",
                            "msg/s", True, {
        "gunpy": recv_deflate_gunpy,
        "websockets": recv_deflate_websockets,
    }, n_deflate, baseline="websockets"))
    measures.append(Measure("sendz", f"(g) permessage-deflate: send {n_deflate:,} x ~1 KiB JSON",
                            "msg/s", True, {
        "gunpy": send_deflate_gunpy,
        "websockets": send_deflate_websockets,
        DEFLATE_FLOOR: send_deflate_floor,
    }, n_deflate, baseline="websockets"))
    if args.only:
        measures = [m for m in measures if m.key in args.only]
    return measures


def run_one(
    ctx: Ctx, kernel: Callable[[Ctx, int], Result], n: int, quiet_wait: float
) -> Run:
    wait_quiet(quiet_wait)
    Mailbox.current().flush()
    busy, own, server = machine_busy_seconds(), proc_cpu_seconds(), ctx.server_cpu_seconds()
    wall = time.monotonic()
    try:
        result = kernel(ctx, n)
    except Exception as exc:  # one failed run is reported, not fatal
        return Run(None, f"{type(exc).__name__}: {exc}"[:300], None, None, None, {})
    finally:
        gc.collect()
    wall = time.monotonic() - wall
    server_cpu = ctx.server_cpu_seconds() - server
    others = (machine_busy_seconds() - busy) - (proc_cpu_seconds() - own) - server_cpu
    n = max(result.messages, 1)
    return Run(
        result.value,
        None,
        result.cpu / n * 1e6 if result.cpu else None,
        server_cpu / n * 1e6 if result.wall else None,
        max(0.0, others / wall) if wall >= 0.2 else None,  # 10 ms ticks: too coarse below
        result.extra,
    )


def rotated(items: list[str], by: int) -> list[str]:
    by %= len(items)
    return items[by:] + items[:by]


def summarize(runs: list[Run]) -> dict[str, Any]:
    values = [r.value for r in runs if r.value is not None]
    cpu = [r.client_cpu_us_per_msg for r in runs if r.client_cpu_us_per_msg is not None]
    server = [r.server_cpu_us_per_msg for r in runs if r.server_cpu_us_per_msg is not None]
    return {
        "median": statistics.median(values) if values else None,
        "min": min(values) if values else None,
        "max": max(values) if values else None,
        "ok_runs": len(values),
        "client_cpu_us_per_msg": statistics.median(cpu) if cpu else None,
        "server_cpu_us_per_msg": statistics.median(server) if server else None,
        "max_other_cores": max((r.other_cores or 0.0 for r in runs), default=0.0),
        "runs": [r.__dict__ for r in runs],
    }


def pair_ratios(a: list[Run], b: list[Run]) -> list[float]:
    """a/b per interleaved run (run i of one against run i of the other)."""
    return [x.value / y.value for x, y in zip(a, b, strict=False) if x.value and y.value]


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if unit in ("µs", "ms") or abs(value) < 100:
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def versions() -> dict[str, str]:
    found = {}
    for package in ("gunpy", "pykka", "websocket-client", "websockets", "wsaccel", "aiohttp"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small counts: about a minute")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement (3)")
    parser.add_argument("--connections", type=int, default=0,
                        help="connections for (d): 2000, 500 with --quick")
    parser.add_argument("--only", nargs="*", metavar="KEY",
                        help="rt recv32 recv64k send32 reconnect0 reconnect100 hold http "
                             "recvz sendz")
    parser.add_argument("--out", default=str(ROOT / "bench-results"), help="JSON folder")
    parser.add_argument("--serve", type=float, metavar="MAX_SECONDS", help=argparse.SUPPRESS)
    parser.add_argument("--hold", choices=HOLD_CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=float, default=300.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve_main(args.serve)
    if args.hold is not None:
        return hold_main(args.hold, args.port, args.connections, args.limit)
    return bench(args)


def bench(args: argparse.Namespace) -> int:
    # (e) refuses connections on purpose: gunpy's WARNING per failed attempt
    # (10 ms apart) would bury the table on stderr. Errors still show.
    logging.getLogger("gunpy").setLevel(logging.ERROR)
    started = datetime.datetime.now()
    count = args.connections or (500 if args.quick else 2000)
    runs = max(1, args.runs)
    limit = 30.0 if args.quick else 60.0
    quiet_wait = 2.0 if args.quick else 4.0
    machine = {
        "date": started.isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": versions(),
        "git": git_commit(),
        "mode": "quick" if args.quick else "full",
        "runs": runs,
        "nofile": raise_nofile(count + 256),
    }
    print(f"gunpy bench, {machine['date']} ({machine['mode']}, {runs} runs, interleaved)")
    print(f"machine: {machine['platform']}, {machine['cpu_count']} CPUs, {machine['python']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
          + f"; git {machine['git']}")
    print(f"load: other processes at {wait_quiet(quiet_wait):.2f} cores", flush=True)

    measures = plan(args)
    server = ServerProcess(max_seconds=1800)
    ctx = Ctx(server, limit)
    results: dict[str, dict[str, list[Run]]] = {}
    hold: dict[str, list[Run]] = {}
    try:
        if any(m.key == "http" for m in measures):
            ctx.http = HttpServerProcess()
        for measure in measures:
            per_client: dict[str, list[Run]] = {c: [] for c in measure.kernels}
            if measure.warmup:  # the first run in a process is slow, for every client
                for client, kernel in measure.kernels.items():
                    warm = run_one(ctx, kernel, max(1, measure.n // 5), 0.0)
                    if warm.error:
                        print(f"  {measure.key} {client} warm-up: {warm.error}", flush=True)
            for i in range(runs):
                for client in rotated(list(measure.kernels), i):
                    for attempt in range(1 + NOISY_RETRIES):
                        run = run_one(ctx, measure.kernels[client], measure.n, quiet_wait)
                        run.attempts = attempt + 1
                        if (run.other_cores or 0.0) <= NOISY_CORES:
                            break
                        again = attempt < NOISY_RETRIES and RETRY_BUDGET["runs"] > 0
                        then = "again" if again else "kept"
                        print(f"  {measure.key} {client} run {i + 1}: other processes used "
                              f"{run.other_cores:.2f} cores: {then}", flush=True)
                        if not again:
                            break
                        RETRY_BUDGET["runs"] -= 1
                    per_client[client].append(run)
                    if run.error:
                        print(f"  {measure.key} {client} run {i + 1}: {run.error}", flush=True)
            results[measure.key] = per_client
            print(f"  done: {measure.title}", flush=True)
        if not args.only or "hold" in args.only:
            hold = {c: [] for c in HOLD_CLIENTS}
            for i in range(runs):
                for client in rotated(list(HOLD_CLIENTS), i):
                    wait_quiet(quiet_wait)
                    try:
                        result = run_hold(server, client, count, limit * 4)
                        run = Run(result.value, None, None, None, None, result.extra)
                    except (BenchError, subprocess.TimeoutExpired, OSError) as exc:
                        error = f"{type(exc).__name__}: {exc}"[:300]
                        run = Run(None, error, None, None, None, {})
                        print(f"  hold {client} run {i + 1}: {error}", flush=True)
                    hold[client].append(run)
            print(f"  done: (d) {count:,} concurrent connections", flush=True)
    finally:
        server.stop()
        if ctx.http is not None:
            ctx.http.stop()
    elapsed = (datetime.datetime.now() - started).total_seconds()
    report = report_table(machine, measures, results, hold, count, elapsed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{started.strftime('%Y-%m-%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"written to {path}")
    return 0


def measure_lines(m: Measure, per: dict[str, list[Run]], entry: dict[str, Any]) -> list[str]:
    """One block of the table: a row per client, ratios to the baseline (raw websocket-client)."""
    better = "higher" if m.higher_is_better else "lower"
    lines = [f"{m.title}, {m.unit} ({better} is better; vs {m.baseline})"]
    raw = entry["clients"][m.baseline]["median"]
    for client in per:
        s = entry["clients"][client]
        if s["median"] is None:
            lines.append(f"    {client:<42}{'FAILED':>12}   {s['runs'][0]['error']}")
            continue
        ratio = f"{s['median'] / raw:.2f}x" if raw else "n/a"
        if client == "gunpy":
            pairs = entry["ratio_gunpy_to_raw_per_run"]
            if len(pairs) > 1:
                ratio += f" [{min(pairs):.2f}-{max(pairs):.2f}]"
        cpu = s["client_cpu_us_per_msg"]
        lines.append(
            f"    {client:<42}{fmt(s['median'], m.unit):>12}{fmt(s['min'], m.unit):>12}"
            f"{fmt(s['max'], m.unit):>12}  {ratio:<18}{fmt(cpu) if cpu else '':>8}"
            + ("" if s["ok_runs"] == len(s["runs"]) else f"  ({s['ok_runs']} runs ok)")
        )
    wire = {c: [r.extra["wire_bytes_per_msg"] for r in per[c] if "wire_bytes_per_msg" in r.extra]
            for c in per}
    if all(wire.values()):
        payload = next(r.extra["payload_bytes_per_msg"] for r in per["gunpy"] if r.extra)
        sizes = ", ".join(f"{c} {statistics.median(v):,.0f}" for c, v in wire.items())
        lines.append(f"    (bytes on the wire per message: {sizes}; payload {payload:,.0f})")
    servers = [v for c in per if (v := entry["clients"][c]["server_cpu_us_per_msg"]) is not None]
    noisy = max(entry["clients"][c]["max_other_cores"] for c in per)
    notes = []
    if servers and m.unit != "ms":
        notes.append(f"server CPU ~{fmt(statistics.median(servers))} µs/msg")
    if noisy > NOISY_CORES:
        notes.append(f"other processes used up to {noisy:.2f} cores in a kept run")
    again = sum(r.attempts - 1 for c in per for r in per[c])
    if again:
        notes.append(f"{again} runs made again: other processes were busy")
    if notes:
        lines.append("    (" + "; ".join(notes) + ")")
    return lines


def hold_lines(
    hold: dict[str, list[Run]], count: int, report: dict[str, Any]
) -> tuple[list[str], bool]:
    lines = [
        f"(d) {count:,} concurrent upgraded connections in one process (a child per run)",
        f"    {'':<20}{'held':>12}{'KiB RSS/conn':>14}{'RSS added':>11}{'threads':>9}"
        f"{'open s':>8}{'echo-all s':>11}{'close s':>9}",
    ]
    gunpy_ok = False
    for client, runs in hold.items():
        done = [r.extra for r in runs if r.value is not None]
        summary: dict[str, Any] = {"runs": [r.__dict__ for r in runs]}
        report[client] = summary
        if not done:
            lines.append(f"    {client:<20}{'FAILED':>12}   {runs[0].error if runs else ''}")
            continue
        for key in ("held", "echoed", "rss_kib_per_conn", "rss_delta_mib", "threads",
                    "threads_added", "open_s", "echo_all_s", "close_s"):
            summary[key] = statistics.median(d[key] for d in done)
        summary["held_min"] = min(d["held"] for d in done)
        summary["echoed_min"] = min(d["echoed"] for d in done)
        if client == "gunpy":
            gunpy_ok = len(done) == len(runs) and all(
                d["held"] == d["asked"] == d["echoed"] for d in done
            )
        lines.append(
            f"    {client:<20}{summary['held_min']:>7,}/{count:<4,}"
            f"{summary['rss_kib_per_conn']:>14.1f}{summary['rss_delta_mib']:>7.1f} MiB"
            f"{int(summary['threads']):>9,}{summary['open_s']:>8.2f}"
            f"{summary['echo_all_s']:>11.2f}{summary['close_s']:>9.2f}"
        )
    lines.append(
        "    (medians of the runs; held: the fewest in a run, each then echoed one message; "
        "threads: the process's total, /proc/self/status)"
    )
    return lines, gunpy_ok


def report_table(
    machine: dict[str, Any],
    measures: list[Measure],
    results: dict[str, dict[str, list[Run]]],
    hold: dict[str, list[Run]],
    count: int,
    elapsed: float,
) -> dict[str, Any]:
    report: dict[str, Any] = {"machine": machine, "measures": {}, "concurrent": {}}
    lines = ["", f"{'':<46}{'median':>12}{'min':>12}{'max':>12}  {'vs raw':<18}{'CPU µs/msg':>8}"]
    for m in measures:
        per = results.get(m.key)
        if per is None:
            continue
        clients = {c: summarize(per[c]) for c in per}
        raw = clients[m.baseline]["median"]
        entry = {
            "title": m.title,
            "unit": m.unit,
            "higher_is_better": m.higher_is_better,
            "clients": clients,
            "ratio_to_raw": {
                c: (s["median"] / raw if s["median"] and raw else None) for c, s in clients.items()
            },
            "baseline": m.baseline,
            "ratio_gunpy_to_raw_per_run": pair_ratios(per["gunpy"], per[m.baseline]),
        }
        report["measures"][m.key] = entry
        lines += measure_lines(m, per, entry)
    gunpy_held = False
    if hold:
        more, gunpy_held = hold_lines(hold, count, report["concurrent"])
        lines += ["", *more]

    def target(name: str, key: str, ok: Callable[[float], bool]) -> tuple[str, str]:
        entry = report["measures"].get(key)
        r = entry["ratio_to_raw"]["gunpy"] if entry else None
        return ("n/a", name) if r is None else ("PASS" if ok(r) else "FAIL", f"{name}: {r:.2f}x")

    checks = [
        target("receive 32 B >= 0.9x raw", "recv32", lambda r: r >= 0.9),
        target("receive 64 KiB >= 0.9x raw", "recv64k", lambda r: r >= 0.9),
        target("send 32 B >= 0.8x raw", "send32", lambda r: r >= 0.8),
        target("round trip <= 1.25x raw", "rt", lambda r: r <= 1.25),
        target(f"HTTP GET round trip <= 1.5x raw {HTTP_RAW}", "http", lambda r: r <= 1.5),
        target("deflate receive >= 1.0x websockets", "recvz", lambda r: r >= 1.0),
        target("deflate send >= 1.0x websockets", "sendz", lambda r: r >= 1.0),
    ]
    if hold:
        status = "PASS" if gunpy_held else "FAIL"
        if count < 2000 and gunpy_held:
            status = "n/a"  # --quick: fewer connections than the target asks
        cores = machine["cpu_count"]
        held = report["concurrent"].get("gunpy", {}).get("held_min", 0)
        checks.append((status, f"2,000 concurrent upgraded connections on {cores} cores: "
                               f"{held:,} of {count:,} held and echoing"))
        checks += hold_targets(report["concurrent"], count)
    stretch = []
    for key in ("recv32", "recv64k"):
        entry = report["measures"].get(key)
        if entry:
            ours = entry["clients"]["gunpy"]["median"]
            theirs = entry["clients"]["websockets"]["median"]
            if ours and theirs:
                stretch.append((key, ours / theirs))
    if stretch:
        ok = all(r >= 1 for _, r in stretch)
        detail = ", ".join(f"{k} {r:.2f}x" for k, r in stretch)
        checks.append(("PASS" if ok else "FAIL", f"stretch: receive >= websockets sync: {detail}"))
    lines += ["", "targets (gunpy, ratios of medians in this run):"]
    lines += [f"  {status:<5} {text}" for status, text in checks]
    lines.append(f"\ntotal time {elapsed:.0f} s")
    report["targets"] = [{"status": s, "target": t} for s, t in checks]
    report["elapsed_s"] = elapsed
    report["table"] = lines
    print("\n".join(lines))
    return report


if __name__ == "__main__":
    sys.exit(main())
