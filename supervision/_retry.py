"""Gun's reconnect rule (``retry``, ``retry_timeout``, ``retry_fun``) as tenacity strategies.

After a failed attempt with N retries left, Gun calls
``retry_fun(N, opts) -> {"retries": M, "timeout": ms}``, waits ``timeout`` and
tries again with M left; with N == 0 it gives up without calling the fun, so
a fun that returns 0 retries still gets one last attempt. The default fun
makes the first retry of a series immediate, then waits ``retry_timeout``,
counting down by one. After an established connection is lost the count
starts again from ``retry``.

The rule is a tenacity ``wait`` (`GunWait`) and ``stop`` (`GunStop`) pair.
A connection actor never sleeps: it asks `RetryPolicy.next_delay` and arms a
timer. `RetryPolicy.retrying` runs the same rule as a blocking tenacity loop
whose ``sleep`` can be injected, which is how the schedule is tested without
waiting for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import tenacity

T = TypeVar("T")
RetryFun = Callable[[int, Mapping[str, Any]], Mapping[str, int]]


class RetryFunError(RuntimeError):
    """``retry_fun`` raised or returned something other than ``{"retries": n, "timeout": ms}``."""


def default_retry_fun(retries_left: int, opts: Mapping[str, Any]) -> dict[str, int]:
    """Gun's default: immediate first retry, then ``retry_timeout`` ms, one fewer each time."""
    retry = opts.get("retry", 5)
    timeout = 0 if retries_left == retry else opts.get("retry_timeout", 5000)
    return {"retries": retries_left - 1, "timeout": timeout}


class GunWait(tenacity.wait.wait_base):
    """tenacity wait: call ``retry_fun`` and return its timeout, in seconds.

    When no retry is left it returns 0 without calling the fun (`GunStop`
    then stops): Gun never calls ``retry_fun`` with 0.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        policy = self.policy
        if policy.retries_left <= 0:
            policy.exhausted = True
            return 0.0
        try:
            result = policy.retry_fun(policy.retries_left, policy.opts)
        except Exception as exc:
            raise RetryFunError(f"retry_fun raised {exc!r}") from exc
        retries = result.get("retries") if isinstance(result, Mapping) else None
        timeout = result.get("timeout") if isinstance(result, Mapping) else None
        valid = (
            isinstance(retries, int)
            and not isinstance(retries, bool)
            and retries >= 0
            and isinstance(timeout, int | float)
            and timeout >= 0
        )
        if not valid:
            raise RetryFunError(
                f"retry_fun returned {result!r}; expected {{'retries': int >= 0, 'timeout': ms}}"
            )
        policy.retries_left = retries  # type: ignore[assignment]
        return float(timeout) / 1000  # type: ignore[arg-type]


class GunStop(tenacity.stop.stop_base):
    """tenacity stop: true once `GunWait` found no retry left."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.policy.exhausted


class RetryPolicy:
    """The retry state of one connection: retries left and the next wait."""

    def __init__(
        self,
        retry: int,
        opts: Mapping[str, Any] | None = None,
        retry_fun: RetryFun | None = None,
    ) -> None:
        self.retry = retry
        self.opts: Mapping[str, Any] = {"retry": retry, **(opts or {})}
        self.retry_fun: RetryFun = retry_fun or default_retry_fun
        self.retries_left = retry
        self.exhausted = False
        self.wait = GunWait(self)
        self.stop = GunStop(self)
        # tenacity's state, made at the first failure: most connections never fail,
        # and a Retrying costs tens of microseconds (10,000 connections open at once).
        self._state: tenacity.RetryCallState | None = None

    def reset(self) -> None:
        """An established connection was lost: the count starts again from ``retry``."""
        self.retries_left = self.retry
        self.exhausted = False
        self._state = None

    def next_delay(self, failure: BaseException | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None to give up.

        Raises `RetryFunError` if ``retry_fun`` misbehaves.
        """
        state = self._state
        if state is None:
            state = self._state = tenacity.RetryCallState(
                self.retrying(), fn=None, args=(), kwargs={})
        error = failure or ConnectionError("attempt failed")
        state.set_exception((type(error), error, error.__traceback__))
        delay = self.wait(state)
        if self.stop(state):
            return None
        state.upcoming_sleep = delay
        state.prepare_for_next_attempt()
        return delay

    def retrying(self, sleep: Callable[[float], None] = time.sleep) -> tenacity.Retrying:
        """A blocking tenacity loop with this rule: ``policy.retrying()(connect)``.

        The first call is the initial attempt; giving up re-raises the last
        failure. ``sleep`` receives each wait in seconds.
        """
        return tenacity.Retrying(wait=self.wait, stop=self.stop, sleep=sleep, reraise=True)
