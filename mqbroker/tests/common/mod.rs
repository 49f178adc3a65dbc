//! What the mqbroker tests share: the spawned binary ([`Mqbroker`], on the testkit's
//! `Process`) and, for the synchronous tests of the configuration file, a raw client
//! speaking mqtt-proto's codec over a blocking socket ([`RawClient`]; the asynchronous one is
//! `mqtt_testkit::raw::RawClient`).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use bytes::BytesMut;
use mqtt_proto::{Connect, Decoder, Encoder, Packet, PacketId, ProtocolVersion};
use mqtt_testkit::external::Process;

/// How long a test waits for a line, a packet or an exit before failing instead of hanging.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A running `mqbroker` (`mqtt_testkit::external::Process`: its stderr read as it comes,
/// killed and reaped on drop if a test fails before it exits).
pub struct Mqbroker(Process);

impl Mqbroker {
    pub fn spawn(args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mqbroker"));
        command.args(args);
        Self(Process::spawn(command, false).expect("spawn mqbroker"))
    }

    /// Spawn on a free loopback port and wait for the listening line.
    pub fn listening(extra: &[&str]) -> (Self, SocketAddr) {
        let mut args = vec!["--port", "0"];
        args.extend_from_slice(extra);
        let broker = Self::spawn(&args);
        let line = broker.line_where(|l| l.starts_with("mqbroker listening on "));
        let addr = line["mqbroker listening on ".len()..]
            .parse()
            .expect("the listening line ends with an address");
        (broker, addr)
    }

    /// Skip stderr lines until one satisfies `pred`.
    pub fn line_where(&self, pred: impl Fn(&str) -> bool) -> String {
        self.0
            .output()
            .next_where(pred)
            .expect("stderr closed before the expected line")
    }

    /// Every stderr line until it closes.
    pub fn rest_of_stderr(&self) -> Vec<String> {
        self.0.output().rest()
    }

    pub fn terminate(&self) {
        self.0.signal("-TERM");
    }

    /// Wait for the process to exit (without polling).
    pub fn wait(self) -> ExitStatus {
        self.0.wait(TIMEOUT)
    }
}

/// A raw MQTT client over a blocking socket.
pub struct RawClient {
    pub stream: TcpStream,
    pub decoder: Decoder,
    pub encoder: Encoder,
    pub rbuf: BytesMut,
}

impl RawClient {
    pub fn open(addr: SocketAddr, version: ProtocolVersion) -> Self {
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

    pub fn send(&mut self, packet: impl Into<Packet>) {
        let mut buf = BytesMut::new();
        self.encoder
            .encode(&packet.into(), &mut buf)
            .expect("test packets encode");
        self.stream.write_all(&buf).expect("write to mqbroker");
    }

    /// The next packet, or `None` once the broker closed the connection.
    pub fn next(&mut self) -> Option<Packet> {
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

    pub fn recv(&mut self) -> Packet {
        self.next().expect("a packet, not a closed connection")
    }

    pub fn connect(addr: SocketAddr, version: ProtocolVersion, id: &str) -> Self {
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

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero")
}
