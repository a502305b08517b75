#!/usr/bin/env python3
"""System calls per short connection, connseq beside HAProxy, counted by strace.

Each proxy (one thread) forwards to an echo server of this script; a client makes N short
connections one after the other (connect, 64 B request, 64 B reply, close), with strace
attached to the proxy after it started, so only the connections' calls are counted. One
connection at a time makes the count exact: there is no batching to blur it.

    scripts/syscalls.py [N]        # default 500; needs strace and haproxy
    CONNSEQ=path/to/connseq scripts/syscalls.py

docs/performance.md ("System calls") records what it printed.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"
N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
CONNSEQ = os.environ.get("CONNSEQ", "target/release/connseq")


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def read_up_to(sock, n):
    """Reads until `n` bytes came or the peer ended its stream."""
    got = b""
    while len(got) < n:
        part = sock.recv(n - len(got))
        if not part:
            break
        got += part
    return got


def echo_server():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((HOST, 0))
    srv.listen(128)

    def serve():
        while True:
            c, _ = srv.accept()
            with c:
                c.sendall(read_up_to(c, 64))
                # The client closes first (as the bench's clients do); then this end.
                c.recv(1)

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()


def start(kind, listen, server, work):
    if kind == "connseq":
        argv = [CONNSEQ, "proxy", "--listen", f"{HOST}:{listen}", "--server", f"{server[0]}:{server[1]}",
                "--threads", "1", "--splice", "never"]
        env = dict(os.environ, CONNSEQ_LOG="warn")
    else:
        cfg = os.path.join(work, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(f"""global
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind {HOST}:{listen}
    default_backend be
backend be
    server s1 {server[0]}:{server[1]}
""")
        argv = ["haproxy", "-db", "-f", cfg]
        env = None
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                         start_new_session=True)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection((HOST, listen), timeout=0.2).close()
            time.sleep(0.2)
            return p
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{' '.join(argv)} did not listen")


def count(kind, server):
    work = tempfile.mkdtemp(prefix="connseq-syscalls-")
    listen = free_port()
    p = start(kind, listen, server, work)
    out = os.path.join(work, "strace.txt")
    st = subprocess.Popen(["strace", "-f", "-c", "-o", out, "-p", str(p.pid)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    msg = b"m" * 64
    for _ in range(N):
        c = socket.create_connection((HOST, listen))
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(msg)
        read_up_to(c, 64)
        c.close()
    time.sleep(0.5)
    st.send_signal(signal.SIGINT)
    st.wait()
    os.killpg(p.pid, signal.SIGTERM)
    p.wait()
    calls = {}
    with open(out) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
                calls[fields[-1]] = int(fields[3])
    return calls


def main():
    server = echo_server()
    seen = {kind: count(kind, server) for kind in ("connseq", "haproxy")}
    names = sorted(set(seen["connseq"]) | set(seen["haproxy"]), key=lambda n: -seen["connseq"].get(n, 0))
    print(f"system calls per connection, {N} short connections one at a time")
    print(f"| call | connseq | HAProxy |\n|---|---:|---:|")
    for n in names:
        print(f"| `{n}` | {seen['connseq'].get(n, 0) / N:.2f} | {seen['haproxy'].get(n, 0) / N:.2f} |")
    total = {k: sum(v.values()) / N for k, v in seen.items()}
    print(f"| **all** | **{total['connseq']:.2f}** | **{total['haproxy']:.2f}** |")


if __name__ == "__main__":
    main()
