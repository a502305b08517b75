//! The bench's own TLS ends: a certificate (ECDSA P-256, self-signed), the
//! client configurations its load generators use, and the server
//! configuration of its TLS servers. TLS 1.3 with AES-128-GCM only, on both
//! ends, so that each proxy negotiates the same suite whatever it prefers.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{ring, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};

/// The certificate and key files the proxies load.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// The private key (PEM, PKCS#8).
    pub key: PathBuf,
    /// Certificate then key in one file, as HAProxy's `crt` takes it.
    pub combined: PathBuf,
}

/// A certificate for `localhost` and 127.0.0.1, with its key, in memory
/// and written to `dir`.
#[derive(Debug)]
pub struct Certs {
    /// Where the proxies find them.
    pub files: CertFiles,
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

fn tls_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("bench TLS setup: {e}"))
}

impl Certs {
    /// A fresh ECDSA P-256 key and its self-signed certificate, written to `dir`.
    pub fn generate(dir: &Path) -> io::Result<Certs> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(tls_error)?;
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).map_err(tls_error)?;
        let cert = params.self_signed(&key).map_err(tls_error)?;
        let files = CertFiles {
            cert: dir.join("bench-cert.pem"),
            key: dir.join("bench-key.pem"),
            combined: dir.join("bench-combined.pem"),
        };
        std::fs::write(&files.cert, cert.pem())?;
        std::fs::write(&files.key, key.serialize_pem())?;
        std::fs::write(&files.combined, format!("{}{}", cert.pem(), key.serialize_pem()))?;
        Ok(Certs { files, cert: cert.der().clone(), key: key.serialize_der() })
    }

    /// The bench's TLS servers: this certificate, TLS 1.3, AES-128-GCM.
    pub fn server_config(&self) -> io::Result<Arc<ServerConfig>> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], key)
            .map_err(tls_error)?;
        Ok(Arc::new(config))
    }
}

/// ring with one suite: TLS13_AES_128_GCM_SHA256.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: vec![ring::cipher_suite::TLS13_AES_128_GCM_SHA256],
        ..ring::default_provider()
    })
}

/// A client configuration for the load generators: TLS 1.3, AES-128-GCM,
/// and session resumption (tickets) only if `resume`. The server's
/// signature over the handshake is verified as usual (that is the client's
/// share of a full handshake); its certificate is not checked against a
/// CA, since the bench made it.
pub fn client_config(resume: bool) -> io::Result<Arc<ClientConfig>> {
    let provider = provider();
    let verifier = Arc::new(AnyCert(provider.signature_verification_algorithms));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    if !resume {
        config.resumption = Resumption::disabled();
    }
    Ok(Arc::new(config))
}

/// The name every bench client sends.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("a valid DNS name")
}

/// Takes any certificate, checks the handshake signatures.
#[derive(Debug)]
struct AnyCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
