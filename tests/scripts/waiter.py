"""A running process for test_signal.py: prints its pid, then answers one
stdin line at a time ("ok <line>") until "quit"; a helper thread waits.
A signal may find the main thread on any of the marked lines (the loop's
line holds its backward jump, between an answer and the next read)."""
import os
import sys
import threading

event = threading.Event()
helper = threading.Thread(target=event.wait, name="helper", daemon=True)
helper.start()
print(os.getpid(), flush=True)  # pid
while True:  # loop
    line = sys.stdin.readline()  # readline
    if not line or line.strip() == "quit":
        break
    print("ok", line.strip(), flush=True)  # ack
print("bye", flush=True)
