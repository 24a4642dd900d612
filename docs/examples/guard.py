# docs-check: none
conn, ref = object(), object()
message = ("gun_ws", "another conn", "another ref", ("text", "hi"))

match message:
    case ("gun_ws", c, r, frame) if c is conn and r is ref:  # right: a guard
        print("ours:", frame)
    case _:
        print("not ours")  # printed
