# docs-check: echo
from types import SimpleNamespace

from gunpy.actors import Mailbox, gun, monitor

mailbox = Mailbox.current()
conn = gun.open("127.0.0.1", 8080, {"retry": 0})
assert gun.await_up(conn) == ("ok", "http")
ref = gun.ws_upgrade(conn, "/chat")
assert gun.await_(conn, ref)[0] == "upgrade"
mref = monitor(conn)

# The values the patterns compare with. A dotted name in a pattern is a VALUE
# pattern (compared with ==; a conn and a ref are equal only to themselves);
# a bare name would be a CAPTURE pattern, which matches anything and rebinds it.
this = SimpleNamespace(conn=conn, ref=ref, mref=mref)


def select(message):
    """The selection, written once: Erlang's receive clauses, as match cases."""
    match message:
        case ("gun_ws", this.conn, this.ref, ("close", code, _)):
            return ("closed", code)
        case ("gun_ws", this.conn, this.ref, frame):
            return ("frame", frame)
        case ("gun_down", this.conn, _, reason, _):
            return ("down", reason)
        case ("DOWN", this.mref, "process", _, reason):
            return ("exit", reason)
    return None  # not ours: it stays in the mailbox, in order


gun.ws_send(conn, ref, ("text", "hello"))
while True:
    try:
        message = mailbox.receive(lambda m: select(m) is not None, timeout=5)
    except TimeoutError:  # Erlang's "after 5000 ->"
        raise SystemExit("nothing for 5 s") from None
    match select(message):
        case ("frame", ("text", text)):
            print("got", text)
            gun.ws_send(conn, ref, ("close", 1000, "bye"))
        case ("frame", _):
            pass  # binary, pings...
        case ("closed", code):
            print("closed", code)
        case ("down", reason):
            print("down", reason)
        case ("exit", reason):
            print("exit", reason)
            break
