#!/usr/bin/env python3
"""Faithful reconstruction of the original Python message server (the bench's peer).

One thread per service, blocking sockets, no framing:

* TCP: accept, ONE recv(1024), reply "[TCP Server] Your message was received!"
  (no newline) and close; for "exit" reply "[TCP Server] Server shutting down...",
  close, and stop the TCP thread (which ends the process, as in the original).
* UDP: recvfrom(1024), sendto "[UDP Server] Your message was received!".

Like the original it prints one line per message received.  Differences from
the original, all of them harness conveniences that do not touch the hot path:
--host/--tcp-port/--udp-port (port 0 = any free port), the "Listening on port N"
lines report the bound port and are flushed so a harness can read them, bytes
are decoded with errors="replace" (the original would crash its thread on
non-UTF-8 input), and --quiet drops the per-message prints.
"""
import argparse
import socket
import sys
import threading

# The two threads announce themselves at the same moment: one write each,
# under a lock, so a harness never reads the lines interleaved.
ANNOUNCE = threading.Lock()


def announce(line):
    with ANNOUNCE:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

TCP_REPLY = b"[TCP Server] Your message was received!"
TCP_BYE = b"[TCP Server] Server shutting down..."
UDP_REPLY = b"[UDP Server] Your message was received!"


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tcp_server(host, port, quiet):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen()
    announce(f"[TCP Server] Listening on port {s.getsockname()[1]}...")
    while True:
        conn, addr = s.accept()
        data = conn.recv(1024)
        message = data.decode(errors="replace")
        if not quiet:
            print(f"[TCP Server] Received from {addr}: {message}")
        if message == "exit":
            conn.sendall(TCP_BYE)
            conn.close()
            print("[TCP Server] Server shutting down...", flush=True)
            break
        conn.sendall(TCP_REPLY)
        conn.close()
    s.close()


def udp_server(host, port, quiet):
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    s.bind((host, port))
    announce(f"[UDP Server] Listening on port {s.getsockname()[1]}...")
    while True:
        data, addr = s.recvfrom(1024)
        if not quiet:
            print(f"[UDP Server] Received from {addr}: {data.decode(errors='replace')}")
        s.sendto(UDP_REPLY, addr)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--tcp-port", type=int, default=65432)
    p.add_argument("--udp-port", type=int, default=65433)
    p.add_argument("--quiet", action="store_true", help="no per-message prints")
    a = p.parse_args()
    tcp = threading.Thread(target=tcp_server, args=(a.host, a.tcp_port, a.quiet))
    # The UDP thread never ends by itself; as in the original, the process ends
    # when the TCP thread stops on "exit".
    udp = threading.Thread(target=udp_server, args=(a.host, a.udp_port, a.quiet), daemon=True)
    tcp.start()
    udp.start()
    tcp.join()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
