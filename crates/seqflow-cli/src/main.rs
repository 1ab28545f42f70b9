//! `seqflow`: the command-line entry point; everything else is in the `seqflow_cli` library.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = seqflow_cli::cli::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    match seqflow_cli::run(cli, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seqflow: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
