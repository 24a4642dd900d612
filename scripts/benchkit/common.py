"""Shared by the bench modules: client names, the repo root, the wire kit, BenchError."""

from __future__ import annotations

import json
import os
import random

TEXT32 = "x" * 32
# (g) permessage-deflate: JSON order-book updates of about 1 KiB, as a market-data feed
# sends; 64 distinct ones (prices and sizes from a seeded generator), sent in turn.
_PRNG = random.Random(7692)
JSON_MESSAGES = tuple(
    json.dumps({
        "type": "book", "symbol": f"SYM{k % 8}", "seq": 100_000 + k,
        "bids": [[round(_PRNG.uniform(99, 100), 2), _PRNG.randrange(1, 5000)] for _ in range(30)],
        "asks": [[round(_PRNG.uniform(100, 101), 2), _PRNG.randrange(1, 5000)] for _ in range(30)],
    })
    for k in range(64)
)
RAW = "websocket-client"
RAW_NOUTF8 = "websocket-client, skip_utf8_validation"
RAW_THREAD = "websocket-client, recv in a reader thread"
DEFLATE_FLOOR = "floor: zlib, C mask, sendall"
CLIENTS = ("gunpy", RAW, RAW_NOUTF8, RAW_THREAD, "websockets")
HOLD_CLIENTS = ("gunpy", RAW, "websockets")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A run went wrong: unexpected message, server refused, watchdog fired."""


