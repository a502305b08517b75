#!/usr/bin/env python3
"""HAProxy 2.6 leaves an idle client open past `timeout client`, where the model ends the
session at the client timeout.

A client connects and sends nothing, and nothing comes back: the server's port takes the
connection in its backlog (the kernel answers the SYN) and the application either never
accepts it or accepts it and stays silent. With `timeout client 2s`, `timeout server 3s`, `timeout client-fin 1s`,
`timeout server-fin 1500ms`, the model's client timer fires first, at 2 s, and its proxy
resets the client (connseq, which follows the model, does so). HAProxy does not end the
client's connection at 2 s: reading 2.5 s after the connect, the client gets nothing. The
script then reads on, to show when and how HAProxy ends it. Exits 0 when the client has
nothing 2.5 s after connecting, both ways (HAProxy); the same exchange through connseq is shown for
comparison."""

import os
import sys
import time

from proxies import Proxy, listener, read, show


def idle_client(kind, accept):
    srv = listener()
    with Proxy(kind, srv.getsockname()) as p:
        c = p.client()
        t0 = time.time()
        s = srv.accept()[0] if accept else None
        time.sleep(2.5)  # past `timeout client` and the harness's margin
        at_timeout = read(c, timeout=0.05)
        later = read(c, timeout=8)
        ended = time.time() - t0
        c.close()
        if s:
            s.close()
    srv.close()
    return at_timeout, later, ended


ok = True
for accept, how in ((False, "the server never accepts"), (True, "the server accepts, silent")):
    got, later, ended = idle_client("haproxy", accept)
    print(f"HAProxy, {how}: the client reads {show(got)} 2.5 s after connecting (timeout client 2s); "
          f"then {show(later)} at {ended:.1f} s")
    ok = ok and got == "nothing"
    if os.path.exists(os.environ.get("CONNSEQ", "target/release/connseq")):
        got, later, ended = idle_client("connseq", accept)
        print(f"connseq (as the model), {how}: the client reads {show(got)} 2.5 s after connecting")
print("departure shown: not closed at the timeout" if ok else "departure NOT shown")
sys.exit(0 if ok else 1)
