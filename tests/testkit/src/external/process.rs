//! A child process whose output is read line by line as it comes (so that it never blocks
//! on a full pipe), waited on without polling, and killed and reaped on drop.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::common::START_LIMIT;

/// The lines one or more streams wrote (ANSI colours stripped), shared with the threads that
/// read them. Each line is kept: [`Lines::count`] and [`Lines::text`] see all of them, and
/// [`Lines::next_where`] walks them once, in order.
#[derive(Debug, Clone, Default)]
pub struct Lines(Arc<(Mutex<LinesState>, Condvar)>);

#[derive(Debug, Default)]
struct LinesState {
    lines: Vec<String>,
    /// How many lines [`Lines::next_where`] has passed.
    cursor: usize,
    /// Streams followed, and how many of them have ended.
    streams: usize,
    ended: usize,
}

impl Lines {
    /// Read `r` line by line on a thread of its own, into these lines.
    pub fn follow(&self, r: impl Read + Send + 'static) {
        self.lock().streams += 1;
        let lines = self.clone();
        thread::spawn(move || {
            let mut reader = BufReader::new(r);
            let mut buf = Vec::new();
            // Lines that are not UTF-8 are kept, lossily.
            while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                let line = String::from_utf8_lossy(&buf);
                let line = strip_ansi(line.trim_end_matches(['\n', '\r']));
                lines.lock().lines.push(line);
                lines.0.1.notify_all();
                buf.clear();
            }
            lines.lock().ended += 1;
            lines.0.1.notify_all();
        });
    }

    fn lock(&self) -> MutexGuard<'_, LinesState> {
        self.0.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait (at most `limit`) until `done` holds for the state; panics with every line on
    /// timeout.
    fn wait<T>(
        &self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&mut LinesState) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        let mut state = self.lock();
        loop {
            if let Some(t) = done(&mut state) {
                return t;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out after {limit:?} waiting for {what}; the lines so far:\n{}",
                state.lines.join("\n")
            );
            state = self
                .0
                .1
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The next line (after those already passed) that satisfies `pred`, waiting at most
    /// [`START_LIMIT`]; `None` if every stream ended first.
    pub fn next_where(&self, mut pred: impl FnMut(&str) -> bool) -> Option<String> {
        self.wait(START_LIMIT, "a line", |s| {
            while s.cursor < s.lines.len() {
                s.cursor += 1;
                if pred(&s.lines[s.cursor - 1]) {
                    return Some(Some(s.lines[s.cursor - 1].clone()));
                }
            }
            (s.ended == s.streams).then_some(None)
        })
    }

    /// Every line after those already passed, once every stream has ended (waiting at most
    /// [`START_LIMIT`]).
    pub fn rest(&self) -> Vec<String> {
        self.wait(START_LIMIT, "the end of the output", |s| {
            (s.ended == s.streams).then(|| {
                let rest = s.lines[s.cursor..].to_vec();
                s.cursor = s.lines.len();
                rest
            })
        })
    }

    /// How many lines so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lock()
            .lines
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Wait (at most [`START_LIMIT`]) until `n` lines in all contain `needle`.
    pub fn wait_count(&self, needle: &str, n: usize) {
        self.wait(START_LIMIT, &format!("{n} lines with {needle:?}"), |s| {
            (s.lines.iter().filter(|l| l.contains(needle)).count() >= n).then_some(())
        });
    }

    /// Every line so far, each ended by a newline.
    pub fn text(&self) -> String {
        self.lock().lines.iter().map(|l| format!("{l}\n")).collect()
    }
}

/// `s` without its ANSI escape sequences (rumqttd colours its log even into a pipe).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A child process with its stdout and stderr followed into one [`Lines`]; killed (SIGKILL)
/// and reaped on drop if it is still running.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Option<Child>,
    output: Lines,
}

impl Process {
    /// Start `command` with stdout and stderr piped and followed. Its stdin is null unless
    /// `keep_stdin`: then a pipe held open for as long as the process is (aedes' launcher
    /// stops when its stdin closes).
    pub fn spawn(mut command: Command, keep_stdin: bool) -> std::io::Result<Self> {
        let name = format!("{command:?}");
        let mut child = command
            .stdin(if keep_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let output = Lines::default();
        if let Some(out) = child.stdout.take() {
            output.follow(out);
        }
        if let Some(err) = child.stderr.take() {
            output.follow(err);
        }
        Ok(Self {
            name,
            child: Some(child),
            output,
        })
    }

    /// What it wrote on stdout and stderr.
    pub fn output(&self) -> &Lines {
        &self.output
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child().id()
    }

    fn child(&self) -> &Child {
        self.child.as_ref().expect("the process is not yet reaped")
    }

    /// Send `signal` (e.g. `-TERM`) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {}: {status}", self.name);
    }

    /// Whether it has exited, and how.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().expect("try_wait"))
    }

    /// Wait (without polling, at most `limit`) for it to exit; panics, having killed it, if
    /// it does not.
    pub fn wait(mut self, limit: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("the process is not yet reaped");
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(limit) {
            Ok(status) => status.expect("wait for the process"),
            Err(_) => {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                panic!(
                    "{} did not exit within {limit:?}; its output:\n{}",
                    self.name,
                    self.output.text()
                );
            }
        }
    }

    /// Kill it (SIGKILL) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
