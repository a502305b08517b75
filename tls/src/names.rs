//! The names a certificate answers to (SAN DNS names, subject CN) and how a
//! requested server name matches them.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

/// The names of one certificate, lowercased at load time so that matching
/// a request does not allocate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CertNames {
    /// `subjectAltName` DNS names.
    pub(crate) san: Vec<String>,
    /// Subject common names.
    pub(crate) cn: Vec<String>,
}

impl CertNames {
    /// The names of a parsed certificate. A SAN extension that cannot be
    /// decoded counts as no SAN names (the CN still serves).
    pub(crate) fn of(cert: &X509Certificate<'_>) -> Self {
        let san = match cert.subject_alternative_name() {
            Ok(Some(ext)) => ext
                .value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
                    _ => None,
                })
                .collect(),
            Ok(None) | Err(_) => Vec::new(),
        };
        let cn = cert
            .subject()
            .iter_common_name()
            .filter_map(|attr| attr.as_str().ok())
            .map(str::to_ascii_lowercase)
            .collect();
        Self { san, cn }
    }
}

/// One way a certificate's names may cover a requested host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Match {
    /// A SAN DNS name equal to the host.
    ExactSan,
    /// A CN equal to the host.
    ExactCn,
    /// A wildcard SAN DNS name covering the host.
    WildcardSan,
    /// A wildcard CN covering the host.
    WildcardCn,
}

impl Match {
    /// Strongest first: an exact name beats a wildcard, a SAN beats the CN.
    pub(crate) const PRECEDENCE: [Self; 4] = [Self::ExactSan, Self::ExactCn, Self::WildcardSan, Self::WildcardCn];
}

impl CertNames {
    /// Whether these names cover `host` the way `how` says.
    pub(crate) fn covers(&self, host: &str, how: Match) -> bool {
        match how {
            Match::ExactSan => self.san.iter().any(|pattern| matches_exactly(pattern, host)),
            Match::ExactCn => self.cn.iter().any(|pattern| matches_exactly(pattern, host)),
            Match::WildcardSan => self.san.iter().any(|pattern| matches_wildcard(pattern, host)),
            Match::WildcardCn => self.cn.iter().any(|pattern| matches_wildcard(pattern, host)),
        }
    }
}

/// The first common name of a DER certificate, if it parses and has one.
pub(crate) fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.to_owned();
    Some(cn)
}

/// Whether the certificate name `pattern` (lowercase) covers the requested
/// name `host` (any case), exactly.
fn matches_exactly(pattern: &str, host: &str) -> bool {
    pattern.eq_ignore_ascii_case(host)
}

/// Whether the wildcard certificate name `pattern` (`*.example.com`,
/// lowercase) covers `host`: the wildcard stands for exactly one non-empty
/// label (RFC 6125 6.4.3), so `a.example.com` matches but neither
/// `example.com` nor `a.b.example.com` does.
fn matches_wildcard(pattern: &str, host: &str) -> bool {
    let Some(suffix) = pattern.strip_prefix("*.") else {
        return false;
    };
    let Some((label, rest)) = host.split_once('.') else {
        return false;
    };
    !label.is_empty() && !label.contains('*') && rest.eq_ignore_ascii_case(suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_covers_exactly_one_label() {
        assert!(matches_wildcard("*.example.com", "a.example.com"));
        assert!(matches_wildcard("*.example.com", "A.Example.COM"));
        assert!(!matches_wildcard("*.example.com", "example.com"));
        assert!(!matches_wildcard("*.example.com", "a.b.example.com"));
        assert!(!matches_wildcard("*.example.com", ".example.com"));
        assert!(!matches_wildcard("example.com", "a.example.com"));
    }

    #[test]
    fn cn_serves_only_after_every_san() {
        let names = CertNames { san: vec!["*.example.com".into()], cn: vec!["www.example.com".into()] };
        assert!(!names.covers("www.example.com", Match::ExactSan));
        assert!(names.covers("www.example.com", Match::ExactCn));
        assert!(names.covers("www.example.com", Match::WildcardSan));
        assert!(!names.covers("example.com", Match::WildcardSan));
    }

    #[test]
    fn exact_match_ignores_case() {
        assert!(matches_exactly("www.example.com", "WWW.example.com"));
        assert!(!matches_exactly("www.example.com", "example.com"));
    }
}
