"""gunpy.supervision: every "try again" decision.

- Gun's retry rule (``retry``, ``retry_timeout``, ``retry_fun``) as tenacity
  strategies: `RetryPolicy`, `default_retry_fun`.
- `Supervisor`: OTP's supervisor as a gunpy ProcessActor (one_for_one,
  one_for_all, rest_for_one, simple_one_for_one; permanent, transient,
  temporary; intensity and period; shutdown in ms, brutal_kill, infinity;
  significant children and auto_shutdown),
  with OTP's functions `start_child`, `terminate_child`, `restart_child`,
  `delete_child`, `which_children`, `count_children`. Those functions take the
  supervisor's ActorRef, block on an ask with a timeout (pykka.Timeout, or
  ActorDeadError for a dead supervisor) and may be called from any thread but
  the supervisor's own. `check_flags` and `check_child_spec` are the checks
  `Supervisor.start` runs in its caller (ValueError naming the bad key). Where
  gunpy still differs from OTP is listed in `gunpy.supervision._supervisor`.
- Only ProcessActor children have real exit reasons; a plain pykka child is
  seen to exit ``"normal"``, so a transient child must be a ProcessActor.
- `gun_sup` / `gun_conns_sup`: Gun's own tree, which holds supervised connections.
"""

# The runtime this package builds on lives in gunpy.actors, whose face also
# exports the connection built on this package: load that face first, so that
# its modules find ours complete whichever package a program imports first.
import gunpy.actors  # noqa: F401
from gunpy.supervision._child_spec import ChildSpec, SupFlags, check_child_spec, check_flags
from gunpy.supervision._gun_sup import gun_conns_sup, gun_sup
from gunpy.supervision._retry import (
    GunStop,
    GunWait,
    RetryFunError,
    RetryPolicy,
    default_retry_fun,
)
from gunpy.supervision._supervisor import (
    Supervisor,
    count_children,
    delete_child,
    restart_child,
    start_child,
    terminate_child,
    which_children,
)

__all__ = [
    "ChildSpec",
    "GunStop",
    "GunWait",
    "RetryFunError",
    "RetryPolicy",
    "SupFlags",
    "Supervisor",
    "check_child_spec",
    "check_flags",
    "count_children",
    "default_retry_fun",
    "delete_child",
    "gun_conns_sup",
    "gun_sup",
    "restart_child",
    "start_child",
    "terminate_child",
    "which_children",
]
