#!/usr/bin/env python3
"""The proxy as an attacker meets it: slowloris, garbage, and running out of descriptors.

    scripts/attacks.py [--proxy target/release/connseq] [slowloris] [garbage] [fd-exhaustion]

Each attack starts the release binary on loopback with an echo server behind it, runs, reads
the proxy's session log lines and its /proc entries, prints its figures and exits non-zero if
a check fails. Loopback only; every loop is bounded in count and time.

- slowloris: 500 connections send a PROXY header one byte every 0.5 s (for 4 s) while 100 ordinary
  requests go through. Every ordinary request is served; every slow connection is closed at
  the handshake timeout (2 s here) with `cR`; the descriptors come back to where they were.
- garbage: 300 connections send random bytes to a listener that expects a PROXY header, and
  300 to one that terminates TLS. Each is closed with `CR` and a reason, none reaches the
  server, and the descriptors come back (a random input that happens to be a valid prefix
  waits for the 5 s handshake timeout and ends with `cR`).
- fd-exhaustion: the proxy runs with `ulimit -n 64` while 200 clients connect at once. It logs
  the pause, stays off the CPU while paused (no busy loop), and every client ends in order:
  served (`--`), or, accepted when no descriptor was left for its server socket, a clean EOF
  with `RC`; the descriptors come back.
"""

import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def echo_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1024)
    accepted = [0]

    def serve(c):
        with c:
            c.settimeout(30)
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        c.shutdown(socket.SHUT_WR)
                        return
                    c.sendall(d)
            except OSError:
                return

    def loop():
        while True:
            c, _ = srv.accept()
            accepted[0] += 1
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname(), accepted


class Proxy:
    """The release binary on a configuration file, with its stderr collected."""

    running = []

    @classmethod
    def stop_all(cls):
        """Ends every proxy this script started, whatever happened (no process is left)."""
        for p in cls.running:
            if p.poll() is None:
                p.kill()
                p.wait(30)
        cls.running.clear()

    def __init__(self, binary, config, nofile=None):
        self.dir = tempfile.mkdtemp(prefix="connseq-attack-")
        path = os.path.join(self.dir, "proxy.toml")
        with open(path, "w") as f:
            f.write(config)
        pre = (lambda: __import__("resource").setrlimit(__import__("resource").RLIMIT_NOFILE, (nofile, nofile))) if nofile else None
        env = dict(os.environ, CONNSEQ_LOG="debug,mio=off")
        self.p = subprocess.Popen([binary, "proxy", "--config", path], stderr=subprocess.PIPE, text=True,
                                  env=env, preexec_fn=pre)
        Proxy.running.append(self.p)
        self.lines = []
        self.addrs = []
        ready = threading.Event()

        def read():
            for line in self.p.stderr:
                if line.startswith("connseq: listening on "):
                    host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
                    self.addrs.append((host, int(port)))
                    if len(self.addrs) == config.count("[[listener]]"):
                        ready.set()
                self.lines.append(line)

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(30):
            raise SystemExit("the proxy did not start: " + "".join(self.lines))

    def fds(self):
        return len(os.listdir(f"/proc/{self.p.pid}/fd"))

    def cpu(self):
        f = open(f"/proc/{self.p.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / 100.0

    def codes(self):
        out = []
        for l in self.lines:
            m = re.search(r"connseq::session: (\S+) \[(\S+)\] \S+ \S+ \S+ (\S\S)( \S+)?$", l.strip())
            if m:
                out.append((m.group(2), m.group(3), (m.group(4) or "").strip()))
        return out

    def stop(self):
        self.p.terminate()
        self.p.wait(30)


def wait_for(what, cond, limit=60):
    end = time.time() + limit
    while not cond():
        if time.time() > end:
            raise AssertionError("still not the case after %d s: %s" % (limit, what))
        time.sleep(0.05)


def request(addr, payload, timeout=30):
    s = socket.create_connection(addr, timeout=timeout)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    return got


def config(server, listeners, extra_global=""):
    out = "[global]\nthreads = 2\n" + extra_global + "\n"
    for name, keys in listeners:
        out += f'[[listener]]\nname = "{name}"\nlisten = "127.0.0.1:0"\n{keys}\nbackend = {{ servers = ["{server[0]}:{server[1]}"] }}\n\n'
    return out


def slowloris(binary):
    server, accepted = echo_server()
    p = Proxy(binary, config(server, [("slow", 'accept-proxy = true\ntimeout-handshake = "2s"')]))
    addr = p.addrs[0]
    base = p.fds()
    header = b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 80\r\n"
    slow = []
    for _ in range(500):
        s = socket.create_connection(addr)
        slow.append(s)
    served = [0]

    def ordinary():
        for i in range(100):
            msg = b"hello %d" % i
            if request(addr, header + msg) == msg:
                served[0] += 1

    t = threading.Thread(target=ordinary)
    t.start()
    closed = 0
    for i in range(8):  # 4 s: twice the handshake timeout
        for s in slow:
            try:
                s.send(header[i:i + 1])
            except OSError:
                pass
        time.sleep(0.5)
    t.join()
    for s in slow:
        s.settimeout(5)
        try:
            if s.recv(1) == b"":
                closed += 1
        except OSError:
            closed += 1
        s.close()
    wait_for("descriptors back", lambda: p.fds() <= base)
    codes = p.codes()
    timeouts = sum(1 for _, c, _ in codes if c == "cR")
    p.stop()
    print(f"slowloris: {served[0]}/100 ordinary requests served, {closed}/500 slow connections closed by the "
          f"proxy, {timeouts} logged cR, descriptors {base} before and after")
    assert served[0] == 100 and closed == 500 and timeouts == 500, "slowloris"


def garbage(binary):
    server, accepted = echo_server()
    cert_dir = tempfile.mkdtemp(prefix="connseq-attack-cert-")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", f"{cert_dir}/k.pem", "-out", f"{cert_dir}/c.pem", "-days", "2",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    tls = f'tls = {{ certs = [ {{ cert = "{cert_dir}/c.pem", key = "{cert_dir}/k.pem" }} ] }}'
    p = Proxy(binary, config(server, [("pp", "accept-proxy = true"), ("tls", tls)]))
    base = p.fds()
    rnd = random.Random(16)
    results = []

    def attack(addr):
        for _ in range(300):
            junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 2048)))
            try:
                s = socket.create_connection(addr, timeout=30)
                s.sendall(junk)
                d = s.recv(65536)
                while d:
                    d = s.recv(65536)
                results.append("closed")
            except OSError:
                results.append("reset")
            finally:
                s.close()

    for addr in p.addrs:
        attack(addr)
    wait_for("descriptors back", lambda: p.fds() <= base)
    wait_for("every line logged", lambda: len(p.codes()) >= 600)
    codes = p.codes()
    by = {}
    for lst, c, reason in codes:
        by.setdefault((lst, c), 0)
        by[(lst, c)] += 1
    reasons = sorted({r for _, _, r in codes})
    p.stop()
    print(f"garbage: 600 connections, codes {by}, reasons {reasons[:8]}{'...' if len(reasons) > 8 else ''}, "
          f"server connections {accepted[0]}, descriptors {base} before and after")
    assert accepted[0] == 0, "garbage reached the server"
    # A few random inputs are valid prefixes (a TLS record header, a lone "P") and wait for
    # more: the handshake timeout ends those, with `cR`.
    assert all(c in ("CR", "cR") for _, c, _ in codes) and len(codes) == 600, "garbage codes"


def fd_exhaustion(binary):
    server, accepted = echo_server()
    p = Proxy(binary, config(server, [("fd", "")], "maxconn = 0\n"), nofile=64)
    addr = p.addrs[0]
    base = p.fds()
    served = []
    cpu0 = p.cpu()
    clients = []
    for i in range(200):
        s = socket.create_connection(addr, timeout=60)
        s.sendall(b"x%d" % i)
        clients.append(s)
    wait_for("the pause", lambda: any("pausing the listeners" in l for l in p.lines))
    time.sleep(1.0)  # an observation window: a busy loop would burn a CPU second here
    cpu_paused = p.cpu() - cpu0
    for i, s in enumerate(clients):
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
        served.append(got == b"x%d" % i)
        assert got in (b"", b"x%d" % i), "a client got something else than its echo or nothing"
        s.close()
    wait_for("descriptors back", lambda: p.fds() <= base)
    wait_for("every line logged", lambda: len(p.codes()) >= 200)
    pauses = sum(1 for l in p.lines if "pausing the listeners" in l)
    codes = {}
    for _, c, _ in p.codes():
        codes[c] = codes.get(c, 0) + 1
    p.stop()
    print(f"fd-exhaustion: ulimit -n 64, 200 clients at once: {sum(served)}/200 served, codes {codes}, "
          f"{pauses} pauses logged, {cpu_paused:.2f} s of CPU over the paused second and the accepts, "
          f"descriptors {base} before and after")
    # A session accepted while descriptors are short may find none for its server socket:
    # it ends with `RC` and its client gets a clean EOF (docs/operations.md, "File descriptors").
    assert codes.get("--", 0) == sum(served) and codes.get("RC", 0) == 200 - sum(served), "fd-exhaustion codes"
    assert pauses > 0 and cpu_paused < 0.9, "fd-exhaustion"


def main():
    args = sys.argv[1:]
    binary = os.path.join(ROOT, "target/release/connseq")
    if "--proxy" in args:
        i = args.index("--proxy")
        binary = args[i + 1]
        del args[i:i + 2]
    attacks = {"slowloris": slowloris, "garbage": garbage, "fd-exhaustion": fd_exhaustion}
    for name in args or list(attacks):
        try:
            attacks[name](binary)
        finally:
            Proxy.stop_all()
    print("attacks: every check passed")


if __name__ == "__main__":
    main()
