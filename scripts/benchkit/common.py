"""Shared by the bench modules: client names, the repo root, the wire kit, BenchError."""

from __future__ import annotations

import os

TEXT32 = "x" * 32
RAW = "websocket-client"
RAW_NOUTF8 = "websocket-client, skip_utf8_validation"
RAW_THREAD = "websocket-client, recv in a reader thread"
CLIENTS = ("gunpy", RAW, RAW_NOUTF8, RAW_THREAD, "websockets")
HOLD_CLIENTS = ("gunpy", RAW, "websockets")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A run went wrong: unexpected message, server refused, watchdog fired."""


