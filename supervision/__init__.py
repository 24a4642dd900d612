"""gunpy.supervision: every "try again" decision.

- Gun's retry rule (``retry``, ``retry_timeout``, ``retry_fun``) as tenacity
  strategies: `RetryPolicy`, `default_retry_fun`.
- `Supervisor`: OTP's supervisor (one_for_one, one_for_all, rest_for_one,
  simple_one_for_one; permanent/transient/temporary; intensity and period),
  with OTP's functions `start_child`, `terminate_child`, `restart_child`,
  `delete_child`, `which_children`, `count_children`.
- `gun_sup` / `gun_conns_sup`: Gun's own tree, which holds supervised connections.
"""

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
    StartChildError,
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
    "StartChildError",
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
