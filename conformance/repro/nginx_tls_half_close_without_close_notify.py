#!/usr/bin/env python3
"""nginx's stream proxy passes a server's half-close to a TLS client as a FIN without close_notify.

A TLS client connects to nginx's stream proxy (`listen ... ssl`, TLS 1.3, `proxy_half_close
on`), finishes its handshake and sends a chunk; the server reads it, answers with a chunk and
shuts its write side (a FIN: its stream ended cleanly). The model (and connseq, and HAProxy)
tell the client that clean end with a close_notify before the FIN. nginx sends the FIN alone,
which TLS reads as a truncation (RFC 8446 6.1): the client cannot tell the server's complete
answer from a cut one. Exits 0 when nginx shows the FIN without close_notify and the others
the close_notify."""

import os
import socket
import sys
import time

from proxies import Proxy, listener, tls_read


def half_close(kind):
    """What the TLS client read after the server answered and shut its write side."""
    srv = listener()
    with Proxy(kind, srv.getsockname()) as p:
        c = p.tls_client()
        c.sendall(b"c\x00-----\n")
        s, _ = srv.accept()
        s.settimeout(2)
        s.recv(8)
        s.sendall(b"s\x00-----\n")
        time.sleep(0.1)
        s.shutdown(socket.SHUT_WR)
        seen = [tls_read(c)]
        if isinstance(seen[0], bytes):
            seen.append(tls_read(c))
        c.close()
        s.close()
    srv.close()
    return seen


def show(seen):
    return ", then ".join(repr(x) if isinstance(x, bytes) else x for x in seen)


ok = True
seen = half_close("nginx-tls")
print(f"nginx (listen ... ssl, proxy_half_close on): the client read {show(seen)}")
ok &= seen[-1] == "FIN without close_notify"
seen = half_close("haproxy-tls")
print(f"HAProxy (ssl crt): the client read {show(seen)}")
ok &= seen[-1] == "close_notify"
if os.path.exists(os.environ.get("CONNSEQ", "target/release/connseq")):
    seen = half_close("connseq-tls")
    print(f"connseq --tls-cert (as the model): the client read {show(seen)}")
    ok &= seen[-1] == "close_notify"
print("departure shown: a clean end passed on without close_notify" if ok else "departure NOT shown")
sys.exit(0 if ok else 1)
