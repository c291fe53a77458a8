"""Resets connections before the server accepts them, as an attacker would.

Usage: resets_before_accept.py PORT RATE SECONDS [BURST]

Every 1/RATE*BURST seconds it opens BURST connections to 127.0.0.1:PORT and
closes them at once with SO_LINGER 0, so each close is a reset (RST), most of
them while the connection still waits in the server's accept queue. Bounded:
it stops after SECONDS and never holds more than BURST sockets. Prints one
line: the number of connections reset.
"""
import socket
import struct
import sys
import time

port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
burst = int(sys.argv[4]) if len(sys.argv) > 4 else 5
linger = struct.pack("ii", 1, 0)
interval = burst / rate
reset = 0
start = time.monotonic()
next_at = start
while time.monotonic() - start < seconds:
    sockets = []
    for _ in range(burst):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", port))
            sockets.append(s)
        except OSError:
            s.close()
    for s in sockets:
        s.close()
        reset += 1
    next_at += interval
    pause = next_at - time.monotonic()
    if pause > 0:
        time.sleep(pause)
print(reset)
