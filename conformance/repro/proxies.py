"""Start the proxies of conformance/targets/debian.toml by hand, for the standalone
reproductions: plain sockets, no model. Each proxy listens on a free loopback port and
forwards to the given server address, configured as in the targets file."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def listener():
    """A listening server socket on a free port."""
    s = socket.socket()
    s.bind((HOST, 0))
    s.listen(8)
    return s


def refusing_port():
    """A port bound without listening: the kernel refuses connects to it at once."""
    s = socket.socket()
    s.bind((HOST, 0))
    return s


HAPROXY_CFG = """global
    nbthread 1
defaults
    mode tcp
    retries 0
    timeout connect 5s
    timeout client 2s
    timeout server 3s
    timeout client-fin 1s
    timeout server-fin 1500ms
frontend fe
    bind {listen}
    default_backend be
backend be
    server s1 {server}
"""

NGINX_CONF = """load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
worker_processes 1;
error_log stderr warn;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
stream {{
    server {{
        listen {listen};{tls}
        proxy_pass {server};
        proxy_half_close {half_close};
        proxy_connect_timeout 5s;
        proxy_timeout 3s;
    }}
}}
"""


class Proxy:
    """A proxy process listening on `self.listen` (host, port), forwarding to `server`."""

    def __init__(self, kind, server, option=None):
        self.dir = tempfile.mkdtemp(prefix="connseq-repro-")
        port = free_port()
        self.listen = (HOST, port)
        listen = f"{HOST}:{port}"
        server = f"{server[0]}:{server[1]}"
        if kind in ("haproxy-tls", "connseq-tls", "nginx-tls") or kind.endswith("-tls-back"):
            cert, key, bundle = make_cert(self.dir)
            # The TLS server of a `-tls-back` kind serves this certificate (`server_tls`).
            self.cert, self.key = cert, key
        if kind == "haproxy":
            cfg = os.path.join(self.dir, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write(HAPROXY_CFG.format(listen=listen, server=server))
            argv = ["haproxy", "-db", "-f", cfg]
        elif kind == "haproxy-tls":
            cfg = os.path.join(self.dir, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write(HAPROXY_CFG.format(listen=f"{listen} ssl crt {bundle}", server=server))
            argv = ["haproxy", "-db", "-f", cfg]
        elif kind == "haproxy-tls-back":
            # As the haproxy-tls-back target, but the server's certificate is not checked.
            cfg = os.path.join(self.dir, "haproxy.cfg")
            with open(cfg, "w") as f:
                f.write(HAPROXY_CFG.format(listen=listen, server=f"{server} ssl verify none ssl-min-ver TLSv1.3"))
            argv = ["haproxy", "-db", "-f", cfg]
        elif kind == "nginx-tls-back":
            # As the nginx-tls-back target (half-close on), the certificate not checked.
            conf = os.path.join(self.dir, "nginx.conf")
            tls = "\n        proxy_ssl on;\n        proxy_ssl_protocols TLSv1.3;"
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(listen=listen, server=server, dir=self.dir, half_close=option or "on",
                                          tls="").replace(f"proxy_pass {server};", f"proxy_pass {server};{tls}"))
            argv = ["nginx", "-p", self.dir, "-c", conf]
        elif kind in ("nginx", "nginx-tls"):
            conf = os.path.join(self.dir, "nginx.conf")
            tls = ""
            if kind == "nginx-tls":
                # As the nginx-tls target: TLS 1.3 offered, half-close on.
                listen = f"{listen} ssl"
                tls = (f"\n        ssl_certificate {cert};\n        ssl_certificate_key {key};"
                       "\n        ssl_protocols TLSv1.2 TLSv1.3;")
                option = option or "on"
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(listen=listen, server=server, dir=self.dir, half_close=option, tls=tls))
            argv = ["nginx", "-p", self.dir, "-c", conf]
        elif kind == "socat":
            argv = ["socat"] + (option or []) + [f"TCP-LISTEN:{port},bind={HOST},reuseaddr,fork", f"TCP:{server}"]
        elif kind in ("connseq", "connseq-tls", "connseq-tls-back"):
            binary = os.environ.get("CONNSEQ", "target/release/connseq")
            argv = [binary, "proxy", "--listen", listen, "--server", server, "--threads", "1", "--retries", "0",
                    "--timeout-client", "2s", "--timeout-server", "3s", "--timeout-fin", "1s"]
            if kind == "connseq-tls":
                argv += ["--tls-cert", cert, "--tls-key", key]
            if kind == "connseq-tls-back":
                argv += ["--server-tls", "--server-insecure"]
        else:
            raise ValueError(kind)
        self.argv = argv
        # REPRO_LOG=1 lets the proxy's own log through to stderr.
        log = None if os.environ.get("REPRO_LOG") else subprocess.DEVNULL
        self.p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"{' '.join(argv)} exited ({self.p.returncode})")
            if listening(port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{' '.join(argv)}: nothing listens on {listen}")

    def tls_client(self):
        """A TLS client (the certificate is not checked: the proxy's is a throwaway)."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        # A TCP end without close_notify raises SSLEOFError instead of reading as b"".
        return ctx.wrap_socket(self.client(), suppress_ragged_eofs=False)

    def client(self):
        c = socket.create_connection(self.listen)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return c

    def stop(self):
        try:
            os.killpg(self.p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def make_cert(directory):
    """A self-signed certificate for localhost: (cert, key, cert and key in one file)."""
    cert, key, bundle = (os.path.join(directory, n) for n in ("cert.pem", "key.pem", "bundle.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(bundle, "w") as out:
        for part in (cert, key):
            with open(part) as f:
                out.write(f.read())
    return cert, key, bundle


def server_tls(proxy, sock, timeout=2.0):
    """`sock` (accepted from the proxy) as the TLS server of a `-tls-back` proxy, TLS 1.3, its
    handshake not yet made (`do_handshake`); a TCP end without close_notify raises SSLEOFError."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(proxy.cert, proxy.key)
    sock.settimeout(timeout)
    return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False, suppress_ragged_eofs=False)


def tls_read(sock, timeout=2.0):
    """What one TLS read gives: bytes, 'close_notify', 'FIN without close_notify', 'RST', or 'nothing'."""
    sock.settimeout(timeout)
    try:
        got = sock.recv(4096)
        return got if got else "close_notify"
    except ssl.SSLEOFError:
        return "FIN without close_notify"
    except ConnectionResetError:
        return "RST"
    except socket.timeout:
        return "nothing"


def listening(port):
    """Whether something listens on the loopback port (from /proc/net/tcp, opening no session)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                return True
    return False


def read(sock, timeout=2.0):
    """What one read gives: bytes, b'' for a FIN, 'RST', or 'nothing' within `timeout`."""
    sock.settimeout(timeout)
    try:
        return sock.recv(4096)
    except ConnectionResetError:
        return "RST"
    except socket.timeout:
        return "nothing"


def show(x):
    if x == b"":
        return "FIN (recv returned 0)"
    return repr(x)
