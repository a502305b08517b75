#!/usr/bin/env python3
"""After a refused connect, HAProxy, nginx and socat reset a client that is still sending.

The client connects and sends a chunk; the server's port refuses the proxy's connect; the
client sends a second chunk and shuts its write side, then reads. The model (and connseq)
shut the client's side with a FIN and keep reading (draining) what the client still sends
until its FIN, so the client's second chunk and its shutdown go through and it reads the FIN.
HAProxy 2.6, nginx's stream proxy and socat close the socket outright, so the client's
second chunk is answered with an RST (RFC 9293 3.10.7.1: a segment for a closed
connection): its send, its shutdown or its read fails with the reset. Exits 0 when each of
the three shows the reset and connseq does not."""

import os
import socket
import sys
import time

from proxies import Proxy, refusing_port, read, show


def refused(kind, option=None):
    """What the client saw: a list of events."""
    port = refusing_port()
    seen = []
    with Proxy(kind, port.getsockname(), option) as p:
        c = p.client()
        c.sendall(b"c\x00-----\n")
        time.sleep(0.1)  # the proxy's connect is refused meanwhile
        try:
            c.sendall(b"c\x01-----\n")
            seen.append("second chunk sent")
            time.sleep(0.1)
            c.shutdown(socket.SHUT_WR)
            seen.append("write side shut")
        except OSError as e:
            seen.append(f"RST: {e.strerror}")
        got = read(c)
        seen.append(f"read {show(got)}" if got != "RST" else "RST: read reports ECONNRESET")
        c.close()
    port.close()
    return seen


ok = True
for kind, option, name in [("haproxy", None, "HAProxy"), ("nginx", "on", "nginx half_close on"),
                           ("nginx", "off", "nginx half_close off"), ("socat", ["-t", "30"], "socat -t 30")]:
    seen = refused(kind, option)
    print(f"{name}: {'; '.join(seen)}")
    ok &= any(s.startswith("RST") for s in seen)
if os.path.exists(os.environ.get("CONNSEQ", "target/release/connseq")):
    seen = refused("connseq")
    print(f"connseq (as the model): {'; '.join(seen)}")
    ok &= not any(s.startswith("RST") for s in seen)
print("departure shown: RST instead of FIN after a refused connect" if ok else "departure NOT shown")
sys.exit(0 if ok else 1)
