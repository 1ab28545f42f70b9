//! `seqflow`: the command-line tool of the seqflow workspace.
//!
//! - `seqflow compare`: the standard scenarios of the `seqflow-bench` harness (1P-1C, 1P-3C
//!   pipeline and multicast, diamond, 2P-1C, 3P-1C; `u64` and 128-byte events; burst and
//!   one-at-a-time publishing) for seqflow and for `std::sync::mpsc::sync_channel`,
//!   `crossbeam-channel` and the `disruptor` crate in one process, a ping-pong latency scenario,
//!   and a cross-process section (a seqflow shared-memory ring against a pipe and a Unix socket,
//!   with this binary re-run as the consumer process); table, JSON, CSV and SVG chart output.
//! - `seqflow perf`: the ring perf-test tool: a writer at a target rate, readers that verify
//!   and burn CPU, achieved rate, late writes and lag.
//! - `seqflow inspect NAME`: a shared-memory ring's header, cursor, consumers and liveness.
//! - `seqflow rm NAME`: remove shared-memory rings, only stale ones unless `--force`.
//! - `seqflow release NAME CONSUMER`: stop a declared consumer or pool from holding the producer
//!   back (its unread events may then be overwritten).
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod app;
mod cli;
mod error;
mod ipc;
mod output;
mod perf;
mod shm_cmd;

pub(crate) use error::{ArgError, CliError};

/// `eprintln!` that never panics: when stderr is a closed pipe (`seqflow ... 2>&1 | head`),
/// the message is dropped instead.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use note;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let mut stdout = std::io::stdout().lock();
    match app::run(cli, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of the output went away (`seqflow compare --list | head`): stop quietly,
        // as a command killed by SIGPIPE would, but through the normal exit.
        Err(CliError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            note!("seqflow: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
