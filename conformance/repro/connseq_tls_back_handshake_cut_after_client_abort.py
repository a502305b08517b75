#!/usr/bin/env python3
"""connseq with TLS to the server abandons its server handshake when the client aborts.

A TLS client connects to connseq (`--tls-cert`, `--server-tls`), finishes its handshake and
sends a chunk, which connseq reads; connseq connects to the server and sends its TLS hello.
The client then aborts (RST) before the server answers the hello. connseq's buffer has room,
so it reads the RST at once, and its core answers a client abort while the server connection
does not carry data yet by abandoning the attempt (the note's `CON -> DIS`, as HAProxy does):
the server's handshake ends with connseq's FIN right after the hello, and the chunk is not
delivered. The model's proxy, whose request buffer holds one chunk, cannot read that RST
before it has forwarded the chunk, so in the small world it finishes the handshake and
delivers the chunk; with a buffer of two it reads the RST and abandons too. The conformance
report counts this as explained ("client abort read early (model's one-chunk buffer)").
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
print("shown: the server's TLS handshake ends with connseq's FIN (the client's abort read early)" if shown
      else "departure NOT shown")
sys.exit(0 if shown else 1)
