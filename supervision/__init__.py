"""gunpy.supervision: every "try again" decision: Gun's retry rule, supervisors."""

from gunpy.supervision._retry import RetryFunError, RetryPolicy, default_retry_fun

__all__ = ["RetryFunError", "RetryPolicy", "default_retry_fun"]
