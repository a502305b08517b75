//! The connecting side's configuration: how the server's certificate is
//! verified, which name is sent as SNI, and the ALPN protocols offered.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::error::TlsConfigError;
use crate::pem;

/// The TLS configuration of the connecting side, built once at startup and
/// shared by every connection to a server ([`crate::TlsConn::client`]).
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    /// The configured SNI name; `None`: each connection uses its server's IP.
    sni: Option<ServerName<'static>>,
    /// The CA bundle servers are verified against; `None`: insecure mode.
    ca_file: Option<PathBuf>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca_file", &self.ca_file)
            .field("insecure", &self.ca_file.is_none())
            .field("sni", &self.sni)
            .field("alpn", &self.config.alpn_protocols)
            .finish()
    }
}

impl ClientTls {
    /// Verify servers against the CA certificates of the PEM bundle `ca`, or
    /// with `insecure`, accept any certificate (for tests and lab setups:
    /// the handshake signatures are still checked, so the peer holds the
    /// key of the certificate it shows, but anyone can be that peer).
    /// Exactly one of the two must be given.
    ///
    /// `sni`: the name sent as SNI and verified against the certificate.
    /// Without it, each connection uses its server's IP address: no SNI
    /// extension is sent, and a verified certificate must carry that IP
    /// address as a `subjectAltName`.
    ///
    /// `alpn`: the protocols offered, in order of preference.
    pub fn new(
        ca: Option<&Path>,
        insecure: bool,
        alpn: &[Vec<u8>],
        sni: Option<String>,
    ) -> Result<Arc<Self>, TlsConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let algorithms = provider.signature_verification_algorithms;
        let builder = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
        let (mut config, ca_file) = match (ca, insecure) {
            (Some(path), false) => {
                let verifier = PinningVerifier::new(path, provider_for_verifier())?;
                (
                    builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth(),
                    Some(path.to_owned()),
                )
            }
            (None, true) => (
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { algorithms }))
                    .with_no_client_auth(),
                None,
            ),
            (Some(path), true) => return Err(TlsConfigError::ConflictingServerVerification { path: path.to_owned() }),
            (None, false) => return Err(TlsConfigError::NoServerVerification),
        };
        config.alpn_protocols = alpn.to_vec();
        let sni = match sni {
            Some(name) => {
                Some(ServerName::try_from(name.clone()).map_err(|reason| TlsConfigError::InvalidSni { name, reason })?)
            }
            None => None,
        };
        Ok(Arc::new(Self { config: Arc::new(config), sni, ca_file }))
    }

    pub(crate) fn config(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(&self.config)
    }

    /// The name to send and verify for a connection to `server_ip`.
    pub(crate) fn server_name(&self, server_ip: IpAddr) -> ServerName<'static> {
        match &self.sni {
            Some(name) => name.clone(),
            None => ServerName::IpAddress(server_ip.into()),
        }
    }
}

/// The trust anchors of a CA bundle.
fn roots(path: &Path) -> Result<rustls::RootCertStore, TlsConfigError> {
    let mut store = rustls::RootCertStore::empty();
    let (added, ignored) = store.add_parsable_certificates(pem::certificates(path)?);
    if added == 0 {
        return Err(TlsConfigError::NoCaCertificate { path: path.to_owned(), ignored });
    }
    Ok(store)
}

fn provider_for_verifier() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Verification against a CA bundle (webpki), and one exception, as curl,
/// OpenSSL and HAProxy make it: a server certificate that appears itself,
/// byte for byte, in the bundle is trusted as it is (a pin), so that the
/// self-signed certificate `openssl req -x509` makes (basicConstraints
/// CA:TRUE, which webpki refuses as an end entity) can be given as its own
/// CA. The pinned certificate must still name the server (SNI or IP
/// address) and the handshake signatures are still checked; its validity
/// dates are not (the operator chose that exact certificate).
#[derive(Debug)]
struct PinningVerifier {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    pins: Vec<CertificateDer<'static>>,
}

impl PinningVerifier {
    fn new(path: &Path, provider: Arc<rustls::crypto::CryptoProvider>) -> Result<Arc<Self>, TlsConfigError> {
        let pins = pem::certificates(path)?;
        let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots(path)?), provider)
            .build()
            .map_err(|e| TlsConfigError::Rustls(rustls::Error::General(e.to_string())))?;
        Ok(Arc::new(Self { webpki, pins }))
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(v) => Ok(v),
            Err(e) if self.pins.iter().any(|p| p.as_ref() == end_entity.as_ref()) => {
                let parsed = rustls::server::ParsedCertificate::try_from(end_entity).map_err(|_| e)?;
                rustls::client::verify_server_name(&parsed, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Insecure mode: any certificate chain is accepted; the handshake
/// signatures are checked with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
