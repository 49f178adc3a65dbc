//! The `mqbroker` binary over real sockets: it is spawned with `--port 0`, its address read from
//! the listening line on stderr, and spoken to with raw packets through mqtt-proto's codec
//! (`mqtt_testkit::raw`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use mqtt_proto::{Packet, ProtocolVersion, QoS, QosPid};
use mqtt_testkit::external::TempDir;
use mqtt_testkit::raw::{RawClient, connect_packet, pid, publish};

mod common;

use common::{Mqbroker, TIMEOUT};

/// CONNECT, SUBSCRIBE and a PUBLISH that comes back, on one connection
/// (`mqtt_testkit::raw`).
async fn round_trip(addr: SocketAddr, version: ProtocolVersion) -> RawClient {
    let mut client = RawClient::connect(addr, version, "mqbroker-test").await;
    let ack = client.subscribe(1, "cli/+", QoS::AtLeastOnce).await;
    assert_eq!(ack.packet_id, pid(1), "{ack:?}");
    client
        .send(publish("cli/echo", QosPid::AtMostOnce, b"hello"))
        .await;
    let p = client.recv_publish().await;
    assert_eq!(p.topic.as_str(), "cli/echo");
    assert_eq!(&p.payload[..], b"hello");
    client
}

#[tokio::test]
async fn serves_a_publish_round_trip_and_exits_cleanly_on_sigterm() {
    let (broker, addr) = Mqbroker::listening(&[]);
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_ne!(addr.port(), 0, "the listening line shows the real port");

    let mut clients = [
        round_trip(addr, ProtocolVersion::V3_1_1).await,
        round_trip(addr, ProtocolVersion::V5).await,
    ];
    broker.terminate();
    // A clean shutdown closes every connection (5.0: after DISCONNECT 0x8B).
    for client in &mut clients {
        while let Ok(p) = client.next().await {
            assert!(matches!(p, Packet::Disconnect(_)), "{p:?}");
        }
    }

    let rest = broker.rest_of_stderr();
    assert!(rest.is_empty(), "quiet without -v: {rest:?}");
    let status = broker.wait();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn verbose_logs_packets_and_events() {
    let (broker, addr) = Mqbroker::listening(&["-v"]);
    let _client = round_trip(addr, ProtocolVersion::V3_1_1).await;
    broker.line_where(|l| l.contains("Connected") && l.contains("mqbroker-test"));
    broker.line_where(|l| l.contains("received") && l.contains("PUBLISH"));
    broker.line_where(|l| l.contains("sent") && l.contains("PUBLISH"));
    broker.terminate();
    assert!(broker.wait().success());
}

#[test]
fn an_address_in_use_is_one_error_line_and_exit_code_1() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("local addr").port().to_string();
    let broker = Mqbroker::spawn(&["--port", &port]);
    let lines = broker.rest_of_stderr();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("Error: cannot listen on 127.0.0.1:{port}: ")),
        "{lines:?}"
    );
    assert_eq!(broker.wait().code(), Some(1));
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    let broker = Mqbroker::spawn(&["--no-such-flag"]);
    let lines = broker.rest_of_stderr();
    assert!(lines.iter().any(|l| l.starts_with("error: ")), "{lines:?}");
    assert_eq!(broker.wait().code(), Some(2));
}

/// The address on an extra listener's line, `mqbroker listening on ADDRESS (KIND)`.
fn extra_listener(broker: &Mqbroker, kind: &str) -> SocketAddr {
    let suffix = format!(" ({kind})");
    let line =
        broker.line_where(|l| l.starts_with("mqbroker listening on ") && l.ends_with(&suffix));
    line["mqbroker listening on ".len()..line.len() - suffix.len()]
        .parse()
        .expect("an address before the listener's kind")
}

#[test]
fn ws_port_adds_a_websocket_listener() {
    let (broker, addr) = Mqbroker::listening(&["--ws-port", "0"]);
    let ws_addr = extra_listener(&broker, "websocket");
    assert_ne!(ws_addr, addr);
    assert_ne!(ws_addr.port(), 0);

    // A hand-written upgrade offering `mqtt` is switched, and answered with `mqtt`.
    let mut stream = TcpStream::connect(ws_addr).expect("connect to the WebSocket port");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let request = format!(
        "GET /mqtt HTTP/1.1\r\nHost: {ws_addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: mqtt\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .expect("send the upgrade");
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("read the response");
        if line.trim().is_empty() {
            break;
        }
        head.push(line.trim().to_ascii_lowercase());
    }
    assert!(head[0].starts_with("http/1.1 101"), "{head:?}");
    assert!(
        head.contains(&"sec-websocket-protocol: mqtt".to_owned()),
        "{head:?}"
    );

    broker.terminate();
    assert!(broker.wait().success());
}

#[test]
fn tls_flags_add_a_tls_listener() {
    let key = rcgen::KeyPair::generate().expect("generate a key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("certificate params")
        .self_signed(&key)
        .expect("self-sign");
    let dir = TempDir::new("mqbroker-tls");
    let cert_file = dir.write("cert.pem", cert.pem());
    let key_file = dir.write("key.pem", key.serialize_pem());

    let (broker, addr) = Mqbroker::listening(&[
        "--tls-port",
        "0",
        "--cert",
        cert_file.to_str().expect("UTF-8 path"),
        "--key",
        key_file.to_str().expect("UTF-8 path"),
    ]);
    let tls_addr = extra_listener(&broker, "tls");
    assert_ne!(tls_addr, addr);
    assert_ne!(tls_addr.port(), 0);
    TcpStream::connect(tls_addr).expect("connect to the TLS port");
    broker.terminate();
    assert!(broker.wait().success());
}

#[test]
fn a_missing_certificate_is_one_error_line_and_exit_code_1() {
    let broker = Mqbroker::spawn(&[
        "--port",
        "0",
        "--tls-port",
        "0",
        "--cert",
        "/nonexistent/cert.pem",
        "--key",
        "/nonexistent/key.pem",
    ]);
    let lines = broker.rest_of_stderr();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("Error: cannot read certificate /nonexistent/cert.pem: "),
        "{lines:?}"
    );
    assert_eq!(broker.wait().code(), Some(1));
}

#[test]
fn wss_port_adds_a_secure_websocket_listener() {
    let ca = mqtt_testkit::certs::TestCa::new("mqbroker wss");
    let server = ca.server_cert(&["localhost", "127.0.0.1"]);
    let dir = TempDir::new("mqbroker-wss");
    let cert_file = dir.write("chain.pem", server.chain_pem());
    let key_file = dir.write("key.pem", server.key_pem());

    let (broker, addr) = Mqbroker::listening(&[
        "--wss-port",
        "0",
        "--cert",
        cert_file.to_str().expect("UTF-8 path"),
        "--key",
        key_file.to_str().expect("UTF-8 path"),
    ]);
    let wss_addr = extra_listener(&broker, "wss");
    assert_ne!(wss_addr, addr);
    assert_ne!(wss_addr.port(), 0);
    TcpStream::connect(wss_addr).expect("connect to the wss port");
    broker.terminate();
    assert!(broker.wait().success());
}

#[cfg(unix)]
#[tokio::test]
async fn unix_adds_a_unix_socket_listener_removed_on_shutdown() {
    let dir = TempDir::new("mqbroker-unix");
    let path = dir.join("mqbroker.sock");
    let (broker, _addr) = Mqbroker::listening(&["--unix", path.to_str().expect("UTF-8 path")]);
    let line = broker.line_where(|l| l.ends_with(" (unix)"));
    assert_eq!(
        line,
        format!("mqbroker listening on {} (unix)", path.display())
    );

    // CONNECT, CONNACK over the socket (`mqtt_testkit::raw`).
    let stream = tokio::net::UnixStream::connect(&path)
        .await
        .expect("connect to the unix socket");
    let (_client, ack) =
        RawClient::connect_over(stream, connect_packet(ProtocolVersion::V5, "over-unix")).await;
    assert!(!ack.reason.is_error(), "{ack:?}");

    broker.terminate();
    assert!(broker.wait().success());
    assert!(!path.exists(), "the socket file is removed on shutdown");
}
