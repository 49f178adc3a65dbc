//! Every example runs as a real process, the way a user runs it, and prints the lines that
//! prove its scenario happened; each must exit 0 within a few seconds.
//!
//! The binaries are the ones `cargo test -p examples` builds next to this test
//! (`target/debug/examples/NAME`): `cargo test -p examples --test run_examples` alone does
//! not rebuild them, so run the whole package's tests after changing an example.
//! `every_example_has_a_test` fails if a file in `examples/` is not run here.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The longest an example may run in its default mode ("a few seconds", with room for a
/// loaded CI machine).
const LIMIT: Duration = Duration::from_secs(30);

/// The compiled example `name`, next to this test's executable.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/run_examples-HASH -> target/debug/examples/NAME
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo test -p examples` (which builds the examples), not only \
         `--test run_examples`",
        path.display()
    );
    path
}

/// A running example: its output lines as they come, on one channel (stdout and stderr
/// apart, both kept).
struct Example {
    name: &'static str,
    child: Child,
    lines: mpsc::UnboundedReceiver<(Stream, String)>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

impl Example {
    /// Start example `name` with these arguments.
    fn start(name: &'static str, args: &[&str]) -> Self {
        let mut child = Command::new(binary(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"));
        let (tx, lines) = mpsc::unbounded_channel();
        forward(child.stdout.take().unwrap(), Stream::Out, tx.clone());
        forward(child.stderr.take().unwrap(), Stream::Err, tx);
        Self {
            name,
            child,
            lines,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    /// Run example `name` to completion: its exit status and its stdout, checked to be
    /// a success (stderr shown if not).
    async fn run(name: &'static str, args: &[&str]) -> Vec<String> {
        let started = Instant::now();
        let mut example = Self::start(name, args);
        let status = example.finish().await;
        example.assert_success(status);
        println!("{name} ran in {:?}", started.elapsed());
        example.stdout
    }

    /// The next stdout line, waiting at most until `deadline`; stderr lines are kept on the
    /// way. `None` once the output ended.
    async fn next_line(&mut self, deadline: Instant) -> Option<String> {
        loop {
            let next = tokio::time::timeout_at(deadline.into(), self.lines.recv()).await;
            match next {
                Ok(Some((Stream::Out, line))) => {
                    self.stdout.push(line.clone());
                    return Some(line);
                }
                Ok(Some((Stream::Err, line))) => self.stderr.push(line),
                Ok(None) => return None,
                Err(_) => panic!(
                    "{}: no output within {LIMIT:?}\nstdout:\n{}\nstderr:\n{}",
                    self.name,
                    self.stdout.join("\n"),
                    self.stderr.join("\n")
                ),
            }
        }
    }

    /// Read stdout until a line containing `needle`; returns it.
    async fn wait_for_line(&mut self, needle: &str, deadline: Instant) -> String {
        while let Some(line) = self.next_line(deadline).await {
            if line.contains(needle) {
                return line;
            }
        }
        panic!(
            "{}: the output ended without a line containing {needle:?}\nstdout:\n{}\nstderr:\n{}",
            self.name,
            self.stdout.join("\n"),
            self.stderr.join("\n")
        );
    }

    /// Read the rest of the output and wait for the process to end (within LIMIT).
    async fn finish(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        while self.next_line(deadline).await.is_some() {}
        tokio::time::timeout_at(deadline.into(), self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{} did not exit within {LIMIT:?}", self.name))
            .unwrap()
    }

    fn assert_success(&self, status: ExitStatus) {
        assert!(
            status.success(),
            "{} failed ({status})\nstdout:\n{}\nstderr:\n{}",
            self.name,
            self.stdout.join("\n"),
            self.stderr.join("\n")
        );
    }

    /// Send SIGINT, as Ctrl-C in a terminal does.
    #[cfg(unix)]
    fn interrupt(&self) {
        let pid = self.child.id().expect("the example is running");
        let pid = libc::pid_t::try_from(pid).unwrap();
        // SAFETY: kill(2) takes plain integers; `pid` is our own child, not yet reaped
        // (we hold its Child and have not waited on it), so the id is not reused.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }
}

fn forward(
    output: impl AsyncRead + Unpin + Send + 'static,
    stream: Stream,
    tx: mpsc::UnboundedSender<(Stream, String)>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(output).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send((stream, line)).is_err() {
                break;
            }
        }
    });
}

/// Each of `expected` is in `lines` (as a substring), in this order.
fn assert_in_order(name: &str, lines: &[String], expected: &[&str]) {
    let mut at = 0;
    for want in expected {
        match lines[at..].iter().position(|l| l.contains(want)) {
            Some(i) => at += i + 1,
            None => panic!(
                "{name}: no line containing {want:?} after line {at}\noutput:\n{}",
                lines.join("\n")
            ),
        }
    }
}

/// How many lines contain `needle`.
fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn every_example_has_a_test() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    // The examples this file starts: the first argument of every call of Example::run or
    // Example::start.
    let source = include_str!("run_examples.rs");
    let tested: BTreeSet<String> = ["Example::run(\"", "Example::start(\""]
        .iter()
        .flat_map(|call| source.split(call).skip(1))
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| !name.is_empty() && !name.contains(' '))
        .map(str::to_owned)
        .collect();
    let untested: Vec<_> = files.difference(&tested).collect();
    assert!(untested.is_empty(), "examples without a test: {untested:?}");
    let missing: Vec<_> = tested.difference(&files).collect();
    assert!(
        missing.is_empty(),
        "tests of examples that do not exist: {missing:?}"
    );
    assert!(files.len() >= 6, "examples found: {files:?}");
}

#[tokio::test]
async fn quickstart() {
    let out = Example::run("quickstart", &[]).await;
    assert_in_order(
        "quickstart",
        &out,
        &[
            "started an in-process broker at mqtt://127.0.0.1:",
            "connected as ",
            "subscribed to examples/",
            "published hello #0 at AtMostOnce",
            "received \"hello #0\" on examples/mqttc-",
            "published hello #1 at AtLeastOnce",
            "received \"hello #1\" on examples/mqttc-",
            "published hello #2 at ExactlyOnce",
            "received \"hello #2\" on examples/mqttc-",
            "disconnected",
        ],
    );
    // Each message came back at the QoS it was published with.
    for (n, qos) in ["AtMostOnce", "AtLeastOnce", "ExactlyOnce"]
        .iter()
        .enumerate()
    {
        let received = format!("received \"hello #{n}\"");
        let line = out.iter().find(|l| l.contains(&received)).unwrap();
        assert!(line.ends_with(&format!("/greeting at {qos}")), "{line}");
    }
}

#[tokio::test]
async fn tls_custom_ca() {
    let out = Example::run("tls_custom_ca", &[]).await;
    assert_in_order(
        "tls_custom_ca",
        &out,
        &[
            "started an in-process TLS broker at mqtts://localhost:",
            "with the default trust store: refused, as it should be (TLS handshake",
            "connected over TLS",
            "round trip over TLS: \"encrypted\"",
            "disconnected",
        ],
    );
    let refused = out.iter().find(|l| l.contains("refused")).unwrap();
    assert!(refused.contains("UnknownIssuer"), "{refused}");
}

#[tokio::test]
async fn persistent_session() {
    let out = Example::run("persistent_session", &[]).await;
    assert_in_order(
        "persistent_session",
        &out,
        &[
            "subscribed to examples/",
            "meanwhile, 3 messages were published",
            "reconnected, session present: true",
            "received \"letter 1\", queued while we were away",
            "received \"letter 2\", queued while we were away",
            "received \"letter 3\", queued while we were away",
            "session discarded",
        ],
    );
}

#[tokio::test]
async fn deferred_acks() {
    let out = Example::run("deferred_acks", &[]).await;
    assert_in_order(
        "deferred_acks",
        &out,
        &[
            "4 jobs published",
            "got \"job 1\" (needs an ack: true)",
            "got \"job 3\" (needs an ack: true)",
            "handled and acknowledged \"job 1\"",
            "got \"job 4\", leaving without acknowledging it",
            "the broker delivered \"job 4\" again (DUP: true)",
            "handled and acknowledged \"job 4\"",
            "done",
        ],
    );
    // Only the unacknowledged job came back.
    assert_eq!(count(&out, "again"), 1, "{out:#?}");
}

#[tokio::test]
async fn request_response() {
    let out = Example::run("request_response", &[]).await;
    assert_in_order(
        "request_response",
        &out,
        &[
            "responder: serving examples/",
            "requester: 2+3 -> 5",
            "requester: 40+2 -> 42",
            "requester: two+three -> cannot add \"two+three\"",
            "done",
        ],
    );
}

#[tokio::test]
async fn reconnect() {
    let out = Example::run("reconnect", &[]).await;
    assert_in_order(
        "reconnect",
        &out,
        &[
            "connected and subscribed to examples/",
            "took the session over",
            "connected again",
            "after reconnecting, received \"back online\"",
            "status: disconnected (None)",
        ],
    );
    // "connected again" follows a change of status after the takeover (the loss of the
    // connection), so it proves a reconnection. The watcher's "reconnecting" line is not
    // asserted: a watch holds the latest status only, and a quick reconnection may be seen
    // as no change at all.
}

/// Bad arguments are a clear error and a failure status, not a panic.
#[tokio::test]
async fn bad_arguments_fail_cleanly() {
    let mut example = Example::start("quickstart", &["--nope"]);
    let status = example.finish().await;
    assert_eq!(status.code(), Some(1), "{:?}", example.stderr);
    assert!(
        example
            .stderr
            .iter()
            .any(|l| l.contains("unknown argument \"--nope\"")),
        "{:?}",
        example.stderr
    );
    let mut example = Example::start("quickstart", &["--url", "ftp://nowhere"]);
    let status = example.finish().await;
    assert_eq!(status.code(), Some(1), "{:?}", example.stderr);
    assert!(
        example.stderr.iter().any(|l| l.contains("invalid URL")),
        "{:?}",
        example.stderr
    );
}
