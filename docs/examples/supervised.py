# docs-check: echo
from gunpy.actors import Mailbox, ProcessActor, WebsocketClient, monitor
from gunpy.supervision import Supervisor, which_children


class Log(ProcessActor):
    """A worker: prints what it is told."""

    def handle_message(self, message):
        print("log:", message)

    def terminate(self, reason):
        print("log stopped:", reason)


class Job(WebsocketClient):
    """Sends one request, waits for its answer, then stops: the job is done."""

    def on_connect(self, headers, conn, state):
        return ("reply", ("text", "run job 42"), state)

    def on_message(self, message, conn, state):
        print("job answer:", message)
        return ("stop", state)  # exit "normal": a transient child is not restarted


tree = Supervisor.start(
    {"strategy": "one_for_one", "intensity": 5, "period": 10,
     "auto_shutdown": "any_significant"},
    [
        {"id": "log", "start": (Log.start, ()), "shutdown": 5000},
        Job.child_spec("ws://127.0.0.1:8080/jobs", id="job", restart="transient",
                       retry=3, retry_timeout=1000) | {"significant": True},
    ],
)
print([(child_id, kind) for child_id, _, kind, _ in which_children(tree)])
mref = monitor(tree)
down = Mailbox.current().receive(lambda m: m[:2] == ("DOWN", mref), timeout=10)
print("tree exit:", down[4])  # the significant child ended: the whole tree stopped
