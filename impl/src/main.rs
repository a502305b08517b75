//! The `connseq` binary: `check`, `explore` and `diagram` over the model;
//! `proxy` comes with the runtime.

#![forbid(unsafe_code)]

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("connseq: {e}");
            ExitCode::from(2)
        }
    }
}
