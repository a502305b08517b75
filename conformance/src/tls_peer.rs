//! The replay's TLS peers: a rustls client (the model's client, when the
//! listener terminates TLS) and a rustls server (the model's server, when
//! the proxy speaks TLS to it), driven one TLS record at a time so that one
//! model step is one TLS message.
//!
//! The model's TLS is three messages (`model/src/check/system.rs`,
//! `tls_handshake`): the client's `HELLO`, the server's flight `FINISHED`
//! (TLS 1.3: ServerHello to the server's Finished, RFC 8446 2), and the
//! client's `CLIENT_FINISHED`; then data chunks, each one record, and a
//! `CLOSE_NOTIFY`. A peer read of the model takes one of them; here it reads
//! records off the socket until one has a visible effect ([`Unit`]): the
//! server has read the hello (and queued its flight), the client has read
//! the flight (and queued its Finished), the server has read the Finished, a
//! chunk of plaintext, the close_notify; or the socket says EOF, reset, or
//! nothing. Records with no visible effect (a ChangeCipherSpec kept for
//! middleboxes, the session tickets the proxy sends after its handshake)
//! are read through.
//!
//! The server peer sends no session tickets and may send data right after
//! its flight (rustls's `send_half_rtt_data`), as the model's server may.

use connseq_tls::rustls;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How long a record that started to arrive may take to arrive whole, and a
/// flush to find room: loopback takes microseconds; past this, the harness
/// reports an I/O error rather than hang.
const GUARD: Duration = Duration::from_secs(30);

/// TLS record header: type, version, length (RFC 8446 5.1).
const HEADER: usize = 5;

/// The harness's PKI: a CA, and a leaf it signed for `localhost` and
/// 127.0.0.1, as PEM files for the proxy's configuration and as rustls
/// configurations for the peers. Made once per process.
#[derive(Debug)]
pub struct Pki {
    /// The leaf certificate (PEM), for the proxy's listener.
    pub cert_file: PathBuf,
    /// The leaf's key (PKCS#8 PEM).
    pub key_file: PathBuf,
    /// The CA's certificate (PEM), for a proxy that verifies the server.
    pub ca_file: PathBuf,
    /// The leaf certificate and its key in one PEM file (HAProxy's `crt`).
    pub bundle_file: PathBuf,
    client: Arc<rustls::ClientConfig>,
    server: Arc<rustls::ServerConfig>,
}

impl Pki {
    /// The process's PKI, made at the first call.
    pub fn get() -> io::Result<&'static Pki> {
        static PKI: OnceLock<Result<Pki, String>> = OnceLock::new();
        PKI.get_or_init(|| Pki::make().map_err(|e| e.to_string())).as_ref().map_err(|e| io::Error::other(e.clone()))
    }

    fn make() -> Result<Pki, Box<dyn std::error::Error>> {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        ca.distinguished_name.push(DnType::CommonName, "connseq conformance CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
        let mut leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        leaf.distinguished_name.push(DnType::CommonName, "localhost");
        let key = KeyPair::generate()?;
        let cert = leaf.signed_by(&key, &ca)?;

        let dir = std::env::temp_dir().join(format!("connseq-conformance-pki-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let cert_file = dir.join(PkiFiles::CERT);
        let key_file = dir.join(PkiFiles::KEY);
        let ca_file = dir.join(PkiFiles::CA);
        let bundle_file = dir.join(PkiFiles::BUNDLE);
        std::fs::write(&cert_file, cert.pem())?;
        std::fs::write(&key_file, key.serialize_pem())?;
        std::fs::write(&ca_file, ca.pem())?;
        std::fs::write(&bundle_file, cert.pem() + &key.serialize_pem())?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca.der().to_vec()))?;
        // TLS 1.3 only: the model's handshake is its one round trip (the
        // client's hello, the server's flight, the client's Finished);
        // TLS 1.2's two would read as a flight that never comes.
        let client = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        // The model's server sends no tickets (they are no model message)
        // and may speak right after its flight.
        server.send_tls13_tickets = 0;
        server.send_half_rtt_data = true;
        Ok(Pki { cert_file, key_file, ca_file, bundle_file, client: Arc::new(client), server: Arc::new(server) })
    }

    /// The PKI's files, where they were made.
    pub fn files(&self) -> PkiFiles {
        PkiFiles {
            cert: self.cert_file.clone(),
            key: self.key_file.clone(),
            ca: self.ca_file.clone(),
            bundle: self.bundle_file.clone(),
        }
    }

    /// Copies the PKI's files into `dir` (a target's own directory), and
    /// says where they are.
    pub fn write_into(&self, dir: &Path) -> io::Result<PkiFiles> {
        std::fs::create_dir_all(dir)?;
        let to = PkiFiles {
            cert: dir.join(PkiFiles::CERT),
            key: dir.join(PkiFiles::KEY),
            ca: dir.join(PkiFiles::CA),
            bundle: dir.join(PkiFiles::BUNDLE),
        };
        for (from, to) in [
            (&self.cert_file, &to.cert),
            (&self.key_file, &to.key),
            (&self.ca_file, &to.ca),
            (&self.bundle_file, &to.bundle),
        ] {
            std::fs::copy(from, to)?;
        }
        Ok(to)
    }
}

/// Where the PKI's PEM files are, for a proxy's command line
/// (`{cert}`, `{key}`, `{ca}`, `{cert_pem_bundle}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiFiles {
    /// The leaf certificate, for `localhost` and 127.0.0.1.
    pub cert: PathBuf,
    /// The leaf's key (PKCS#8).
    pub key: PathBuf,
    /// The CA that signed the leaf.
    pub ca: PathBuf,
    /// The leaf certificate followed by its key.
    pub bundle: PathBuf,
}

impl PkiFiles {
    const CERT: &'static str = "localhost.crt";
    const KEY: &'static str = "localhost.key";
    const CA: &'static str = "ca.crt";
    const BUNDLE: &'static str = "localhost.pem";

    /// `template` with the placeholders replaced by the files' paths.
    pub fn substitute(&self, template: &str) -> String {
        template
            .replace("{cert_pem_bundle}", &self.bundle.display().to_string())
            .replace("{cert}", &self.cert.display().to_string())
            .replace("{key}", &self.key.display().to_string())
            .replace("{ca}", &self.ca.display().to_string())
    }
}

/// What one read of a TLS peer found: the model's peer read of one TLS
/// message, a chunk, the FIN, the RST, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Nothing has arrived.
    Nothing,
    /// The server read the client's hello (and queued its flight).
    Hello,
    /// The client read the server's flight (and queued its Finished).
    Flight,
    /// The server read the client's Finished.
    Finished,
    /// A chunk of plaintext.
    Data,
    /// A close_notify.
    CloseNotify,
    /// TCP's end.
    Fin,
    /// A reset.
    Rst,
    /// A TLS alert, a record the peer's TLS refused, or bytes that are no
    /// TLS record.
    Alert,
}

/// One peer's TLS layer over its loopback socket.
#[derive(Debug)]
pub struct TlsPeer {
    conn: rustls::Connection,
    /// Server: the hello was read.
    hello_read: bool,
    /// A close_notify was read: what follows is TCP only.
    cn_read: bool,
    /// The peer's TLS failed (an alert): what follows is TCP only.
    failed: bool,
    /// The answer a read sent (the server's flight, the client's Finished)
    /// met a reset: the kernel reported the RST to that write, so the next
    /// read sees only TCP's end ([`TlsPeer::answer_met_reset`]).
    answer_reset: bool,
}

impl TlsPeer {
    /// A client whose hello is queued; [`TlsPeer::flush`] sends it.
    pub fn client(pki: &Pki) -> io::Result<TlsPeer> {
        let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
        let conn = rustls::ClientConnection::new(Arc::clone(&pki.client), name).map_err(io::Error::other)?;
        Ok(TlsPeer { conn: conn.into(), hello_read: false, cn_read: false, failed: false, answer_reset: false })
    }

    /// A server waiting for a hello.
    pub fn server(pki: &Pki) -> io::Result<TlsPeer> {
        let conn = rustls::ServerConnection::new(Arc::clone(&pki.server)).map_err(io::Error::other)?;
        Ok(TlsPeer { conn: conn.into(), hello_read: false, cn_read: false, failed: false, answer_reset: false })
    }

    /// Sends the answer a read called for; a reset it meets is kept.
    fn answer(&mut self, sock: &mut TcpStream) {
        if let Err(e) = self.flush(sock) {
            if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe) {
                self.answer_reset = true;
            }
        }
    }

    /// Whether an answer sent by a read met a reset (once: the flag is
    /// cleared). Linux reports an RST to the first call that meets it, a
    /// write as well as a read; a later read sees TCP's end.
    pub fn answer_met_reset(&mut self) -> bool {
        std::mem::take(&mut self.answer_reset)
    }

    /// Writes every record rustls holds to `sock`. An error (the socket was
    /// reset, or shut for writing) is returned: as in the model, a peer
    /// whose connection is gone may fail to send.
    pub fn flush(&mut self, sock: &mut TcpStream) -> io::Result<()> {
        let deadline = Instant::now() + GUARD;
        while self.conn.wants_write() {
            match self.conn.write_tls(sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::yield_now();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends `data` as one record.
    pub fn send(&mut self, sock: &mut TcpStream, data: &[u8]) -> io::Result<()> {
        self.conn.writer().write_all(data)?;
        self.flush(sock)
    }

    /// Sends a close_notify (the TLS side of a half-close; the caller shuts
    /// TCP's write side after it).
    pub fn close_notify(&mut self, sock: &mut TcpStream) -> io::Result<()> {
        self.conn.send_close_notify();
        self.flush(sock)
    }

    /// Reads records until one has a visible effect, and says which
    /// ([`Unit`]). A chunk is at most `chunk` bytes of plaintext. `answer`:
    /// the peer may write its handshake answer (the flight, the Finished);
    /// a peer that shut its write side cannot.
    pub fn read(&mut self, sock: &mut TcpStream, chunk: usize, answer: bool) -> io::Result<Unit> {
        let mut plain = vec![0u8; chunk];
        self.read_plain(sock, &mut plain, answer).map(|(unit, _)| unit)
    }

    /// [`TlsPeer::read`], keeping the plaintext: at most `plain.len()`
    /// bytes of it, and how many.
    pub fn read_plain(&mut self, sock: &mut TcpStream, plain: &mut [u8], answer: bool) -> io::Result<(Unit, usize)> {
        loop {
            if self.cn_read || self.failed {
                return raw_end(sock).map(|u| (u, 0));
            }
            match self.conn.reader().read(plain) {
                Ok(0) => {
                    self.cn_read = true;
                    return Ok((Unit::CloseNotify, 0));
                }
                Ok(n) => return Ok((Unit::Data, n)),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok((Unit::Fin, 0)),
                // Nothing decrypted is waiting: read a record.
                Err(_) => {}
            }
            let record = match read_record(sock)? {
                Record::Bytes(b) => b,
                Record::NotTls => {
                    self.failed = true;
                    return Ok((Unit::Alert, 0));
                }
                Record::Nothing => return Ok((Unit::Nothing, 0)),
                Record::Eof => return Ok((Unit::Fin, 0)),
                Record::Reset => return Ok((Unit::Rst, 0)),
            };
            let handshaking = self.conn.is_handshaking();
            let mut rd: &[u8] = &record;
            while !rd.is_empty() {
                if self.conn.read_tls(&mut rd).is_err() {
                    self.failed = true;
                    return Ok((Unit::Alert, 0));
                }
            }
            if self.conn.process_new_packets().is_err() {
                self.failed = true;
                return Ok((Unit::Alert, 0));
            }
            match &self.conn {
                rustls::Connection::Server(_) if !self.hello_read && self.conn.wants_write() => {
                    self.hello_read = true;
                    if answer {
                        self.answer(sock);
                    }
                    return Ok((Unit::Hello, 0));
                }
                rustls::Connection::Server(_) if handshaking && !self.conn.is_handshaking() => {
                    return Ok((Unit::Finished, 0));
                }
                rustls::Connection::Client(_) if handshaking && !self.conn.is_handshaking() => {
                    if answer {
                        self.answer(sock);
                    }
                    return Ok((Unit::Flight, 0));
                }
                _ => {}
            }
        }
    }

    /// Reads, while the model says nothing waits for this peer, the records
    /// the proxy sends that are no model message (the session tickets of
    /// its TLS 1.3 handshake), so that they neither show at a later read nor
    /// make this peer's close a reset. Stops at anything else, which the
    /// next [`TlsPeer::read`] reports.
    pub fn read_through_tickets(&mut self, sock: &mut TcpStream) -> io::Result<()> {
        if self.conn.is_handshaking() || self.cn_read || self.failed {
            return Ok(());
        }
        let mut head = [0u8; HEADER];
        loop {
            if self.conn.process_new_packets().is_ok_and(|s| s.plaintext_bytes_to_read() > 0) {
                return Ok(());
            }
            // Peek, so that an EOF, a reset or nothing stays for the next read.
            match sock.peek(&mut head) {
                Ok(n) if n == HEADER => {}
                _ => return Ok(()),
            }
            let len = HEADER + usize::from(u16::from_be_bytes([head[3], head[4]]));
            let mut whole = vec![0u8; len];
            match sock.peek(&mut whole) {
                Ok(n) if n == len => {}
                _ => return Ok(()),
            }
            // A ticket is a post-handshake message: no plaintext. Feed the
            // record; if it was data after all, it stays in rustls for the
            // next read, which reports it.
            sock.read_exact(&mut whole)?;
            let mut rd: &[u8] = &whole;
            while !rd.is_empty() {
                if self.conn.read_tls(&mut rd).is_err() {
                    self.failed = true;
                    return Ok(());
                }
            }
            match self.conn.process_new_packets() {
                Ok(s) if s.plaintext_bytes_to_read() > 0 => return Ok(()),
                Ok(_) => {}
                Err(_) => {
                    self.failed = true;
                    return Ok(());
                }
            }
        }
    }
}

enum Record {
    Bytes(Vec<u8>),
    /// Five bytes that are no record header (consumed).
    NotTls,
    Nothing,
    Eof,
    Reset,
}

/// One whole TLS record, or what the socket says when none has started to
/// arrive.
fn read_record(sock: &mut TcpStream) -> io::Result<Record> {
    let mut head = [0u8; HEADER];
    match sock.read(&mut head[..1]) {
        Ok(0) => return Ok(Record::Eof),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Record::Nothing),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(Record::Reset),
        Err(e) => return Err(e),
    }
    read_rest(sock, &mut head[1..])?;
    let len = usize::from(u16::from_be_bytes([head[3], head[4]]));
    // Content types 20 to 24, version 3.x, at most 2^14 + 256 bytes of
    // ciphertext (RFC 8446 5.2): anything else is no TLS record, and waiting
    // for its "length" would wait for bytes that never come.
    if !(20..=24).contains(&head[0]) || head[1] != 3 || len > (1 << 14) + 256 {
        return Ok(Record::NotTls);
    }
    let mut record = vec![0u8; HEADER + len];
    record[..HEADER].copy_from_slice(&head);
    read_rest(sock, &mut record[HEADER..])?;
    Ok(Record::Bytes(record))
}

/// Reads exactly `buf.len()` bytes of a record that started to arrive.
fn read_rest(sock: &mut TcpStream, buf: &mut [u8]) -> io::Result<()> {
    let deadline = Instant::now() + GUARD;
    let mut got = 0;
    while got < buf.len() {
        match sock.read(&mut buf[got..]) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a TLS record cut by the end of TCP")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => std::thread::yield_now(),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// After a close_notify or an alert: TCP's end, a reset, or nothing.
fn raw_end(sock: &mut TcpStream) -> io::Result<Unit> {
    let mut byte = [0u8; 1];
    match sock.read(&mut byte) {
        Ok(0) => Ok(Unit::Fin),
        // Bytes after the TLS layer ended: nothing the model sends.
        Ok(_) => Ok(Unit::Alert),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Unit::Nothing),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(Unit::Rst),
        Err(e) => Err(e),
    }
}

/// Whether `bytes` start with a whole TLS alert record (RFC 8446 6): what
/// rustls sends before giving up on a peer that broke TLS.
pub fn is_alert_record(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER + 2 && bytes[0] == 21 && bytes[1] == 3 && bytes[3] == 0 && bytes[4] == 2
}
