//! What the black-box tests share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `connseq` binary of this checkout, in this test's profile: built now
/// (`cargo build -p connseq --bin connseq`, a no-op when `cargo test` built it
/// already), so a campaign never runs a stale binary of another profile.
pub fn connseq_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    let mut build = Command::new(env!("CARGO"));
    // With the features this crate builds connseq with (`test-hooks`), so
    // that the binary `cargo test` built is fresh and not rebuilt; the hooks
    // are never enabled in a run started by command.
    build.current_dir(workspace).args(["build", "-q", "-p", "connseq", "--bin", "connseq", "--features", "test-hooks"]);
    if release {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "`cargo build -p connseq` failed: {status}");
    let bin = profile_dir.join("connseq");
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}
