"""OTP's supervisor flags and child specs (dicts checked into typed records), and how
one child is started and stopped.

Only gunpy `ProcessActor` children have real exit reasons: a plain pykka actor
cannot report its death, so it is polled and always seen as ``"normal"``.
A transient child must therefore be a ProcessActor, or it is never restarted.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import pykka
from pykka.messages import ProxyGetAttr

from gunpy.actors._process import Exit, ProcessActor, process_of

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"]
Restart = Literal["permanent", "transient", "temporary"]
ChildType = Literal["worker", "supervisor"]
Shutdown = int | Literal["brutal_kill", "infinity"]
Modules = list[str] | Literal["dynamic"]
AutoShutdown = Literal["never", "any_significant", "all_significant"]

KILL_WAIT: Final = 1.0
"""Seconds a kill is waited for: it is a message, taken when the child next reads its inbox."""

_POLL: Final = 0.05  # seconds between liveness checks while waiting for a child's init


@dataclass(frozen=True)
class SupFlags:
    """``strategy`` (one_for_one), ``intensity`` (1), ``period`` in seconds (5),
    ``auto_shutdown`` (never): OTP's defaults."""

    strategy: Strategy = "one_for_one"
    intensity: int = 1
    period: float = 5
    auto_shutdown: AutoShutdown = "never"


@dataclass(frozen=True)
class ChildSpec:
    """A checked child spec. ``shutdown`` defaults to 5000 ms, or infinity for a supervisor;
    ``modules`` to the start callable's qualified name."""

    id: Hashable
    start: tuple[Callable[..., Any], tuple[Any, ...]]
    restart: Restart = "permanent"
    shutdown: Shutdown = 5000
    type: ChildType = "worker"
    modules: Modules | None = None
    significant: bool = False


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_flags(flags: Mapping[str, Any]) -> SupFlags:
    """Validate supervisor flags; a ValueError names the bad key."""
    if not isinstance(flags, Mapping):
        raise ValueError(f"flags: must be a dict, not {flags!r}")
    for key, value in flags.items():
        if key == "strategy":
            if value not in get_args(Strategy):
                raise ValueError(f"strategy: unknown strategy {value!r}")
        elif key == "intensity":
            if not _is_int(value) or value < 0:
                raise ValueError(f"intensity: must be an integer >= 0, not {value!r}")
        elif key == "period":
            if not (_is_int(value) or isinstance(value, float)) or not value > 0:
                raise ValueError(f"period: must be a number of seconds > 0, not {value!r}")
        elif key == "auto_shutdown":
            if value not in get_args(AutoShutdown):
                raise ValueError(f"auto_shutdown: must be never, any_significant or "
                                 f"all_significant, not {value!r}")
        else:
            raise ValueError(f"{key}: unknown supervisor flag")
    checked = SupFlags(**flags)
    if checked.strategy == "simple_one_for_one" and checked.auto_shutdown != "never":
        raise ValueError(f"auto_shutdown: {checked.auto_shutdown} is not allowed with "
                         "simple_one_for_one (OTP's bad_combination)")
    return checked


def check_child_spec(spec: Any, auto_shutdown: AutoShutdown | None = None) -> ChildSpec:
    """Validate a child spec dict and fill OTP's defaults; a ValueError names the bad key.

    ``auto_shutdown`` is the supervisor's flag: with ``"never"``, a significant
    child is refused; None (unknown, as OTP's check_childspecs/1) skips that check.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"child spec: must be a dict, not {spec!r}")
    for key in ("id", "start"):
        if key not in spec:
            raise ValueError(f"{key}: required in a child spec")
    values = dict(spec)
    try:
        hash(values["id"])
    except TypeError:
        raise ValueError(f"id: must be hashable, not {values['id']!r}") from None
    start = values["start"]
    if not (isinstance(start, tuple) and len(start) == 2 and callable(start[0])
            and isinstance(start[1], tuple)):
        raise ValueError(f"start: must be (callable, args_tuple), not {start!r}")
    for key, value in values.items():
        if key == "restart" and value not in get_args(Restart):
            raise ValueError(f"restart: must be permanent, transient or temporary, not {value!r}")
        if key == "type" and value not in get_args(ChildType):
            raise ValueError(f"type: must be worker or supervisor, not {value!r}")
        if key == "shutdown" and not (value in ("brutal_kill", "infinity")
                                      or (_is_int(value) and value >= 0)):
            raise ValueError(f"shutdown: must be ms >= 0, brutal_kill or infinity, not {value!r}")
        if key == "modules" and not (value == "dynamic" or (
                isinstance(value, list) and all(isinstance(m, str) for m in value))):
            raise ValueError(f"modules: must be a list of names or 'dynamic', not {value!r}")
        if key == "significant" and not isinstance(value, bool):
            raise ValueError(f"significant: must be True or False, not {value!r}")
        if key not in ("id", "start", "restart", "shutdown", "type", "modules", "significant"):
            raise ValueError(f"{key}: unknown child spec key")
    if values.get("significant"):
        check_significant(values.get("restart", "permanent"), auto_shutdown)
    if values.get("type") == "supervisor":
        values.setdefault("shutdown", "infinity")
    values.setdefault("modules", [_name_of(start[0])])
    return ChildSpec(**values)


def check_significant(restart: Restart, auto_shutdown: AutoShutdown | None) -> None:
    """OTP's bad combinations for a significant child: a ValueError naming ``significant``."""
    if auto_shutdown == "never":
        raise ValueError("significant: not allowed under auto_shutdown never "
                         "(OTP's bad_combination)")
    if restart == "permanent":
        raise ValueError("significant: not allowed for a permanent child "
                         "(OTP's bad_combination)")


def _name_of(function: Callable[..., Any]) -> str:
    """``Worker.start`` for a classmethod bound to Worker (its own qualname is Actor.start)."""
    while isinstance(function, functools.partial):
        function = function.func
    owner = getattr(function, "__self__", None)
    name = getattr(function, "__name__", None)
    if isinstance(owner, type) and name is not None:
        return f"{owner.__qualname__}.{name}"
    return str(getattr(function, "__qualname__", name or repr(function)))


# -- one child's life ---------------------------------------------------------------


class StartFailed(Exception):
    """A child did not start; ``args[0]`` is OTP's error reason."""


def start(
    spec: ChildSpec, extra_args: tuple[Any, ...] = ()
) -> tuple[pykka.ActorRef[Any], ProcessActor | None]:
    """Start a child and wait for its init to finish, as OTP's start_link does.

    Returns its ref and, for a ProcessActor, the actor itself: hold it, since the
    runtime forgets a collected actor's exit reason. Raises StartFailed with the
    start callable's exception, ``("bad_return", value)`` for a result that is not
    an ActorRef, or the exit reason of a child that died in its init (``"noproc"``
    if that reason is unknown, as for a plain pykka actor).
    """
    function, args = spec.start
    try:
        ref = function(*args, *extra_args)
    except Exception as exc:
        raise StartFailed(exc) from exc
    if not isinstance(ref, pykka.ActorRef):
        raise StartFailed(("bad_return", ref))
    process = process_of(ref)
    if not _await_init(ref, process):
        raise StartFailed(process.exit_reason if process is not None else "noproc")
    return ref, process


def _await_init(ref: pykka.ActorRef[Any], process: ProcessActor | None) -> bool:
    """True once the child's init has returned (it may have stopped since: that is an
    exit, not a failed start, as with OTP's start_link).

    A ProcessActor says so itself (`ProcessActor.initialized`). For a plain pykka
    actor, the answer to a ProxyGetAttr (which pykka answers itself, after
    on_start) tells; a child that dies is noticed even if the ask is lost in
    pykka's tell/teardown race. No time limit, as OTP's start_link.
    """
    if process is not None:
        while not process.initialized.wait(_POLL):
            if process.monitors.is_down():
                return process.initialized.is_set()
        return True
    future = ref.ask(ProxyGetAttr(attr_path=("actor_urn",)), block=False)
    while True:
        try:
            future.get(timeout=_POLL)
            return True
        except pykka.ActorDeadError:
            return False
        except pykka.Timeout:
            if not ref.is_alive():
                return False


def signal_stop(ref: pykka.ActorRef[Any], process: ProcessActor | None, kill: bool) -> None:
    """Ask a child to stop: ``exit(child, "shutdown")`` or ``"kill"``; does not wait.

    A plain pykka actor (``process`` None) gets ``stop(block=False)``, taken after
    its queued messages.
    """
    with contextlib.suppress(pykka.ActorDeadError):
        if process is not None:
            ref.tell(Exit("kill" if kill else "shutdown"))
        else:
            ref.stop(block=False)


def wait_dead(
    ref: pykka.ActorRef[Any], process: ProcessActor | None, timeout: float | None
) -> bool:
    """Wait until the child is dead and (ProcessActor) its clean-up has run; False on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout

    def left() -> float | None:
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    if not ref.actor_stopped.wait(left()):
        return False
    # A failed init fires the monitors before pykka sets actor_stopped; a stop, after.
    return process is None or process.monitors.wait(left())


def shutdown_timeout(spec: ChildSpec) -> float | None:
    """Seconds to wait for the child after asking it to stop (None: no limit)."""
    if spec.shutdown == "infinity":
        return None
    if spec.shutdown == "brutal_kill":
        return KILL_WAIT
    return spec.shutdown / 1000
