//! mqbench as a user runs it: the binary, spawned, against the reference broker (in-process,
//! real loopback sockets: TCP, TLS, WebSocket) and against Debian's mosquitto (skipped with a
//! notice when it is not installed, a failure with `MQTT_INTEROP=require`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use mqtt_testkit::certs::TestCa;
use mqtt_testkit::{Broker, BrokerBuilder, Direction, Event, Events, PacketType};
use serde_json::Value;

/// The reference broker on a runtime of its own, while the test thread runs mqbench.
struct Reference {
    rt: tokio::runtime::Runtime,
    broker: Option<Broker>,
}

impl Reference {
    fn start(builder: BrokerBuilder) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let broker = rt.block_on(builder.start()).unwrap();
        Self {
            rt,
            broker: Some(broker),
        }
    }

    fn broker(&self) -> &Broker {
        self.broker.as_ref().unwrap()
    }

    fn url(&self) -> String {
        format!("mqtt://{}", self.broker().local_addr())
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        if let Some(b) = self.broker.take() {
            self.rt.block_on(b.shutdown());
        }
    }
}

fn mqbench_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mqbench"));
    c.args(args).stdin(Stdio::null());
    c
}

fn mqbench(args: &[&str]) -> Output {
    mqbench_cmd(args).output().unwrap()
}

/// Run with `--json`; the exit code and the parsed summary.
fn mqbench_json(args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.push("--json");
    let out = mqbench(&all);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout:?}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), json)
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn drain(events: &mut Events) -> Vec<Event> {
    std::iter::from_fn(|| events.try_next()).collect()
}

#[test]
fn conn_mode_brings_every_client_up() {
    let broker = Reference::start(Broker::builder());
    let mut events = broker.broker().events();
    let (code, v) = mqbench_json(&["conn", "-u", &broker.url(), "-c", "300", "-R", "2000"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["mode"], "conn");
    assert_eq!(u(&v, "clients"), 300);
    assert_eq!(u(&v, "connected"), 300);
    assert_eq!(u(&v, "connect_errors"), 0);
    assert_eq!(u(&v, "errors"), 0);
    assert!(v["connect_rate"].as_f64().unwrap() > 0.0);
    assert!(u(&v, "rss_per_connection_bytes") > 0);
    let ids: BTreeSet<String> = drain(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            Event::Connected { client_id, .. } => Some(client_id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 300, "300 distinct client ids reached the broker");
}

fn pub_sub_counts(url: &str, qos: &str, extra: &[&str]) {
    let mut args = vec![
        "pub",
        "-u",
        url,
        "-c",
        "4",
        "-n",
        "500",
        "-q",
        qos,
        "--sub",
        "-t",
        "counts/%i",
    ];
    args.extend_from_slice(extra);
    let (code, v) = mqbench_json(&args);
    assert_eq!(code, 0, "{v}");
    assert_eq!(u(&v, "sent"), 2000, "{v}");
    assert_eq!(u(&v, "expected"), 2000, "{v}");
    assert_eq!(u(&v, "received"), 2000, "{v}");
    assert_eq!(u(&v, "missing"), 0);
    let lat = &v["latency_us"];
    assert_eq!(u(lat, "count"), 2000);
    assert!(u(lat, "p50") <= u(lat, "p90"));
    assert!(u(lat, "p90") <= u(lat, "p99"));
    assert!(u(lat, "p99") <= u(lat, "max"));
}

#[test]
fn pub_with_sub_counts_match_at_qos_1_and_2() {
    let broker = Reference::start(Broker::builder());
    pub_sub_counts(&broker.url(), "1", &[]);
    pub_sub_counts(&broker.url(), "2", &[]);
    pub_sub_counts(&broker.url(), "1", &["-P", "3.1.1"]);
}

#[test]
fn paced_run_by_duration() {
    let broker = Reference::start(Broker::builder());
    let (code, v) = mqbench_json(&[
        "pub",
        "-u",
        &broker.url(),
        "-c",
        "2",
        "-m",
        "20",
        "-d",
        "1",
        "-q",
        "1",
        "--sub",
    ]);
    assert_eq!(code, 0, "{v}");
    // 2 clients at 20/s for 1 s: at most 2 x 21 (the first tick of each is at once; one more
    // may fall on the deadline). Fewer on a loaded machine (late ticks are skipped, not
    // bunched), but never none.
    let sent = u(&v, "sent");
    assert!((2..=44).contains(&sent), "{v}");
    assert_eq!(u(&v, "received"), sent);
}

#[test]
fn shared_subscription_delivers_each_message_once() {
    let broker = Reference::start(Broker::builder());
    let mut events = broker.broker().events();
    let (code, v) = mqbench_json(&[
        "pub",
        "-u",
        &broker.url(),
        "-c",
        "2",
        "-n",
        "300",
        "-q",
        "1",
        "--sub",
        "--sub-clients",
        "3",
        "--shared",
        "grp",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(u(&v, "sent"), 600);
    assert_eq!(u(&v, "expected"), 600);
    assert_eq!(u(&v, "received"), 600);
    let filters: BTreeSet<String> = drain(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            Event::Subscribed { results, .. } => Some(results[0].0.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(filters, BTreeSet::from(["$share/grp/mqbench/+".to_owned()]));
}

#[test]
fn placeholders_in_client_ids_and_topics() {
    let broker = Reference::start(Broker::builder());
    let mut events = broker.broker().events();
    let (code, v) = mqbench_json(&[
        "pub",
        "-u",
        &broker.url(),
        "-c",
        "3",
        "-n",
        "2",
        "-q",
        "1",
        "-i",
        "bench-%i-%p%%",
        "-t",
        "ph/%i/t",
        "-r",
    ]);
    assert_eq!(code, 0, "{v}");
    let pid = "%"; // the pid is the child's: check the shape around it
    let (mut ids, mut topics) = (BTreeSet::new(), BTreeSet::new());
    for e in drain(&mut events) {
        match e {
            Event::Connected { client_id, .. } => {
                ids.insert(client_id);
            }
            Event::Published { publish, .. } => {
                assert!(publish.retain);
                assert_eq!(publish.payload.len(), 64);
                assert_eq!(&publish.payload[..4], b"mqb1");
                topics.insert(publish.topic.as_str().to_owned());
            }
            _ => {}
        }
    }
    assert_eq!(
        topics,
        BTreeSet::from(["ph/0/t".into(), "ph/1/t".into(), "ph/2/t".into()])
    );
    assert_eq!(ids.len(), 3);
    for (i, id) in ids.iter().enumerate() {
        let rest = id.strip_prefix(&format!("bench-{i}-")).unwrap();
        let digits = rest.strip_suffix(pid).unwrap();
        assert!(
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
            "{id}"
        );
    }
    // Retained: the broker holds the last message of each topic.
    assert!(broker.broker().retained("ph/2/t").is_some());
}

#[test]
fn sub_mode_measures_what_another_process_publishes() {
    let broker = Reference::start(Broker::builder());
    let mut events = broker.broker().events();
    let url = broker.url();
    let sub = mqbench_cmd(&[
        "sub", "-u", &url, "-c", "3", "-t", "sb/%i", "-q", "1", "-n", "30", "--json",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let sub = KillOnDrop(Some(sub));
    // Wait for the three subscriptions.
    broker.rt.block_on(async {
        let mut n = 0;
        while n < 3 {
            events
                .wait_for(|e| matches!(e, Event::Subscribed { .. }))
                .await
                .unwrap();
            n += 1;
        }
    });
    let out = mqbench(&[
        "pub", "-u", &url, "-c", "3", "-t", "sb/%i", "-n", "10", "-q", "1",
    ]);
    assert!(out.status.success());
    let out = sub.wait();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mode"], "sub");
    assert_eq!(u(&v, "received"), 30);
    assert_eq!(u(&v["latency_us"], "count"), 30);
}

struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn wait(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn tls_and_websocket_transports() {
    let ca = TestCa::new("mqbench test CA");
    let server = ca.server_cert(&["localhost", "127.0.0.1"]);
    let broker = Reference::start(
        Broker::builder()
            .tls(server.tls_config())
            .websocket()
            .websocket_tls(server.tls_config()),
    );
    let dir = std::env::temp_dir().join(format!("mqbench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let b = broker.broker();
    let urls = [
        format!("mqtts://localhost:{}", b.tls_addr().unwrap().port()),
        format!("ws://127.0.0.1:{}/mqtt", b.ws_addr().unwrap().port()),
        format!("wss://localhost:{}/mqtt", b.wss_addr().unwrap().port()),
    ];
    for url in &urls {
        let (code, v) = mqbench_json(&[
            "pub",
            "-u",
            url,
            "-c",
            "2",
            "-n",
            "50",
            "-q",
            "1",
            "--sub",
            "--cafile",
            ca_file.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{url}: {v}");
        assert_eq!(u(&v, "received"), 100, "{url}: {v}");
    }
    // Without the CA the certificate is refused: nothing connects.
    let out = mqbench(&["conn", "-u", &urls[0], "-c", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no client could connect"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn broker_down_is_a_clear_failure() {
    // A port nobody listens on: bound, read, released.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = mqbench(&[
        "pub",
        "-u",
        &format!("mqtt://127.0.0.1:{port}"),
        "-c",
        "3",
        "-n",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "mqbench: no client could connect to mqtt://127.0.0.1:{port}"
        )),
        "{err}"
    );
    assert!(err.contains("refused"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["pub", "-t", "a/%x"][..],
        &["pub", "-q", "3"],
        &["nonsense"],
        &["conn", "-i", "trailing%"],
    ] {
        let out = mqbench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn some_clients_refused_is_exit_3() {
    // The broker takes 5 connections; 8 are asked for.
    let broker = Reference::start(Broker::builder().max_connections(5));
    let (code, v) = mqbench_json(&["conn", "-u", &broker.url(), "-c", "8", "-R", "100"]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(u(&v, "connected"), 5, "{v}");
    assert_eq!(u(&v, "connect_errors"), 3, "{v}");
    assert!(
        v["first_error"]
            .as_str()
            .unwrap()
            .contains("could not connect")
    );
}

// --- mosquitto ---

fn mosquitto_binary() -> Option<PathBuf> {
    let candidates = match std::env::var_os("MOSQUITTO") {
        Some(path) => vec![PathBuf::from(path)],
        None => vec![
            PathBuf::from("/usr/sbin/mosquitto"),
            PathBuf::from("mosquitto"),
        ],
    };
    for c in candidates {
        let runs = Command::new(&c)
            .arg("-h")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if runs {
            return Some(c);
        }
    }
    if std::env::var("MQTT_INTEROP").as_deref() == Ok("require") {
        panic!("MQTT_INTEROP=require, but the mosquitto broker cannot be found");
    }
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "skipping: mosquitto is not installed (MQTT_INTEROP=require makes this a failure)"
        );
    }
    None
}

/// mosquitto on a free port, killed on drop.
struct Mosquitto {
    child: KillOnDrop,
    port: u16,
    dir: PathBuf,
}

impl Mosquitto {
    fn start(bin: &PathBuf) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("mqbench-mosq-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_connections -1\n\
                 max_queued_messages 0\npersistence false\n"
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Ready once it accepts a connection (it binds before it serves).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "mosquitto did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self {
            child: KillOnDrop(Some(child)),
            port,
            dir,
        }
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn against_mosquitto() {
    let Some(bin) = mosquitto_binary() else {
        return;
    };
    let m = Mosquitto::start(&bin);
    let (code, v) = mqbench_json(&["conn", "-u", &m.url(), "-c", "300"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(u(&v, "connected"), 300);
    pub_sub_counts(&m.url(), "1", &[]);
    pub_sub_counts(&m.url(), "2", &[]);
    pub_sub_counts(&m.url(), "1", &["-P", "3.1.1"]);
    let (code, v) = mqbench_json(&[
        "pub",
        "-u",
        &m.url(),
        "-c",
        "2",
        "-n",
        "300",
        "-q",
        "1",
        "--sub",
        "--sub-clients",
        "3",
        "--shared",
        "g",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(u(&v, "received"), 600, "{v}");
}

#[test]
fn a_connection_dropped_mid_run_is_exit_3() {
    let broker = Reference::start(Broker::builder());
    // The broker closes publisher 1's connection after its 5th PUBLISH (no DISCONNECT).
    broker.broker().faults().for_client("drop-1").close_after(
        Direction::In,
        PacketType::Publish,
        5,
    );
    let (code, v) = mqbench_json(&[
        "pub",
        "-u",
        &broker.url(),
        "-c",
        "2",
        "-n",
        "50",
        "-q",
        "1",
        "-i",
        "drop-%i",
        "-m",
        "200",
    ]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(u(&v, "connected"), 2, "{v}");
    assert_eq!(u(&v, "disconnects"), 1, "{v}");
    let first = v["first_error"].as_str().unwrap();
    assert!(first.contains("client 1 disconnected"), "{first}");
    // Publisher 0 was unaffected; publisher 1 got at most its first 4 acknowledged.
    let sent = u(&v, "sent");
    assert!((50..=54).contains(&sent), "{v}");
}
