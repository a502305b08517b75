#!/usr/bin/env python3
"""HAProxy's and nginx's TLS listeners end the client's stream with a close_notify where the server's was cut.

A TLS client connects to HAProxy 2.6 (`bind ... ssl crt`), or nginx's stream proxy (`listen
... ssl`, with TLS 1.3), and finishes its handshake. Twice:
the server's port refuses HAProxy's connect (the client sent a chunk first); the server
accepts, sends a chunk and aborts (RST). In neither case did a stream end cleanly, so the
model (and connseq) close the client's connection without a close_notify, and the client
reads TCP's end alone, which TLS tells apart as a truncation (RFC 8446 6.1). HAProxy sends a
close_notify first, so the client reads a clean end of a response that never was, or that was
cut. Exits 0 when HAProxy shows the close_notify both times, nginx after the refused connect,
and connseq neither time."""

import os
import socket
import struct
import sys
import time

from proxies import Proxy, listener, refusing_port, tls_read


def refused(kind):
    """What the TLS client read after its connect was refused behind the proxy."""
    port = refusing_port()
    with Proxy(kind, port.getsockname()) as p:
        c = p.tls_client()
        c.sendall(b"c\x00-----\n")
        time.sleep(0.2)  # the proxy's connect is refused meanwhile
        got = tls_read(c)
        c.close()
    port.close()
    return [got]


def server_aborts(kind):
    """What the TLS client read after the server sent a chunk and reset its connection."""
    srv = listener()
    with Proxy(kind, srv.getsockname()) as p:
        c = p.tls_client()
        s, _ = srv.accept()
        s.sendall(b"s\x00-----\n")
        time.sleep(0.1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        seen = [tls_read(c)]
        if isinstance(seen[0], bytes):
            seen.append(tls_read(c))
        c.close()
    srv.close()
    return seen


def show(seen):
    return ", then ".join(repr(x) if isinstance(x, bytes) else x for x in seen)


ok = True
for name, case in [("the server's port refuses", refused), ("the server sends a chunk and aborts", server_aborts)]:
    seen = case("haproxy-tls")
    print(f"{name}: HAProxy (ssl crt): the client read {show(seen)}")
    ok &= seen[-1] == "close_notify"
    seen = case("nginx-tls")
    print(f"{name}: nginx (listen ... ssl): the client read {show(seen)}")
    if case is refused:
        ok &= seen[-1] == "close_notify"
    if os.path.exists(os.environ.get("CONNSEQ", "target/release/connseq")):
        seen = case("connseq-tls")
        print(f"{name}: connseq --tls-cert (as the model): the client read {show(seen)}")
        ok &= seen[-1] == "FIN without close_notify"
print("departure shown: close_notify for a stream that was cut or never was" if ok else "departure NOT shown")
sys.exit(0 if ok else 1)
