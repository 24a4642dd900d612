# docs-check: echo
from gunpy.actors import gun

conn = gun.open("127.0.0.1", 8080, {"retry": 0, "ws_opts": {"flow": 10}})
gun.await_up(conn)
ref = gun.ws_upgrade(conn, "/feed")  # the stream starts with 10 messages of credit
assert gun.await_(conn, ref)[0] == "upgrade"
gun.ws_send(conn, ref, [("text", f"message {i}") for i in range(100)])

received = 0
while received < 100:
    match gun.await_(conn, ref, timeout=5):
        case ("ws", ("text", text)):
            received += 1  # ... the slow work on `text` goes here ...
            gun.update_flow(conn, ref, 1)  # one handled: the socket may give one more
        case other:
            raise SystemExit(f"unexpected: {other}")
print("received", received)
gun.shutdown(conn)
