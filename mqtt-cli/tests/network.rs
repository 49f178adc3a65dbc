//! `--proxy` and the OS trust store, beside mosquitto_pub / mosquitto_sub 2.0.11 (Debian's
//! build has SOCKS5 support): both tools run the same command line against the reference
//! broker (TCP and TLS), through a real SOCKS5 proxy (`microsocks`, started here on a free
//! loopback port) and with a private CA installed in an OS-style bundle (`SSL_CERT_FILE`,
//! which OpenSSL and rustls-native-certs both read). Successes must publish the message;
//! failures must print the same text and exit with the same status. HTTP CONNECT
//! (`--proxy http://`, an addition) is tried against `tinyproxy`.
//!
//! When mosquitto_pub, microsocks or tinyproxy is missing these tests print a notice and
//! pass; with `MQTT_INTEROP=require` they fail instead.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub
)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mqtt_testkit::Broker;
use mqtt_testkit::certs::TestCa;

mod common;

use common::broker::TestBroker;
use common::{MQPUB, MQSUB, Out, TIMEOUT, TempDir};

fn installed(prog: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.exists())
}

/// Whether every program is installed; panics if one is not and `MQTT_INTEROP=require`.
fn available(test: &str, progs: &[&str]) -> bool {
    let missing: Vec<_> = progs
        .iter()
        .filter(|p| installed(p).is_none())
        .copied()
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("MQTT_INTEROP").as_deref() == Ok("require") {
        panic!("MQTT_INTEROP=require, but {missing:?} are not installed");
    }
    eprintln!("skipping {test}: {missing:?} not installed");
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Run `prog` with these arguments and environment variables (the rest of the environment
/// as the test's, minus any trust-store and proxy variables of the machine), bounded.
fn run_env(prog: &str, args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .env("XDG_CONFIG_HOME", "/nonexistent-mqtt-cli-test")
        .env_remove("MQTT_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for v in ["SSL_CERT_FILE", "SSL_CERT_DIR", "ALL_PROXY", "all_proxy"] {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let e = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{prog} {args:?} did not exit within {TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Out {
        code: status.code(),
        stdout: o.join().unwrap(),
        stderr: e.join().unwrap(),
    }
}

/// A proxy process on a free port, killed on drop.
struct ProxyProcess {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl ProxyProcess {
    fn microsocks(auth: Option<(&str, &str)>) -> Self {
        let port = free_port();
        let mut args = vec![
            "-i".to_string(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ];
        if let Some((u, p)) = auth {
            args.extend(["-u".to_string(), u.into(), "-P".into(), p.into()]);
        }
        Self::start("microsocks", &args, port, TempDir::new("socks"))
    }

    fn tinyproxy(auth: (&str, &str)) -> Self {
        let port = free_port();
        let dir = TempDir::new("tinyproxy");
        let conf = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 20\n\
                 BasicAuth {} {}\n",
                auth.0, auth.1
            ),
        )
        .unwrap();
        let args = vec!["-d".to_string(), "-c".into(), conf.display().to_string()];
        Self::start("tinyproxy", &args, port, dir)
    }

    fn start(prog: &str, args: &[String], port: u16, dir: TempDir) -> Self {
        let mut child = Command::new(installed(prog).unwrap())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "{prog} exited at start"
            );
            assert!(Instant::now() < deadline, "{prog} does not listen");
            thread::sleep(Duration::from_millis(10));
        }
        Self {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The reference broker on TCP and TLS (a certificate for localhost from `ca`).
fn broker(ca: &TestCa) -> TestBroker {
    let server = ca.server_cert(&["localhost", "127.0.0.1"]);
    TestBroker::start(Broker::builder().tls(server.tls_config()))
}

const TOOLS: [(&str, &str); 2] = [("mosquitto_pub", "theirs"), (MQPUB, "ours")];

/// Publish a retained message with each tool; both must succeed and the broker keep it.
fn both_publish(b: &TestBroker, conn: &[&str], env: &[(&str, &str)], what: &str) {
    for (tool, who) in TOOLS {
        let topic = format!("net/{who}/{}", what.replace(' ', "-"));
        let payload = format!("{what} by {who}");
        let mut args = conn.to_vec();
        args.extend(["-r", "-q", "1", "-t", &topic, "-m", &payload]);
        let out = run_env(tool, &args, env);
        assert_eq!(
            (out.code, out.stderr.as_str()),
            (Some(0), ""),
            "{what}: {tool} {args:?}"
        );
        assert_eq!(
            b.retained(&topic).as_deref(),
            Some(payload.as_bytes()),
            "{what}: {tool}"
        );
    }
}

/// Both tools fail the same way: same stderr, same status (which must be `code`).
fn both_fail(conn: &[&str], env: &[(&str, &str)], code: i32, what: &str) -> String {
    let mut args = conn.to_vec();
    args.extend(["-t", "net/fail", "-m", "x"]);
    let theirs = run_env("mosquitto_pub", &args, env);
    let ours = run_env(MQPUB, &args, env);
    assert_eq!(theirs.code, Some(code), "{what}: mosquitto_pub {theirs:?}");
    assert_eq!(
        (ours.code, ours.stderr.as_str()),
        (theirs.code, theirs.stderr.as_str()),
        "{what}: mqpub against mosquitto_pub"
    );
    ours.stderr
}

#[test]
fn socks5h_proxy_beside_mosquitto_pub() {
    if !available("socks5h_proxy", &["mosquitto_pub", "microsocks"]) {
        return;
    }
    let ca = TestCa::new("net");
    let b = broker(&ca);
    let dir = TempDir::new("socks");
    let cafile = dir.path().join("ca.pem");
    std::fs::write(&cafile, ca.cert_pem()).unwrap();
    let cafile = cafile.to_str().unwrap();
    let open = ProxyProcess::microsocks(None);
    let auth = ProxyProcess::microsocks(Some(("alice", "s3cret")));
    let tcp = b.port();
    let tls = b.tls_port();
    let via_open = format!("socks5h://127.0.0.1:{}", open.port);
    let via_auth = format!("socks5h://alice:s3cret@127.0.0.1:{}", auth.port);
    // TCP and TLS, the broker's name resolved by the proxy.
    for via in [&via_open, &via_auth] {
        both_publish(
            &b,
            &["-h", "localhost", "-p", &tcp, "--proxy", via],
            &[],
            "tcp",
        );
        both_publish(
            &b,
            &[
                "-h",
                "localhost",
                "-p",
                &tls,
                "--cafile",
                cafile,
                "--proxy",
                via,
            ],
            &[],
            "tls",
        );
    }
    // Refusals: the same message and status as mosquitto_pub.
    let no_creds = format!("socks5h://127.0.0.1:{}", auth.port);
    let wrong = format!("socks5h://alice:nope@127.0.0.1:{}", auth.port);
    for via in [&no_creds, &wrong] {
        let e = both_fail(
            &["-h", "localhost", "-p", &tcp, "--proxy", via],
            &[],
            11,
            via,
        );
        assert_eq!(e, "Error: Authorisation failed.\n");
    }
    let closed = free_port().to_string();
    let e = both_fail(
        &["-h", "127.0.0.1", "-p", &closed, "--proxy", &via_open],
        &[],
        4,
        "broker refused",
    );
    assert_eq!(e, "Error: The client is not currently connected.\n");
    let e = both_fail(
        &[
            "-h",
            "no-such-host.invalid",
            "-p",
            &tcp,
            "--proxy",
            &via_open,
        ],
        &[],
        16,
        "unresolvable",
    );
    assert_eq!(e, "Error: Proxy error.\n");
    let nobody = format!("socks5h://127.0.0.1:{}", free_port());
    let e = both_fail(
        &["-h", "127.0.0.1", "-p", &tcp, "--proxy", &nobody],
        &[],
        1,
        "no proxy",
    );
    assert_eq!(e, "Error: Connection refused\n");
}

#[test]
fn os_trust_store_beside_mosquitto_pub() {
    if !available(
        "os_trust_store",
        &["mosquitto_pub", "mosquitto_sub", "microsocks"],
    ) {
        return;
    }
    let ca = TestCa::new("private CA in the OS store");
    let b = broker(&ca);
    let dir = TempDir::new("os-store");
    // An OS-style bundle: the system's CAs would be here too; the private CA is what counts.
    let bundle = dir.path().join("ca-certificates.crt");
    std::fs::write(&bundle, ca.cert_pem()).unwrap();
    let other = dir.path().join("other.crt");
    std::fs::write(&other, TestCa::new("someone else").cert_pem()).unwrap();
    let os = [("SSL_CERT_FILE", bundle.to_str().unwrap())];
    let tls = b.tls_port();
    // --tls-use-os-certs.
    both_publish(
        &b,
        &["-h", "localhost", "-p", &tls, "--tls-use-os-certs"],
        &os,
        "use os certs",
    );
    // mqtts:// without a CA option: the OS store by default.
    for (tool, who) in TOOLS {
        let url = format!("mqtts://localhost:{tls}/net/{who}/url");
        let out = run_env(tool, &["-L", &url, "-r", "-m", "by url"], &os);
        assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{tool}");
        assert_eq!(
            b.retained(&format!("net/{who}/url")).as_deref(),
            Some(&b"by url"[..])
        );
    }
    // Through the SOCKS5 proxy as well.
    let socks = ProxyProcess::microsocks(None);
    let via = format!("socks5h://127.0.0.1:{}", socks.port);
    both_publish(
        &b,
        &[
            "-h",
            "localhost",
            "-p",
            &tls,
            "--tls-use-os-certs",
            "--proxy",
            &via,
        ],
        &os,
        "os certs via proxy",
    );
    // The subscribers too: each reads the retained message back.
    for (tool, who) in [("mosquitto_sub", "theirs"), (MQSUB, "ours")] {
        let topic = format!("net/{who}/use-os-certs");
        let out = run_env(
            tool,
            &[
                "-h",
                "localhost",
                "-p",
                &tls,
                "--tls-use-os-certs",
                "-t",
                &topic,
                "-C",
                "1",
            ],
            &os,
        );
        assert_eq!(out.code, Some(0), "{tool}: {out:?}");
        assert_eq!(out.stdout, format!("use os certs by {who}\n"), "{tool}");
    }
    // A store without the broker's CA: both refuse the broker. mosquitto_pub's text and
    // status depend on timing (`Unable to connect (A TLS error occurred.).` and 1, or
    // `Error: A TLS error occurred.` and 8); ours are always the latter (D10).
    let not_ours = [("SSL_CERT_FILE", other.to_str().unwrap())];
    for tool in ["mosquitto_pub", MQPUB] {
        let out = run_env(
            tool,
            &[
                "-h",
                "localhost",
                "-p",
                &tls,
                "--tls-use-os-certs",
                "-t",
                "x",
                "-m",
                "y",
            ],
            &not_ours,
        );
        assert!(
            out.stderr.contains("A TLS error occurred."),
            "{tool}: {out:?}"
        );
        if tool == MQPUB {
            assert_eq!(out.code, Some(8), "{out:?}");
            assert!(out.stderr.starts_with("Error: A TLS error occurred.\n"));
        } else {
            assert!(matches!(out.code, Some(1 | 8)), "{out:?}");
        }
    }
    let out = run_env(
        MQPUB,
        &[
            "-h",
            "localhost",
            "-p",
            &tls,
            "--tls-use-os-certs",
            "-t",
            "x",
            "-m",
            "y",
        ],
        &not_ours,
    );
    assert!(out.stderr.contains("UnknownIssuer"), "{out:?}");
    // --cafile and --tls-use-os-certs together trust both (the CA file here).
    let cafile = dir.path().join("ca.pem");
    std::fs::write(&cafile, ca.cert_pem()).unwrap();
    both_publish(
        &b,
        &[
            "-h",
            "localhost",
            "-p",
            &tls,
            "--tls-use-os-certs",
            "--cafile",
            cafile.to_str().unwrap(),
        ],
        &not_ours,
        "os certs and cafile",
    );
}

#[test]
fn http_connect_proxy() {
    if !available("http_connect_proxy", &["tinyproxy"]) {
        return;
    }
    let ca = TestCa::new("net");
    let b = broker(&ca);
    let dir = TempDir::new("http");
    let cafile = dir.path().join("ca.pem");
    std::fs::write(&cafile, ca.cert_pem()).unwrap();
    let proxy = ProxyProcess::tinyproxy(("alice", "s3cret"));
    let via = format!("http://alice:s3cret@127.0.0.1:{}", proxy.port);
    let (tcp, tls) = (b.port(), b.tls_port());
    for (conn, topic) in [
        (vec!["-p", tcp.as_str()], "net/http/tcp"),
        (
            vec!["-p", tls.as_str(), "--cafile", cafile.to_str().unwrap()],
            "net/http/tls",
        ),
    ] {
        let mut args = vec!["-h", "localhost", "--proxy", &via];
        args.extend(conn);
        args.extend(["-r", "-t", topic, "-m", "through CONNECT"]);
        let out = run_env(MQPUB, &args, &[]);
        assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{args:?}");
        assert_eq!(b.retained(topic).as_deref(), Some(&b"through CONNECT"[..]));
    }
    // mqsub through it too.
    let out = run_env(
        MQSUB,
        &[
            "-h",
            "localhost",
            "-p",
            &tcp,
            "--proxy",
            &via,
            "-t",
            "net/http/tcp",
            "-C",
            "1",
        ],
        &[],
    );
    assert_eq!(out.stdout, "through CONNECT\n", "{out:?}");
    // Wrong credentials: mosquitto's message for refused proxy credentials.
    let wrong = format!("http://alice:nope@127.0.0.1:{}", proxy.port);
    let out = run_env(
        MQPUB,
        &[
            "-h",
            "localhost",
            "-p",
            &tcp,
            "--proxy",
            &wrong,
            "-t",
            "x",
            "-m",
            "y",
        ],
        &[],
    );
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (Some(11), "Error: Authorisation failed.\n")
    );
}
