//! rumqttd (`cargo install rumqttd`), configured from a file in a temporary directory: a
//! 3.1.1 listener and a 5.0 one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use super::common::{
    PORT_RETRIES, TempDir, Unavailable, find_program, or_skip, ports_free_a_moment_ago,
};
use super::process::Process;

/// A rumqttd process; killed and reaped on drop.
#[derive(Debug)]
pub struct Rumqttd {
    process: Process,
    v311: u16,
    v5: u16,
    _dir: TempDir,
}

/// The rumqttd binary: `$RUMQTTD` if set (then the only candidate), else cargo's bin
/// directory (`$CARGO_HOME/bin`, `~/.cargo/bin`), else `rumqttd` on PATH.
fn binary() -> Result<PathBuf, Unavailable> {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|d| d.join("bin/rumqttd"));
    let candidates: Vec<PathBuf> = cargo_bin
        .into_iter()
        .chain([PathBuf::from("rumqttd")])
        .collect();
    find_program("RUMQTTD", &candidates, "--version").ok_or_else(|| {
        Unavailable::new("rumqttd is not installed (cargo install rumqttd, or set RUMQTTD)")
    })
}

/// rumqttd's configuration: a 3.1.1 and a 5.0 listener on loopback, payloads up to 1 MiB,
/// nothing else (no console, no metrics).
fn config(v311: u16, v5: u16) -> String {
    format!(
        "id = 0\n\
         [router]\n\
         id = 0\n\
         max_connections = 1000\n\
         max_outgoing_packet_count = 200\n\
         max_segment_size = 104857600\n\
         max_segment_count = 10\n\
         [v4.1]\n\
         name = \"v4-1\"\n\
         listen = \"127.0.0.1:{v311}\"\n\
         next_connection_delay_ms = 1\n\
         [v4.1.connections]\n\
         connection_timeout_ms = 60000\n\
         max_payload_size = 1048576\n\
         max_inflight_count = 100\n\
         dynamic_filters = true\n\
         [v5.1]\n\
         name = \"v5-1\"\n\
         listen = \"127.0.0.1:{v5}\"\n\
         next_connection_delay_ms = 1\n\
         [v5.1.connections]\n\
         connection_timeout_ms = 60000\n\
         max_payload_size = 1048576\n\
         max_inflight_count = 100\n"
    )
}

impl Rumqttd {
    /// Start rumqttd and return once both listeners are bound; `Err` if it is not
    /// installed. A port taken meanwhile ("Server error" in its log) is retried with new
    /// ones; any other failure panics with its log.
    #[allow(clippy::print_stderr)] // a retry is said on stderr
    pub fn start() -> Result<Self, Unavailable> {
        let binary = binary()?;
        for _ in 0..PORT_RETRIES {
            let dir = TempDir::new("rumqttd");
            let ports = ports_free_a_moment_ago(2);
            let (v311, v5) = (ports[0], ports[1]);
            let conf = dir.write("rumqttd.toml", config(v311, v5));
            let mut command = Command::new(&binary);
            // -v: info, a line per listener once it is bound.
            command.args(["--quiet", "-v", "-c"]).arg(&conf);
            let mut process = Process::spawn(command, false)
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let mut listening = 0;
            while listening < 2 {
                let line = process.output().next_where(|l| {
                    l.contains("Listening for remote connections") || l.contains("Server error")
                });
                match line {
                    Some(l) if l.contains("Server error") => break,
                    Some(_) => listening += 1,
                    None => panic!(
                        "rumqttd did not start ({:?}):\n{}",
                        process.try_wait(),
                        process.output().text()
                    ),
                }
            }
            if listening == 2 {
                return Ok(Self {
                    process,
                    v311,
                    v5,
                    _dir: dir,
                });
            }
            eprintln!(
                "rumqttd could not listen, retrying:\n{}",
                process.output().text()
            );
        }
        panic!("rumqttd found its ports taken {PORT_RETRIES} times");
    }

    /// [`start`](Self::start), with a missing rumqttd a skip or, under
    /// `MQTT_INTEROP=require`, a failure ([`or_skip`]).
    pub fn start_or_skip(test: &str) -> Option<Self> {
        or_skip(test, Self::start())
    }

    /// The MQTT 3.1.1 port.
    pub fn v311_port(&self) -> u16 {
        self.v311
    }

    /// The MQTT 5.0 port.
    pub fn v5_port(&self) -> u16 {
        self.v5
    }

    /// 127.0.0.1 and the 3.1.1 port.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.v311))
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        self.process.output().text()
    }
}
