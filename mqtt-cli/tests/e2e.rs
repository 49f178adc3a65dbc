//! End to end: the `mqpub` and `mqsub` binaries against the in-process reference broker
//! (`mqtt_testkit::Broker`, one per test) over TCP, TLS, WebSocket, secure WebSocket and a
//! unix socket; QoS 0/1/2, MQTT 5.0 properties, wills, persistent sessions, the exit
//! statuses of refused connections (fault injection), a closed stdout and SIGINT.
//!
//! The broker runs on its own thread (a current-thread tokio runtime); the tools run as
//! child processes. Subscribers are started with `-d` and publishing waits for their
//! `Subscribed (mid` line; every wait is bounded and children still running at their
//! deadline are killed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mqtt_proto::{ConnectReason, DisconnectReason, PacketType};
use mqtt_testkit::Broker;
use mqtt_testkit::certs::TestCa;

mod common;

use common::broker::TestBroker;
use common::{MQPUB, MQSUB, Out, Proc, TIMEOUT, TempDir, run};

/// mqpub that must succeed silently.
#[track_caller]
fn publish(args: &[&str]) {
    let out = run(MQPUB, args, None);
    assert_eq!(
        out,
        Out {
            code: Some(0),
            stdout: String::new(),
            stderr: String::new()
        },
        "mqpub {args:?}"
    );
}

/// The lines of a `-d` run that are not `-d` lines.
fn messages(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| {
            !l.starts_with("Client ")
                && !l.starts_with("Subscribed (mid")
                && !l.starts_with("Received DISCONNECT (")
        })
        .collect()
}

/// `v` followed by `rest`.
fn args<'a>(v: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    let mut a = v.to_vec();
    a.extend_from_slice(rest);
    a
}

// ---------------------------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------------------------

/// One message each way over a transport: `conn` are the connection arguments.
fn round_trip(conn: &[&str], topic: &str) {
    let sub = Proc::subscribed(&args(
        conn,
        &["-t", topic, "-v", "-d", "-C", "1", "-q", "1"],
    ));
    publish(&args(
        conn,
        &["-t", topic, "-m", "over the wire", "-q", "1"],
    ));
    let out = sub.wait();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(
        messages(&out.stdout),
        [format!("{topic} over the wire").as_str()]
    );
    assert_eq!(out.stderr, "");
}

#[test]
fn tcp_qos_levels() {
    let b = TestBroker::start(Broker::builder());
    let port = b.port();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str()];
    let sub = Proc::subscribed(&args(
        &conn,
        &["-t", "q/#", "-q", "2", "-d", "-F", "%t %q %r %p", "-C", "6"],
    ));
    for qos in ["0", "1", "2"] {
        let topic = format!("q/{qos}");
        publish(&args(&conn, &["-t", &topic, "-m", "payload", "-q", qos]));
        // -d on the publisher: the exchange of each QoS.
        let out = run(
            MQPUB,
            &args(&conn, &["-t", &topic, "-m", "again", "-q", qos, "-d"]),
            None,
        );
        assert_eq!(out.code, Some(0));
        let lines: Vec<&str> = out.stdout.lines().collect();
        let want: &[&str] = match qos {
            "0" => &[
                "sending CONNECT",
                "received CONNACK (0)",
                "sending PUBLISH (d0, q0, r0, m1, 'q/0', ... (5 bytes))",
                "sending DISCONNECT",
            ],
            "1" => &[
                "sending CONNECT",
                "received CONNACK (0)",
                "sending PUBLISH (d0, q1, r0, m1, 'q/1', ... (5 bytes))",
                "received PUBACK (Mid: 1, RC:0)",
                "sending DISCONNECT",
            ],
            _ => &[
                "sending CONNECT",
                "received CONNACK (0)",
                "sending PUBLISH (d0, q2, r0, m1, 'q/2', ... (5 bytes))",
                "received PUBREC (Mid: 1)",
                "sending PUBREL (m1)",
                "received PUBCOMP (Mid: 1, RC:0)",
                "sending DISCONNECT",
            ],
        };
        assert_eq!(lines.len(), want.len(), "{out:?}");
        for (l, w) in lines.iter().zip(want) {
            assert!(
                l.starts_with("Client mqpub-") && l.ends_with(w),
                "{l:?} / {w:?}"
            );
        }
    }
    let out = sub.wait();
    assert_eq!(
        messages(&out.stdout),
        [
            "q/0 0 0 payload",
            "q/0 0 0 again",
            "q/1 1 0 payload",
            "q/1 1 0 again",
            "q/2 2 0 payload",
            "q/2 2 0 again"
        ]
    );
    assert!(out.stdout.contains("sending PUBREC"), "{out:?}");
    assert_eq!(out.code, Some(0));
}

#[test]
fn tls_and_secure_websocket() {
    let ca = TestCa::new("e2e");
    let server = ca.server_cert(&["localhost", "127.0.0.1"]);
    let b = TestBroker::start(
        Broker::builder()
            .tls(server.tls_config())
            .websocket_tls(server.tls_config()),
    );
    let dir = TempDir::new("tls");
    let cafile = dir.path().join("ca.pem");
    std::fs::write(&cafile, ca.cert_pem()).unwrap();
    let cafile = cafile.to_str().unwrap().to_string();
    let tls_port = b.broker().tls_addr().unwrap().port().to_string();
    round_trip(
        &["-h", "127.0.0.1", "-p", &tls_port, "--cafile", &cafile],
        "tls/t",
    );
    round_trip(
        &["-h", "localhost", "-p", &tls_port, "--cafile", &cafile],
        "tls/name",
    );
    let wss_port = b.broker().wss_addr().unwrap().port().to_string();
    round_trip(
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &wss_port,
            "--ws",
            "--cafile",
            &cafile,
        ],
        "wss/t",
    );
    // The wrong CA: D10, `Error: A TLS error occurred.` plus the reason, exit 8.
    let other = TestCa::new("other");
    let wrong = dir.path().join("wrong.pem");
    std::fs::write(&wrong, other.cert_pem()).unwrap();
    for tool in [MQPUB, MQSUB] {
        let out = run(
            tool,
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &tls_port,
                "--cafile",
                wrong.to_str().unwrap(),
                "-t",
                "x",
                "-m",
                "y",
            ][..if tool == MQPUB { 10 } else { 8 }],
            None,
        );
        assert_eq!(out.code, Some(8), "{out:?}");
        let mut lines = out.stderr.lines();
        assert_eq!(
            lines.next(),
            Some("Error: A TLS error occurred."),
            "{out:?}"
        );
        assert!(lines.next().is_some_and(|l| !l.is_empty()), "{out:?}");
        assert_eq!(out.stdout, "");
    }
    // A name the certificate does not carry: exit 8; --insecure skips the name check only.
    let cert_for_other_name = ca.server_cert(&["broker.example"]);
    let b2 = TestBroker::start(Broker::builder().tls(cert_for_other_name.tls_config()));
    let port2 = b2.broker().tls_addr().unwrap().port().to_string();
    let conn2 = [
        "-h",
        "127.0.0.1",
        "-p",
        port2.as_str(),
        "--cafile",
        cafile.as_str(),
    ];
    let out = run(MQPUB, &args(&conn2, &["-t", "x", "-m", "y"]), None);
    assert_eq!(out.code, Some(8), "{out:?}");
    assert!(
        out.stderr.starts_with("Error: A TLS error occurred.\n"),
        "{out:?}"
    );
    publish(&args(&conn2, &["--insecure", "-t", "x", "-m", "y"]));
    // A missing CA file.
    let out = run(
        MQPUB,
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &tls_port,
            "--cafile",
            "/nonexistent/ca.pem",
            "-t",
            "x",
            "-m",
            "y",
        ],
        None,
    );
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (
            Some(1),
            "Error: Problem setting TLS options: File not found.\n"
        )
    );
}

#[test]
fn websocket() {
    let b = TestBroker::start(Broker::builder().websocket());
    let ws_port = b.broker().ws_addr().unwrap().port().to_string();
    round_trip(&["-h", "127.0.0.1", "-p", &ws_port, "--ws"], "ws/flag");
    // -L ws://host:port/topic (an addition; mosquitto 2.0.11 has no WebSocket).
    let url = format!("ws://127.0.0.1:{ws_port}/ws/url");
    let sub = Proc::subscribed(&["-L", &url, "-v", "-d", "-C", "1"]);
    publish(&["-L", &url, "-m", "via url"]);
    let out = sub.wait();
    assert_eq!(messages(&out.stdout), ["ws/url via url"]);
    // A WebSocket client at the plain MQTT port fails to upgrade: exit 1 with a message.
    let out = run(
        MQPUB,
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &b.port(),
            "--ws",
            "-t",
            "x",
            "-m",
            "y",
        ],
        None,
    );
    assert_ne!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.starts_with("Error: "), "{out:?}");
}

#[cfg(unix)]
#[test]
fn unix_socket() {
    let dir = TempDir::new("unix");
    let path = dir.path().join("mqtt.sock");
    let b = TestBroker::start(Broker::builder().unix(&path));
    let p = path.to_str().unwrap();
    round_trip(&["--unix", p], "unix/t");
    drop(b);
    let out = run(MQPUB, &["--unix", p, "-t", "x", "-m", "y"], None);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (Some(1), "Error: No such file or directory\n")
    );
}

// ---------------------------------------------------------------------------------------------
// MQTT features
// ---------------------------------------------------------------------------------------------

#[test]
fn v5_properties() {
    let b = TestBroker::start(Broker::builder());
    let port = b.port();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str(), "-V", "5"];
    let sub = Proc::subscribed(&args(
        &conn,
        &[
            "-t",
            "p/#",
            "-d",
            "-F",
            "%t %p P=[%P] C=[%C] E=[%E] R=[%R] D=[%D] F=[%F] S=[%S]",
            "-C",
            "1",
        ],
    ));
    publish(&args(
        &conn,
        &[
            "-t",
            "p/full",
            "-m",
            "hello",
            "-D",
            "publish",
            "user-property",
            "k1",
            "v1",
            "-D",
            "publish",
            "user-property",
            "k2",
            "v2",
            "-D",
            "publish",
            "content-type",
            "text/plain",
            "-D",
            "publish",
            "message-expiry-interval",
            "60",
            "-D",
            "publish",
            "response-topic",
            "reply/here",
            "-D",
            "publish",
            "correlation-data",
            "abc123",
            "-D",
            "publish",
            "payload-format-indicator",
            "1",
        ],
    ));
    let out = sub.wait();
    let m = messages(&out.stdout);
    assert_eq!(m.len(), 1, "{out:?}");
    // (E is what is left of the 60 s: 59 or 60.)
    assert!(
        m[0] == "p/full hello P=[k1:v1 k2:v2] C=[text/plain] E=[60] R=[reply/here] D=[abc123] F=[1] S=[]"
            || m[0]
                == "p/full hello P=[k1:v1 k2:v2] C=[text/plain] E=[59] R=[reply/here] D=[abc123] F=[1] S=[]",
        "{m:?}"
    );
    // %j carries the properties; no subscription identifier unless asked for.
    let sub = Proc::subscribed(&args(&conn, &["-t", "j/#", "-d", "-F", "%j", "-C", "1"]));
    publish(&args(
        &conn,
        &[
            "-t",
            "j/x",
            "-m",
            "v",
            "-D",
            "publish",
            "user-property",
            "name",
            "value",
        ],
    ));
    let out = sub.wait();
    let m = messages(&out.stdout);
    assert!(
        m[0].ends_with(
            "\"topic\":\"j/x\",\"qos\":0,\"retain\":0,\"payloadlen\":1,\"properties\":{\"user-properties\":{\"name\":\"value\"}},\"payload\":\"v\"}"
        ),
        "{m:?}"
    );
    // -D subscribe subscription-identifier shows in %S.
    let sub = Proc::subscribed(&args(
        &conn,
        &[
            "-t",
            "s/#",
            "-d",
            "-F",
            "%S",
            "-D",
            "subscribe",
            "subscription-identifier",
            "7",
            "-C",
            "1",
        ],
    ));
    publish(&args(&conn, &["-t", "s/x", "-m", "v"]));
    assert_eq!(messages(&sub.wait().stdout), ["7"]);
}

#[test]
fn retained_and_null_message() {
    let b = TestBroker::start(Broker::builder());
    let port = b.port();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str()];
    publish(&args(&conn, &["-t", "r/a", "-m", "kept", "-r", "-q", "1"]));
    assert_eq!(b.retained("r/a").as_deref(), Some(&b"kept"[..]));
    let out = run(
        MQSUB,
        &args(&conn, &["-t", "r/#", "-F", "%t %r %p", "-C", "1"]),
        None,
    );
    assert_eq!(out.stdout, "r/a 1 kept\n");
    publish(&args(&conn, &["-t", "r/a", "-r", "-n"]));
    assert_eq!(b.retained("r/a"), None);
    // --retained-only exits at the first live message; -R skips retained ones.
    publish(&args(&conn, &["-t", "r/b", "-m", "old", "-r"]));
    let sub = Proc::subscribed(&args(&conn, &["-t", "r/#", "-v", "-d", "--retained-only"]));
    publish(&args(&conn, &["-t", "r/c", "-m", "live"]));
    let out = sub.wait();
    assert_eq!(
        (messages(&out.stdout), out.code),
        (vec!["r/b old"], Some(0))
    );
    let sub = Proc::subscribed(&args(&conn, &["-t", "r/#", "-v", "-d", "-R", "-C", "1"]));
    publish(&args(&conn, &["-t", "r/c", "-m", "live"]));
    assert_eq!(messages(&sub.wait().stdout), ["r/c live"]);
    // --remove-retained clears what it sees.
    let out = run(
        MQSUB,
        &args(
            &conn,
            &[
                "-t",
                "r/#",
                "-v",
                "--remove-retained",
                "--retained-only",
                "-W",
                "1",
            ],
        ),
        None,
    );
    assert_eq!(out.stdout, "r/b old\n", "{out:?}");
    assert_eq!(b.retained("r/b"), None);
    // ... except what -T filters out (`--remove-retained --retained-only -T keep`).
    publish(&args(&conn, &["-t", "r/keep", "-m", "k", "-r"]));
    publish(&args(&conn, &["-t", "r/drop", "-m", "d", "-r"]));
    let out = run(
        MQSUB,
        &args(
            &conn,
            &[
                "-t",
                "r/#",
                "-v",
                "--remove-retained",
                "--retained-only",
                "-T",
                "r/keep",
                "-W",
                "1",
            ],
        ),
        None,
    );
    assert_eq!(out.stdout, "r/drop d\n", "{out:?}");
    assert_eq!(b.retained("r/drop"), None);
    assert_eq!(b.retained("r/keep").as_deref(), Some(&b"k"[..]));
}

#[test]
fn stdin_modes_and_repeat() {
    let b = TestBroker::start(Broker::builder());
    let port = b.port();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str()];
    let sub = Proc::subscribed(&args(
        &conn,
        &["-t", "in/#", "-d", "-q", "2", "-F", "%t [%p] %l", "-C", "9"],
    ));
    let out = run(
        MQPUB,
        &args(&conn, &["-t", "in/l", "-l", "-q", "2"]),
        Some(b"one\n\nthree\r\nfour"),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = run(
        MQPUB,
        &args(&conn, &["-t", "in/s", "-s", "-q", "1"]),
        Some(b"a\nb\n"),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let dir = TempDir::new("file");
    let f = dir.path().join("payload");
    std::fs::write(&f, b"from a file").unwrap();
    publish(&args(&conn, &["-t", "in/f", "-f", f.to_str().unwrap()]));
    publish(&args(
        &conn,
        &["-t", "in/r", "-m", "again", "--repeat", "3", "-q", "1"],
    ));
    let out = sub.wait();
    assert_eq!(
        messages(&out.stdout),
        [
            "in/l [one] 3",
            "in/l [] 0",
            "in/l [three\r] 6",
            "in/l [four] 4",
            "in/s [a",
            "b",
            "] 4",
            "in/f [from a file] 11",
            "in/r [again] 5",
            "in/r [again] 5",
            "in/r [again] 5",
        ]
    );
}

#[test]
fn stdin_lines_bulk() {
    let b = TestBroker::start(Broker::builder());
    let port = b.port();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str()];
    let n = 2000;
    let input: String = (0..n).map(|i| format!("line {i}\n")).collect();
    let count = n.to_string();
    let sub = Proc::subscribed(&args(&conn, &["-t", "bulk", "-d", "-q", "1", "-C", &count]));
    let out = run(
        MQPUB,
        &args(&conn, &["-t", "bulk", "-l", "-q", "1"]),
        Some(input.as_bytes()),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = sub.wait();
    let got: Vec<&str> = messages(&out.stdout);
    let want: Vec<String> = (0..n).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
}

#[test]
fn wills() {
    let b = TestBroker::start(Broker::builder());
    let port = b.port();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str()];
    let will = [
        "--will-topic",
        "will/t",
        "--will-payload",
        "gone",
        "--will-qos",
        "1",
    ];
    // SIGKILL: the broker publishes the will.
    let watcher = Proc::subscribed(&args(
        &conn,
        &[
            "-t",
            "will/#",
            "-d",
            "-v",
            "-q",
            "1",
            "-C",
            "1",
            "-i",
            "watch-kill",
        ],
    ));
    let victim = Proc::subscribed(&args(&args(&conn, &will), &["-t", "x", "-d"]));
    victim.signal("-KILL");
    let out = watcher.wait();
    assert_eq!(messages(&out.stdout), ["will/t gone"]);
    let _ = victim.wait();
    // SIGINT on 5.0: DISCONNECT 0x04 (mosquitto_sub's), so the will is published too, and
    // mqsub exits 0.
    let watcher = Proc::subscribed(&args(
        &conn,
        &[
            "-t",
            "will/#",
            "-d",
            "-v",
            "-q",
            "1",
            "-C",
            "1",
            "-i",
            "watch-int",
        ],
    ));
    let v5 = Proc::subscribed(&args(&args(&conn, &will), &["-t", "x", "-d", "-V", "5"]));
    v5.signal("-INT");
    let out = v5.wait();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.ends_with(" sending DISCONNECT\n"), "{out:?}");
    assert_eq!(out.stderr, "");
    assert_eq!(messages(&watcher.wait().stdout), ["will/t gone"]);
    if sigint_ignored() {
        eprintln!(
            "wills: SIGINT is ignored by this process (started in the background?), and so by \
             mqpub: skipping the mqpub -l interruption"
        );
        return;
    }
    // mqpub -l interrupted: no handler (exit 130 from the shell's view: killed by SIGINT),
    // no DISCONNECT, so the will fires.
    let watcher = Proc::subscribed(&args(
        &conn,
        &[
            "-t",
            "will/#",
            "-d",
            "-v",
            "-q",
            "1",
            "-C",
            "1",
            "-i",
            "watch-pub",
        ],
    ));
    let mut child = Command::new(MQPUB)
        .args(args(&args(&conn, &will), &["-t", "x", "-l", "-d"]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"first\n").unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let l = lines.next().expect("mqpub -d output").unwrap();
        if l.contains("sending PUBLISH") {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = watcher.wait();
    assert_eq!(messages(&out.stdout), ["will/t gone"]);
    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by SIGINT: {status:?}");
}

/// Whether this process ignores SIGINT (a non-interactive shell starts background jobs so);
/// children inherit it, and mqpub, which has no handler, could not be interrupted.
fn sigint_ignored() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigIgn:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        })
        .is_some_and(|mask| mask & (1 << (2 - 1)) != 0)
}

#[test]
fn persistent_session() {
    let b = TestBroker::start(Broker::builder());
    let port = b.port();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str()];
    let id = ["-c", "-i", "durable", "-q", "1", "-t", "dur/#"];
    // -E: subscribe, exit at SUBACK, keep the session.
    let out = run(MQSUB, &args(&conn, &args(&id, &["-E"])), None);
    assert_eq!(
        out,
        Out {
            code: Some(0),
            stdout: String::new(),
            stderr: String::new()
        }
    );
    publish(&args(&conn, &["-t", "dur/a", "-m", "queued 1", "-q", "1"]));
    publish(&args(&conn, &["-t", "dur/b", "-m", "queued 2", "-q", "2"]));
    let out = run(MQSUB, &args(&conn, &args(&id, &["-v", "-C", "2"])), None);
    assert_eq!(out.stdout, "dur/a queued 1\ndur/b queued 2\n", "{out:?}");
    // -U removes the subscription: nothing is queued afterwards.
    let out = run(
        MQSUB,
        &args(
            &conn,
            &[
                "-c", "-i", "durable", "-q", "1", "-t", "other", "-U", "dur/#", "-E",
            ],
        ),
        None,
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    publish(&args(
        &conn,
        &["-t", "dur/c", "-m", "not queued", "-q", "1"],
    ));
    publish(&args(&conn, &["-t", "other", "-m", "queued", "-q", "1"]));
    let out = run(
        MQSUB,
        &args(
            &conn,
            &[
                "-c", "-i", "durable", "-q", "1", "-t", "other", "-v", "-C", "1",
            ],
        ),
        None,
    );
    assert_eq!(out.stdout, "other queued\n", "{out:?}");
    // 5.0: -c without -i (infinite expiry) is refused by the parser.
    let out = run(MQSUB, &args(&conn, &["-V", "5", "-c", "-t", "x"]), None);
    assert_eq!(out.code, Some(1));
}

// ---------------------------------------------------------------------------------------------
// Refusals and failures
// ---------------------------------------------------------------------------------------------

#[test]
fn refused_connections() {
    let b = TestBroker::start(Broker::builder());
    let port = b.port();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str()];
    let cases = [
        (
            ConnectReason::NotAuthorized,
            "311",
            5,
            "Connection error: Connection Refused: not authorised.",
        ),
        (
            ConnectReason::BadUserNameOrPassword,
            "311",
            4,
            "Connection error: Connection Refused: bad user name or password.",
        ),
        (
            ConnectReason::ServerUnavailable,
            "311",
            3,
            "Connection error: Connection Refused: broker unavailable.",
        ),
        (
            ConnectReason::NotAuthorized,
            "5",
            135,
            "Connection error: Not authorized",
        ),
        (ConnectReason::Banned, "5", 138, "Connection error: Banned"),
    ];
    for (i, (reason, version, code, text)) in cases.into_iter().enumerate() {
        for tool in [MQPUB, MQSUB] {
            let id = format!("refused-{i}-{}", tool == MQPUB);
            b.faults().for_client(id.as_str()).refuse_connect(reason);
            let rest: &[&str] = if tool == MQPUB {
                &["-t", "x", "-m", "y"]
            } else {
                &["-t", "x"]
            };
            let out = run(
                tool,
                &args(&args(&conn, &["-i", &id, "-V", version]), rest),
                None,
            );
            let second = match (tool == MQPUB, version) {
                (true, "5") => {
                    "Error: A network protocol error occurred when communicating with the broker.\n"
                }
                (true, _) => "Error: The connection was refused.\n",
                _ => "",
            };
            assert_eq!(
                out,
                Out {
                    code: Some(code),
                    stdout: String::new(),
                    stderr: format!("{text}\n{second}")
                },
                "{tool} {reason:?} -V {version}"
            );
        }
    }
    // --quiet: nothing printed, the status kept.
    b.faults()
        .for_client("quiet")
        .refuse_connect(ConnectReason::NotAuthorized);
    let out = run(
        MQPUB,
        &args(&conn, &["-i", "quiet", "--quiet", "-t", "x", "-m", "y"]),
        None,
    );
    assert_eq!((out.code, out.stderr.as_str()), (Some(5), ""));
    // Users: a wrong password (3.1.1: 4 from this broker; mosquitto's own broker says 5).
    let b = TestBroker::start(Broker::builder().user("alice", "secret"));
    let port = b.port();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str()];
    publish(&args(
        &conn,
        &["-u", "alice", "-P", "secret", "-t", "x", "-m", "y"],
    ));
    let out = run(
        MQPUB,
        &args(
            &conn,
            &[
                "-u", "alice", "-P", "wrong", "-t", "x", "-m", "y", "-V", "5",
            ],
        ),
        None,
    );
    assert_eq!(out.code, Some(134), "{out:?}");
    assert_eq!(
        out.stderr.lines().next(),
        Some("Connection error: Bad User Name or Password")
    );
}

#[test]
fn no_connack_and_timeouts() {
    let b = TestBroker::start(Broker::builder());
    let port = b.port();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str()];
    // D12: -W before CONNACK is `Timed out`, 27.
    b.faults()
        .for_client("silent-sub")
        .withhold(PacketType::ConnAck);
    let started = Instant::now();
    let out = run(
        MQSUB,
        &args(&conn, &["-i", "silent-sub", "-t", "x", "-W", "1"]),
        None,
    );
    assert_eq!((out.code, out.stderr.as_str()), (Some(27), "Timed out\n"));
    assert!(started.elapsed() < Duration::from_secs(5));
    // D9: no CONNACK within the connect timeout: exit 19 with a real message.
    b.faults()
        .for_client("silent-pub")
        .withhold(PacketType::ConnAck);
    let out = run(
        MQPUB,
        &args(
            &conn,
            &[
                "-i",
                "silent-pub",
                "--connect-timeout",
                "1",
                "-t",
                "x",
                "-m",
                "y",
            ],
        ),
        None,
    );
    assert_eq!(out.code, Some(19), "{out:?}");
    assert_eq!(
        out.stderr,
        "Error: No CONNACK received within the connect timeout (1 s).\n"
    );
    // -W after CONNACK: `Timed out`, 27, after a clean DISCONNECT.
    let out = run(MQSUB, &args(&conn, &["-t", "x", "-W", "1", "-d"]), None);
    assert_eq!((out.code, out.stderr.as_str()), (Some(27), "Timed out\n"));
    assert!(out.stdout.ends_with(" sending DISCONNECT\n"), "{out:?}");
}

#[test]
fn closed_stdout_and_sigint() {
    let b = TestBroker::start(Broker::builder());
    let port = b.port();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str()];
    // `mqsub ... | head -1`: the reader goes away; the next write ends mqsub with 0, quietly.
    publish(&args(
        &conn,
        &["-t", "pipe/0", "-m", "retained first", "-r"],
    ));
    let mut child = Command::new(MQSUB)
        .args(args(&conn, &["-t", "pipe/#", "-v"]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    assert_eq!(first, "pipe/0 retained first\n");
    drop(out);
    // Publish until mqsub notices (the first write after the close may still succeed into
    // the pipe buffer on some systems; each publish is one more write).
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        publish(&args(&conn, &["-t", "pipe/1", "-m", "more"]));
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mqsub did not notice the closed stdout");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!((status.code(), err.as_str()), (Some(0), ""));
    // SIGINT after CONNACK: DISCONNECT, exit 0.
    let sub = Proc::subscribed(&args(&conn, &["-t", "sig", "-d"]));
    sub.signal("-INT");
    let out = sub.wait();
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.ends_with(" sending DISCONNECT\n"), "{out:?}");
    // SIGTERM likewise.
    let sub = Proc::subscribed(&args(&conn, &["-t", "sig", "-d"]));
    sub.signal("-TERM");
    assert_eq!(sub.wait().code, Some(0));
}

#[test]
fn connection_lost_and_reconnect() {
    let b = TestBroker::start(Broker::builder());
    let port = b.port();
    let conn = ["-h", "127.0.0.1", "-p", port.as_str()];
    // D11: after the first CONNACK a lost connection is reported on stderr and mqsub
    // reconnects and subscribes again.
    for version in ["311", "5"] {
        let id = format!("lost-{version}");
        let sub = Proc::subscribed(&args(
            &conn,
            &[
                "-i", &id, "-V", version, "-t", "rc/#", "-v", "-d", "-C", "1",
            ],
        ));
        assert!(
            b.faults()
                .for_client(id.as_str())
                .live_connection()
                .unwrap()
                .disconnect_with(DisconnectReason::AdministrativeAction)
        );
        sub.wait_stdout_n("received SUBACK", 2);
        publish(&args(
            &conn,
            &["-t", "rc/x", "-m", "after the reconnection"],
        ));
        let out = sub.wait();
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(messages(&out.stdout), ["rc/x after the reconnection"]);
        let err: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(err.len(), 2, "{out:?}");
        assert!(
            err[0].starts_with("Connection lost: ") && err[0].ends_with("; reconnecting…"),
            "{out:?}"
        );
        assert_eq!(err[1], "Reconnected.");
        if version == "5" {
            assert!(out.stdout.contains("Received DISCONNECT (152)"), "{out:?}");
        }
    }
    // --no-reconnect: the loss ends mqsub with 7.
    let sub = Proc::subscribed(&args(
        &conn,
        &["-i", "once", "-t", "x", "-d", "--no-reconnect"],
    ));
    assert!(
        b.faults()
            .for_client("once")
            .live_connection()
            .unwrap()
            .disconnect_with(DisconnectReason::AdministrativeAction)
    );
    let out = sub.wait();
    assert_eq!(out.code, Some(7), "{out:?}");
    assert!(
        out.stderr.starts_with("Error: The connection was lost"),
        "{out:?}"
    );
    // Every message received before the loss is printed before mqsub exits.
    let sub = Proc::subscribed(&args(
        &conn,
        &["-i", "drain", "-t", "dr", "-d", "--no-reconnect"],
    ));
    b.faults().for_client("drain").close_after(
        mqtt_testkit::Direction::Out,
        PacketType::Publish,
        300,
    );
    let lines: String = (1..=400).map(|i| format!("{i}\n")).collect();
    let out = run(
        MQPUB,
        &args(&conn, &["-t", "dr", "-l", "-q", "1"]),
        Some(lines.as_bytes()),
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = sub.wait();
    assert_eq!(out.code, Some(7), "{out:?}");
    let expected: Vec<String> = (1..=300).map(|i| i.to_string()).collect();
    assert_eq!(messages(&out.stdout), expected, "{out:?}");
}
