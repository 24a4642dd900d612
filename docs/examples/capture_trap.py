# docs-check: none
conn, ref = object(), object()
message = ("gun_ws", "another conn", "another ref", ("text", "hi"))

match message:
    case ("gun_ws", conn, ref, frame):  # WRONG: capture patterns
        print("matched; conn is now", repr(conn))  # any gun_ws matches, and conn is lost
