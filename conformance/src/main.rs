//! The `connseq-conformance` binary: exports model traces as ITF files,
//! reports what they cover, replays them against the real runtime, and
//! holds an external proxy to them. One module per subcommand under `cli/`.

#![forbid(unsafe_code)]

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("connseq-conformance: {e}");
            ExitCode::from(2)
        }
    }
}
