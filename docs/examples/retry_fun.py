# docs-check: closed
import random
import time

from gunpy.actors import gun


def backoff(retries_left, opts):
    failures = opts["retry"] - retries_left  # 0 for the first retry of a series
    delay = min(30_000, 100 * 2 ** min(failures, 20))  # milliseconds, as Gun's timeout
    return {"retries": retries_left - 1, "timeout": delay + random.randint(0, 100)}


start = time.monotonic()
conn = gun.open("127.0.0.1", 8080, {"retry": 3, "retry_fun": backoff})
print(gun.await_up(conn, timeout=10))  # ("error", ("down", ("shutdown", "econnrefused")))
assert 0.3 < time.monotonic() - start < 5  # 4 attempts, with waits of ~0.1, ~0.2, ~0.4 s
