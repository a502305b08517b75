#!/usr/bin/env python3
"""HAProxy 2.6 resets the server's connection when the client aborts, where the model sends a FIN.

The client sends a chunk and aborts (SO_LINGER 0, close: an RST) before the server
application accepts. The model (and connseq) forward the chunk to the server and then close
its connection with a FIN; HAProxy forwards the chunk and then resets the server's
connection. Exits 0 when the server reads the chunk and then an RST (HAProxy); the same
exchange is shown through connseq for comparison when its binary is present."""

import os
import socket
import struct
import sys
import time

from proxies import Proxy, listener, read, show


def exchange(kind):
    srv = listener()
    with Proxy(kind, srv.getsockname()) as p:
        c = p.client()
        c.sendall(b"c\x00-----\n")
        time.sleep(0.2)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # an RST
        time.sleep(0.2)
        s, _ = srv.accept()
        first = read(s)
        then = read(s)
        s.close()
    srv.close()
    return first, then


first, then = exchange("haproxy")
print(f"HAProxy: the client sent a chunk and aborted; the server reads {show(first)}, then {show(then)}")
ok = first == b"c\x00-----\n" and then == "RST"
binary = os.environ.get("CONNSEQ", "target/release/connseq")
if os.path.exists(binary):
    first, then = exchange("connseq")
    print(f"connseq (as the model): the server reads {show(first)}, then {show(then)}")
print("departure shown: RST instead of FIN" if ok else "departure NOT shown")
sys.exit(0 if ok else 1)
