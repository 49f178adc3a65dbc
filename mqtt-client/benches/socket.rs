//! Socket benchmark: mqtt-client beside rumqttc 0.25 in the same run, interleaved.
//!
//! Scenarios (MQTT 3.1.1 for both clients, TCP over loopback, TCP_NODELAY on for both, at
//! most 100 messages in flight for both, 20-byte topic, 64-byte payload):
//! - publish-only at QoS 0, 1 and 2 against an ideal broker that only acknowledges;
//! - a receive-only flood of QoS 0 PUBLISHes written by the ideal broker;
//! - publish-to-receive latency through the reference broker (`mqtt-testkit`), QoS 0, one
//!   message at a time.
//!
//! Both brokers run in a child process (this binary started again with `--broker-child`), so
//! `getrusage(RUSAGE_SELF)` counts the client's CPU only. Every run gets a fresh
//! multi-thread tokio runtime with 2 workers; the clients alternate (ours, rumqttc, ours...)
//! for several rounds and the table reports medians.
//!
//! Run: `cargo bench -p mqtt-client --bench socket`. Options after `--`: `--rounds 7` for
//! more rounds, `--only qos1` for one scenario (qos0, qos1, qos2, flood, latency),
//! `--client ours` or `--client rumqttc` for one side (profiling), `--on-main` to run the
//! application's loop on the thread blocked in `block_on` (as the body of `#[tokio::main]`)
//! rather than as a spawned task.

#![allow(
    missing_docs,
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use mqtt_client::{Client, Options, ProtocolVersion, QoS};
use mqtt_proto::{Decoder, Encoder, Packet, Publish, QosPid, TopicName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOPIC: &str = "sensors/kitchen/temp";
const PAYLOAD: [u8; 64] = [0x5a; 64];
const FLOOD_PREFIX: &str = "flood/";
const INFLIGHT: u16 = 100;
const QUEUE: usize = 1000;

// ---- the brokers (child process) -------------------------------------------------------------

/// The ideal broker: acknowledges everything, as cheaply as it can, with batched writes. A
/// SUBSCRIBE to `flood/<n>` is answered with a SUBACK and then `n` QoS 0 PUBLISHes on that
/// topic, written as fast as the client reads them.
async fn ideal_broker(listener: TcpListener) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        let _ = sock.set_nodelay(true);
        tokio::spawn(async move {
            let _ = ideal_connection(sock).await;
        });
    }
}

fn ack(out: &mut BytesMut, first: u8, pid: u16) {
    out.put_slice(&[first, 2]);
    out.put_u16(pid);
}

async fn ideal_connection(mut sock: TcpStream) -> std::io::Result<()> {
    let mut decoder = Decoder::new(ProtocolVersion::V3_1_1);
    let mut rbuf = BytesMut::with_capacity(256 * 1024);
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    loop {
        if sock.read_buf(&mut rbuf).await? == 0 {
            return Ok(());
        }
        let mut flood: Option<(String, usize)> = None;
        loop {
            let packet = match decoder.decode(&mut rbuf) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(_) => return Ok(()),
            };
            match packet {
                Packet::Connect(_) => wbuf.put_slice(&[0x20, 2, 0, 0]),
                Packet::Publish(p) => match p.qos {
                    QosPid::AtMostOnce => {}
                    QosPid::AtLeastOnce(id) => ack(&mut wbuf, 0x40, id.get()),
                    QosPid::ExactlyOnce(id) => ack(&mut wbuf, 0x50, id.get()),
                },
                Packet::PubRel(p) => ack(&mut wbuf, 0x70, p.packet_id.get()),
                Packet::PubRec(p) => ack(&mut wbuf, 0x62, p.packet_id.get()),
                Packet::Subscribe(s) => {
                    wbuf.put_slice(&[0x90, 2 + s.subscriptions.len() as u8]);
                    wbuf.put_u16(s.packet_id.get());
                    for sub in &s.subscriptions {
                        wbuf.put_u8(0);
                        let f = sub.filter.as_str();
                        if let Some(n) = f.strip_prefix(FLOOD_PREFIX) {
                            flood = Some((f.to_owned(), n.parse().unwrap_or(0)));
                        }
                    }
                }
                Packet::Unsubscribe(u) => ack(&mut wbuf, 0xB0, u.packet_id.get()),
                Packet::PingReq => wbuf.put_slice(&[0xD0, 0]),
                Packet::Disconnect(_) => {
                    sock.write_all(&wbuf).await?;
                    return Ok(());
                }
                _ => {}
            }
        }
        if !wbuf.is_empty() {
            sock.write_all(&wbuf).await?;
            wbuf.clear();
        }
        if let Some((topic, n)) = flood {
            write_flood(&mut sock, &topic, n).await?;
        }
    }
}

/// `n` QoS 0 PUBLISHes on `topic`, from a pre-encoded chunk.
async fn write_flood(sock: &mut TcpStream, topic: &str, n: usize) -> std::io::Result<()> {
    const CHUNK: usize = 1024;
    let encoder = Encoder::new(ProtocolVersion::V3_1_1);
    let publish = Publish::new(
        TopicName::new(topic).expect("topic"),
        QosPid::AtMostOnce,
        Bytes::from_static(&PAYLOAD),
    );
    let mut one = BytesMut::new();
    encoder.encode_publish(&publish, &mut one).expect("encode");
    let mut chunk = BytesMut::with_capacity(one.len() * CHUNK);
    for _ in 0..CHUNK {
        chunk.put_slice(&one);
    }
    let mut left = n;
    while left > 0 {
        let k = left.min(CHUNK);
        sock.write_all(&chunk[..k * one.len()]).await?;
        left -= k;
    }
    Ok(())
}

/// The child process: both brokers on loopback; prints their ports, runs until stdin closes.
fn broker_child() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (ideal, reference) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let ideal = listener.local_addr().expect("addr");
        tokio::spawn(ideal_broker(listener));
        let broker = mqtt_testkit::Broker::builder()
            .start()
            .await
            .expect("reference broker");
        let reference = broker.local_addr();
        // Keep it running for the life of the process.
        std::mem::forget(broker);
        (ideal, reference)
    });
    println!("{} {}", ideal.port(), reference.port());
    std::io::stdout().flush().expect("stdout");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(rt);
}

struct Brokers {
    child: Child,
    ideal: SocketAddr,
    reference: SocketAddr,
}

impl Brokers {
    fn start() -> Self {
        let exe = std::env::current_exe().expect("current exe");
        let mut child = Command::new(exe)
            .arg("--broker-child")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("broker child");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ports");
        let mut ports = line
            .split_whitespace()
            .map(|p| p.parse::<u16>().expect("port"));
        let ideal = SocketAddr::from(([127, 0, 0, 1], ports.next().expect("ideal port")));
        let reference = SocketAddr::from(([127, 0, 0, 1], ports.next().expect("ref port")));
        Self {
            child,
            ideal,
            reference,
        }
    }
}

impl Drop for Brokers {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

// ---- measurement -----------------------------------------------------------------------------

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

/// `--on-main`: the application's work runs on the thread blocked in `block_on` (as in the
/// body of `#[tokio::main]`) instead of as a task of the runtime.
static ON_MAIN: AtomicBool = AtomicBool::new(false);

/// Times `f` (wall and process CPU), run as a task of the runtime (as an application's
/// work usually is), or with `--on-main` on the thread blocked in `block_on`.
async fn measure<F: std::future::Future<Output = ()> + Send + 'static>(f: F) -> Sample {
    let c0 = cpu_time();
    let t0 = Instant::now();
    if ON_MAIN.load(Ordering::Relaxed) {
        f.await;
    } else {
        tokio::spawn(f).await.expect("task");
    }
    Sample {
        wall: t0.elapsed(),
        cpu: cpu_time() - c0,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

// ---- our client ------------------------------------------------------------------------------

fn our_options(addr: SocketAddr, id: &str) -> Options {
    let mut opts =
        Options::from_url(&format!("mqtt://{addr}?version=3.1.1&client_id={id}")).expect("options");
    opts.mqtt.max_inflight = std::num::NonZeroU16::new(INFLIGHT).expect("inflight");
    opts.request_queue = QUEUE;
    opts.message_queue = QUEUE;
    opts
}

/// Publish `n` messages, pipelined (a window of handles); done when every handle has
/// resolved. For QoS 0 a QoS 1 marker follows: done at its PUBACK (the broker has read all).
async fn ours_publish(addr: SocketAddr, qos: QoS, n: usize) -> Sample {
    let (client, _messages) = Client::connect(our_options(addr, "ours-pub"))
        .await
        .expect("connect");
    let payload = Bytes::from_static(&PAYLOAD);
    let c = client.clone();
    let sample = measure(async move {
        let client = c;
        let mut window = VecDeque::with_capacity(QUEUE * 2);
        for _ in 0..n {
            let h = client
                .publish(TOPIC, qos, false, payload.clone())
                .await
                .expect("publish");
            window.push_back(h);
            if window.len() >= QUEUE * 2 {
                window.pop_front().expect("handle").await.expect("ack");
            }
        }
        if qos == QoS::AtMostOnce {
            let h = client
                .publish(TOPIC, QoS::AtLeastOnce, false, payload.clone())
                .await
                .expect("marker");
            window.push_back(h);
        }
        for h in window {
            h.await.expect("ack");
        }
    })
    .await;
    client
        .disconnect(Duration::from_secs(5))
        .await
        .expect("disconnect");
    sample
}

async fn ours_flood(addr: SocketAddr, n: usize) -> Sample {
    let (client, _messages) = Client::connect(our_options(addr, "ours-flood"))
        .await
        .expect("connect");
    let c = client.clone();
    let sample = measure(async move {
        let client = c;
        let mut sub = client
            .subscribe(format!("{FLOOD_PREFIX}{n}"), QoS::AtMostOnce)
            .await
            .expect("subscribe");
        for _ in 0..n {
            sub.recv().await.expect("message");
        }
    })
    .await;
    client
        .disconnect(Duration::from_secs(5))
        .await
        .expect("disconnect");
    sample
}

fn now_nanos(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64
}

async fn ours_latency(addr: SocketAddr, n: usize, warmup: usize) -> Vec<f64> {
    let (sub_client, _m1) = Client::connect(our_options(addr, "ours-lat-sub"))
        .await
        .expect("connect");
    let (pub_client, _m2) = Client::connect(our_options(addr, "ours-lat-pub"))
        .await
        .expect("connect");
    let mut sub = sub_client
        .subscribe("lat/ours", QoS::AtMostOnce)
        .await
        .expect("subscribe");
    let base = Instant::now();
    let mut out = Vec::with_capacity(n);
    for i in 0..n + warmup {
        let mut payload = BytesMut::with_capacity(64);
        payload.put_u64(now_nanos(base));
        payload.put_slice(&PAYLOAD[8..]);
        // The handle is not awaited: the message's arrival is what is timed.
        drop(
            pub_client
                .publish("lat/ours", QoS::AtMostOnce, false, payload.freeze())
                .await
                .expect("publish"),
        );
        let m = sub.recv().await.expect("message");
        let sent = u64::from_be_bytes(m.payload()[..8].try_into().expect("8 bytes"));
        if i >= warmup {
            out.push((now_nanos(base) - sent) as f64 / 1000.0);
        }
    }
    let _ = pub_client.disconnect(Duration::from_secs(5)).await;
    let _ = sub_client.disconnect(Duration::from_secs(5)).await;
    out
}

// ---- rumqttc ---------------------------------------------------------------------------------

fn rumqttc_options(addr: SocketAddr, id: &str) -> rumqttc::MqttOptions {
    let mut opts = rumqttc::MqttOptions::new(id, addr.ip().to_string(), addr.port());
    opts.set_keep_alive(Duration::from_secs(60));
    opts.set_inflight(INFLIGHT);
    opts
}

fn rumqttc_client(addr: SocketAddr, id: &str) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    let (client, mut eventloop) = rumqttc::AsyncClient::new(rumqttc_options(addr, id), QUEUE);
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    eventloop.set_network_options(net);
    (client, eventloop)
}

fn rq_qos(qos: QoS) -> rumqttc::QoS {
    match qos {
        QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

/// Waits for CONNACK, then polls, counting what `count` returns for each event, and sends
/// on `done` once it reaches `target`. Keeps polling until the connection ends.
async fn drive(
    mut eventloop: rumqttc::EventLoop,
    connected: tokio::sync::oneshot::Sender<()>,
    target: usize,
    done: tokio::sync::oneshot::Sender<()>,
    count: impl Fn(&rumqttc::Event) -> usize,
) {
    let mut connected = Some(connected);
    let mut done = Some(done);
    let mut seen = 0;
    loop {
        match eventloop.poll().await {
            Ok(ev) => {
                if let rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_)) = ev
                    && let Some(c) = connected.take()
                {
                    let _ = c.send(());
                }
                seen += count(&ev);
                if seen >= target
                    && let Some(d) = done.take()
                {
                    let _ = d.send(());
                }
            }
            Err(_) => return,
        }
    }
}

async fn rumqttc_publish(addr: SocketAddr, qos: QoS, n: usize) -> Sample {
    let (client, eventloop) = rumqttc_client(addr, "rumqttc-pub");
    let (ctx, crx) = tokio::sync::oneshot::channel();
    let (dtx, drx) = tokio::sync::oneshot::channel();
    // QoS 0: done at the PUBACK of a QoS 1 marker sent after them.
    let target = if qos == QoS::AtMostOnce { 1 } else { n };
    let task = tokio::spawn(drive(eventloop, ctx, target, dtx, move |ev| {
        use rumqttc::{Event, Packet};
        match (qos, ev) {
            (QoS::ExactlyOnce, Event::Incoming(Packet::PubComp(_))) => 1,
            (QoS::AtLeastOnce | QoS::AtMostOnce, Event::Incoming(Packet::PubAck(_))) => 1,
            _ => 0,
        }
    }));
    crx.await.expect("connack");
    let payload = Bytes::from_static(&PAYLOAD);
    let c = client.clone();
    let sample = measure(async move {
        let client = c;
        for _ in 0..n {
            client
                .publish_bytes(TOPIC, rq_qos(qos), false, payload.clone())
                .await
                .expect("publish");
        }
        if qos == QoS::AtMostOnce {
            client
                .publish_bytes(TOPIC, rumqttc::QoS::AtLeastOnce, false, payload.clone())
                .await
                .expect("marker");
        }
        drx.await.expect("done");
    })
    .await;
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    sample
}

async fn rumqttc_flood(addr: SocketAddr, n: usize) -> Sample {
    use rumqttc::{Event, Packet};
    let (client, mut eventloop) = rumqttc_client(addr, "rumqttc-flood");
    loop {
        if let Event::Incoming(Packet::ConnAck(_)) = eventloop.poll().await.expect("connect") {
            break;
        }
    }
    // The application polls the event loop and handles each message as it comes.
    measure(async move {
        client
            .subscribe(format!("{FLOOD_PREFIX}{n}"), rumqttc::QoS::AtMostOnce)
            .await
            .expect("subscribe");
        let mut seen = 0;
        while seen < n {
            if let Event::Incoming(Packet::Publish(_)) = eventloop.poll().await.expect("poll") {
                seen += 1;
            }
        }
        let _ = client.try_disconnect();
    })
    .await
}

async fn rumqttc_latency(addr: SocketAddr, n: usize, warmup: usize) -> Vec<f64> {
    use rumqttc::{Event, Packet};
    let base = Instant::now();
    let (sub_client, mut sub_loop) = rumqttc_client(addr, "rumqttc-lat-sub");
    let (pub_client, mut pub_loop) = rumqttc_client(addr, "rumqttc-lat-pub");
    let pub_task = tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });
    sub_client
        .subscribe("lat/rumqttc", rumqttc::QoS::AtMostOnce)
        .await
        .expect("subscribe");
    // The application polls the subscriber's event loop itself, as rumqttc is used.
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = sub_loop.poll().await.expect("poll") {
            break;
        }
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n + warmup {
        let mut payload = BytesMut::with_capacity(64);
        payload.put_u64(now_nanos(base));
        payload.put_slice(&PAYLOAD[8..]);
        pub_client
            .publish_bytes(
                "lat/rumqttc",
                rumqttc::QoS::AtMostOnce,
                false,
                payload.freeze(),
            )
            .await
            .expect("publish");
        let sent = loop {
            if let Event::Incoming(Packet::Publish(p)) = sub_loop.poll().await.expect("poll") {
                break u64::from_be_bytes(p.payload[..8].try_into().expect("8 bytes"));
            }
        };
        if i >= warmup {
            out.push((now_nanos(base) - sent) as f64 / 1000.0);
        }
    }
    let _ = pub_client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), pub_task).await;
    drop(sub_client);
    out
}

// ---- the run ---------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Ours,
    Rumqttc,
}

struct Row {
    name: String,
    n: usize,
    ours: Vec<Sample>,
    theirs: Vec<Sample>,
}

impl Row {
    fn rate(s: &[Sample], n: usize) -> f64 {
        median(s.iter().map(|s| n as f64 / s.wall.as_secs_f64()).collect())
    }

    fn cpu_per_msg(s: &[Sample], n: usize) -> f64 {
        median(
            s.iter()
                .map(|s| s.cpu.as_secs_f64() * 1e6 / n as f64)
                .collect(),
        )
    }
}

fn throughput<F, G>(
    name: &str,
    n: usize,
    rounds: usize,
    side: Option<Which>,
    ours: F,
    theirs: G,
) -> Row
where
    F: Fn() -> Sample,
    G: Fn() -> Sample,
{
    let mut row = Row {
        name: name.to_owned(),
        n,
        ours: Vec::new(),
        theirs: Vec::new(),
    };
    for round in 0..rounds {
        // Alternate who goes first, so neither always follows the other.
        let order = if round % 2 == 0 {
            [Which::Ours, Which::Rumqttc]
        } else {
            [Which::Rumqttc, Which::Ours]
        };
        for w in order {
            if side.is_some_and(|only| only != w) {
                continue;
            }
            let s = match w {
                Which::Ours => ours(),
                Which::Rumqttc => theirs(),
            };
            let rate = n as f64 / s.wall.as_secs_f64();
            let cpu = s.cpu.as_secs_f64() * 1e6 / n as f64;
            eprintln!(
                "  {name} round {round} {:<8} {:>10.0} msg/s {:>7.2} µs CPU/msg",
                if w == Which::Ours { "ours" } else { "rumqttc" },
                rate,
                cpu
            );
            match w {
                Which::Ours => row.ours.push(s),
                Which::Rumqttc => row.theirs.push(s),
            }
        }
    }
    row
}

/// Runs `f` on a fresh runtime with 2 workers (as a task, unless `--on-main`).
fn fresh<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
    let rt = runtime();
    let out = if ON_MAIN.load(Ordering::Relaxed) {
        rt.block_on(f)
    } else {
        rt.block_on(async { tokio::spawn(f).await.expect("task") })
    };
    rt.shutdown_timeout(Duration::from_secs(1));
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--broker-child") {
        return broker_child();
    }
    let mut rounds = 5;
    let mut only: Option<String> = None;
    let mut client: Option<String> = None;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => rounds = it.next().and_then(|v| v.parse().ok()).unwrap_or(rounds),
            "--only" => only = it.next().cloned(),
            "--client" => client = it.next().cloned(),
            "--on-main" => ON_MAIN.store(true, Ordering::Relaxed),
            _ => {}
        }
    }
    let wanted = |s: &str| only.as_deref().is_none_or(|o| o == s);
    let side = match client.as_deref() {
        Some("ours") => Some(Which::Ours),
        Some("rumqttc") => Some(Which::Rumqttc),
        _ => None,
    };
    let brokers = Brokers::start();
    let ideal = brokers.ideal;
    let reference = brokers.reference;
    let mut rows = Vec::new();
    for (key, qos, n) in [
        ("qos0", QoS::AtMostOnce, 200_000),
        ("qos1", QoS::AtLeastOnce, 50_000),
        ("qos2", QoS::ExactlyOnce, 50_000),
    ] {
        if !wanted(key) {
            continue;
        }
        let name = format!("publish QoS {}", qos as u8);
        eprintln!("{name}: {n} messages x {rounds} rounds");
        rows.push(throughput(
            &name,
            n,
            rounds,
            side,
            || fresh(ours_publish(ideal, qos, n)),
            || fresh(rumqttc_publish(ideal, qos, n)),
        ));
    }
    if wanted("flood") {
        let n = 1_000_000;
        eprintln!("receive flood: {n} messages x {rounds} rounds");
        rows.push(throughput(
            "receive QoS 0",
            n,
            rounds,
            side,
            || fresh(ours_flood(ideal, n)),
            || fresh(rumqttc_flood(ideal, n)),
        ));
    }
    let mut latency: Option<(Vec<f64>, Vec<f64>)> = None;
    if wanted("latency") {
        let (n, warmup) = (5_000, 500);
        eprintln!("latency: {n} messages x {rounds} rounds");
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for round in 0..rounds {
            let o = fresh(ours_latency(reference, n, warmup));
            let t = fresh(rumqttc_latency(reference, n, warmup));
            eprintln!(
                "  latency round {round}: ours p50 {:.1} µs, rumqttc p50 {:.1} µs",
                median(o.clone()),
                median(t.clone())
            );
            ours.extend(o);
            theirs.extend(t);
        }
        latency = Some((ours, theirs));
    }
    drop(brokers);

    println!();
    println!(
        "| scenario | messages | mqtt-client (msg/s) | rumqttc (msg/s) | throughput ratio | mqtt-client CPU (µs/msg) | rumqttc CPU (µs/msg) | CPU ratio |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        let (ro, rt) = (Row::rate(&r.ours, r.n), Row::rate(&r.theirs, r.n));
        let (co, ct) = (
            Row::cpu_per_msg(&r.ours, r.n),
            Row::cpu_per_msg(&r.theirs, r.n),
        );
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            r.name,
            r.n,
            ro,
            rt,
            ro / rt,
            co,
            ct,
            co / ct
        );
    }
    if let Some((mut o, mut t)) = latency {
        o.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        t.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        println!();
        println!("| latency (QoS 0, reference broker) | mqtt-client (µs) | rumqttc (µs) | ratio |");
        println!("| --- | ---: | ---: | ---: |");
        for (label, p) in [("p50", 0.5), ("p99", 0.99)] {
            let (a, b) = (percentile(&o, p), percentile(&t, p));
            println!("| {label} | {a:.1} | {b:.1} | {:.2} |", a / b);
        }
    }
}
