# docs-check: drop-once
from gunpy.actors import Mailbox, gun

mailbox = Mailbox.current()
conn = gun.open("127.0.0.1", 8080, {"retry": 5, "retry_timeout": 1000})
ref, upgrades = None, 0
while upgrades < 2 or ref is not None:
    match mailbox.receive(timeout=10):
        case ("gun_up", c, "http") if c is conn:
            ref = gun.ws_upgrade(conn, "/feed")  # after EVERY gun_up: Gun never does it
        case ("gun_upgrade", c, r, ["websocket"], _) if c is conn and r is ref:
            upgrades += 1
            gun.ws_send(conn, ref, ("text", f"hello #{upgrades}"))
        case ("gun_ws", c, r, ("text", text)) if c is conn and r is ref:
            print("got", text)
            if upgrades == 2:
                ref = None  # done
        case ("gun_down", c, "ws", reason, killed) if c is conn:
            print("down:", reason, "- killed streams:", len(killed))
            ref = None  # that stream is gone; a reconnect follows at once
        case _:
            pass  # anything else, as a gen_server's catch-all clause
gun.close(conn)
