#!/usr/bin/env python3
"""nginx's stream proxy passes a client's half-close to a TLS server as a FIN without close_notify.

A plain client connects to nginx's stream proxy (`proxy_ssl on`, TLS 1.3 to the server,
`proxy_half_close on`), sends a chunk and shuts its write side (a FIN: its request ended
cleanly). The server, a TLS server, makes its handshake with the proxy, reads the chunk and
reads on. The model (and connseq, and HAProxy) tell the server that clean end with a
close_notify before the FIN. nginx sends the FIN alone, which TLS reads as a truncation
(RFC 8446 6.1): the server cannot tell the client's complete request from a cut one. Exits 0
when nginx shows the FIN without close_notify and the others the close_notify."""

import os
import socket
import sys

from proxies import Proxy, listener, server_tls, tls_read


def half_close(kind):
    """What the TLS server read after the client sent a chunk and shut its write side."""
    srv = listener()
    with Proxy(kind, srv.getsockname()) as p:
        c = p.client()
        c.sendall(b"c\x00-----\n")
        c.shutdown(socket.SHUT_WR)
        s, _ = srv.accept()
        t = server_tls(p, s)
        t.do_handshake()
        seen = [tls_read(t)]
        if isinstance(seen[0], bytes):
            seen.append(tls_read(t))
        t.close()
        c.close()
    srv.close()
    return seen


def show(seen):
    return ", then ".join(repr(x) if isinstance(x, bytes) else x for x in seen)


ok = True
seen = half_close("nginx-tls-back")
print(f"nginx (proxy_ssl on, proxy_half_close on): the server read {show(seen)}")
ok &= seen[-1] == "FIN without close_notify"
seen = half_close("haproxy-tls-back")
print(f"HAProxy (server ... ssl): the server read {show(seen)}")
ok &= seen[-1] == "close_notify"
if os.path.exists(os.environ.get("CONNSEQ", "target/release/connseq")):
    seen = half_close("connseq-tls-back")
    print(f"connseq --server-tls (as the model): the server read {show(seen)}")
    ok &= seen[-1] == "close_notify"
print("departure shown: a clean end passed on without close_notify" if ok else "departure NOT shown")
sys.exit(0 if ok else 1)
