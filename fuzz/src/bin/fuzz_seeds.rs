//! Writes the seed corpus of every fuzz target under `DIR/TARGET/`, from the project's own
//! test vectors: the PROXY spec's vector and headers the builder makes with every TLV, the
//! TOML examples of docs/operations.md, configurations and event sequences for the core, and
//! real ClientHellos for the handshake pipeline.
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
