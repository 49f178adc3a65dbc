//! aedes (npm), a broker that speaks MQTT 3.1.1 only, run under node by
//! `tests/brokers/aedes/broker.mjs` (installed there by `npm ci`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use super::common::{Unavailable, find_program, or_skip};
use super::process::Process;

/// An aedes process on a loopback port of its own choosing (port 0); killed and reaped on
/// drop (its launcher also stops when its stdin, held here, closes).
#[derive(Debug)]
pub struct Aedes {
    process: Process,
    port: u16,
}

/// The directory of aedes' package.json and launcher, in this repository.
fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../brokers/aedes")
}

impl Aedes {
    /// Start aedes and return once it accepts connections; `Err` if node (`$NODE` or
    /// `node`) or aedes' packages are missing. Panics (with its output) if it does not
    /// start.
    pub fn start() -> Result<Self, Unavailable> {
        let node = find_program("NODE", &[PathBuf::from("node")], "--version")
            .ok_or_else(|| Unavailable::new("node is not installed (aedes runs under node)"))?;
        let dir = dir();
        if !dir.join("node_modules/aedes/package.json").exists() {
            return Err(Unavailable::new(
                "aedes is not installed (run `npm ci` in tests/brokers/aedes)",
            ));
        }
        let mut command = Command::new(&node);
        command.args(["broker.mjs", "0"]).current_dir(&dir);
        let mut process = Process::spawn(command, true)
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", node.display()));
        // The launcher prints the port it got once it listens, or `aedes: <error>`.
        let line = process
            .output()
            .next_where(|l| l.starts_with("listening ") || l.starts_with("aedes: "));
        let port = line
            .as_deref()
            .and_then(|l| l.strip_prefix("listening "))
            .and_then(|p| p.trim().parse().ok());
        match port {
            Some(port) => Ok(Self { process, port }),
            None => panic!(
                "aedes did not start ({:?}):\n{}",
                process.try_wait(),
                process.output().text()
            ),
        }
    }

    /// [`start`](Self::start), with a missing aedes a skip or, under
    /// `MQTT_INTEROP=require`, a failure ([`or_skip`]).
    pub fn start_or_skip(test: &str) -> Option<Self> {
        or_skip(test, Self::start())
    }

    /// Its port (MQTT 3.1.1 over TCP).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// 127.0.0.1 and its port.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// What it printed so far.
    pub fn log_text(&self) -> String {
        self.process.output().text()
    }
}
