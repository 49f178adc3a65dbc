//! A scripted broker for client tests: a loopback listener (bound to port 0, so its port is
//! its own from the start) whose every connection is played by a script the test writes,
//! packet by packet, through mqtt-proto's codec ([`Peer`]), or byte by byte where the test
//! needs bytes no encoder would write (another broker's refusal, say).
//!
//! The broker runs on a thread of its own with its own runtime (on real time), so the same
//! script serves a blocking test (a CLI run as a child process) and an async one:
//! [`ScriptedBroker::join`] blocks, [`ScriptedBroker::finish`] awaits. A client on a paused
//! clock does not wait for another thread before its clock jumps to its next timer: there,
//! script only what the client does not time (a broker that never answers, say).
//!
//! ```no_run
//! # async fn demo() {
//! use mqtt_proto::{ConnAck, ConnectReason, Packet};
//! use mqtt_testkit::script::ScriptedBroker;
//!
//! // One connection: CONNACK, then the packets the client sends until it closes.
//! let broker = ScriptedBroker::accept(1, |_, mut peer| async move {
//!     peer.connect().await;
//!     peer.send(Packet::ConnAck(Box::new(ConnAck::new(false, ConnectReason::Success))))
//!         .await;
//!     peer.until_closed().await
//! });
//! // ... connect a client to broker.addr() ...
//! let seen: Vec<Vec<Packet>> = broker.finish().await;
//! # let _ = seen;
//! # }
//! ```

#![allow(clippy::expect_used)] // test support: a failure to set up is the test's failure

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use mqtt_proto::{Connect, Packet, ProtocolVersion};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::raw::{Closed, PacketStream, Stream};

/// How long a bounded script ([`ScriptedBroker::accept`]) may run in all, accepting
/// included, before it fails instead of hanging.
pub const SCRIPT_LIMIT: Duration = Duration::from_secs(60);

/// The broker's side of one scripted connection. Until [`Peer::connect`] reads the CONNECT
/// it decodes as 3.1.1 (every CONNECT decodes so); then as the CONNECT's version.
#[derive(Debug)]
pub struct Peer {
    io: PacketStream,
}

impl Peer {
    /// The broker's side of an established stream (a TLS session, say).
    pub fn over(stream: impl Stream + 'static) -> Self {
        Self {
            io: PacketStream::new(stream, ProtocolVersion::V3_1_1),
        }
    }

    /// The next packet, which must be a CONNECT: from now on packets are of its version.
    pub async fn connect(&mut self) -> Connect {
        match self.io.recv().await {
            Packet::Connect(c) => {
                self.io.set_version(c.protocol);
                *c
            }
            other => panic!("expected CONNECT, got {other:?}"),
        }
    }

    /// The protocol version packets are encoded and decoded for.
    pub fn version(&self) -> ProtocolVersion {
        self.io.version()
    }

    /// Send one packet.
    pub async fn send(&mut self, packet: impl Into<Packet>) {
        self.io.send(packet).await;
    }

    /// Send these packets in one write.
    pub async fn send_all(&mut self, packets: &[Packet]) {
        self.io.send_all(packets).await;
    }

    /// Send these bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.send_raw(bytes).await;
    }

    /// The next packet; `None` once the client closed the connection.
    pub async fn next(&mut self) -> Option<Packet> {
        self.io.next().await.ok()
    }

    /// The next packet; panics if the connection closed.
    pub async fn recv(&mut self) -> Packet {
        self.io.recv().await
    }

    /// Read until a packet satisfies `pred` and return it, with those read before it;
    /// panics if the connection closes first.
    pub async fn until(&mut self, mut pred: impl FnMut(&Packet) -> bool) -> (Packet, Vec<Packet>) {
        let mut before = Vec::new();
        loop {
            match self.io.next().await {
                Ok(p) if pred(&p) => return (p, before),
                Ok(p) => before.push(p),
                Err(Closed::Eof) => panic!("closed before the packet expected; read {before:?}"),
            }
        }
    }

    /// Every packet until the client closes the connection.
    pub async fn until_closed(&mut self) -> Vec<Packet> {
        self.io.closed().await
    }

    /// How many bytes arrive, undecoded, until the client closes the connection.
    pub async fn bytes_until_closed(&mut self) -> usize {
        self.io.bytes_until_closed().await
    }
}

/// A scripted broker on 127.0.0.1, served from a thread of its own; dropping it stops it
/// (a script still running is abandoned, its connection closed).
#[derive(Debug)]
pub struct ScriptedBroker<T> {
    addr: SocketAddr,
    results: Option<oneshot::Receiver<Vec<T>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T: Send + 'static> ScriptedBroker<T> {
    /// Accept `connections` connections, each played by `play(n, peer)` (`n` counts from 0,
    /// in accept order) in a task of its own; their results, in that order, come from
    /// [`join`](Self::join) or [`finish`](Self::finish). All of it must be over within
    /// [`SCRIPT_LIMIT`].
    pub fn accept<F, Fut>(connections: usize, play: F) -> Self
    where
        F: FnMut(usize, Peer) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        Self::start(Some(connections), play)
    }

    fn start<F, Fut>(connections: Option<usize>, mut play: F) -> Self
    where
        F: FnMut(usize, Peer) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("the bound address");
        let (results_tx, results) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the scripted broker");
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("a tokio listener");
                let serve = async {
                    let mut tasks = Vec::new();
                    let mut n = 0;
                    while connections.is_none_or(|c| n < c) {
                        let (stream, _) = listener.accept().await.expect("accept a client");
                        let _ = stream.set_nodelay(true);
                        tasks.push(tokio::spawn(play(n, Peer::over(stream))));
                        n += 1;
                    }
                    let mut out = Vec::new();
                    for t in tasks {
                        match t.await {
                            Ok(r) => out.push(r),
                            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                            Err(e) => panic!("a script did not finish: {e}"),
                        }
                    }
                    out
                };
                let limit = if connections.is_some() {
                    SCRIPT_LIMIT
                } else {
                    Duration::MAX
                };
                tokio::select! {
                    r = tokio::time::timeout(limit, serve) => {
                        let out = r.unwrap_or_else(|_| {
                            panic!("the scripted broker did not finish within {SCRIPT_LIMIT:?}")
                        });
                        let _ = results_tx.send(out);
                    }
                    _ = stopped => {}
                }
            });
        });
        Self {
            addr,
            results: Some(results),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The scripts' results, blocking until every connection was played; a script's panic
    /// is raised again here.
    pub fn join(mut self) -> Vec<T> {
        let results = self.results.take().expect("results not yet taken");
        match results.blocking_recv() {
            Ok(r) => r,
            Err(_) => self.raise(),
        }
    }

    /// The scripts' results, once every connection was played; a script's panic is raised
    /// again here. The wait is a blocking task's, so that a paused clock does not advance
    /// meanwhile (tokio does not auto-advance while one runs).
    pub async fn finish(mut self) -> Vec<T> {
        let results = self.results.take().expect("results not yet taken");
        let got = tokio::task::spawn_blocking(move || results.blocking_recv())
            .await
            .expect("the wait for the scripts");
        match got {
            Ok(r) => r,
            Err(_) => self.raise(),
        }
    }

    /// The serving thread ended without results: raise its panic.
    fn raise(&mut self) -> ! {
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            _ => panic!("the scripted broker stopped without results"),
        }
    }
}

impl ScriptedBroker<()> {
    /// Accept any number of connections, until dropped, each played by `play(n, peer)` in
    /// a task of its own.
    pub fn serve<F, Fut>(play: F) -> Self
    where
        F: FnMut(usize, Peer) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self::start(None, play)
    }
}

impl<T> Drop for ScriptedBroker<T> {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            // A panic in a script that was not asked for its results is the test's to see
            // through what the client got; do not panic in drop.
            let _ = t.join();
        }
    }
}
