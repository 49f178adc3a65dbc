//! The §5.3 additions at run time, with the `mqpub`/`mqsub` binaries against the in-process
//! reference broker (`mqtt_testkit::Broker`, one per test, loopback only): `--color`,
//! `--payload-format`, `--json-props`, `--output`, `--output-dir`, `--message-rate`,
//! `--tls-keylog` and `--pw-prompt`.
//!
//! Messages are published retained before the subscriber starts, so that it receives them
//! right after subscribing without any synchronisation; every child runs with `-C` or `-W`
//! and is killed if still running at its deadline.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub
)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mqtt_testkit::Broker;
use mqtt_testkit::certs::TestCa;

mod common;

use common::broker::TestBroker;
use common::{MQPUB, MQSUB, TIMEOUT, TempDir};

#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `cmd` to completion (killed after [`TIMEOUT`]), with `input` on stdin.
fn run_cmd(mut cmd: Command, input: &[u8]) -> Out {
    let mut child = cmd
        .env_remove("MQTT_PASSWORD")
        .env_remove("COLUMNS")
        .env("XDG_CONFIG_HOME", "/nonexistent-mqtt-cli-test")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = child.stdin.take().unwrap();
    let input = input.to_vec();
    thread::spawn(move || {
        let _ = w.write_all(&input);
    });
    let mut o = child.stdout.take().unwrap();
    let out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = o.read_to_end(&mut v);
        v
    });
    let mut e = child.stderr.take().unwrap();
    let err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = e.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not exit within {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Out {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    }
}

fn run(prog: &str, args: &[&str]) -> Out {
    let mut cmd = Command::new(prog);
    cmd.args(args);
    run_cmd(cmd, b"")
}

/// Publishes a retained message.
fn retain(b: &TestBroker, topic: &str, payload: &str) {
    let out = run(
        MQPUB,
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &b.port(),
            "-t",
            topic,
            "-m",
            payload,
            "-r",
            "-q",
            "1",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
}

/// `mqsub -h 127.0.0.1 -p PORT -t a/# <extra>`.
fn sub(b: &TestBroker, extra: &[&str]) -> Out {
    let port = b.port();
    let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-t", "a/#"];
    args.extend_from_slice(extra);
    run(MQSUB, &args)
}

fn sorted_lines(b: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = String::from_utf8_lossy(b)
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[test]
fn color_only_when_asked_or_on_a_terminal() {
    let b = TestBroker::start(Broker::builder());
    retain(&b, "a/b", "hi\u{1}");
    // A pipe with the default (auto) and with never: mosquitto's bytes.
    for extra in [
        &["-v", "-C", "1"][..],
        &["-v", "-C", "1", "--color", "never"],
    ] {
        let out = sub(&b, extra);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(out.stdout, b"a/b hi\x01\n");
    }
    let out = sub(&b, &["-v", "-C", "1", "--color", "always"]);
    assert_eq!(out.stdout, b"\x1b[1;36ma/b\x1b[0m hi\x01\n");
    // Not with -F.
    let out = sub(&b, &["-F", "%t %p", "-C", "1", "--color", "always"]);
    assert_eq!(out.stdout, b"a/b hi\x01\n");
}

#[test]
fn payload_formats() {
    let b = TestBroker::start(Broker::builder());
    retain(&b, "a/b", "hi\u{1}é");
    for (fmt, want) in [
        ("raw", "a/b hi\u{1}é\n"),
        ("hex", "a/b 686901c3a9\n"),
        ("base64", "a/b aGkBw6k=\n"),
        ("text", "a/b hi\\x01é\n"),
    ] {
        let out = sub(&b, &["-v", "-C", "1", "--payload-format", fmt]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert_eq!(String::from_utf8(out.stdout).unwrap(), want, "{fmt}");
    }
    // Default mode too.
    let out = sub(&b, &["-C", "1", "--payload-format", "hex"]);
    assert_eq!(out.stdout, b"686901c3a9\n");
}

#[test]
fn json_props_always_has_properties() {
    let b = TestBroker::start(Broker::builder());
    retain(&b, "a/b", "x");
    let out = sub(&b, &["--json", "-C", "1"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("properties"));
    let out = sub(&b, &["--json", "--json-props", "-C", "1"]);
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains(r#","properties":{},"payload":"x"}"#), "{s:?}");
}

#[test]
fn output_file_is_appended_to() {
    let b = TestBroker::start(Broker::builder());
    retain(&b, "a/b", "one");
    retain(&b, "a/c", "two");
    let dir = TempDir::new("output");
    let file = dir.path().join("messages.txt");
    let f = file.to_str().unwrap();
    for _ in 0..2 {
        let out = sub(&b, &["-v", "-C", "2", "--output", f]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(
        sorted_lines(&std::fs::read(&file).unwrap()),
        ["a/b one", "a/b one", "a/c two", "a/c two"]
    );
    // A file that cannot be opened: an error before connecting.
    let bad = dir.path().join("missing/x.txt");
    let out = sub(&b, &["-C", "1", "--output", bad.to_str().unwrap()]);
    assert_eq!(out.code, Some(1));
    assert_eq!(
        out.stderr,
        format!(
            "Error: Unable to open output file \"{}\": No such file or directory.\n",
            bad.display()
        )
    );
}

#[test]
fn output_dir_gets_one_file_per_message() {
    let b = TestBroker::start(Broker::builder());
    retain(&b, "a/b", "one");
    retain(&b, "a/c", "two");
    let dir = TempDir::new("output-dir");
    let out_dir = dir.path().join("new");
    let out = sub(
        &b,
        &["-C", "2", "--output-dir", out_dir.to_str().unwrap(), "-N"],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.is_empty());
    let mut files: Vec<(String, String)> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    // The counter follows the order of arrival, which the broker does not fix.
    assert!(
        files
            == [
                ("a_b-1".into(), "one".into()),
                ("a_c-2".into(), "two".into())
            ]
            || files
                == [
                    ("a_b-2".into(), "one".into()),
                    ("a_c-1".into(), "two".into())
                ],
        "{files:?}"
    );
}

#[test]
fn message_rate_counts_instead_of_printing() {
    let b = TestBroker::start(Broker::builder());
    for t in ["a/1", "a/2", "a/3"] {
        retain(&b, t, "x");
    }
    let out = sub(&b, &["-v", "--message-rate", "-W", "2"]);
    assert_eq!(out.code, Some(27), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.last(), Some(&"Timed out"), "{out:?}");
    assert_eq!(lines[0], "3 msg/s", "{out:?}");
    assert!(lines[1..lines.len() - 1].iter().all(|l| *l == "0 msg/s"));
}

#[test]
fn tls_keylog_writes_the_secrets() {
    let ca = TestCa::new("mqsub keylog");
    let b = TestBroker::start(Broker::builder().tls(ca.server_cert(&["127.0.0.1"]).tls_config()));
    retain(&b, "a/b", "secret stuff");
    let dir = TempDir::new("keylog");
    let cafile = dir.path().join("ca.pem");
    std::fs::write(&cafile, ca.cert_pem()).unwrap();
    let keylog = dir.path().join("keys.log");
    let port = b.tls_port();
    let args = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "--cafile",
        cafile.to_str().unwrap(),
        "--tls-keylog",
        keylog.to_str().unwrap(),
        "-t",
        "a/b",
        "-C",
        "1",
    ];
    let out = run(MQSUB, &args);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, b"secret stuff\n");
    let log = std::fs::read_to_string(&keylog).unwrap();
    for label in [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET ",
        "CLIENT_TRAFFIC_SECRET_0 ",
    ] {
        assert!(
            log.lines().any(|l| l.starts_with(label)),
            "{label} missing: {log}"
        );
    }
    // mqpub too; the file is appended to.
    let before = log.lines().count();
    let out = run(
        MQPUB,
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "--cafile",
            cafile.to_str().unwrap(),
            "--tls-keylog",
            keylog.to_str().unwrap(),
            "-t",
            "a/b",
            "-m",
            "x",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(std::fs::read_to_string(&keylog).unwrap().lines().count() > before);
}

/// Without a controlling terminal there is nothing to prompt on: a clear error, exit 1.
#[test]
fn pw_prompt_without_a_terminal_fails() {
    if Command::new("setsid").arg("--version").output().is_err() {
        eprintln!("skipping: no setsid");
        return;
    }
    let b = TestBroker::start(Broker::builder().user("u", "secret"));
    let mut cmd = Command::new("setsid");
    cmd.args([
        "-w",
        MQPUB,
        "-h",
        "127.0.0.1",
        "-p",
        &b.port(),
        "-u",
        "u",
        "--pw-prompt",
        "-t",
        "t",
        "-m",
        "x",
    ]);
    let out = run_cmd(cmd, b"secret\n");
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(
        out.stderr,
        "Error: Unable to read the password: No such device or address\n"
    );
}

/// On a terminal (a pty from `script`): the prompt, the password not echoed, and the
/// password reaching the broker.
#[test]
fn pw_prompt_reads_the_terminal_without_echo() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipping: no script(1)");
        return;
    }
    let b = TestBroker::start(Broker::builder().user("u", "s3cret-word"));
    for (typed, ok) in [("s3cret-word", true), ("wrong-word", false)] {
        let inner = format!(
            "{MQPUB} -h 127.0.0.1 -p {} -u u --pw-prompt -t t -m x -d",
            b.port()
        );
        let mut child = Command::new("script")
            .args(["-qec", &inner, "/dev/null"])
            .env_remove("MQTT_PASSWORD")
            .env("XDG_CONFIG_HOME", "/nonexistent-mqtt-cli-test")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut o = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match o.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let _ = tx.send(buf[..n].to_vec());
                    }
                }
            }
        });
        // Type only once the prompt is there and echo is off.
        let deadline = Instant::now() + TIMEOUT;
        let mut screen = Vec::new();
        while !String::from_utf8_lossy(&screen).contains("Password: ") {
            let left = deadline.saturating_duration_since(Instant::now());
            screen.extend(rx.recv_timeout(left).expect("no password prompt"));
        }
        thread::sleep(Duration::from_millis(300));
        stdin.write_all(format!("{typed}\r").as_bytes()).unwrap();
        stdin.flush().unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("mqpub --pw-prompt did not exit");
            }
            thread::sleep(Duration::from_millis(5));
        };
        while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(500)) {
            screen.extend(chunk);
        }
        let screen = String::from_utf8_lossy(&screen);
        assert_eq!(status.success(), ok, "{status:?} {screen}");
        assert!(!screen.contains(typed), "password echoed: {screen}");
        if ok {
            assert!(screen.contains("sending CONNECT"), "{screen}");
        }
        drop(stdin);
    }
}

/// `--color auto` (the default) colours on a terminal (a pty from `script`).
#[test]
fn color_auto_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipping: no script(1)");
        return;
    }
    let b = TestBroker::start(Broker::builder());
    retain(&b, "a/b", "hi");
    for (extra, colored) in [("", true), ("--color never", false)] {
        let inner = format!(
            "{MQSUB} -h 127.0.0.1 -p {} -t a/# -v -C 1 {extra}",
            b.port()
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &inner, "/dev/null"]);
        let out = run_cmd(cmd, b"");
        assert_eq!(out.code, Some(0), "{out:?}");
        let screen = String::from_utf8_lossy(&out.stdout);
        let want = if colored {
            "\x1b[1;36ma/b\x1b[0m hi\r\n"
        } else {
            "a/b hi\r\n"
        };
        assert!(screen.ends_with(want), "{screen:?}");
    }
}

/// `-w`: a table of the latest message per topic, redrawn; at exit the last frame shows
/// every message.
#[test]
fn watch_shows_the_latest_message_per_topic() {
    let b = TestBroker::start(Broker::builder());
    retain(&b, "a/b", "one");
    retain(&b, "a/c", "two\nlines");
    let out = sub(&b, &["-w", "-W", "1"]);
    assert_eq!(out.code, Some(27), "{out:?}");
    assert_eq!(out.stderr, "Timed out\n");
    let screen = String::from_utf8(out.stdout).unwrap();
    let last = screen.rsplit("\x1b[H\x1b[2J").next().unwrap();
    assert_eq!(
        last,
        "2 messages, 2 topics\n\
         TOPIC  COUNT  PAYLOAD\n\
         a/b        1  one\n\
         a/c        1  two\\nlines\n"
    );
}
