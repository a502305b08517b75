//! Writes the seed corpus of every fuzz target under `DIR/TARGET/`, from the project's own
//! test vectors: the PROXY spec's vector and headers the builder makes with every TLV, the
//! TOML examples of docs/operations.md, the HAProxy configurations of the import's tests,
//! configurations and event sequences for the core, and real ClientHellos for the handshake
//! pipeline.
//!
//! `cargo run -p connseq-fuzz --bin fuzz_seeds -- DIR` (scripts/fuzz.sh does it).

use connseq_proxy_protocol::{Addresses, SslClientFlags, SslParams, Tlv, Transport, V1Builder, V2Builder};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/fuzz-seeds".into()));
    write_all(&dir.join("proxy_protocol"), &proxy_protocol())?;
    write_all(&dir.join("config_toml"), &config_toml())?;
    write_all(&dir.join("haproxy_cfg"), &haproxy_cfg())?;
    write_all(&dir.join("core_session"), &core_session())?;
    write_all(&dir.join("handshake"), &handshake())?;
    Ok(())
}

fn write_all(dir: &Path, seeds: &[Vec<u8>]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), seed)?;
    }
    println!("{}: {} seeds", dir.display(), seeds.len());
    Ok(())
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a literal address")
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).expect("ASCII"), 16).expect("hex digits"))
        .collect()
}

/// PROXY headers: the spec's test vector, v1 lines of each form, v2 headers with every TLV,
/// each also followed by a payload.
fn proxy_protocol() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        hex("0d0a0d0a000d0a515549540a 21 11 0014 7f000001 7f000001 002a 0539 02 0005 3132333435"),
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n".to_vec(),
        b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n".to_vec(),
        b"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1000 80\r\n".to_vec(),
        b"PROXY UNKNOWN\r\n".to_vec(),
        b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n".to_vec(),
    ];
    let (v4a, v4b) = (addr("10.1.2.3:50000"), addr("10.0.0.1:443"));
    let (v6a, v6b) = (addr("[2001:db8::7]:40000"), addr("[::1]:8443"));
    let mut v1 = Vec::new();
    V1Builder::new(v4a, v4b).append_to(&mut v1);
    seeds.push(v1);
    let extra = [Tlv { kind: 0x04, value: b"\0\0\0" }, Tlv { kind: 0xE0, value: b"custom" }];
    let ssl = SslParams {
        client: SslClientFlags::SSL,
        verify: 0,
        version: Some("TLSv1.3"),
        cn: Some("client.example"),
        cipher: Some("TLS_AES_128_GCM_SHA256"),
        sig_alg: Some("ECDSA-SHA256"),
        key_alg: Some("EC256"),
    };
    let builders = [
        V2Builder::proxy(v4a, v4b),
        V2Builder::proxy(v6a, v6b).crc32c(),
        V2Builder::proxy(v4a, v6b).alpn(b"h2").authority("app.example").unique_id(b"0123-4567"),
        V2Builder::proxy(v4a, v4b).ssl(ssl).netns(b"blue").tlvs(&extra).crc32c(),
        V2Builder::proxy(v4a, v4b).transport(Transport::Dgram),
        V2Builder::local(),
        V2Builder::with_addresses(Addresses::None).alpn(b"http/1.1"),
        V2Builder::with_addresses(Addresses::Unix { src: b"/run/client.sock", dst: b"\0abstract" }),
    ];
    for b in builders {
        let mut out = Vec::new();
        b.append_to(&mut out).expect("the seed headers build");
        seeds.push(out);
    }
    let with_payload: Vec<Vec<u8>> =
        seeds.iter().map(|h| [h.as_slice(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"].concat()).collect();
    seeds.extend(with_payload);
    seeds
}

/// The TOML blocks of docs/operations.md, and a few files of the configuration tests.
fn config_toml() -> Vec<Vec<u8>> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations.md");
    let text = std::fs::read_to_string(&docs).unwrap_or_default();
    let mut seeds = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (&mut block, line.trim_start()) {
            (None, l) if l.starts_with("```toml") || l.starts_with("```text") => block = Some(String::new()),
            (Some(b), "```") => {
                if b.contains('[') && b.contains('=') {
                    seeds.push(b.clone().into_bytes());
                }
                block = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    seeds.push(
        b"[global]\nthreads = 2\nmaxconn = 100\nsplice = \"always\"\npipe-size = \"128k\"\n\n[[listener]]\nname = \"a\"\nlisten = \"127.0.0.1:0\"\nbackend = { servers = [\"127.0.0.1:9000\"], retries = 2, balance = \"leastconn\" }\n"
            .to_vec(),
    );
    seeds.push(b"[[listener]]\nlisten = [\"[::1]:0\"]\nrules = [ { deny = \"::/0\" } ]\nbackend = \"b\"\n\n[backend.b]\nservers = [\"[::1]:1\"]\ntimeout-connect = \"250ms\"\n".to_vec());
    seeds
}

/// The HAProxy configurations of `impl/tests/haproxy_import.rs` (every string literal of it
/// that holds a section), the import's own unit tests' texts (`impl/src/config/haproxy/`), and
/// one file with every directive of the subset.
fn haproxy_cfg() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seeds = Vec::new();
    for file in [
        "impl/tests/haproxy_import.rs",
        "impl/src/config/haproxy/parse.rs",
        "impl/src/config/haproxy/build.rs",
        "impl/src/config/haproxy/words.rs",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
        for literal in string_literals(&text) {
            let sections = ["global", "defaults", "frontend ", "backend ", "listen "];
            if literal.lines().any(|l| sections.iter().any(|s| l.starts_with(s))) {
                seeds.push(literal.into_bytes());
            }
        }
    }
    seeds.push(
        b"global\n  maxconn 500\n  nbthread 3\n  tune.bufsize 32768\n  tune.pipesize 131072\n  \
          stats socket admin.sock level admin mode 600\n  log stdout format raw local0\n  crt-base certs\n  \
          ca-base cas\n\
          defaults\n  mode tcp\n  log global\n  option tcplog\n  option splice-auto\n  timeout connect 2s\n  \
          timeout client 30s\n  timeout server 40s\n  timeout queue 7s\n  timeout client-fin 1s\n  \
          timeout server-fin 1s\n  retries 5\n  option redispatch\n  balance roundrobin\n\
          frontend web\n  bind 127.0.0.1:8443,[::1]:8443 ssl crt site.pem alpn h2,http/1.1 accept-proxy\n  \
          maxconn 200\n  acl office src 192.0.2.0/24 2001:db8::/32\n  tcp-request connection accept if office\n  \
          tcp-request connection reject if { src 10.0.0.0/8 }\n  \
          tcp-request connection reject unless { src 198.51.100.0/24 }\n  monitor-net 203.0.113.0/24\n  \
          use_backend app if !office\n  default_backend app\n\
          backend app\n  balance leastconn\n  no option redispatch\n  \
          default-server maxconn 50 send-proxy-v2 ssl verify required ca-file ca.pem sni str(app.example.com)\n  \
          server a 127.0.0.1:9000 check inter 3s rise 4 fall 6\n  server b 127.0.0.1:9001 maxconn 9 send-proxy\n\
          listen tcp\n  bind :7000\n  server c [::1]:7001 ssl verify none alpn h2\n"
            .to_vec(),
    );
    seeds
}

/// The contents of the ordinary string literals of Rust source `text`, unescaped (`\n`,
/// `\t`, `\\`, `\"`, `{{`/`}}` kept as written, and a backslash at the end of a line
/// joining it to the next without its indentation).
fn string_literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        // A literal opens at a quote not preceded by a quote-making character.
        if c != '"' || prev == '\'' || prev == '\\' || prev.is_alphanumeric() {
            prev = c;
            continue;
        }
        let mut lit = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => lit.push('\n'),
                    Some('t') => lit.push('\t'),
                    Some('\n') => {
                        while chars.peek().is_some_and(|c| c.is_whitespace()) {
                            chars.next();
                        }
                    }
                    Some(other) => lit.push(other),
                    None => break,
                },
                c => lit.push(c),
            }
        }
        out.push(lit);
        prev = '"';
    }
    out
}

/// Configurations of every kind, each with a short burst of successes and a few events.
fn core_session() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for cfg in 0..48u8 {
        let handlers = [0u8, 0x04, 0x08, 0x18, 0x20, 0x40, 0x80, 0xC0, 0x2C, 0x01, 0x02, 0xFF][usize::from(cfg % 12)];
        let mut seed = vec![handlers, cfg.wrapping_mul(37), cfg % 5];
        seed.extend([10, 12, 20, 3, 60, 61, 15, 16]);
        for _ in 0..120 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            seed.push((x & 0xFF) as u8);
        }
        seeds.push(seed);
    }
    seeds
}

/// Handshake inputs (see fuzz_targets/handshake.rs): a configuration byte, then chunks, each a
/// length byte and its bytes. With a real PROXY header and a real ClientHello.
fn handshake() -> Vec<Vec<u8>> {
    let mut header = Vec::new();
    V1Builder::new(addr("192.0.2.7:4000"), addr("10.0.0.1:443")).append_to(&mut header);
    let mut v2 = Vec::new();
    V2Builder::proxy(addr("192.0.2.7:4000"), addr("10.0.0.1:443"))
        .authority("app.example")
        .crc32c()
        .append_to(&mut v2)
        .expect("builds");
    let hello = client_hello();
    let mut seeds = Vec::new();
    for (cfg, parts) in [
        (0b0001u8, vec![header.clone(), b"payload".to_vec()]),
        (0b0001, vec![v2.clone()]),
        (0b0011, vec![header.clone()]),
        (0b0111, vec![v2.clone()]),
        (0b1000, vec![hello.clone()]),
        (0b1001, vec![header.clone(), hello.clone()]),
        (0b1111, vec![v2.clone(), hello.clone()]),
    ] {
        let whole: Vec<u8> = parts.concat();
        for cut in [whole.len(), 1, 7, 16, 100] {
            let mut seed = vec![cfg];
            for chunk in whole.chunks(cut.clamp(1, 255)) {
                seed.push(u8::try_from(chunk.len()).expect("a chunk of at most 255 bytes"));
                seed.extend_from_slice(chunk);
            }
            seeds.push(seed);
        }
    }
    seeds
}

/// The first flight of a rustls client: a TLS 1.3 ClientHello with SNI and ALPN.
fn client_hello() -> Vec<u8> {
    use connseq_tls::rustls;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("app.example").expect("a DNS name");
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).expect("a client connection");
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).expect("writes into a Vec");
    }
    out
}

/// The seed only needs the client's first flight: no certificate is ever checked.
#[derive(Debug)]
struct NoVerify;

impl connseq_tls::rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &connseq_tls::rustls::pki_types::CertificateDer<'_>,
        _: &[connseq_tls::rustls::pki_types::CertificateDer<'_>],
        _: &connseq_tls::rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: connseq_tls::rustls::pki_types::UnixTime,
    ) -> Result<connseq_tls::rustls::client::danger::ServerCertVerified, connseq_tls::rustls::Error> {
        Ok(connseq_tls::rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &connseq_tls::rustls::pki_types::CertificateDer<'_>,
        _: &connseq_tls::rustls::DigitallySignedStruct,
    ) -> Result<connseq_tls::rustls::client::danger::HandshakeSignatureValid, connseq_tls::rustls::Error> {
        Ok(connseq_tls::rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &connseq_tls::rustls::pki_types::CertificateDer<'_>,
        _: &connseq_tls::rustls::DigitallySignedStruct,
    ) -> Result<connseq_tls::rustls::client::danger::HandshakeSignatureValid, connseq_tls::rustls::Error> {
        Ok(connseq_tls::rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<connseq_tls::rustls::SignatureScheme> {
        connseq_tls::rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}
