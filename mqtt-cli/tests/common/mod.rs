//! Helpers shared by the `mqpub`/`mqsub` integration tests (`e2e`, `differential`,
//! `additions`): the binaries, bounded child processes with their output collected, temp
//! dirs (`mqtt_testkit::external::TempDir`), and the in-process reference broker
//! ([`broker`]). Not every test file uses all of
//! them.

#![allow(dead_code, unused_imports)]

pub mod broker;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any one child may run, and any one wait may last.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub const MQPUB: &str = env!("CARGO_BIN_EXE_mqpub");
pub const MQSUB: &str = env!("CARGO_BIN_EXE_mqsub");

/// A fresh directory under the system temp dir, removed on drop.
pub use mqtt_testkit::external::TempDir;

// ---------------------------------------------------------------------------------------------
// Children
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A running child whose output is collected by threads; killed if still running at drop.
pub struct Proc {
    name: String,
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stdout_done: Option<thread::JoinHandle<()>>,
    stderr_done: Option<thread::JoinHandle<Vec<u8>>>,
}

impl Proc {
    pub fn spawn(prog: &str, args: &[&str], stdin: Option<&[u8]>) -> Self {
        // No options file of the user's may change a run.
        Self::spawn_with_config(prog, args, stdin, Path::new("/nonexistent-mqtt-cli-test"))
    }

    /// With `XDG_CONFIG_HOME=config` (where the options files are).
    pub fn spawn_with_config(
        prog: &str,
        args: &[&str],
        stdin: Option<&[u8]>,
        config: &Path,
    ) -> Self {
        let name = format!("{prog} {}", args.join(" "));
        let mut child = Command::new(prog)
            .args(args)
            .env_remove("MQTT_PASSWORD")
            .env("XDG_CONFIG_HOME", config)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        if let Some(input) = stdin {
            let mut w = child.stdin.take().unwrap();
            let input = input.to_vec();
            thread::spawn(move || {
                let _ = w.write_all(&input);
            });
        }
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let mut out = child.stdout.take().unwrap();
        let sink = stdout.clone();
        let stdout_done = thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match out.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr_done = thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err.read_to_end(&mut v);
            v
        });
        Self {
            name,
            child,
            stdout,
            stdout_done: Some(stdout_done),
            stderr_done: Some(stderr_done),
        }
    }

    /// A subscriber (`-d` among `args`), returned once it is subscribed.
    pub fn subscribed(args: &[&str]) -> Self {
        let p = Self::spawn(MQSUB, args, None);
        p.wait_stdout("Subscribed (mid");
        p
    }

    /// Wait until stdout holds `needle` (e.g. a `-d` line).
    pub fn wait_stdout(&self, needle: &str) {
        self.wait_stdout_n(needle, 1);
    }

    /// Wait until stdout holds `needle` `n` times.
    pub fn wait_stdout_n(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if String::from_utf8_lossy(&self.stdout.lock().unwrap())
                .matches(needle)
                .count()
                >= n
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: no {needle:?} on stdout; got {:?}",
                self.name,
                String::from_utf8_lossy(&self.stdout.lock().unwrap())
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Wait (bounded) for the exit and collect the output.
    pub fn wait(mut self) -> Out {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {TIMEOUT:?}; stdout so far: {:?}",
                    self.name,
                    String::from_utf8_lossy(&self.stdout.lock().unwrap())
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        self.stdout_done.take().unwrap().join().unwrap();
        let stderr = self.stderr_done.take().unwrap().join().unwrap();
        let stdout = std::mem::take(&mut *self.stdout.lock().unwrap());
        Out {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.stdout_done.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run to completion (bounded).
pub fn run(prog: &str, args: &[&str], stdin: Option<&[u8]>) -> Out {
    Proc::spawn(prog, args, stdin).wait()
}
