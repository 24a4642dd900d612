"""Linux's per-process futex hash, grown with the process's thread count.

Since Linux 6.16 a threaded process gets a private futex hash table sized
for its CPUs, not its threads: 16 slots on a 2-CPU machine, however many
threads wait on locks. Every blocked thread (an idle actor waiting on its
inbox) sits in one slot's chain, and every lock hand-off walks a chain: with
10,000 connection actors that is ~600 entries per wake-up, and ``futex_wake``
became the largest cost of the whole process (30 % of all CPU while opening
10,000 connections; per-connection system time grew from 0.2 to 1.4 ms).

`fit` resizes the table (``prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_SET_SLOTS)``)
to about two slots per thread as the count grows, in powers of two, and
never shrinks it. It does nothing where the call does not exist (other
systems, older kernels: their shared hash is sized at boot), nor when the
process uses the global hash (slots 0), which someone chose on purpose.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable
from typing import Final

PR_FUTEX_HASH: Final = 78
PR_FUTEX_HASH_SET_SLOTS: Final = 1
PR_FUTEX_HASH_GET_SLOTS: Final = 2
MAX_SLOTS: Final = 1 << 17  # 131,072 buckets of 64 bytes: 8 MiB of kernel memory at most

_lock = threading.Lock()
_slots = -1  # -1: not read yet; 0: nothing to do here (unsupported or global)


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    call: Callable[..., int] | None = getattr(libc, "prctl", None)
    return call


_call: Final = _prctl()


def slots() -> int:
    """The process's private futex hash size; 0 if global, unsupported or not Linux."""
    if _call is None:
        return 0
    return max(int(_call(PR_FUTEX_HASH, PR_FUTEX_HASH_GET_SLOTS, 0, 0, 0)), 0)


def fit(threads: int) -> None:
    """Make room for ``threads`` waiting threads (cheap unless a resize is due)."""
    global _slots
    if _slots == 0 or 2 * threads <= _slots:
        return
    with _lock:
        if _slots == -1:
            current = slots()
            if current == 0 and threading.active_count() < 2:
                return  # single-threaded: no table yet, so no answer yet
            _slots = current
            if _slots == 0:
                return
        wanted = min(1 << (2 * threads - 1).bit_length(), MAX_SLOTS)
        if wanted <= _slots:
            return
        assert _call is not None
        resized = _call(PR_FUTEX_HASH, PR_FUTEX_HASH_SET_SLOTS, wanted, 0, 0) == 0
        _slots = wanted if resized else 0  # refused (immutable, no memory): stop trying
