//! The cross-process part of `seqflow compare`: each transport, both event sizes, several
//! rounds alternating transports, medians and ratios seqflow-shm / pipe and / socket.

use super::{run_ipc, IpcConfig, Transport};
use crate::CliError;
use seqflow_bench::wait::Wait;
use std::fmt::Write as _;
use std::path::PathBuf;

/// What to run.
#[derive(Debug, Clone)]
pub struct IpcOptions {
    /// Events per run.
    pub events: u64,
    /// Rounds (median reported).
    pub rounds: usize,
    /// Ring size of the shm transport.
    pub capacity: usize,
    /// Events per claim (shm).
    pub batch: usize,
    /// How the shm consumer waits.
    pub wait: Wait,
}

/// One row: a transport and an event size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IpcRow {
    /// The transport.
    pub transport: Transport,
    /// Bytes per event.
    pub bytes: usize,
    /// Median events per second over the rounds.
    pub events_per_sec: f64,
    /// Events per run.
    pub events: u64,
}

/// The cross-process results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IpcSection {
    /// How the shm consumer waited.
    pub wait: &'static str,
    /// Rounds per row.
    pub rounds: usize,
    /// Events per claim (shm) and per write (pipe, socket).
    pub batch: usize,
    /// Every row.
    pub rows: Vec<IpcRow>,
}

/// Run every transport with both event sizes (8 and 128 bytes), `rounds` times each, this
/// binary being the consumer process.
pub fn compare_ipc(
    opts: &IpcOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<IpcSection, CliError> {
    let exe = consumer_exe()?;
    let mut rows = Vec::new();
    for bytes in [8usize, 128] {
        let cfg = IpcConfig {
            events: opts.events,
            bytes,
            capacity: opts.capacity,
            batch: opts.batch.min(opts.capacity),
            wait: opts.wait,
        };
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); Transport::ALL.len()];
        for round in 0..opts.rounds.max(1) {
            for (i, transport) in Transport::ALL.into_iter().enumerate() {
                progress(&format!(
                    "ipc {} {bytes} B, round {}: {} events",
                    transport.name(),
                    round + 1,
                    cfg.events
                ));
                let m = run_ipc(&exe, transport, &cfg).map_err(|e| CliError::IpcRun {
                    transport: transport.name(),
                    scenario: format!("ipc-{bytes}B"),
                    source: Box::new(e),
                })?;
                samples[i].push(m.events_per_sec());
            }
        }
        for (i, transport) in Transport::ALL.into_iter().enumerate() {
            rows.push(IpcRow {
                transport,
                bytes,
                events_per_sec: median(&mut samples[i]),
                events: cfg.events,
            });
        }
    }
    Ok(IpcSection {
        wait: opts.wait.name(),
        rounds: opts.rounds.max(1),
        batch: opts.batch.min(opts.capacity),
        rows,
    })
}

/// The `seqflow` binary to start as the consumer: `SEQFLOW_EXE` if set (tests), else this
/// executable.
fn consumer_exe() -> Result<PathBuf, CliError> {
    match std::env::var_os("SEQFLOW_EXE") {
        Some(path) => Ok(PathBuf::from(path)),
        None => Ok(std::env::current_exe()?),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

impl IpcSection {
    fn rate(&self, transport: Transport, bytes: usize) -> f64 {
        self.rows
            .iter()
            .find(|r| r.transport == transport && r.bytes == bytes)
            .map_or(0.0, |r| r.events_per_sec)
    }

    /// Text table (default), JSON or CSV.
    pub fn render(&self, json: bool, csv: bool) -> String {
        if json {
            return serde_json::to_string_pretty(self).unwrap_or_default() + "\n";
        }
        let mut s = String::new();
        if csv {
            s.push_str("transport,bytes,events,events_per_sec\n");
            for r in &self.rows {
                let _ = writeln!(
                    s,
                    "{},{},{},{:.0}",
                    r.transport.name(),
                    r.bytes,
                    r.events,
                    r.events_per_sec
                );
            }
            return s;
        }
        let _ = writeln!(
            s,
            "cross-process: this process produces, a second process consumes and verifies; \
             median of {} round(s); {} events handed over at a time (shm claim, pipe/socket \
             write); seqflow-shm consumer waits {}",
            self.rounds, self.batch, self.wait
        );
        let _ = writeln!(
            s,
            "million events/s; shm/X = seqflow-shm / X (above 1: seqflow is faster)"
        );
        let _ = writeln!(
            s,
            "{:<12} {:>12} {:>12} {:>12} {:>10} {:>12}",
            "event", "seqflow-shm", "pipe", "unix-socket", "shm/pipe", "shm/socket"
        );
        for bytes in [8usize, 128] {
            let shm = self.rate(Transport::Shm, bytes);
            let pipe = self.rate(Transport::Pipe, bytes);
            let socket = self.rate(Transport::Socket, bytes);
            let ratio = |x: f64| {
                if x > 0.0 {
                    format!("{:.2}x", shm / x)
                } else {
                    "-".into()
                }
            };
            let _ = writeln!(
                s,
                "{:<12} {:>12.2} {:>12.2} {:>12.2} {:>10} {:>12}",
                format!("{bytes} B"),
                shm / 1e6,
                pipe / 1e6,
                socket / 1e6,
                ratio(pipe),
                ratio(socket)
            );
        }
        s
    }
}
