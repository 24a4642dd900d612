"""OTP's supervisor flags and child specs, as dicts checked into typed records."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"]
Restart = Literal["permanent", "transient", "temporary"]
Shutdown = int | Literal["brutal_kill", "infinity"]


@dataclass(frozen=True)
class SupFlags:
    """``strategy`` (one_for_one), ``intensity`` (1), ``period`` in seconds (5): OTP's defaults."""

    strategy: Strategy = "one_for_one"
    intensity: int = 1
    period: float = 5


@dataclass(frozen=True)
class ChildSpec:
    """``id``, ``start = (callable, args)``, ``restart``, ``shutdown`` (ms), ``type``."""

    id: Hashable
    start: tuple[Callable[..., Any], tuple[Any, ...]]
    restart: Restart = "permanent"
    shutdown: Shutdown = 5000
    type: Literal["worker", "supervisor"] = "worker"


def check_flags(flags: Mapping[str, Any]) -> SupFlags:
    """Validate supervisor flags; ValueError names the bad key."""
    values: dict[str, Any] = {}
    for key, value in flags.items():
        if key == "strategy":
            if value not in ("one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"):
                raise ValueError(f"strategy: unknown strategy {value!r}")
        elif key == "intensity":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"intensity: must be an integer >= 0, not {value!r}")
        elif key == "period":
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"period: must be a number of seconds > 0, not {value!r}")
        else:
            raise ValueError(f"{key}: unknown supervisor flag")
        values[key] = value
    return SupFlags(**values)


def check_child_spec(spec: Any) -> ChildSpec:
    """Validate a child spec dict; ValueError names the bad key."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"child spec: must be a dict, not {spec!r}")
    if "id" not in spec or "start" not in spec:
        raise ValueError("child spec: id and start are required")
    values = dict(spec)
    start = values["start"]
    if not (
        isinstance(start, tuple)
        and len(start) == 2
        and callable(start[0])
        and isinstance(start[1], tuple)
    ):
        raise ValueError(f"start: must be (callable, args_tuple), not {start!r}")
    for key, value in values.items():
        if key == "restart" and value not in ("permanent", "transient", "temporary"):
            raise ValueError(f"restart: must be permanent, transient or temporary, not {value!r}")
        if key == "type" and value not in ("worker", "supervisor"):
            raise ValueError(f"type: must be worker or supervisor, not {value!r}")
        if key == "shutdown" and not (
            value in ("brutal_kill", "infinity")
            or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
        ):
            raise ValueError(f"shutdown: must be ms >= 0, brutal_kill or infinity, not {value!r}")
        if key not in ("id", "start", "restart", "shutdown", "type", "modules"):
            raise ValueError(f"{key}: unknown child spec key")
    values.pop("modules", None)
    if values.get("type") == "supervisor":
        values.setdefault("shutdown", "infinity")
    return ChildSpec(**values)
