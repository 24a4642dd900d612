"""`WebsocketClient`'s backoff between upgrade attempts, and the refusal it reports.

Gun's retry count starts again on every TCP connect and its first retry is
immediate, so a client that upgrades on every ``gun_up`` against a server
that refuses (and closes) sends upgrades as fast as the network allows.
`Backoff` spaces the attempts: after a failure the next upgrade (and the next
reconnect, through the ``retry_fun`` the client gives Gun) waits
``backoff_min`` ms doubling up to ``backoff_max``, plus random jitter,
with tenacity's `wait_exponential_jitter`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from typing import Any

import tenacity

from gunpy.protocol import Headers, OptionsError
from gunpy.supervision._retry import RetryFun, default_retry_fun


class UpgradeRefused(tuple[str, int, Headers]):
    """``("upgrade_refused", status, headers)``, as before, with the refusal's ``body`` too.

    It unpacks and compares as the 3-tuple; ``.status``, ``.headers`` and
    ``.body`` (bytes, all of it) name the parts.
    """

    body: bytes

    def __new__(cls, status: int, headers: Headers, body: bytes = b"") -> UpgradeRefused:
        self = super().__new__(cls, ("upgrade_refused", status, headers))
        self.body = body
        return self

    @property
    def status(self) -> int:
        return self[1]

    @property
    def headers(self) -> Headers:
        return self[2]

    def __repr__(self) -> str:
        return f"UpgradeRefused({self[1]!r}, {self[2]!r}, {self.body!r})"


def _ms(options: Mapping[str, Any], key: str, default: int, minimum: int = 0) -> int:
    value = options.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise OptionsError(key, value, f"must be an integer >= {minimum} (milliseconds)")
    return value


class Backoff:
    """Consecutive failures and the earliest time of the next attempt.

    The client's thread records failures; the connection's thread reads
    `remaining` in `retry_fun` (a float, written whole).
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.min_ms = _ms(options, "backoff_min", 100)
        self.max_ms = _ms(options, "backoff_max", 30_000)
        self.reset_ms = _ms(options, "backoff_reset", 1000)
        if self.max_ms < self.min_ms:
            raise OptionsError("backoff_max", self.max_ms, "must be >= backoff_min")
        self.failures = 0
        self.next_at = 0.0  # time.monotonic() before which nothing is attempted
        self._wait = tenacity.wait_exponential_jitter(
            multiplier=self.min_ms / 1000, max=self.max_ms / 1000, jitter=self.min_ms / 1000
        )
        self._retrying = tenacity.Retrying(wait=self._wait)
        self._lock = threading.Lock()

    def failed(self) -> float:
        """One more failure in a row: return the wait (s) before the next attempt."""
        with self._lock:
            self.failures += 1
            state = tenacity.RetryCallState(self._retrying, fn=None, args=(), kwargs={})
            state.attempt_number = self.failures
            delay = self._wait(state)
            self.next_at = time.monotonic() + delay
            return delay

    def reset(self) -> None:
        """The connection stayed up ``backoff_reset`` ms: the next failure starts again."""
        with self._lock:
            self.failures = 0
            self.next_at = 0.0

    def remaining(self) -> float:
        """Seconds until the next attempt is allowed (0 if now)."""
        return max(0.0, self.next_at - time.monotonic())

    def retry_fun(self, user_fun: RetryFun | None) -> RetryFun:
        """Gun's ``retry_fun`` (the user's, or Gun's default) with reconnects held back
        while a backoff is running."""
        fun = user_fun or default_retry_fun

        def backoff_retry_fun(retries_left: int, opts: Mapping[str, Any]) -> Any:
            answer = fun(retries_left, opts)
            timeout = answer.get("timeout") if isinstance(answer, Mapping) else None
            if not isinstance(timeout, int | float) or isinstance(timeout, bool):
                return answer  # Gun reports the bad answer
            wait = math.ceil(self.remaining() * 1000)
            return {**answer, "timeout": max(timeout, wait)} if wait > timeout else answer

        return backoff_retry_fun
