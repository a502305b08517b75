#!/usr/bin/env python3
"""nginx stream closes the server's connection with a FIN, never an RST, after the client aborts.

The client sends a chunk and aborts (an RST) before the server application accepts. The
model forwards the chunk, shuts the server's side (a FIN), waits for the server's FIN within
the server-fin timeout, and resets the connection when it passes (connseq does so at 1 s).
nginx (`proxy_timeout 3s`, either proxy_half_close) forwards the chunk and a FIN, and the
server never sees an RST, not even 3.5 s later. Exits 0 when nginx shows this (both
settings); the same exchange through connseq is shown for comparison."""

import errno
import os
import socket
import struct
import sys
import time

from proxies import Proxy, listener, read, show


def abort(kind, option=None):
    srv = listener()
    with Proxy(kind, srv.getsockname(), option) as p:
        c = p.client()
        c.sendall(b"c\x00-----\n")
        time.sleep(0.2)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        time.sleep(0.2)
        s, _ = srv.accept()
        first = read(s)
        then = read(s)
        time.sleep(3.5)  # past proxy_timeout and every fin timeout
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        s.close()
    srv.close()
    return first, then, errno.errorcode.get(err, "none")


ok = True
for half_close in ["off", "on"]:
    first, then, err = abort("nginx", half_close)
    print(f"nginx proxy_half_close {half_close}: the server reads {show(first)}, then {show(then)}; "
          f"SO_ERROR 3.5 s later: {err}")
    ok &= then == b"" and err == "none"
if os.path.exists(os.environ.get("CONNSEQ", "target/release/connseq")):
    first, then, err = abort("connseq")
    print(f"connseq (as the model): the server reads {show(first)}, then {show(then)}; "
          f"SO_ERROR 3.5 s later: {err} (EPIPE: an RST behind the FIN)")
print("departure shown: FIN and no RST" if ok else "departure NOT shown")
sys.exit(0 if ok else 1)
