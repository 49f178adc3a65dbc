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
    assert!(files.len() >= 11, "examples found: {files:?}");
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

#[tokio::test]
async fn shared_workers() {
    let out = Example::run("shared_workers", &[]).await;
    assert_in_order(
        "shared_workers",
        &out,
        &[
            "3 workers subscribed to $share/workers/examples/",
            "published 12 jobs",
            "12 jobs, each handled exactly once",
        ],
    );
    // Each job handled once, by some worker; every worker took a share.
    for n in 1..=12 {
        let suffix = format!(" handled job {n}");
        assert_eq!(
            out.iter().filter(|l| l.ends_with(&suffix)).count(),
            1,
            "job {n}: {out:#?}"
        );
    }
    let mut total = 0;
    for worker in 1..=3 {
        let line = out
            .iter()
            .find(|l| l.starts_with(&format!("worker {worker}: ")))
            .unwrap_or_else(|| panic!("no count for worker {worker}: {out:#?}"));
        let jobs: usize = line
            .trim_start_matches(&format!("worker {worker}: "))
            .trim_end_matches(" jobs")
            .parse()
            .unwrap();
        assert!(jobs > 0, "{line}");
        total += jobs;
    }
    assert_eq!(total, 12);
}

#[tokio::test]
async fn manual_acks() {
    let out = Example::run("manual_acks", &[]).await;
    assert_in_order(
        "manual_acks",
        &out,
        &[
            "published 6 jobs",
            "received \"job 1: 60\"",
            "back in the session, the first message is \"after the restart\": nothing was \
             delivered again",
        ],
    );
    for n in [1, 2, 3, 5, 6] {
        assert_eq!(
            count(&out, &format!("finished \"job {n}: ")),
            1,
            "job {n}: {out:#?}"
        );
    }
    assert_eq!(
        count(
            &out,
            "cannot handle \"job 4: oops\": not a duration; acknowledged anyway"
        ),
        1,
        "{out:#?}"
    );
    // Handled concurrently: job 2 (20 ms) finished before job 1 (60 ms).
    let at = |needle: &str| out.iter().position(|l| l.contains(needle)).unwrap();
    assert!(
        at("finished \"job 2: 20\"") < at("finished \"job 1: 60\""),
        "{out:#?}"
    );
}

#[tokio::test]
async fn bridge() {
    let out = Example::run("bridge", &[]).await;
    assert_in_order(
        "bridge",
        &out,
        &[
            "started broker A at mqtt://127.0.0.1:",
            "bridging examples/",
            "published 4 messages on A",
            "every message reached B at the QoS it was published with",
            "bridge stopped",
        ],
    );
    for (leaf, qos) in [
        ("temperature", "AtMostOnce"),
        ("humidity", "AtLeastOnce"),
        ("door", "ExactlyOnce"),
        ("firmware", "AtLeastOnce"),
    ] {
        let forwarded = format!("/{leaf} at {qos}");
        assert_eq!(count(&out, &forwarded), 2, "{leaf}: {out:#?}"); // forwarded, received on B
        let received = format!("B received \"{leaf} reading\"");
        assert_eq!(count(&out, &received), 1, "{leaf}: {out:#?}");
    }
    assert_eq!(
        count(&out, "firmware at AtLeastOnce, retained"),
        1,
        "{out:#?}"
    );
    assert_eq!(
        count(&out, "/firmware as a retained message"),
        1,
        "{out:#?}"
    );
}

/// With `--from` and `--to`, between two brokers started here: a message is acknowledged to
/// the source only once the destination acknowledged it. The destination withholds its
/// PUBACK once; the bridge is stopped with Ctrl-C while waiting for it, and on its next run
/// the source delivers the message again (it was never acknowledged) and it is forwarded.
#[cfg(unix)]
#[tokio::test]
async fn bridge_acknowledges_the_source_only_after_the_destination() {
    use mqtt_client::{Client, Options, QoS};
    use mqtt_testkit::{Broker, PacketType};

    let a = Broker::builder().start().await.unwrap();
    let b = Broker::builder().start().await.unwrap();
    let from = format!("mqtt://{}", a.local_addr());
    // The bridge's client id on B, so that the fault can name it.
    let to = format!("mqtt://{}?client_id=bridge-out", b.local_addr());
    b.faults()
        .for_client("bridge-out")
        .withhold(PacketType::PubAck);

    let (watcher, _) =
        Client::connect(Options::from_url(&format!("mqtt://{}", b.local_addr())).unwrap())
            .await
            .unwrap();
    let mut on_b = watcher
        .subscribe("plant/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let (publisher, _) = Client::connect(Options::from_url(&from).unwrap())
        .await
        .unwrap();

    let args = [
        "--from",
        &from,
        "--to",
        &to,
        "--topic",
        "plant/#",
        "--id",
        "bridge-in",
    ];
    let deadline = Instant::now() + LIMIT;
    let mut bridge = Example::start("bridge", &args);
    bridge
        .wait_for_line("bridging plant/# from", deadline)
        .await;
    publisher
        .publish("plant/boiler", QoS::AtLeastOnce, false, "hot")
        .await
        .unwrap()
        .await
        .unwrap();
    // B has the message but did not acknowledge it.
    let m = tokio::time::timeout_at(deadline.into(), on_b.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.payload().as_ref(), b"hot");
    bridge.interrupt();
    let status = bridge.finish().await;
    bridge.assert_success(status);
    assert_in_order(
        "bridge",
        &bridge.stdout,
        &["Ctrl-C: stopping", "bridge stopped"],
    );
    assert_eq!(
        count(&bridge.stdout, "forwarded"),
        0,
        "{:#?}",
        bridge.stdout
    );

    // The next run: A delivers the message again, and this time B acknowledges it.
    let mut bridge = Example::start("bridge", &args);
    bridge
        .wait_for_line("forwarded plant/boiler at AtLeastOnce", deadline)
        .await;
    let again = tokio::time::timeout_at(deadline.into(), on_b.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.payload().as_ref(), b"hot");
    // Then new messages go through as usual.
    publisher
        .publish("plant/valve", QoS::ExactlyOnce, false, "open")
        .await
        .unwrap()
        .await
        .unwrap();
    bridge
        .wait_for_line("forwarded plant/valve at ExactlyOnce", deadline)
        .await;
    bridge.interrupt();
    let status = bridge.finish().await;
    bridge.assert_success(status);

    publisher.disconnect(Duration::from_secs(5)).await.unwrap();
    watcher.disconnect(Duration::from_secs(5)).await.unwrap();
    a.shutdown().await;
    b.shutdown().await;
}

/// The service runs until SIGINT; meanwhile the broker cuts its first connection and the
/// status watch sees it come back; on SIGINT it stops taking jobs, finishes every job in
/// hand and exits 0.
#[cfg(unix)]
#[tokio::test]
async fn service_reconnects_then_drains_on_sigint() {
    let deadline = Instant::now() + LIMIT;
    let mut service = Example::start("service", &[]);
    service
        .wait_for_line("status: connected as ", deadline)
        .await;
    service
        .wait_for_line("ready: taking jobs from", deadline)
        .await;
    // Printed by the watch only after a change of status: the reconnection.
    service
        .wait_for_line("status: connected (session present: false)", deadline)
        .await;
    // Jobs are handled after the reconnection.
    service.wait_for_line("done: job ", deadline).await;
    service.interrupt();
    let status = service.finish().await;
    service.assert_success(status);

    let out = &service.stdout;
    assert_in_order(
        "service",
        out,
        &[
            "SIGINT received",
            "stopping: no new jobs, ",
            "drained: ",
            "status: disconnected",
            "disconnected",
        ],
    );
    let number = |prefix: &str| -> usize {
        let line = out.iter().find(|l| l.starts_with(prefix)).unwrap();
        line[prefix.len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let in_flight = number("stopping: no new jobs, ");
    let drained = number("drained: ");
    assert!(in_flight > 0, "{out:#?}");
    assert_eq!(in_flight, drained, "{out:#?}");
    // Every job in hand finished after the signal: as many results as jobs in flight.
    let stopping = out.iter().position(|l| l.starts_with("stopping")).unwrap();
    let after = &out[stopping..];
    assert_eq!(count(after, "done: job "), in_flight, "{out:#?}");
    assert_eq!(count(out, "abandoned"), 0, "{out:#?}");
    assert_eq!(count(out, "failed"), 0, "{out:#?}");
}

#[tokio::test]
async fn tls_client_cert_alpn() {
    let out = Example::run("tls_client_cert_alpn", &[]).await;
    assert_in_order(
        "tls_client_cert_alpn",
        &out,
        &[
            "started an in-process TLS broker at mqtts://localhost:",
            "without a client certificate: refused",
            "offering ALPN x-amzn-mqtt-ca",
            "with a client certificate",
            "round trip: {\"temperature\": 21.5} on examples/",
            "disconnected",
        ],
    );
}

/// `--url` with `--ca`, `--cert` and `--key` files, against a TLS front end shaped like AWS
/// IoT Core on port 443: it requires a client certificate from the CA and the ALPN
/// protocol `x-amzn-mqtt-ca`, then passes the bytes to a reference broker. The front end
/// records the ALPN protocol each handshake negotiated.
#[tokio::test]
async fn tls_client_cert_alpn_with_files_against_an_alpn_front_end() {
    use std::sync::Arc;

    use mqtt_testkit::Broker;
    use mqtt_testkit::certs::TestCa;
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls;

    const ALPN: &[u8] = b"x-amzn-mqtt-ca";
    let ca = TestCa::new("alpn front end");
    let server = ca.server_cert(&["localhost"]);
    let device = ca.client_cert("device-7");
    let dir = mqtt_testkit::external::TempDir::new("alpn-front-end");
    let file = |name: &str, contents: &str| dir.write(name, contents).to_str().unwrap().to_owned();
    let ca_file = file("ca.pem", &ca.cert_pem());
    let cert_file = file("device.pem.crt", &device.chain_pem());
    let key_file = file("private.pem.key", device.key_pem());

    let broker = Broker::builder().start().await.unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(ca.root_store()),
        provider.clone(),
    )
    .build()
    .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(server.chain_der(), server.key_der())
        .unwrap();
    config.alpn_protocols = vec![ALPN.to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend = broker.local_addr();
    let (negotiated_tx, mut negotiated) = mpsc::unbounded_channel();
    let front_end = tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let negotiated_tx = negotiated_tx.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    let _ = negotiated_tx.send(Err("handshake failed"));
                    return;
                };
                let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                let _ = negotiated_tx.send(Ok(alpn.clone()));
                if alpn.as_deref() != Some(ALPN) {
                    return; // not MQTT for us: closed, as AWS IoT does on port 443
                }
                let mut mqtt = tokio::net::TcpStream::connect(backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut mqtt).await;
            });
        }
    });

    let url = format!("mqtts://localhost:{port}");
    let files = [
        "--url", &url, "--ca", &ca_file, "--cert", &cert_file, "--key", &key_file,
    ];
    let out = Example::run("tls_client_cert_alpn", &files).await;
    assert_in_order(
        "tls_client_cert_alpn",
        &out,
        &[
            "offering ALPN x-amzn-mqtt-ca",
            "with a client certificate",
            "round trip: {\"temperature\": 21.5}",
            "disconnected",
        ],
    );
    assert_eq!(negotiated.recv().await, Some(Ok(Some(ALPN.to_vec()))));

    // Without ALPN, the front end closes the connection: the example fails, and says why.
    let mut no_alpn = files.to_vec();
    no_alpn.extend(["--alpn", ""]);
    let mut example = Example::start("tls_client_cert_alpn", &no_alpn);
    let status = example.finish().await;
    assert_eq!(status.code(), Some(1), "{:#?}", example.stdout);
    assert!(
        example
            .stderr
            .iter()
            .any(|l| l.contains("tls_client_cert_alpn: error:")),
        "{:#?}",
        example.stderr
    );
    assert_eq!(negotiated.recv().await, Some(Ok(None)));

    // Without the client certificate's key, a clear error before any connection.
    let mut example = Example::start(
        "tls_client_cert_alpn",
        &[
            "--url",
            &url,
            "--cert",
            &cert_file,
            "--key",
            "/nonexistent/key.pem",
        ],
    );
    let status = example.finish().await;
    assert_eq!(status.code(), Some(1));
    assert!(
        example
            .stderr
            .iter()
            .any(|l| l.contains("/nonexistent/key.pem")),
        "{:#?}",
        example.stderr
    );

    front_end.abort();
    broker.shutdown().await;
}

/// Against Debian's mosquitto (`apt-get install mosquitto`): the examples with `--url`, as
/// their headers and README say to run them. Skipped with a notice when mosquitto is not
/// installed, unless `MQTT_INTEROP=require` (then a failure); `MOSQUITTO` may name the
/// binary.
mod mosquitto {
    use std::time::{Duration, Instant};

    use mqtt_client::{Client, Options, QoS};
    use mqtt_testkit::external::Mosquitto;
    use tokio::process::Command;

    use super::{Example, LIMIT, assert_in_order, count};

    /// A mosquitto started for one test (`mqtt_testkit::external`): plain TCP, TLS, and TLS
    /// requiring a client certificate, each on its own loopback port; the certificates in
    /// its directory. `None` when mosquitto is missing (a failure under
    /// `MQTT_INTEROP=require`).
    fn start(test: &str) -> Option<Mosquitto> {
        Mosquitto::builder()
            .config_line("allow_anonymous true")
            .config_line("persistence false")
            .tls()
            .client_cert_tls()
            .start_or_skip(test)
    }

    /// The path of `name` in the broker's directory, for a command line.
    fn file(broker: &Mosquitto, name: &str) -> String {
        broker.file(name).to_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn examples_with_url() {
        let Some(broker) = start("examples_with_url") else {
            return;
        };
        let url = broker.url();
        let url = url.as_str();
        let out = Example::run("quickstart", &["--url", url]).await;
        assert_in_order(
            "quickstart",
            &out,
            &["received \"hello #2\"", "disconnected"],
        );
        let out = Example::run("persistent_session", &["--url", url]).await;
        assert_in_order(
            "persistent_session",
            &out,
            &[
                "session present: true",
                "received \"letter 3\"",
                "session discarded",
            ],
        );
        let out = Example::run("deferred_acks", &["--url", url]).await;
        assert_in_order(
            "deferred_acks",
            &out,
            &["\"job 4\" again (DUP: true)", "done"],
        );
        let out = Example::run("manual_acks", &["--url", url]).await;
        assert_in_order("manual_acks", &out, &["nothing was delivered again"]);
        let out = Example::run("request_response", &["--url", url]).await;
        assert_in_order("request_response", &out, &["requester: 40+2 -> 42", "done"]);
        let out = Example::run("reconnect", &["--url", url]).await;
        assert_in_order(
            "reconnect",
            &out,
            &["connected again", "received \"back online\""],
        );
        let out = Example::run(
            "shared_workers",
            &["--url", url, "--workers", "4", "--jobs", "40"],
        )
        .await;
        assert_in_order(
            "shared_workers",
            &out,
            &["40 jobs, each handled exactly once"],
        );
    }

    #[tokio::test]
    async fn tls_examples_with_url() {
        let Some(broker) = start("tls_examples_with_url") else {
            return;
        };
        let ca = file(&broker, "ca.pem");
        let tls = format!("mqtts://localhost:{}", broker.tls_port());
        let out = Example::run("tls_custom_ca", &["--url", &tls, "--ca", &ca]).await;
        assert_in_order(
            "tls_custom_ca",
            &out,
            &["round trip over TLS: \"encrypted\""],
        );
        let mtls = format!("mqtts://localhost:{}", broker.client_cert_tls_port());
        let (cert, key) = (file(&broker, "client.pem"), file(&broker, "client.key"));
        let args = ["--url", &mtls, "--ca", &ca, "--cert", &cert, "--key", &key];
        let out = Example::run("tls_client_cert_alpn", &args).await;
        assert_in_order(
            "tls_client_cert_alpn",
            &out,
            &["round trip: {\"temperature\": 21.5}"],
        );
    }

    /// The service serves a job sent with mosquitto_pub, and stops on SIGINT.
    #[cfg(unix)]
    #[tokio::test]
    async fn service_with_url() {
        let Some(broker) = start("service_with_url") else {
            return;
        };
        let deadline = Instant::now() + LIMIT;
        let mut service = Example::start("service", &["--url", &broker.url()]);
        service.wait_for_line("ready: taking jobs", deadline).await;
        let (watcher, _) = Client::connect(Options::from_url(&broker.url()).unwrap())
            .await
            .unwrap();
        let mut results = watcher
            .subscribe("examples/service/results", QoS::AtLeastOnce)
            .await
            .unwrap();
        let sent = Command::new("mosquitto_pub")
            .args(["-p", &broker.port().to_string(), "-h", "127.0.0.1"])
            .args(["-t", "examples/service/jobs", "-q", "1", "-m", "hello"])
            .status()
            .await;
        match sent {
            Ok(status) => assert!(status.success(), "mosquitto_pub: {status}"),
            Err(e) => panic!("cannot run mosquitto_pub (apt-get install mosquitto-clients): {e}"),
        }
        service
            .wait_for_line("done: hello -> HELLO", deadline)
            .await;
        let result = tokio::time::timeout_at(deadline.into(), results.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(result.payload().as_ref(), b"HELLO");
        service.interrupt();
        let status = service.finish().await;
        service.assert_success(status);
        assert_in_order(
            "service",
            &service.stdout,
            &[
                "stopping: no new jobs, 0 in flight",
                "drained: 0 jobs finished (1 in all)",
                "disconnected",
            ],
        );
        watcher.disconnect(Duration::from_secs(5)).await.unwrap();
    }

    /// The bridge between two mosquittos: QoS kept.
    #[cfg(unix)]
    #[tokio::test]
    async fn bridge_between_two_mosquittos() {
        let Some(a) = start("bridge_between_two_mosquittos") else {
            return;
        };
        let Some(b) = start("bridge_between_two_mosquittos") else {
            return;
        };
        let deadline = Instant::now() + LIMIT;
        let (on_b_client, _) = Client::connect(Options::from_url(&b.url()).unwrap())
            .await
            .unwrap();
        let mut on_b = on_b_client
            .subscribe("plant/#", QoS::ExactlyOnce)
            .await
            .unwrap();
        let (from, to) = (a.url(), b.url());
        let args = ["--from", &from, "--to", &to, "--topic", "plant/#"];
        let mut bridge = Example::start("bridge", &args);
        bridge
            .wait_for_line("bridging plant/# from", deadline)
            .await;
        let (publisher, _) = Client::connect(Options::from_url(&a.url()).unwrap())
            .await
            .unwrap();
        for (topic, qos) in [
            ("plant/a", QoS::AtMostOnce),
            ("plant/b", QoS::AtLeastOnce),
            ("plant/c", QoS::ExactlyOnce),
        ] {
            publisher
                .publish(topic, qos, false, "x")
                .await
                .unwrap()
                .await
                .unwrap();
            let m = tokio::time::timeout_at(deadline.into(), on_b.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!((m.topic(), m.qos()), (topic, qos));
            // B delivers a QoS 2 message before its PUBCOMP reaches the bridge: wait for
            // the bridge to be done with it.
            bridge
                .wait_for_line(&format!("forwarded {topic} at {qos:?}"), deadline)
                .await;
        }
        bridge.interrupt();
        let status = bridge.finish().await;
        bridge.assert_success(status);
        assert_eq!(
            count(&bridge.stdout, "forwarded plant/"),
            3, // once each
            "{:#?}",
            bridge.stdout
        );
        publisher.disconnect(Duration::from_secs(5)).await.unwrap();
        on_b_client
            .disconnect(Duration::from_secs(5))
            .await
            .unwrap();
    }
}
