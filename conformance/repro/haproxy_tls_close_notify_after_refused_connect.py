#!/usr/bin/env python3
"""After a refused connect, HAProxy's TLS listener ends the client's stream with a close_notify.

A TLS client connects to HAProxy 2.6 (`bind ... ssl crt`), finishes its handshake and sends a
chunk; the server's port refuses HAProxy's connect. The server never existed, so no stream
ended cleanly: the model (and connseq) close the client's connection without a close_notify,
and the client reads TCP's end alone, which TLS tells apart as a truncation (RFC 8446 6.1).
HAProxy sends a close_notify first, so the client reads a clean end of a response that never
was, as it would read a server's empty answer. Exits 0 when HAProxy shows the close_notify
and connseq does not."""

import os
import sys
import time

from proxies import Proxy, refusing_port, tls_read


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
    return got


ok = True
got = refused("haproxy-tls")
print(f"HAProxy (ssl crt): the client read {got}")
ok &= got == "close_notify"
if os.path.exists(os.environ.get("CONNSEQ", "target/release/connseq")):
    got = refused("connseq-tls")
    print(f"connseq --tls-cert (as the model): the client read {got}")
    ok &= got == "FIN without close_notify"
print("departure shown: close_notify for a stream that never was" if ok else "departure NOT shown")
sys.exit(0 if ok else 1)
