#!/usr/bin/env python3
"""connseq with TLS to the server ends the server's handshake with a FIN when the client aborts.

A TLS client connects to connseq (`--tls-cert`, `--server-tls`), finishes its handshake and
sends a chunk, which connseq reads; connseq connects to the server and sends its TLS hello.
The client then aborts (RST) before the server answers the hello. Without
`--propagate-abort`, the model's proxy keeps what it read from the client: it finishes its
handshake with the server (the server's flight, its own Finished), delivers the chunk and
ends with a FIN, as it does over plain TCP (where connseq agrees). The running connseq sends a
FIN right after its hello: the server's handshake fails on an EOF and the chunk is lost.
Exits 0 when the server's handshake ends so."""

import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

from proxies import free_port, listener, listening, make_cert

binary = os.environ.get("CONNSEQ", "target/release/connseq")
if not os.path.exists(binary):
    print(f"{binary} not found (CONNSEQ=...)")
    sys.exit(2)
directory = tempfile.mkdtemp(prefix="connseq-repro-")
cert, key, _ = make_cert(directory)
srv = listener()
port = free_port()
argv = [binary, "proxy", "--listen", f"127.0.0.1:{port}", "--server", "%s:%d" % srv.getsockname(),
        "--threads", "1", "--retries", "0", "--tls-cert", cert, "--tls-key", key, "--server-tls", "--server-insecure"]
p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
deadline = time.time() + 10
while not listening(port) and time.time() < deadline:
    time.sleep(0.05)

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), suppress_ragged_eofs=False)
c.sendall(b"c\x00-----\n")
time.sleep(0.2)  # connseq reads the chunk, connects and sends its hello
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
time.sleep(0.2)  # connseq reads the client's RST

s, _ = srv.accept()
server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server.load_cert_chain(cert, key)
s.settimeout(2)
try:
    tls = server.wrap_socket(s, server_side=True, suppress_ragged_eofs=False)
    got = tls.recv(100)
    outcome = f"handshake done, then read {got!r}"
    shown = False
except ssl.SSLEOFError as e:
    outcome = f"handshake cut by TCP's end ({e.reason})"
    shown = True
except OSError as e:
    outcome = f"handshake failed: {e}"
    shown = False
p.terminate()
p.wait()
print(f"the server, after the client's abort: {outcome}")
print("departure shown: the server's TLS handshake ends with a FIN, the client's chunk lost" if shown
      else "departure NOT shown")
sys.exit(0 if shown else 1)
