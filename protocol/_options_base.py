"""What every option schema shares: `OptionsError` and the `Timeout` type (milliseconds)."""

from __future__ import annotations

from typing import Literal, TypeAlias

Timeout: TypeAlias = int | Literal["infinity"]
"""Milliseconds, or ``"infinity"``."""


class OptionsError(ValueError):
    """An option that gunpy does not know or cannot accept.

    ``key`` is the dotted name (``"ws_opts.flow"``), ``value`` the value given.
    """

    def __init__(self, key: str, value: object, why: str) -> None:
        super().__init__(f"invalid option {key}={value!r}: {why}")
        self.key = key
        self.value = value


def check_timeout(key: str, value: object, minimum: int = 0) -> Timeout:
    """``value`` if it is milliseconds (an int >= ``minimum``) or ``"infinity"``, else raise."""
    if value == "infinity":
        return "infinity"
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise OptionsError(key, value, f'must be an integer >= {minimum} (ms) or "infinity"')
