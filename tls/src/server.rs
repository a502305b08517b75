//! The accepting side's configuration: certificate/key pairs chosen by SNI,
//! and the ALPN protocols offered.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::TlsConfigError;
use crate::names::{CertNames, Match};
use crate::pem;

/// The TLS configuration of the listening side, built once at startup and
/// shared by every accepted connection ([`crate::TlsConn::server`]).
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("certificates", &self.config.cert_resolver)
            .field("alpn", &self.config.alpn_protocols)
            .finish()
    }
}

impl ServerTls {
    /// Load every `(certificate chain, private key)` pair of PEM files and
    /// offer the ALPN protocols `alpn` (in order of preference).
    ///
    /// A certificate file holds the leaf first, then its intermediates; a key
    /// file holds a PKCS#8, PKCS#1 or SEC1 key (the same file as the chain
    /// will do). Each key must match its leaf.
    ///
    /// The certificate is chosen by the SNI the client sends, among the
    /// leaves' names: an exact name beats a wildcard (`*.example.com`
    /// covering one label), a `subjectAltName` DNS name beats the subject CN,
    /// and an earlier pair beats a later one. No SNI, or no match: the first
    /// pair.
    pub fn from_pem_files(pairs: &[(PathBuf, PathBuf)], alpn: &[Vec<u8>]) -> Result<Arc<Self>, TlsConfigError> {
        if pairs.is_empty() {
            return Err(TlsConfigError::NoCertificatePair);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs =
            pairs.iter().map(|(cert, key)| LoadedCert::load(cert, key, &provider)).collect::<Result<Vec<_>, _>>()?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SniResolver { certs }));
        config.alpn_protocols = alpn.to_vec();
        Ok(Arc::new(Self { config: Arc::new(config) }))
    }

    pub(crate) fn config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.config)
    }
}

/// One certificate/key pair, with the names its leaf answers to.
struct LoadedCert {
    cert_path: PathBuf,
    names: CertNames,
    key: Arc<CertifiedKey>,
}

impl fmt::Debug for LoadedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedCert").field("file", &self.cert_path).field("names", &self.names).finish()
    }
}

impl LoadedCert {
    fn load(cert_path: &Path, key_path: &Path, provider: &CryptoProvider) -> Result<Self, TlsConfigError> {
        let chain = pem::certificates(cert_path)?;
        let key = pem::private_key(key_path)?;
        let names = {
            let leaf = chain.first().ok_or_else(|| TlsConfigError::NoCertificate { path: cert_path.to_owned() })?;
            let (_, parsed) = x509_parser::parse_x509_certificate(leaf)
                .map_err(|e| TlsConfigError::BadCertificate { path: cert_path.to_owned(), reason: e.to_string() })?;
            CertNames::of(&parsed)
        };
        let key = CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                TlsConfigError::KeyMismatch { cert: cert_path.to_owned(), key: key_path.to_owned() }
            }
            rustls::Error::InvalidCertificate(reason) => {
                TlsConfigError::BadCertificate { path: cert_path.to_owned(), reason: format!("{reason:?}") }
            }
            source => TlsConfigError::BadKey { path: key_path.to_owned(), source },
        })?;
        Ok(Self { cert_path: cert_path.to_owned(), names, key: Arc::new(key) })
    }
}

/// Chooses the certificate for a ClientHello by its SNI.
#[derive(Debug)]
struct SniResolver {
    /// Never empty: `from_pem_files` refuses an empty list.
    certs: Vec<LoadedCert>,
}

impl SniResolver {
    /// The pair whose names cover `host`, by the precedence documented on
    /// [`ServerTls::from_pem_files`].
    fn by_name(&self, host: &str) -> Option<&LoadedCert> {
        Match::PRECEDENCE.iter().find_map(|&how| self.certs.iter().find(|c| c.names.covers(host, how)))
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chosen = hello.server_name().and_then(|host| self.by_name(host)).or_else(|| self.certs.first())?;
        Some(Arc::clone(&chosen.key))
    }
}
