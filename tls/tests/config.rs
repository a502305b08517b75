//! Startup configuration: what loads, and errors that name the file at fault.

mod common;

use std::path::PathBuf;

use common::{Ca, Pki, TempDir};
use connseq_tls::{ClientTls, ServerTls, TlsConfigError};

fn server_err(pairs: &[(PathBuf, PathBuf)]) -> TlsConfigError {
    ServerTls::from_pem_files(pairs, &[]).expect_err("the configuration must be refused")
}

#[test]
fn a_missing_certificate_file_is_named() {
    let pki = Pki::new();
    let missing = pki.dir.path().join("nowhere.crt");
    let err = server_err(&[(missing.clone(), pki.key_file.clone())]);
    assert!(matches!(err, TlsConfigError::Read { ref path, .. } if *path == missing), "{err:?}");
    assert!(err.to_string().contains("nowhere.crt"), "{err}");
}

#[test]
fn a_missing_key_file_is_named() {
    let pki = Pki::new();
    let missing = pki.dir.path().join("nowhere.key");
    let err = server_err(&[(pki.cert_file.clone(), missing)]);
    assert!(err.to_string().contains("nowhere.key"), "{err}");
}

#[test]
fn a_key_that_does_not_match_the_certificate_names_both_files() {
    let pki = Pki::new();
    let (_, other_key) = pki.ca.leaf(&["localhost"], "other");
    let other_key = pki.dir.write("other.key", &other_key);
    let err = server_err(&[(pki.cert_file.clone(), other_key)]);
    assert!(matches!(err, TlsConfigError::KeyMismatch { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("other.key") && text.contains("localhost.crt"), "{text}");
}

#[test]
fn a_certificate_file_without_a_certificate_is_named() {
    let pki = Pki::new();
    // A key where the chain should be.
    let err = server_err(&[(pki.key_file.clone(), pki.key_file.clone())]);
    assert!(matches!(err, TlsConfigError::NoCertificate { .. }), "{err:?}");
    assert!(err.to_string().contains("localhost.key"), "{err}");
}

#[test]
fn a_key_file_without_a_key_is_named() {
    let pki = Pki::new();
    let err = server_err(&[(pki.cert_file.clone(), pki.cert_file.clone())]);
    assert!(matches!(err, TlsConfigError::NoKey { .. }), "{err:?}");
    assert!(err.to_string().contains("localhost.crt"), "{err}");
}

#[test]
fn malformed_pem_is_named() {
    let dir = TempDir::new();
    let bad = dir.write("bad.crt", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
    let pki = Pki::new();
    let err = server_err(&[(bad, pki.key_file.clone())]);
    assert!(matches!(err, TlsConfigError::Pem { .. }), "{err:?}");
    assert!(err.to_string().contains("bad.crt"), "{err}");
}

#[test]
fn chain_and_key_may_share_one_file() {
    let pki = Pki::new();
    let combined =
        std::fs::read_to_string(&pki.cert_file).expect("cert") + &std::fs::read_to_string(&pki.key_file).expect("key");
    let both = pki.dir.write("combined.pem", &combined);
    ServerTls::from_pem_files(&[(both.clone(), both)], &[]).expect("a combined PEM file loads");
}

#[test]
fn a_server_without_a_pair_is_refused() {
    let err = server_err(&[]);
    assert!(matches!(err, TlsConfigError::NoCertificatePair), "{err:?}");
}

#[test]
fn a_client_without_a_ca_or_insecure_mode_is_refused_with_a_reason() {
    let err = ClientTls::new(None, false, &[], None).expect_err("no way to verify");
    assert!(matches!(err, TlsConfigError::NoServerVerification), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("CA file") && text.contains("insecure"), "{text}");
}

#[test]
fn a_client_with_both_a_ca_and_insecure_mode_is_refused() {
    let pki = Pki::new();
    let err = ClientTls::new(Some(&pki.ca_file), true, &[], None).expect_err("contradiction");
    assert!(err.to_string().contains("ca.pem"), "{err}");
}

#[test]
fn a_ca_file_without_a_certificate_is_named() {
    let pki = Pki::new();
    let err = ClientTls::new(Some(&pki.key_file), false, &[], None).expect_err("no CA in a key file");
    assert!(matches!(err, TlsConfigError::NoCertificate { .. }), "{err:?}");
    assert!(err.to_string().contains("localhost.key"), "{err}");
}

#[test]
fn a_missing_ca_file_is_named() {
    let dir = TempDir::new();
    let missing = dir.path().join("absent-ca.pem");
    let err = ClientTls::new(Some(&missing), false, &[], None).expect_err("missing CA file");
    assert!(err.to_string().contains("absent-ca.pem"), "{err}");
}

#[test]
fn an_sni_that_is_not_a_name_is_refused() {
    let err = ClientTls::new(None, true, &[], Some("not a host name!".into())).expect_err("bad SNI");
    assert!(matches!(err, TlsConfigError::InvalidSni { .. }), "{err:?}");
}

#[test]
fn a_ca_bundle_with_several_certificates_loads() {
    let dir = TempDir::new();
    let bundle = Ca::new("first").pem() + &Ca::new("second").pem();
    let file = dir.write("bundle.pem", &bundle);
    ClientTls::new(Some(&file), false, &[b"h2".to_vec()], Some("example.com".into())).expect("bundle loads");
}

#[test]
fn configurations_print_what_they_hold() {
    let pki = Pki::new();
    let server = format!("{:?}", pki.server(&[b"h2".to_vec()]));
    assert!(server.contains("localhost.crt") && server.contains("localhost"), "{server}");
    let client = format!("{:?}", pki.client(&[], Some("localhost")));
    assert!(client.contains("ca.pem"), "{client}");
}

#[test]
fn a_sec1_ec_key_loads_and_serves() {
    let pki = Pki::new();
    let pkcs8 = std::fs::read_to_string(&pki.key_file).expect("key");
    let sec1 = common::pkcs8_to_sec1_pem(&pkcs8);
    assert!(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let sec1_file = pki.dir.write("localhost.sec1.key", &sec1);
    let server = ServerTls::from_pem_files(&[(pki.cert_file.clone(), sec1_file)], &[]).expect("a SEC1 key loads");
    let (mut c, mut s) = common::ends(&pki.client(&[], Some("localhost")), &server);
    assert_eq!(common::handshake(&mut c, &mut s), (connseq_tls::Step::Done, connseq_tls::Step::Done));
}
