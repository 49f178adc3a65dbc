//! `mqbroker -c FILE` as a real process: configuration files in mosquitto's syntax, password
//! files made by Debian's `mosquitto_passwd`, mosquitto's own clients and raw packets through
//! mqtt-proto's codec against it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;

use mqtt_proto::{
    Connect, ConnectReason, DisconnectReason, Packet, ProtocolVersion, Publish, QoS, QosPid,
    SubAckReason, Subscribe, SubscribeFilter, TopicFilter, TopicName,
};
use mqtt_testkit::certs::TestCa;

use common::{Mqbroker, RawClient, TIMEOUT, pid};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

/// Whether Debian's mosquitto tools can be run; panics if they cannot and
/// `MQTT_INTEROP=require` (as CI sets), else the test is skipped with a note.
fn mosquitto_available(test: &str) -> bool {
    let runs = |program: &str| {
        Command::new(program)
            .arg("--help")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    let found = ["mosquitto_pub", "mosquitto_sub", "mosquitto_passwd"]
        .into_iter()
        .all(runs)
        && Path::new("/usr/sbin/mosquitto").exists();
    if found {
        return true;
    }
    assert!(
        std::env::var("MQTT_INTEROP").as_deref() != Ok("require"),
        "MQTT_INTEROP=require, but mosquitto's tools are missing: apt-get install mosquitto \
         mosquitto-clients"
    );
    eprintln!("skipping {test}: mosquitto / mosquitto-clients not installed");
    false
}

/// A fresh directory for one test's files.
fn dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mqbroker-conf-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Write `conf` into `dir`, start `mqbroker -c` on it and read its `listeners` listening
/// lines: (address, kind suffix such as "" or " (tls)").
fn start(dir: &Path, conf: &str, listeners: usize) -> (Mqbroker, Vec<(SocketAddr, String)>) {
    let file = dir.join("mqbroker.conf");
    std::fs::write(&file, conf).expect("write the configuration");
    let broker = Mqbroker::spawn(&["-c", path_str(&file)]);
    let addrs = (0..listeners)
        .map(|_| {
            let line = broker.line_where(|l| l.starts_with("mqbroker listening on "));
            let rest = &line["mqbroker listening on ".len()..];
            let (addr, kind) = rest.split_once(' ').map_or((rest, ""), |(a, k)| (a, k));
            let kind = if kind.is_empty() {
                String::new()
            } else {
                format!(" {kind}")
            };
            (addr.parse().expect("an address"), kind)
        })
        .collect();
    (broker, addrs)
}

/// Run a tool to completion (stdin from `input`), failing the test if it hangs.
fn tool(program: &str, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    // A tool may exit without reading its input (a usage error): a broken pipe is fine.
    match child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("write stdin: {e}"),
        _ => {}
    }
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(output) => output.expect("wait for the tool"),
        Err(_) => {
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!("{program} {args:?} did not finish in time");
        }
    }
}

fn mosquitto_passwd(args: &[&str]) {
    let out = tool("mosquitto_passwd", args, "");
    assert!(out.status.success(), "mosquitto_passwd {args:?}: {out:?}");
}

/// `mosquitto_pub` to `addr` (QoS 1: it exits once the broker has taken the message).
fn mosquitto_pub(addr: SocketAddr, extra: &[&str]) -> Output {
    let port = addr.port().to_string();
    let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-q", "1"];
    args.extend_from_slice(extra);
    tool("mosquitto_pub", &args, "")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// CONNECT with credentials; the CONNACK.
fn connect_as(
    addr: SocketAddr,
    version: ProtocolVersion,
    id: &str,
    user: Option<(&str, &str)>,
) -> (RawClient, mqtt_proto::ConnAck) {
    let mut client = RawClient::open(addr, version);
    let mut connect = Connect::new(version, id);
    connect.keep_alive = 0;
    if let Some((name, password)) = user {
        connect.username = Some(name.into());
        connect.password = Some(password.as_bytes().to_vec().into());
    }
    client.send(connect);
    match client.recv() {
        Packet::ConnAck(ack) => (client, *ack),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

fn subscribe(client: &mut RawClient, filter: &str) -> SubAckReason {
    client.send(Subscribe::new(
        pid(1),
        vec![SubscribeFilter::new(
            TopicFilter::new(filter).unwrap(),
            QoS::AtLeastOnce,
        )],
    ));
    match client.recv() {
        Packet::SubAck(ack) => ack.reasons[0],
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

/// Connect with our client (mqtt-client) to `url`, publish one QoS 1 message and wait for
/// its acknowledgement; the error as text.
fn client_publish(url: &str, user: Option<(&str, &str)>, topic: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut options = mqtt_client::Options::from_url(url).unwrap();
        if let Some((name, password)) = user {
            options = options.with_credentials(name, password.to_owned());
        }
        let connect = mqtt_client::Client::connect(options);
        let (client, _messages) = tokio::time::timeout(TIMEOUT, connect)
            .await
            .expect("connected in time")
            .map_err(|e| format!("{e:?}"))?;
        let sent = async {
            client
                .publish(topic, QoS::AtLeastOnce, false, "payload")
                .await
                .map_err(|e| format!("{e:?}"))?
                .await
                .map_err(|e| format!("{e:?}"))
        };
        let result = tokio::time::timeout(TIMEOUT, sent)
            .await
            .expect("acknowledged in time");
        let _ = client.disconnect(TIMEOUT).await;
        result.map(drop)
    })
}

fn next_publish(client: &mut RawClient) -> Publish {
    match client.recv() {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

#[test]
fn mosquitto_passwd_files_acl_files_and_anonymous_refusal() {
    if !mosquitto_available("mosquitto_passwd_files_acl_files_and_anonymous_refusal") {
        return;
    }
    let dir = dir("auth");
    let pw = dir.join("passwd");
    let pw = path_str(&pw);
    // Both hash kinds mosquitto_passwd writes: $7$ (2.0's default) and $6$ (older files).
    mosquitto_passwd(&["-c", "-b", pw, "alice", "apass"]);
    mosquitto_passwd(&["-H", "sha512", "-b", pw, "bob", "bpass"]);
    let text = std::fs::read_to_string(pw).unwrap();
    assert!(
        text.contains("alice:$7$") && text.contains("bob:$6$"),
        "{text}"
    );
    std::fs::write(
        dir.join("acl"),
        "# alice may do anything but secret/#\n\
         user alice\n\
         topic readwrite #\n\
         topic deny secret/#\n\
         \n\
         user bob\n\
         topic read sensors/+/temp\n\
         pattern write clients/%c/status\n",
    )
    .unwrap();
    let conf = format!(
        "listener 0 127.0.0.1\npassword_file {pw}\nacl_file {}\n",
        path_str(&dir.join("acl"))
    );
    let (broker, addrs) = start(&dir, &conf, 1);
    let addr = addrs[0].0;

    // With a configuration file anonymous clients are refused (mosquitto 2.0).
    let out = mosquitto_pub(addr, &["-t", "a", "-m", "x"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not authorised"), "{out:?}");
    let (_, ack) = connect_as(addr, V5, "anon", None);
    assert_eq!(ack.reason, ConnectReason::NotAuthorized);
    // A wrong password, of either hash kind: "not authorised", as mosquitto answers.
    let out = mosquitto_pub(addr, &["-u", "alice", "-P", "bpass", "-t", "a", "-m", "x"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not authorised"), "{out:?}");
    let (_, ack) = connect_as(addr, V311, "b", Some(("bob", "apass")));
    assert_eq!(ack.reason, ConnectReason::NotAuthorized);

    // alice subscribes to everything; a denied topic is filtered per message.
    let (mut alice, ack) = connect_as(addr, V311, "alice-sub", Some(("alice", "apass")));
    assert_eq!(ack.reason, ConnectReason::Success);
    assert_eq!(subscribe(&mut alice, "#"), SubAckReason::GrantedQoS1);
    assert_eq!(
        subscribe(&mut alice, "secret/#"),
        SubAckReason::UnspecifiedError
    );
    for (user, password, topic) in [
        ("alice", "apass", "secret/plans"),
        ("alice", "apass", "public/news"),
    ] {
        let out = mosquitto_pub(addr, &["-u", user, "-P", password, "-t", topic, "-m", "m"]);
        assert!(out.status.success(), "{out:?}");
    }
    // bob ($6$) may publish only under clients/<his client id>/status.
    let out = mosquitto_pub(
        addr,
        &[
            "-u",
            "bob",
            "-P",
            "bpass",
            "-i",
            "bob-1",
            "-t",
            "sensors/k/temp",
            "-m",
            "no",
        ],
    );
    assert!(out.status.success(), "3.1.1 denials are silent: {out:?}");
    let out = mosquitto_pub(
        addr,
        &[
            "-u",
            "bob",
            "-P",
            "bpass",
            "-i",
            "bob-1",
            "-t",
            "clients/bob-1/status",
            "-m",
            "up",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    // alice sees public/news, then bob's status: not secret/plans, not the denied write.
    let first = next_publish(&mut alice);
    assert_eq!(first.topic.as_str(), "public/news");
    let second = next_publish(&mut alice);
    assert_eq!(second.topic.as_str(), "clients/bob-1/status");
    assert_eq!(&second.payload[..], b"up");

    // bob's reads: his filter, not a wider one.
    let (mut bob, _) = connect_as(addr, V5, "bob-2", Some(("bob", "bpass")));
    assert_eq!(
        subscribe(&mut bob, "sensors/+/temp"),
        SubAckReason::GrantedQoS1
    );
    assert_eq!(
        subscribe(&mut bob, "sensors/#"),
        SubAckReason::NotAuthorized
    );
    // 5.0 mosquitto_pub sees the refusal of a write.
    let out = mosquitto_pub(
        addr,
        &[
            "-V", "5", "-u", "bob", "-P", "bpass", "-t", "nope", "-m", "x",
        ],
    );
    assert!(
        stderr(&out).contains("Publish 1 failed: Not authorized"),
        "{out:?}"
    );
    // Our client: alice's QoS 1 publish to a denied topic fails with 0x87 on 5.0.
    let url = format!("mqtt://127.0.0.1:{}", addr.port());
    let refused = client_publish(&url, Some(("alice", "apass")), "secret/x").unwrap_err();
    assert!(
        refused.contains("NotAuthorized") || refused.contains("not authorized"),
        "{refused}"
    );
    client_publish(&url, Some(("alice", "apass")), "public/ok").expect("allowed");
    let third = next_publish(&mut alice);
    assert_eq!(third.topic.as_str(), "public/ok");

    // mosquitto_sub as alice: retained messages, the denied one withheld.
    let out = mosquitto_pub(
        addr,
        &[
            "-u", "alice", "-P", "apass", "-r", "-t", "public/r", "-m", "kept",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let port = addr.port().to_string();
    let out = tool(
        "mosquitto_sub",
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "alice",
            "-P",
            "apass",
            "-t",
            "public/#",
            "-C",
            "1",
            "-v",
        ],
        "",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "public/r kept\n");

    broker.terminate();
    assert!(broker.wait().success());
}

#[test]
fn allow_anonymous_true_lets_clients_in_beside_a_password_file() {
    if !mosquitto_available("allow_anonymous_true_lets_clients_in_beside_a_password_file") {
        return;
    }
    let dir = dir("anon");
    let pw = dir.join("passwd");
    mosquitto_passwd(&["-c", "-b", path_str(&pw), "alice", "apass"]);
    let conf = format!(
        "port 0\nbind_address 127.0.0.1\nallow_anonymous true\npassword_file {}\n",
        path_str(&pw)
    );
    let (broker, addrs) = start(&dir, &conf, 1);
    let addr = addrs[0].0;
    assert_eq!(addrs[0].1, "");
    assert!(
        mosquitto_pub(addr, &["-t", "a", "-m", "x"])
            .status
            .success()
    );
    assert!(
        mosquitto_pub(addr, &["-u", "alice", "-P", "apass", "-t", "a", "-m", "x"])
            .status
            .success()
    );
    let out = mosquitto_pub(addr, &["-u", "alice", "-P", "no", "-t", "a", "-m", "x"]);
    assert!(stderr(&out).contains("not authorised"), "{out:?}");
    broker.terminate();
    assert!(broker.wait().success());
}

#[test]
fn mqbroker_passwd_writes_entries_the_broker_and_mosquitto_passwd_agree_on() {
    if !mosquitto_available(
        "mqbroker_passwd_writes_entries_the_broker_and_mosquitto_passwd_agree_on",
    ) {
        return;
    }
    let dir = dir("passwd");
    let pw = dir.join("passwd");
    // Add, then change, a user; a user mosquitto_passwd added stays.
    mosquitto_passwd(&["-c", "-b", path_str(&pw), "carol", "cpass"]);
    let bin = env!("CARGO_BIN_EXE_mqbroker");
    for password in ["first\n", "second\n"] {
        let out = tool(bin, &["passwd", path_str(&pw), "dave"], password);
        assert!(out.status.success(), "{out:?}");
    }
    let text = std::fs::read_to_string(&pw).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("dave:$7$101$")),
        "{text}"
    );
    // mosquitto_passwd reads the file we wrote (it rewrites it with one more user).
    mosquitto_passwd(&["-b", path_str(&pw), "erin", "epass"]);
    let bad = tool(bin, &["passwd", path_str(&pw), "a:b"], "x\n");
    assert_eq!(bad.status.code(), Some(1));

    let conf = format!("listener 0 127.0.0.1\npassword_file {}\n", path_str(&pw));
    let (broker, addrs) = start(&dir, &conf, 1);
    let addr = addrs[0].0;
    for (user, password, ok) in [
        ("dave", "second", true),
        ("dave", "first", false),
        ("carol", "cpass", true),
        ("erin", "epass", true),
    ] {
        let (_, ack) = connect_as(addr, V311, "p", Some((user, password)));
        assert_eq!(
            ack.reason == ConnectReason::Success,
            ok,
            "{user}/{password}"
        );
    }
    broker.terminate();
    assert!(broker.wait().success());
}

#[test]
fn listeners_tcp_websocket_tls_with_client_certificates() {
    if !mosquitto_available("listeners_tcp_websocket_tls_with_client_certificates") {
        return;
    }
    let dir = dir("listeners");
    let ca = TestCa::new("mqbroker-conf");
    let server = ca.server_cert(&["localhost", "127.0.0.1"]);
    let client = ca.client_cert("client");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path_str(&path).to_owned()
    };
    let ca_file = write("ca.pem", &ca.cert_pem());
    let cert_file = write("server.pem", server.cert_pem());
    let key_file = write("server.key", server.key_pem());
    let client_cert = write("client.pem", client.cert_pem());
    let client_key = write("client.key", client.key_pem());
    let conf = format!(
        "allow_anonymous true\n\
         listener 0 127.0.0.1\n\
         listener 0 127.0.0.1\n\
         protocol websockets\n\
         listener 0 127.0.0.1\n\
         certfile {cert_file}\n\
         keyfile {key_file}\n\
         cafile {ca_file}\n\
         require_certificate true\n\
         listener 0 127.0.0.1\n"
    );
    let (broker, addrs) = start(&dir, &conf, 4);
    let kinds: Vec<&str> = addrs.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(kinds, ["", " (websocket)", " (tls)", ""]);
    let [(tcp1, _), (ws, _), (tls, _), (tcp2, _)] = addrs.as_slice() else {
        unreachable!()
    };

    // Two TCP listeners serve one broker: a message crosses from one to the other.
    let (mut sub, _) = connect_as(*tcp2, V311, "sub", None);
    assert_eq!(subscribe(&mut sub, "x/#"), SubAckReason::GrantedQoS1);
    assert!(
        mosquitto_pub(*tcp1, &["-t", "x/tcp", "-m", "1"])
            .status
            .success()
    );
    assert_eq!(next_publish(&mut sub).topic.as_str(), "x/tcp");
    // WebSocket (mosquitto_pub has no WebSocket transport): our client, as alice would.
    let ws_url = format!("ws://127.0.0.1:{}/mqtt", ws.port());
    client_publish(&ws_url, None, "x/ws").expect("publish over WebSocket");
    assert_eq!(next_publish(&mut sub).topic.as_str(), "x/ws");
    // TLS with a client certificate: accepted; without one: refused.
    let port = tls.port().to_string();
    let tls_args = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "--cafile",
        &ca_file,
        "-t",
        "x/tls",
        "-m",
        "3",
        "-q",
        "1",
    ];
    let mut with_cert = tls_args.to_vec();
    with_cert.extend(["--cert", &client_cert, "--key", &client_key]);
    let out = tool("mosquitto_pub", &with_cert, "");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(next_publish(&mut sub).topic.as_str(), "x/tls");
    let out = tool("mosquitto_pub", &tls_args, "");
    assert!(!out.status.success(), "no client certificate: {out:?}");

    broker.terminate();
    assert!(broker.wait().success());
}

#[test]
fn limits_are_announced_and_enforced() {
    if !mosquitto_available("limits_are_announced_and_enforced") {
        return;
    }
    let dir = dir("limits");
    let conf = "listener 0 127.0.0.1\n\
                allow_anonymous true\n\
                max_keepalive 30\n\
                max_packet_size 1000\n\
                max_inflight_messages 5\n\
                max_topic_alias 3\n\
                max_queued_messages 2\n\
                assign_topic_aliases true\n";
    let (broker, addrs) = start(&dir, conf, 1);
    let addr = addrs[0].0;

    // CONNACK: Server Keep Alive (the client asked for none), Receive Maximum, Maximum
    // Packet Size, Topic Alias Maximum.
    let mut client = RawClient::open(addr, V5);
    let mut connect = Connect::new(V5, "limits");
    connect.keep_alive = 0;
    connect.properties.topic_alias_maximum = Some(4);
    client.send(connect);
    let ack = match client.recv() {
        Packet::ConnAck(ack) => ack,
        other => panic!("expected CONNACK, got {other:?}"),
    };
    assert_eq!(ack.reason, ConnectReason::Success);
    assert_eq!(ack.properties.server_keep_alive, Some(30));
    assert_eq!(ack.properties.receive_maximum.map(|r| r.get()), Some(5));
    assert_eq!(
        ack.properties.maximum_packet_size.map(|m| m.get()),
        Some(1000)
    );
    assert_eq!(ack.properties.topic_alias_maximum, Some(3));

    // Topic aliases assigned outbound: the second PUBLISH on a topic carries only the alias.
    assert_eq!(subscribe(&mut client, "al/#"), SubAckReason::GrantedQoS1);
    for _ in 0..2 {
        assert!(
            mosquitto_pub(addr, &["-t", "al/one", "-m", "a"])
                .status
                .success()
        );
    }
    let first = next_publish(&mut client);
    let second = next_publish(&mut client);
    let alias = first.properties().topic_alias;
    assert_eq!(first.topic.as_str(), "al/one");
    assert!(alias.is_some(), "{first:?}");
    assert_eq!(second.topic.as_str(), "", "{second:?}");
    assert_eq!(second.properties().topic_alias, alias);

    // Receive Maximum 5: a sixth unacknowledged QoS 2 PUBLISH is a protocol error.
    let mut flood = RawClient::connect(addr, V5, "flood");
    for n in 1..=6 {
        let publish = Publish::new(
            TopicName::new("flood").unwrap(),
            QosPid::ExactlyOnce(pid(n)),
            &b"x"[..],
        );
        flood.send(publish);
    }
    let disconnect = std::iter::from_fn(|| flood.next()).find_map(|p| match p {
        Packet::Disconnect(d) => Some(d.reason),
        _ => None,
    });
    assert_eq!(disconnect, Some(DisconnectReason::ReceiveMaximumExceeded));

    // max_packet_size: a larger packet closes the connection (3.1.1, which cannot be told).
    let mut big = RawClient::connect(addr, V311, "big");
    big.send(Publish::new(
        TopicName::new("big").unwrap(),
        QosPid::AtMostOnce,
        vec![0u8; 2000],
    ));
    big.send(Packet::PingReq);
    assert!(
        std::iter::from_fn(|| big.next()).all(|p| !matches!(p, Packet::PingResp)),
        "closed before the PINGREQ is answered"
    );

    // max_inflight_messages 5 outbound too: a subscriber that acknowledges nothing has five
    // messages in flight, the sixth waits for an acknowledgement.
    let mut slow = RawClient::connect(addr, V311, "slow");
    assert_eq!(subscribe(&mut slow, "in/#"), SubAckReason::GrantedQoS1);
    for n in 1..=6 {
        let m = n.to_string();
        assert!(
            mosquitto_pub(addr, &["-t", "in/x", "-m", &m])
                .status
                .success()
        );
    }
    let held: Vec<Publish> = (0..5).map(|_| next_publish(&mut slow)).collect();
    slow.send(Packet::PingReq);
    assert_eq!(slow.recv(), Packet::PingResp, "the sixth is held back");
    let QosPid::AtLeastOnce(first) = held[0].qos else {
        panic!("QoS 1: {:?}", held[0])
    };
    slow.send(mqtt_proto::PubAck::new(first));
    assert_eq!(&next_publish(&mut slow).payload[..], b"6");

    // max_queued_messages 2: an absent persistent session keeps two of three messages.
    let mut away = RawClient::open(addr, V311);
    let mut connect = Connect::new(V311, "away");
    connect.clean_start = false;
    away.send(connect);
    assert!(matches!(away.recv(), Packet::ConnAck(_)));
    assert_eq!(subscribe(&mut away, "q/#"), SubAckReason::GrantedQoS1);
    away.send(mqtt_proto::Disconnect::default());
    assert!(away.next().is_none());
    for n in 1..=3 {
        let m = n.to_string();
        assert!(
            mosquitto_pub(addr, &["-t", "q/x", "-m", &m])
                .status
                .success()
        );
    }
    let mut back = RawClient::open(addr, V311);
    let mut connect = Connect::new(V311, "away");
    connect.clean_start = false;
    back.send(connect);
    assert!(matches!(back.recv(), Packet::ConnAck(_)));
    let got: Vec<Vec<u8>> = (0..2)
        .map(|_| next_publish(&mut back).payload.to_vec())
        .collect();
    assert_eq!(got, [b"1".to_vec(), b"2".to_vec()]);

    broker.terminate();
    assert!(broker.wait().success());
}

#[test]
fn defaults_announce_receive_maximum_20_and_topic_alias_maximum_10() {
    let dir = dir("defaults");
    let (broker, addrs) = start(&dir, "listener 0 127.0.0.1\nallow_anonymous true\n", 1);
    let (_client, ack) = connect_as(addrs[0].0, V5, "d", None);
    assert_eq!(ack.properties.receive_maximum.map(|r| r.get()), Some(20));
    assert_eq!(ack.properties.topic_alias_maximum, Some(10));
    assert_eq!(ack.properties.server_keep_alive, None);
    broker.terminate();
    assert!(broker.wait().success());
}

/// `mqbroker -c` on `conf` (and the files in `extra`) exits 1 with this one error line.
fn refused(test: &str, conf: &str, extra: &[(&str, &str)]) -> String {
    let dir = dir(test);
    for (name, text) in extra {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let conf = conf.replace("DIR", path_str(&dir));
    let file = dir.join("mqbroker.conf");
    std::fs::write(&file, conf).unwrap();
    let out = tool(env!("CARGO_BIN_EXE_mqbroker"), &["-c", path_str(&file)], "");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    err.replace(path_str(&dir), "DIR").trim_end().to_owned()
}

#[test]
fn wrong_files_are_one_error_line_naming_file_and_line() {
    assert_eq!(
        refused("e1", "listener 0 127.0.0.1\n\npersistence true\n", &[]),
        "Error: DIR/mqbroker.conf: line 3: persistence is a mosquitto setting mqbroker does \
         not support"
    );
    assert_eq!(
        refused("e2", "# c\nlistenr 1883\n", &[]),
        "Error: DIR/mqbroker.conf: line 2: unknown setting \"listenr\""
    );
    assert_eq!(
        refused(
            "e3",
            "password_file DIR/pw\n",
            &[("pw", "a:$7$101$AA==$AA==\nb:secret\n")]
        ),
        "Error: DIR/pw: line 2: not a $6$ or $7$ password hash (make entries with \
         mosquitto_passwd or mqbroker passwd)"
    );
    assert_eq!(
        refused(
            "e4",
            "acl_file DIR/acl\n",
            &[("acl", "user a\ntopic read a/#\ntopc b\n")]
        ),
        "Error: DIR/acl: line 3: unknown ACL keyword \"topc\" (expected user, topic or pattern)"
    );
    assert_eq!(
        refused("e5", "acl_file DIR/missing\n", &[]),
        "Error: cannot read DIR/missing: No such file or directory (os error 2)"
    );
}

/// Make a file readable by the user mosquitto drops to when started as root.
fn readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = if path.is_dir() { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A loopback port nothing listens on (bound, then released): mosquitto cannot report the
/// port it picked for 0.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a client saw: exit code, stdout, stderr.
fn outcome(out: &Output) -> (Option<i32>, String, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr(out),
    )
}

/// The same configuration, password and ACL files run by Debian's mosquitto 2.0 and by
/// mqbroker: mosquitto's clients see the same outcomes from both.
#[test]
fn mosquitto_and_mqbroker_read_the_same_files_the_same_way() {
    if !mosquitto_available("mosquitto_and_mqbroker_read_the_same_files_the_same_way") {
        return;
    }
    let dir = dir("same");
    readable(&dir);
    let pw = dir.join("passwd");
    // alice by mqbroker passwd ($7$), bob by mosquitto_passwd -H sha512 ($6$).
    let out = tool(
        env!("CARGO_BIN_EXE_mqbroker"),
        &["passwd", path_str(&pw), "alice"],
        "apass\n",
    );
    assert!(out.status.success(), "{out:?}");
    mosquitto_passwd(&["-H", "sha512", "-b", path_str(&pw), "bob", "bpass"]);
    let acl = dir.join("acl");
    std::fs::write(
        &acl,
        "user alice\ntopic readwrite #\ntopic deny secret/#\n\n\
         user bob\ntopic read public/#\npattern write clients/%c/#\n",
    )
    .unwrap();
    for file in [&pw, &acl] {
        readable(file);
    }
    let conf = |port: u16| {
        format!(
            "listener {port} 127.0.0.1\n\
             password_file {}\nacl_file {}\n\
             max_inflight_messages 5\nmax_keepalive 30\nmax_topic_alias 4\n",
            path_str(&pw),
            path_str(&acl)
        )
    };

    // mosquitto, on a port picked for it; ready once it says "running".
    let m_port = free_port();
    let m_conf = dir.join("mosquitto.conf");
    std::fs::write(&m_conf, conf(m_port)).unwrap();
    readable(&m_conf);
    let mut mosquitto = std::process::Command::new("/usr/sbin/mosquitto")
        .args(["-c", path_str(&m_conf)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run /usr/sbin/mosquitto");
    let m_err = mosquitto.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(m_err).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx.recv_timeout(TIMEOUT).expect("mosquitto starts");
        if line.contains("running") {
            break;
        }
    }
    let (broker, addrs) = start(&dir, &conf(0), 1);
    let q_port = addrs[0].0.port();

    let scenarios: Vec<(&str, Vec<&str>)> = vec![
        ("anonymous", vec!["pub", "-t", "public/a", "-m", "x"]),
        (
            "wrong password",
            vec!["pub", "-u", "alice", "-P", "bpass", "-t", "a", "-m", "x"],
        ),
        (
            "$6$ wrong password",
            vec!["pub", "-u", "bob", "-P", "apass", "-t", "a", "-m", "x"],
        ),
        (
            "alice retains",
            vec![
                "pub", "-u", "alice", "-P", "apass", "-r", "-t", "public/r", "-m", "kept",
            ],
        ),
        (
            "alice, denied, retains",
            vec![
                "pub", "-u", "alice", "-P", "apass", "-r", "-t", "secret/r", "-m", "no",
            ],
        ),
        (
            "bob, 5.0, may not write",
            vec![
                "pub", "-V", "5", "-u", "bob", "-P", "bpass", "-t", "public/b", "-m", "x",
            ],
        ),
        (
            "bob, pattern",
            vec![
                "pub",
                "-V",
                "5",
                "-u",
                "bob",
                "-P",
                "bpass",
                "-i",
                "b1",
                "-t",
                "clients/b1/s",
                "-m",
                "x",
            ],
        ),
        (
            "bob reads",
            vec![
                "sub", "-u", "bob", "-P", "bpass", "-t", "public/#", "-C", "1", "-v",
            ],
        ),
        (
            "alice reads, 5.0",
            vec![
                "sub", "-V", "5", "-u", "alice", "-P", "apass", "-t", "public/#", "-C", "1", "-v",
            ],
        ),
    ];
    let mut outcomes = Vec::new();
    for (name, args) in scenarios {
        let run = |port: u16| {
            let port = port.to_string();
            let (program, rest) = args.split_first().unwrap();
            let program = format!("mosquitto_{program}");
            let mut all = vec!["-h", "127.0.0.1", "-p", &port, "-q", "1"];
            all.extend_from_slice(rest);
            outcome(&tool(&program, &all, ""))
        };
        let ours = run(q_port);
        assert_eq!(ours, run(m_port), "{name}");
        outcomes.push((name, ours));
    }
    // What they agree on is what mosquitto's users expect (not, say, both refusing all).
    let of = |wanted: &str| {
        let (_, o) = outcomes.iter().find(|(n, _)| *n == wanted).unwrap();
        o.clone()
    };
    assert_eq!(of("anonymous").0, Some(5));
    assert_eq!(of("wrong password").0, Some(5));
    assert_eq!(of("alice retains").0, Some(0));
    assert_eq!(
        of("bob reads"),
        (Some(0), "public/r kept\n".into(), String::new())
    );
    assert_eq!(of("alice reads, 5.0").1, "public/r kept\n");
    assert!(of("bob, 5.0, may not write").2.contains("Not authorized"));
    assert_eq!(of("bob, pattern"), (Some(0), String::new(), String::new()));

    // The CONNACK properties the file sets (a 5.0 client asking for a keep alive of 0).
    let props = |port: u16| {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let (_, ack) = connect_as(addr, V5, "props", Some(("alice", "apass")));
        (
            ack.reason,
            ack.properties.receive_maximum,
            ack.properties.server_keep_alive,
            ack.properties.topic_alias_maximum,
        )
    };
    let ours = props(q_port);
    assert_eq!(ours, props(m_port));
    assert_eq!(ours.1.map(|r| r.get()), Some(5));

    broker.terminate();
    assert!(broker.wait().success());
    let _ = mosquitto.kill();
    let _ = mosquitto.wait();
}
