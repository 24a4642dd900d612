"""Gun's supervision tree: ``gun_sup`` (one_for_one) above ``gun_conns_sup`` (simple_one_for_one).

``gun.open`` with ``supervise`` true (the default) starts each connection as a
temporary child of ``gun_conns_sup``, as Gun does: OTP never restarts a
connection (Gun's retry rule is its only "restart"), and ``gun.close`` is
``terminate_child``. The tree starts on first use. It knows nothing of the
connection: ``start_child`` passes the start function first, then its
arguments, so the layers run one way (connection -> supervision -> runtime).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pykka

from gunpy.supervision._supervisor import Supervisor, which_children

_lock = threading.Lock()
_tree: dict[str, pykka.ActorRef[Any]] = {}


def _start_connection(start: Callable[..., Any], *args: Any) -> Any:
    """The child start of ``gun_conns_sup``: ``start(*args)``."""
    return start(*args)


def _conns_sup_spec() -> dict[str, Any]:
    flags = {"strategy": "simple_one_for_one"}
    gun = {"id": "gun", "start": (_start_connection, ()), "restart": "temporary"}
    start = (Supervisor.start, (flags, [gun]))
    return {"id": "gun_conns_sup", "start": start, "type": "supervisor"}


def gun_sup() -> pykka.ActorRef[Any]:
    """The ``gun_sup`` supervisor, started (with ``gun_conns_sup``) if it is not running."""
    with _lock:
        ref = _tree.get("gun_sup")
        if ref is None or not ref.is_alive():
            flags = {"strategy": "one_for_one", "intensity": 1, "period": 5}
            ref = Supervisor.start(flags, [_conns_sup_spec()])
            _tree["gun_sup"] = ref
        return ref


def gun_conns_sup() -> pykka.ActorRef[Any]:
    """The ``gun_conns_sup`` supervisor that holds every supervised connection."""
    known = _tree.get("gun_conns_sup")
    if known is not None and known.is_alive():
        return known  # asked once per incarnation: every gun.open needs it
    for child_id, ref, _, _ in which_children(gun_sup()):
        if child_id == "gun_conns_sup" and isinstance(ref, pykka.ActorRef):
            conns: pykka.ActorRef[Any] = ref
            _tree["gun_conns_sup"] = conns
            return conns
    raise RuntimeError("gun_conns_sup is not running")
