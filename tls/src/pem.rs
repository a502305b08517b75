//! Reading PEM files: certificate chains, private keys and CA bundles.
//! Every error names the file it is about.

use std::path::Path;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::TlsConfigError;

/// The whole of `path`.
fn read(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|source| TlsConfigError::Read { path: path.to_owned(), source })
}

/// Every `CERTIFICATE` block of `path`, in file order (leaf first for a chain).
/// Other blocks (a private key kept in the same file) are skipped.
pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsConfigError::Pem { path: path.to_owned(), source })?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate { path: path.to_owned() });
    }
    Ok(certs)
}

/// The first private key of `path`: PKCS#8 (`PRIVATE KEY`), PKCS#1
/// (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`). Certificates in the same
/// file are skipped.
pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsConfigError::NoKey { path: path.to_owned() },
        source => TlsConfigError::Pem { path: path.to_owned(), source },
    })
}
