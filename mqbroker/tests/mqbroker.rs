//! The `mqbroker` binary over real sockets: it is spawned with `--port 0`, its address read from
//! the listening line on stderr, and spoken to with raw packets through mqtt-proto's codec.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use bytes::BytesMut;
use mqtt_proto::{
    Connect, Decoder, Encoder, Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, Subscribe,
    SubscribeFilter, TopicFilter, TopicName,
};

/// How long a test waits for a line, a packet or an exit before failing instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A running `mqbroker`; killed on drop if a test fails before it exits.
struct Mqbroker {
    child: Option<Child>,
    stderr: Receiver<String>,
}

impl Mqbroker {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mqbroker"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mqbroker");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child: Some(child),
            stderr: rx,
        }
    }

    /// Spawn on a free loopback port and wait for the listening line.
    fn listening(extra: &[&str]) -> (Self, SocketAddr) {
        let mut args = vec!["--port", "0"];
        args.extend_from_slice(extra);
        let broker = Self::spawn(&args);
        let line = broker.line_where(|l| l.starts_with("mqbroker listening on "));
        let addr = line["mqbroker listening on ".len()..]
            .parse()
            .expect("the listening line ends with an address");
        (broker, addr)
    }

    /// The next stderr line.
    fn line(&self) -> Option<String> {
        match self.stderr.recv_timeout(TIMEOUT) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("timed out waiting for stderr"),
        }
    }

    /// Skip stderr lines until one satisfies `pred`.
    fn line_where(&self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            match self.line() {
                Some(line) if pred(&line) => return line,
                Some(_) => {}
                None => panic!("stderr closed before the expected line"),
            }
        }
    }

    /// Every stderr line until it closes.
    fn rest_of_stderr(&self) -> Vec<String> {
        std::iter::from_fn(|| self.line()).collect()
    }

    fn terminate(&self) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Wait for the process to exit (without polling: a thread waits and reports).
    fn wait(mut self) -> ExitStatus {
        let (tx, rx) = mpsc::channel();
        let mut child = self.child.take().expect("running");
        thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        rx.recv_timeout(TIMEOUT)
            .expect("mqbroker did not exit in time")
            .expect("wait for mqbroker")
    }
}

impl Drop for Mqbroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A raw MQTT client over a blocking socket.
struct RawClient {
    stream: TcpStream,
    decoder: Decoder,
    encoder: Encoder,
    rbuf: BytesMut,
}

impl RawClient {
    fn open(addr: SocketAddr, version: ProtocolVersion) -> Self {
        let stream = TcpStream::connect(addr).expect("connect to mqbroker");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("read timeout");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            decoder: Decoder::new(version),
            encoder: Encoder::new(version),
            rbuf: BytesMut::new(),
        }
    }

    fn send(&mut self, packet: impl Into<Packet>) {
        let mut buf = BytesMut::new();
        self.encoder
            .encode(&packet.into(), &mut buf)
            .expect("test packets encode");
        self.stream.write_all(&buf).expect("write to mqbroker");
    }

    /// The next packet, or `None` once the broker closed the connection.
    fn next(&mut self) -> Option<Packet> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(p) = self.decoder.decode(&mut self.rbuf).expect("valid packets") {
                return Some(p);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.rbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read from mqbroker: {e}"),
            }
        }
    }

    fn recv(&mut self) -> Packet {
        self.next().expect("a packet, not a closed connection")
    }

    fn connect(addr: SocketAddr, version: ProtocolVersion, id: &str) -> Self {
        let mut c = Self::open(addr, version);
        let mut connect = Connect::new(version, id);
        connect.keep_alive = 0;
        c.send(connect);
        match c.recv() {
            Packet::ConnAck(ack) => assert!(!ack.reason.is_error(), "refused: {ack:?}"),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        c
    }
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero")
}

/// CONNECT, SUBSCRIBE and a PUBLISH that comes back, on one connection.
fn round_trip(addr: SocketAddr, version: ProtocolVersion) -> RawClient {
    let mut client = RawClient::connect(addr, version, "mqbroker-test");
    let filter = TopicFilter::new("cli/+").expect("valid filter");
    client.send(Subscribe::new(
        pid(1),
        vec![SubscribeFilter::new(filter, QoS::AtLeastOnce)],
    ));
    match client.recv() {
        Packet::SubAck(ack) => assert_eq!(ack.packet_id, pid(1), "{ack:?}"),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    let topic = TopicName::new("cli/echo").expect("valid topic");
    client.send(Publish::new(topic, QosPid::AtMostOnce, &b"hello"[..]));
    match client.recv() {
        Packet::Publish(p) => {
            assert_eq!(p.topic.as_str(), "cli/echo");
            assert_eq!(&p.payload[..], b"hello");
        }
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    client
}

#[test]
fn serves_a_publish_round_trip_and_exits_cleanly_on_sigterm() {
    let (broker, addr) = Mqbroker::listening(&[]);
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_ne!(addr.port(), 0, "the listening line shows the real port");

    let mut clients = [
        round_trip(addr, ProtocolVersion::V3_1_1),
        round_trip(addr, ProtocolVersion::V5),
    ];
    broker.terminate();
    // A clean shutdown closes every connection (5.0: after DISCONNECT 0x8B).
    for client in &mut clients {
        while let Some(p) = client.next() {
            assert!(matches!(p, Packet::Disconnect(_)), "{p:?}");
        }
    }

    let rest = broker.rest_of_stderr();
    assert!(rest.is_empty(), "quiet without -v: {rest:?}");
    let status = broker.wait();
    assert!(status.success(), "{status:?}");
}

#[test]
fn verbose_logs_packets_and_events() {
    let (broker, addr) = Mqbroker::listening(&["-v"]);
    let _client = round_trip(addr, ProtocolVersion::V3_1_1);
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
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mqbroker-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cert_file = dir.join("cert.pem");
    let key_file = dir.join("key.pem");
    std::fs::write(&cert_file, cert.pem()).expect("write cert");
    std::fs::write(&key_file, key.serialize_pem()).expect("write key");

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
    let _ = std::fs::remove_dir_all(&dir);
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
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mqbroker-wss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cert_file = dir.join("chain.pem");
    let key_file = dir.join("key.pem");
    std::fs::write(&cert_file, server.chain_pem()).expect("write chain");
    std::fs::write(&key_file, server.key_pem()).expect("write key");

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
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn unix_adds_a_unix_socket_listener_removed_on_shutdown() {
    use std::os::unix::net::UnixStream;

    let dir = std::env::temp_dir().join(format!("mqbroker-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("mqbroker.sock");
    let (broker, _addr) = Mqbroker::listening(&["--unix", path.to_str().expect("UTF-8 path")]);
    let line = broker.line_where(|l| l.ends_with(" (unix)"));
    assert_eq!(
        line,
        format!("mqbroker listening on {} (unix)", path.display())
    );

    // CONNECT, CONNACK over the socket.
    let mut stream = UnixStream::connect(&path).expect("connect to the unix socket");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut connect = Connect::new(ProtocolVersion::V5, "over-unix");
    connect.keep_alive = 0;
    let mut buf = BytesMut::new();
    Encoder::new(ProtocolVersion::V5)
        .encode(&connect.into(), &mut buf)
        .expect("encode CONNECT");
    stream.write_all(&buf).expect("send CONNECT");
    let mut decoder = Decoder::new(ProtocolVersion::V5);
    let mut rbuf = BytesMut::new();
    let mut chunk = [0u8; 256];
    let packet = loop {
        if let Some(p) = decoder.decode(&mut rbuf).expect("valid packets") {
            break p;
        }
        let n = stream.read(&mut chunk).expect("read from mqbroker");
        assert_ne!(n, 0, "closed before CONNACK");
        rbuf.extend_from_slice(&chunk[..n]);
    };
    match packet {
        Packet::ConnAck(ack) => assert!(!ack.reason.is_error(), "{ack:?}"),
        other => panic!("expected CONNACK, got {other:?}"),
    }

    broker.terminate();
    assert!(broker.wait().success());
    assert!(!path.exists(), "the socket file is removed on shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
