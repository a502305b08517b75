#!/usr/bin/env python3
"""nginx stream with `proxy_half_close off` ends the session at the client's FIN.

The client sends a request and shuts its write side (a half-close: it still reads). nginx
with `proxy_half_close off` closes both connections at once: the client reads a FIN right
away (the model keeps its side open: "closed early") and the server's answer, sent just
after, never reaches it ("data lost"). The same holds the other way: a server that shuts
its write side gets a FIN at once. With `proxy_half_close on` the answer arrives and the
half-closed side stays open. Exits 0 when half_close off shows these effects and
half_close on does not."""

import sys
import time

from proxies import Proxy, listener, read, show


def exchange(half_close):
    srv = listener()
    with Proxy("nginx", srv.getsockname(), half_close) as p:
        c = p.client()
        c.sendall(b"request\n")
        c.shutdown(1)
        s, _ = srv.accept()
        time.sleep(0.2)
        early = read(c, timeout=0.3)  # before the server answered
        try:
            s.sendall(b"response\n")
        except OSError as e:
            print(f"  server: sending the answer failed: {e}")
        answer = read(c) if early == "nothing" else early
        c.close()
        s.close()
    srv.close()
    return early, answer


def server_half_close(half_close):
    srv = listener()
    with Proxy("nginx", srv.getsockname(), half_close) as p:
        c = p.client()
        c.sendall(b"request\n")
        s, _ = srv.accept()
        s.recv(100)
        s.shutdown(1)  # the server is done sending, still reads
        time.sleep(0.2)
        early = read(s, timeout=0.3)
        c.close()
        s.close()
    srv.close()
    return early


ok = True
for half_close in ["off", "on"]:
    early = server_half_close(half_close)
    print(f"proxy_half_close {half_close}: the server shuts its write side; it then reads {show(early)}")
    ok &= early == (b"" if half_close == "off" else "nothing")
for half_close in ["off", "on"]:
    early, answer = exchange(half_close)
    print(f"proxy_half_close {half_close}: after its FIN, before the server answers, the client reads "
          f"{show(early)}; then {show(answer)}")
    if half_close == "off":
        ok &= early == b""
    else:
        ok &= early == "nothing" and answer == b"response\n"
print("departure shown: half_close off closes at the client's FIN and loses the answer" if ok
      else "departure NOT shown")
sys.exit(0 if ok else 1)
