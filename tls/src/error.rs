//! The two kinds of failure: a configuration that cannot be used (found at
//! startup, names the file) and a peer that broke TLS (found on a connection).

use std::path::PathBuf;

/// A TLS configuration that cannot be used. Found once, at startup; every
/// variant about a file names that file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A certificate, key or CA file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the filesystem said.
        source: std::io::Error,
    },
    /// A file is not well-formed PEM.
    #[error("{}: malformed PEM: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        source: rustls_pki_types::pem::Error,
    },
    /// A certificate file holds no `CERTIFICATE` block.
    #[error("{}: no certificate found (expected PEM \"CERTIFICATE\" blocks)", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A certificate could not be parsed as X.509.
    #[error("{}: not a valid X.509 certificate: {reason}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What the X.509 parser said.
        reason: String,
    },
    /// A key file holds no private key block.
    #[error("{}: no private key found (expected a PEM PKCS#8, PKCS#1 or SEC1 key)", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// A private key is of a kind the crypto provider cannot sign with.
    #[error("{}: unusable private key: {source}", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// A private key does not belong to the certificate it is paired with.
    #[error("{}: private key does not match the certificate in {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// A CA file holds no certificate that can serve as a trust anchor.
    #[error("{}: no usable CA certificate ({ignored} unusable)", path.display())]
    NoCaCertificate {
        /// The file.
        path: PathBuf,
        /// How many certificates were found but rejected.
        ignored: usize,
    },
    /// A server-side TLS configuration without any certificate/key pair.
    #[error("TLS server configuration has no certificate/key pair")]
    NoCertificatePair,
    /// A client-side TLS configuration that does not say how to verify the server.
    #[error("TLS client configuration has no way to verify the server: give a CA file, or choose insecure mode")]
    NoServerVerification,
    /// A client-side TLS configuration that gives both a CA file and insecure mode.
    #[error("{}: a CA file and insecure mode exclude each other", path.display())]
    ConflictingServerVerification {
        /// The CA file.
        path: PathBuf,
    },
    /// The SNI name to send is neither a DNS name nor an IP address.
    #[error("invalid SNI name {name:?}: {reason}")]
    InvalidSni {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: rustls_pki_types::InvalidDnsNameError,
    },
    /// rustls refused the configuration as a whole (no protocol version in common with the provider).
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The peer broke TLS on one connection: garbage instead of records, a message
/// out of order, a certificate that does not verify, or a fatal alert it sent.
///
/// The peer is at fault (or the two ends have nothing in common); the runtime
/// reports it to the core as `Outcome::Invalid` on the connection's side.
/// The text is rustls's own description of the failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(rustls::Error);

impl TlsError {
    /// The rustls error behind this failure.
    pub fn as_rustls(&self) -> &rustls::Error {
        &self.0
    }

    /// Our own verification refused the peer's certificate (unknown issuer,
    /// expired, not for this name...): the peer spoke TLS correctly, but is
    /// not trusted. A retry of the same handshake meets the same refusal.
    pub fn is_certificate_rejected(&self) -> bool {
        matches!(self.0, rustls::Error::InvalidCertificate(_))
    }

    /// The alert the peer sent, when the failure is the peer giving up.
    pub fn alert_received(&self) -> Option<rustls::AlertDescription> {
        match &self.0 {
            rustls::Error::AlertReceived(alert) => Some(*alert),
            _ => None,
        }
    }
}

impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        Self(e)
    }
}
