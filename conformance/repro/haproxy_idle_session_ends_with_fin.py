#!/usr/bin/env python3
"""HAProxy 2.6 ends an idle session with a FIN to the client, where the model resets it.

A client connects, the server accepts, and neither sends. With `timeout client 2s`,
`timeout server 3s`, `timeout client-fin 1s`, `timeout server-fin 1500ms`, the model's client
timer fires first and the proxy resets the client (connseq, which follows the model, does so
at 2 s). HAProxy lets the client timeout pass and ends the session later with a FIN to both
peers, and the client never gets an RST. Exits 0 when the client reads a FIN and no RST
follows (HAProxy); the same exchange through connseq is shown for comparison."""

import errno
import os
import socket
import sys
import time

from proxies import Proxy, listener, show


def idle(kind):
    srv = listener()
    with Proxy(kind, srv.getsockname()) as p:
        c = p.client()
        s, _ = srv.accept()
        t0 = time.time()
        c.settimeout(8)
        try:
            got = c.recv(100)
        except ConnectionResetError:
            got = "RST"
        at = time.time() - t0
        time.sleep(2.5)  # past every fin timeout
        err = c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        c.close()
        s.close()
    srv.close()
    return got, at, errno.errorcode.get(err, "none")


got, at, err = idle("haproxy")
print(f"HAProxy: idle session; the client reads {show(got)} after {at:.1f} s; SO_ERROR 2.5 s later: {err}")
ok = got == b"" and err == "none"
if os.path.exists(os.environ.get("CONNSEQ", "target/release/connseq")):
    got, at, err = idle("connseq")
    print(f"connseq (as the model): the client reads {show(got)} after {at:.1f} s")
print("departure shown: FIN instead of RST at the end of an idle session" if ok else "departure NOT shown")
sys.exit(0 if ok else 1)
