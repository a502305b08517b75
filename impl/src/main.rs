//! The `connseq` binary: `check`, `explore` and `diagram` over the model,
//! and `proxy`, the reference proxy run by the mio runtime.

#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse_in_order();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("connseq: {e}");
            ExitCode::from(2)
        }
    }
}
