"""Unique references, the Python counterpart of Erlang's ``make_ref()``."""

from __future__ import annotations

import itertools
import threading
from typing import Final

_counter = itertools.count(1)
_counter_lock: Final = threading.Lock()


class Ref:
    """A unique, hashable reference: a stream ref or a monitor ref.

    Two refs are equal only if they are the same object. ``repr`` shows a
    process-wide sequence number, so logs can tell refs apart.
    """

    __slots__ = ("number",)

    number: int

    def __init__(self) -> None:
        with _counter_lock:
            self.number = next(_counter)

    def __repr__(self) -> str:
        return f"#Ref<{self.number}>"
