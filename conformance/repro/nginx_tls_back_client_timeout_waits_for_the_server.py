#!/usr/bin/env python3
"""nginx's stream proxy, speaking TLS to its server, leaves an idle client open past
`proxy_timeout` while the server's TLS handshake has not answered, where the model ends the
session at the client timeout.

A client connects and sends nothing; the server's port takes nginx's connection in its backlog
(the kernel answers the SYN) but the application never accepts it, so nginx's TLS hello to the
server is never answered. With `proxy_timeout 3s` and `proxy_connect_timeout 5s` (declared to
the harness as client=3s, server=3s, connect=5s), the model's client timer fires at 3 s and its
proxy resets the client (connseq, which follows the model, does so). nginx does not apply
`proxy_timeout` before its server's handshake is done: reading 3.5 s after the connect, the
client gets nothing. The script then reads on, to show when and how nginx ends it (its connect
timeout, which covers the server handshake). Exits 0 when the client has nothing 3.5 s after
connecting (nginx); the same exchange through connseq is shown for comparison."""

import os
import sys
import time

from proxies import Proxy, listener, read, show


def idle_client(kind):
    srv = listener()  # listening, never accepting: no TLS server answers
    with Proxy(kind, srv.getsockname()) as p:
        c = p.client()
        t0 = time.time()
        time.sleep(3.5)  # past proxy_timeout (3 s) and the harness's margin
        at_timeout = read(c, timeout=0.05)
        later = read(c, timeout=8)
        ended = time.time() - t0
        c.close()
    srv.close()
    return at_timeout, later, ended


got, later, ended = idle_client("nginx-tls-back")
print(f"nginx, TLS to the server: the client reads {show(got)} 3.5 s after connecting "
      f"(proxy_timeout 3s); then {show(later)} at {ended:.1f} s")
ok = got == "nothing"
if os.path.exists(os.environ.get("CONNSEQ", "target/release/connseq")):
    got, later, ended = idle_client("connseq-tls-back")
    print(f"connseq (as the model, its client timeout 2 s): the client reads {show(got)} 3.5 s after "
          f"connecting")
print("departure shown: not closed at the timeout" if ok else "departure NOT shown")
sys.exit(0 if ok else 1)
