#!/usr/bin/env python3
"""socat (default `-t 0.5`) loses a response sent one second after the client's FIN.

The client sends a request and shuts its write side; the server reads the request and the
FIN, takes one second (well inside any timeout a user would configure), and answers. socat
closes both connections 0.5 s after the first FIN, so the client reads a FIN where the
response should be. With `socat -t 30` the same exchange delivers the response. Exits 0
when socat default loses the response and socat -t 30 delivers it."""

import sys
import time

from proxies import Proxy, listener, read, show


def exchange(option):
    srv = listener()
    with Proxy("socat", srv.getsockname(), option) as p:
        c = p.client()
        c.sendall(b"request\n")
        c.shutdown(1)  # SHUT_WR: the request is complete
        s, _ = srv.accept()
        got = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
        time.sleep(1.0)  # the server takes its time
        try:
            s.sendall(b"response\n")
        except OSError as e:
            print(f"  server: sending the response failed: {e}")
        answer = read(c)
        c.close()
        s.close()
    srv.close()
    return got, answer


ok = True
for name, option in [("socat (default -t 0.5)", []), ("socat -t 30", ["-t", "30"])]:
    got, answer = exchange(option)
    print(f"{name}: the server got {got!r} then FIN; 1 s later it answers; the client reads {show(answer)}")
    if option == []:
        ok &= answer == b""
    else:
        ok &= answer == b"response\n"
print("departure shown: socat default drops the late response" if ok else "departure NOT shown")
sys.exit(0 if ok else 1)
