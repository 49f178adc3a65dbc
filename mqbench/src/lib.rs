//! `mqbench`: load for any MQTT broker, built on `mqtt-client` (one tokio runtime, one task
//! per connection).
//!
//! Three modes: `conn` (open N connections at a connect rate and hold them), `pub` (N
//! publishers at a per-client rate or as fast as the broker takes them; `--sub` adds
//! subscribers in the same process, so that publish-to-receive latency is measured in one
//! command) and `sub` (N subscribers, latency from the timestamps `mqbench pub` puts in its
//! payloads). A status line per second goes to stderr; a summary (or `--json`) to stdout.
//! The usage, the payload format and the exit codes are in the README, included below.
//!
//! The library is the binary's implementation: [`Cli`] is the command line and [`run`] runs
//! it; it is not meant as an API of its own.
//!
//! (Over 800 lines, a third of them tests: [`run`] is one sequence of phases (connect, hold or
//! publish, drain, report) over the shared counters, and the histogram and the templates
//! already live apart in `hist` and `template`. Splitting the command line and the report
//! into modules of their own is the next step when a mode is added.)

// The README's examples, compiled as doctests (not part of the documentation).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use clap::{Parser, ValueEnum};
use futures_util::FutureExt;
use mqtt_client::{
    Client, ConnectionStatus, Options, ProtocolVersion, QoS, Reconnect, TlsOptions, TopicFilter,
};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

mod hist;
mod template;

pub use hist::Histogram;
pub use template::{Template, TemplateError};

/// Exit code: the run finished and everything expected happened.
pub const EXIT_OK: u8 = 0;
/// Exit code: the benchmark could not run (no client could connect, a bad certificate file).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: a usage error (clap's own code).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the run finished with errors (some clients failed to connect or were
/// disconnected, publishes failed, or the `--sub` self-check missed messages at QoS 1/2).
pub const EXIT_ERRORS: u8 = 3;

/// The first bytes of every payload mqbench publishes (when `--size` leaves room): a magic
/// and the publish time, nanoseconds since the Unix epoch, big-endian.
pub const MAGIC: &[u8; 4] = b"mqb1";
/// Bytes taken by [`MAGIC`] and the timestamp.
pub const STAMP_LEN: usize = 12;

/// How many connection attempts may be in progress at once (whatever the connect rate).
const MAX_CONNECTING: usize = 256;
/// How long the end of a run waits for outstanding acknowledgements and messages.
const DRAIN: Duration = Duration::from_secs(10);
/// Publishes a publisher may have awaiting completion before it waits for the oldest.
const WINDOW: usize = 1024;

/// Load for any MQTT broker.
#[derive(Debug, Parser)]
#[command(
    name = "mqbench",
    version,
    after_help = "Placeholders in --client-id and --topic: %i client index (from 0), %p process \
                  id, %r a random hex word (one per run), %% a percent sign.\n\
                  Exit status: 0 success, 1 the benchmark could not run (e.g. broker down), 2 \
                  usage error, 3 finished with errors (failed connections or publishes, \
                  disconnections, messages missing from the --sub self-check)."
)]
pub struct Cli {
    /// What to measure.
    #[arg(value_enum)]
    pub mode: Mode,

    /// Broker URL: mqtt://, mqtts://, ws://, wss:// (user:password@ allowed).
    #[arg(short = 'u', long, default_value = "mqtt://127.0.0.1:1883")]
    pub url: String,

    /// Number of clients (publishers in pub mode, subscribers in sub mode).
    #[arg(short = 'c', long, default_value_t = 1)]
    pub clients: u32,

    /// New connections per second (0: as fast as possible, at most 256 attempts at once).
    #[arg(short = 'R', long, default_value_t = 0.0, value_name = "PER_SECOND")]
    pub connect_rate: f64,

    /// Client identifier template.
    #[arg(short = 'i', long, default_value = "mqbench-%p-%i", value_name = "TEMPLATE", value_parser = valid_template)]
    pub client_id: String,

    /// Topic template (pub: the topic; sub: the filter).
    #[arg(short = 't', long, default_value = "mqbench/%i", value_name = "TEMPLATE", value_parser = valid_template)]
    pub topic: String,

    /// Quality of service.
    #[arg(short = 'q', long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub qos: u8,

    /// Payload size in bytes (at least 12 to carry the timestamp for latency).
    #[arg(short = 's', long, default_value_t = 64)]
    pub size: usize,

    /// Publish retained messages.
    #[arg(short = 'r', long)]
    pub retain: bool,

    /// Messages per second per publisher (0: as fast as the broker takes them).
    #[arg(short = 'm', long, default_value_t = 0.0, value_name = "PER_SECOND")]
    pub rate: f64,

    /// Stop after this many seconds (pub and sub: of traffic; conn: of holding the connections
    /// once all are up).
    #[arg(short = 'd', long, value_name = "SECONDS")]
    pub duration: Option<f64>,

    /// Stop after this many messages (pub: per publisher; sub: received in all).
    #[arg(short = 'n', long, value_name = "COUNT")]
    pub count: Option<u64>,

    /// pub: also subscribe in this process (to the topic with every placeholder level
    /// replaced by `+`) and check that every message arrives; latency is measured.
    #[arg(long)]
    pub sub: bool,

    /// pub --sub: the number of subscribers.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub sub_clients: u32,

    /// Subscribe through a shared subscription of this group ($share/GROUP/filter).
    #[arg(long, value_name = "GROUP")]
    pub shared: Option<String>,

    /// MQTT version.
    #[arg(short = 'P', long, value_enum, default_value_t = Version::V5)]
    pub protocol: Version,

    /// Keep alive in seconds.
    #[arg(short = 'k', long, default_value_t = 60)]
    pub keep_alive: u16,

    /// Messages in flight per client (QoS 1 and 2).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub inflight: u16,

    /// Trust these CA certificates (PEM) for mqtts:// and wss://.
    #[arg(long, value_name = "FILE")]
    pub cafile: Option<std::path::PathBuf>,

    /// Do not verify the broker's certificate.
    #[arg(long)]
    pub insecure: bool,

    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,

    /// No status line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// A template that parses (a usage error otherwise).
fn valid_template(s: &str) -> Result<String, TemplateError> {
    Template::parse(s).map(|_| s.to_owned())
}

/// The benchmark mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Connections only.
    Conn,
    /// Publishers (with --sub, subscribers too).
    Pub,
    /// Subscribers.
    Sub,
}

/// The MQTT version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Version {
    /// MQTT 5.0.
    #[value(name = "5")]
    V5,
    /// MQTT 3.1.1.
    #[value(name = "3.1.1", alias = "311")]
    V311,
}

/// Counters shared by every task.
#[derive(Debug)]
struct Stats {
    connected: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    errors: AtomicU64,
    connect_errors: AtomicU64,
    disconnects: AtomicU64,
    /// Connection attempts ended, in success or failure.
    settled: AtomicU64,
    /// When the first and the last message arrived (nanoseconds since the epoch).
    first_rx: AtomicU64,
    last_rx: AtomicU64,
    /// Publishers not yet done (all their messages acknowledged or failed).
    publishing: AtomicU64,
    /// Set once the run is ending: later disconnections are ours.
    stopping: AtomicBool,
    first_error: Mutex<Option<String>>,
    latency: Histogram,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            connected: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            first_rx: AtomicU64::new(u64::MAX),
            last_rx: AtomicU64::new(0),
            publishing: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            first_error: Mutex::new(None),
            latency: Histogram::default(),
        }
    }
}

impl Stats {
    fn error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(message);
        }
    }
}

/// One publisher at work: counted in [`Stats::publishing`] until dropped.
struct Publishing(Arc<Stats>);

impl Publishing {
    fn new(stats: &Arc<Stats>) -> Self {
        stats.publishing.fetch_add(1, Ordering::Relaxed);
        Self(stats.clone())
    }
}

impl Drop for Publishing {
    fn drop(&mut self) {
        self.0.publishing.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a run could not happen.
#[derive(Debug)]
pub struct Fatal(pub String);

/// The outcome of a run: the summary and the exit code.
#[derive(Debug)]
pub struct Outcome {
    /// The summary, human or JSON, for stdout.
    pub summary: String,
    /// The exit code.
    pub code: u8,
}

/// Raise the soft limit on open files to the hard limit (10,000 connections need 10,000
/// descriptors). Returns the soft limit now in force.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn raise_file_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct passed, which lives on
    // this stack frame for the duration of the calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every unix
    let limit = lim.rlim_cur as u64;
    limit
}

/// Raise the soft limit on open files (not on this platform).
#[cfg(not(unix))]
pub fn raise_file_limit() -> u64 {
    u64::MAX
}

/// The resident set size of this process in bytes (Linux; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A payload of `size` bytes, starting with [`MAGIC`] and the current time when it fits.
pub fn payload(size: usize) -> Bytes {
    let mut buf = BytesMut::with_capacity(size);
    if size >= STAMP_LEN {
        buf.put_slice(MAGIC);
        buf.put_u64(now_nanos());
    }
    buf.resize(size, 0);
    buf.freeze()
}

/// The publish-to-now latency in microseconds of an mqbench payload, if it is one.
pub fn latency_us(payload: &[u8]) -> Option<u64> {
    latency_at(payload, now_nanos())
}

/// The latency of an mqbench payload received at `now` (nanoseconds since the epoch).
fn latency_at(payload: &[u8], now: u64) -> Option<u64> {
    if payload.len() < STAMP_LEN || &payload[..4] != MAGIC {
        return None;
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&payload[4..STAMP_LEN]);
    let sent = u64::from_be_bytes(ts);
    Some(now.saturating_sub(sent) / 1_000)
}

/// A subscription filter covering every topic of a template: each level holding a
/// placeholder becomes `+`.
pub fn wildcard_filter(topic: &str) -> String {
    topic
        .split('/')
        .map(|level| if level.contains('%') { "+" } else { level })
        .collect::<Vec<_>>()
        .join("/")
}

fn qos_of(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// What every client's options share.
struct Base {
    options: Options,
    id: Template,
}

impl Base {
    fn new(cli: &Cli) -> Result<Self, Fatal> {
        let mut options = Options::from_url(&cli.url)
            .map_err(|e| Fatal(format!("bad --url {:?}: {e}", cli.url)))?;
        options.mqtt.protocol = match cli.protocol {
            Version::V5 => ProtocolVersion::V5,
            Version::V311 => ProtocolVersion::V3_1_1,
        };
        options.mqtt.keep_alive = Duration::from_secs(cli.keep_alive.into());
        if let Some(max) = std::num::NonZeroU16::new(cli.inflight) {
            options = options.with_max_inflight(max);
        }
        let mut reconnect = Reconnect::default();
        reconnect.enabled = false;
        options.reconnect = reconnect;
        options.auto_subscription_ids = false;
        let mut tls = TlsOptions::default();
        if let Some(ca) = &cli.cafile {
            let pem = std::fs::read(ca)
                .map_err(|e| Fatal(format!("cannot read --cafile {}: {e}", ca.display())))?;
            tls = tls.with_ca_pem(pem);
        }
        if cli.insecure {
            tls = tls.dangerous_skip_verification();
        }
        options.tls = tls;
        let id =
            Template::parse(&cli.client_id).map_err(|e| Fatal(format!("bad --client-id: {e}")))?;
        Ok(Self { options, id })
    }

    fn options(&self, index: u64, kind: &str) -> Options {
        let mut o = self.options.clone();
        o.mqtt.client_id = format!("{}{kind}", self.id.expand(index)).into();
        o
    }
}

/// Connect `n` clients at `rate` per second, each handed to `each` once connected.
async fn connect_all<F, Fut>(
    tasks: &mut JoinSet<()>,
    stats: &Arc<Stats>,
    n: u32,
    rate: f64,
    make: impl Fn(u64) -> Options,
    each: F,
) where
    F: Fn(u64, Client, mqtt_client::Messages) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let gate = Arc::new(Semaphore::new(MAX_CONNECTING));
    let mut ticker = (rate > 0.0).then(|| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        t
    });
    for index in 0..u64::from(n) {
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        let Ok(permit) = gate.clone().acquire_owned().await else {
            break;
        };
        let options = make(index);
        let stats = stats.clone();
        let each = each.clone();
        tasks.spawn(async move {
            let connected = Client::connect(options).await;
            drop(permit);
            match connected {
                Ok((client, messages)) => {
                    let mut status = client.status();
                    let watcher_stats = stats.clone();
                    let run = each(index, client.clone(), messages);
                    stats.connected.fetch_add(1, Ordering::Relaxed);
                    stats.settled.fetch_add(1, Ordering::Relaxed);
                    tokio::select! {
                        () = run => {}
                        s = status.wait_for(|s| !s.is_connected()) => {
                            if !watcher_stats.stopping.load(Ordering::Relaxed) {
                                watcher_stats.disconnects.fetch_add(1, Ordering::Relaxed);
                                let why = match s.as_deref() {
                                    Ok(ConnectionStatus::Disconnected { reason: Some(e), .. }) => e.to_string(),
                                    Ok(ConnectionStatus::Reconnecting { last_error, .. }) => last_error.to_string(),
                                    _ => "connection closed".to_owned(),
                                };
                                watcher_stats.error(format!("client {index} disconnected: {why}"));
                            }
                        }
                    }
                    stats.connected.fetch_sub(1, Ordering::Relaxed);
                    let _ = client.disconnect(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                    stats.settled.fetch_add(1, Ordering::Relaxed);
                    stats.error(format!("client {index} could not connect: {e}"));
                }
            }
        });
    }
}

/// Wait until `n` connection attempts have ended (up or failed).
async fn wait_connected(stats: &Stats, n: u32) {
    loop {
        if stats.settled.load(Ordering::Relaxed) >= u64::from(n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Publish as told until the stop signal or the count, counting completions.
async fn publisher(
    client: Client,
    topic: String,
    cli: Arc<CliView>,
    stats: Arc<Stats>,
    mut go: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    if go.wait_for(|g| *g).await.is_err() {
        return;
    }
    let qos = qos_of(cli.qos);
    let mut window = VecDeque::new();
    let mut ticker = (cli.rate > 0.0).then(|| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / cli.rate));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        t
    });
    let mut n = 0u64;
    while cli.count.is_none_or(|c| n < c) && !*stop.borrow() {
        if let Some(t) = ticker.as_mut() {
            tokio::select! {
                _ = t.tick() => {}
                _ = stop.changed() => break,
            }
        }
        let handle = tokio::select! {
            h = client.publish(topic.as_str(), qos, cli.retain, payload(cli.size)) => h,
            _ = stop.changed() => break,
        };
        match handle {
            Ok(h) => window.push_back(h),
            Err(e) => {
                stats.error(format!("publish failed: {e}"));
                return;
            }
        }
        n += 1;
        // Count what has completed; wait only when the window is full.
        while let Some(front) = window.front_mut() {
            match (&mut *front).now_or_never() {
                Some(result) => {
                    complete(&stats, result);
                    window.pop_front();
                }
                None if window.len() >= WINDOW => {
                    if let Some(h) = window.pop_front() {
                        complete(&stats, h.await);
                    }
                }
                None => break,
            }
        }
    }
    let drain = async {
        for h in window {
            complete(&stats, h.await);
        }
    };
    if tokio::time::timeout(DRAIN, drain).await.is_err() {
        stats.error("publishes still unacknowledged at the end".to_owned());
    }
}

fn complete(stats: &Stats, result: Result<mqtt_client::PublishAck, mqtt_client::ClientError>) {
    match result {
        Ok(_) => {
            stats.sent.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => stats.error(format!("publish failed: {e}")),
    }
}

/// Count and time every message until the stop signal.
async fn subscriber(
    mut messages: mqtt_client::Messages,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            m = messages.recv() => match m {
                Some(m) => {
                    let now = now_nanos();
                    stats.received.fetch_add(1, Ordering::Relaxed);
                    stats.first_rx.fetch_min(now, Ordering::Relaxed);
                    stats.last_rx.fetch_max(now, Ordering::Relaxed);
                    if let Some(us) = latency_at(m.payload(), now) {
                        stats.latency.record(us);
                    }
                }
                None => return,
            },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The parts of the command line the tasks read.
#[derive(Debug)]
struct CliView {
    qos: u8,
    size: usize,
    retain: bool,
    rate: f64,
    count: Option<u64>,
}

/// Run the benchmark described by `cli`. `status` receives the live status lines.
pub async fn run(cli: Cli, mut status: impl FnMut(&str)) -> Result<Outcome, Fatal> {
    let base = Arc::new(Base::new(&cli)?);
    let topic = Template::parse(&cli.topic).map_err(|e| Fatal(format!("bad --topic: {e}")))?;
    let qos = qos_of(cli.qos);
    let filter_of = |index: u64| -> Result<TopicFilter, Fatal> {
        let f = match cli.mode {
            Mode::Pub => wildcard_filter(&cli.topic),
            _ => topic.expand(index),
        };
        let f = match &cli.shared {
            Some(g) => format!("$share/{g}/{f}"),
            None => f,
        };
        TopicFilter::new(f.as_str()).map_err(|e| Fatal(format!("bad topic filter {f:?}: {e}")))
    };
    if cli.mode == Mode::Pub {
        // Checked once here: the topic of every publisher is built the same way.
        mqtt_client::TopicName::new(topic.expand(0))
            .map_err(|e| Fatal(format!("bad --topic {:?}: {e}", cli.topic)))?;
    }
    let stats = Arc::new(Stats::default());
    let (go_tx, go) = watch::channel(false);
    let (stop_tx, stop) = watch::channel(false);
    let (pub_stop_tx, pub_stop) = watch::channel(false);
    let view = Arc::new(CliView {
        qos: cli.qos,
        size: cli.size,
        retain: cli.retain,
        rate: cli.rate,
        count: cli.count,
    });
    let rss_before = rss_bytes();
    let started = Instant::now();

    // Status line, once a second.
    let ticker_stats = stats.clone();
    let clients_total = u64::from(cli.clients)
        + if cli.mode == Mode::Pub && cli.sub {
            u64::from(cli.sub_clients)
        } else {
            0
        };
    let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let ticker = tokio::spawn(async move {
        let mut t = tokio::time::interval(Duration::from_secs(1));
        t.tick().await;
        let (mut last_out, mut last_in) = (0, 0);
        loop {
            t.tick().await;
            let s = &ticker_stats;
            let (out, inn) = (
                s.sent.load(Ordering::Relaxed),
                s.received.load(Ordering::Relaxed),
            );
            let line = format!(
                "[{:>4}s] conn {}/{} out {} msg/s in {} msg/s err {}",
                started.elapsed().as_secs(),
                s.connected.load(Ordering::Relaxed),
                clients_total,
                out - last_out,
                inn - last_in,
                s.errors.load(Ordering::Relaxed),
            );
            (last_out, last_in) = (out, inn);
            if line_tx.send(line).is_err() {
                return;
            }
        }
    });

    let mut tasks = JoinSet::new();
    // Subscribers first (pub --sub, sub), so that nothing published is missed.
    let subs = match cli.mode {
        Mode::Sub => cli.clients,
        Mode::Pub if cli.sub => cli.sub_clients,
        _ => 0,
    };
    let mut fatal = None;
    if subs > 0 {
        let mut filters = Vec::with_capacity(subs as usize);
        for i in 0..u64::from(subs) {
            filters.push(filter_of(i)?);
        }
        let filters = Arc::new(filters);
        let b = base.clone();
        let (st, stop2) = (stats.clone(), stop.clone());
        let set = connect_all(
            &mut tasks,
            &stats,
            subs,
            cli.connect_rate,
            move |i| {
                b.options(i, if cli.mode == Mode::Pub { "-sub" } else { "" })
                    .with_subscription(filters[i as usize].clone(), qos)
            },
            move |_, client, messages| {
                let (st, stop2) = (st.clone(), stop2.clone());
                async move {
                    if let Err(e) = client.declared_subscriptions().await {
                        st.error(format!("subscribe failed: {e}"));
                    }
                    subscriber(messages, st, stop2).await;
                }
            },
        );
        with_status(set, &stats, subs, &mut status, &mut line_rx).await;
    }
    let pubs = match cli.mode {
        Mode::Sub => 0,
        _ => cli.clients,
    };
    if pubs > 0 {
        let b = base.clone();
        let (st, go2, stop2, view2) = (stats.clone(), go.clone(), pub_stop.clone(), view.clone());

        let topic2 = Arc::new(topic.clone());
        let mode = cli.mode;
        let set = connect_all(
            &mut tasks,
            &stats,
            pubs,
            cli.connect_rate,
            move |i| b.options(i, ""),
            move |i, client, _messages| {
                let (st, go2, mut stop2, view2) =
                    (st.clone(), go2.clone(), stop2.clone(), view2.clone());
                let t = topic2.expand(i);
                let guard = (mode == Mode::Pub).then(|| Publishing::new(&st));
                async move {
                    let _guard = guard;
                    if mode == Mode::Pub {
                        publisher(client.clone(), t, view2, st, go2, stop2).await;
                    } else {
                        let _ = stop2.wait_for(|s| *s).await;
                    }
                }
            },
        );
        with_status(set, &stats, subs + pubs, &mut status, &mut line_rx).await;
    }
    let connect_secs = started.elapsed().as_secs_f64();
    let connected_after = stats.connected.load(Ordering::Relaxed);
    let rss_after = rss_bytes();
    if connected_after == 0 && clients_total > 0 {
        let why = stats
            .first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        fatal = Some(Fatal(format!(
            "no client could connect to {}: {why}",
            cli.url
        )));
    }

    // Traffic.
    let traffic_start = Instant::now();
    let start_nanos = now_nanos();
    let mut traffic_secs = 0.0;
    let mut publish_secs = None;
    if fatal.is_none() {
        let _ = go_tx.send(true);
        let deadline = cli
            .duration
            .map(|d| traffic_start + Duration::from_secs_f64(d));
        let expected_in = |sent: u64| -> u64 {
            if cli.shared.is_some() {
                sent
            } else {
                sent * u64::from(subs)
            }
        };
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut poll = tokio::time::interval(Duration::from_millis(5));
        let mut interrupted = false;
        loop {
            tokio::select! {
                _ = &mut ctrl_c => { interrupted = true; break }
                _ = poll.tick() => {}
                Some(line) = line_rx.recv() => { status(&line); continue; }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let received = stats.received.load(Ordering::Relaxed);
            let done = match cli.mode {
                Mode::Conn => deadline.is_none(),
                // Every subscriber gone (dropped by the broker): nothing more can arrive.
                Mode::Sub => {
                    cli.count.is_some_and(|c| received >= c)
                        || stats.connected.load(Ordering::Relaxed) == 0
                }
                Mode::Pub => stats.publishing.load(Ordering::Relaxed) == 0,
            };
            if cli.mode == Mode::Pub && done {
                publish_secs = Some(traffic_start.elapsed().as_secs_f64());
            }
            if done {
                break;
            }
        }
        // Publishers stop (and wait for their acknowledgements); then what is on its way to
        // the subscribers gets up to DRAIN to arrive.
        let _ = pub_stop_tx.send(true);
        if cli.mode == Mode::Pub && !interrupted {
            // At QoS 0 messages may be lost: wait less for them.
            let end = Instant::now() + if cli.qos == 0 { DRAIN / 5 } else { DRAIN };
            while Instant::now() < end {
                let all_acked = stats.publishing.load(Ordering::Relaxed) == 0;
                if all_acked && publish_secs.is_none() {
                    publish_secs = Some(traffic_start.elapsed().as_secs_f64());
                }
                if all_acked
                    && stats.received.load(Ordering::Relaxed)
                        >= expected_in(stats.sent.load(Ordering::Relaxed))
                {
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(2)) => {}
                    Some(line) = line_rx.recv() => status(&line),
                }
            }
        }
        traffic_secs = traffic_start.elapsed().as_secs_f64();
    }
    stats.stopping.store(true, Ordering::Relaxed);
    let _ = pub_stop_tx.send(true);
    let _ = stop_tx.send(true);
    let _ = go_tx.send(true);
    let _ = tokio::time::timeout(DRAIN + Duration::from_secs(2), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    ticker.abort();
    if let Some(f) = fatal {
        return Err(f);
    }

    let sent = stats.sent.load(Ordering::Relaxed);
    let received = stats.received.load(Ordering::Relaxed);
    let expected = if cli.mode == Mode::Pub && subs > 0 {
        Some(if cli.shared.is_some() {
            sent
        } else {
            sent * u64::from(subs)
        })
    } else {
        None
    };
    let missing = match expected {
        Some(e) if cli.qos > 0 => e.saturating_sub(received),
        _ => 0,
    };
    let errors = stats.errors.load(Ordering::Relaxed);
    let code = if errors > 0 || missing > 0 {
        EXIT_ERRORS
    } else {
        EXIT_OK
    };
    let report = Report {
        mode: cli.mode,
        url: cli.url.clone(),
        clients: clients_total,
        connected: connected_after,
        connect_errors: stats.connect_errors.load(Ordering::Relaxed),
        disconnects: stats.disconnects.load(Ordering::Relaxed),
        connect_secs,
        traffic_secs,
        publish_secs: publish_secs.unwrap_or(traffic_secs),
        receive_secs: {
            let (first, last) = (
                stats.first_rx.load(Ordering::Relaxed),
                stats.last_rx.load(Ordering::Relaxed),
            );
            // pub: from the start of traffic; sub: from the first message (the publisher is
            // another process, started when it is started).
            let from = if cli.mode == Mode::Sub {
                first
            } else {
                start_nanos
            };
            last.saturating_sub(from) as f64 / 1e9
        },
        sent,
        received,
        expected,
        missing,
        errors,
        first_error: stats
            .first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        latency: &stats.latency,
        rss_bytes: rss_after,
        rss_per_connection: rss_after
            .saturating_sub(rss_before)
            .checked_div(connected_after)
            .unwrap_or(0),
        qos: cli.qos,
        size: cli.size,
        code,
    };
    let summary = if cli.json {
        report.json()
    } else {
        report.text()
    };
    Ok(Outcome { summary, code })
}

/// Wait for a connection phase, passing status lines on.
async fn with_status(
    set: impl std::future::Future<Output = ()>,
    stats: &Stats,
    upto: u32,
    status: &mut impl FnMut(&str),
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    tokio::pin!(set);
    loop {
        tokio::select! {
            () = &mut set => break,
            Some(line) = lines.recv() => status(&line),
        }
    }
    let wait = wait_connected(stats, upto);
    tokio::pin!(wait);
    loop {
        tokio::select! {
            () = &mut wait => break,
            Some(line) = lines.recv() => status(&line),
        }
    }
}

/// Everything the summary says.
struct Report<'a> {
    mode: Mode,
    url: String,
    clients: u64,
    connected: u64,
    connect_errors: u64,
    disconnects: u64,
    connect_secs: f64,
    traffic_secs: f64,
    /// Until every publisher was done (all acknowledged).
    publish_secs: f64,
    /// Until the last message arrived.
    receive_secs: f64,
    sent: u64,
    received: u64,
    expected: Option<u64>,
    missing: u64,
    errors: u64,
    first_error: Option<String>,
    latency: &'a Histogram,
    rss_bytes: u64,
    rss_per_connection: u64,
    qos: u8,
    size: usize,
    code: u8,
}

impl Report<'_> {
    fn rate(n: u64, secs: f64) -> f64 {
        if secs > 0.0 { n as f64 / secs } else { 0.0 }
    }

    fn json(&self) -> String {
        let lat = if self.latency.count() > 0 {
            serde_json::json!({
                "count": self.latency.count(),
                "p50": self.latency.quantile(0.50),
                "p90": self.latency.quantile(0.90),
                "p99": self.latency.quantile(0.99),
                "max": self.latency.max(),
            })
        } else {
            serde_json::Value::Null
        };
        serde_json::json!({
            "mode": match self.mode { Mode::Conn => "conn", Mode::Pub => "pub", Mode::Sub => "sub" },
            "url": self.url,
            "qos": self.qos,
            "payload_size": self.size,
            "clients": self.clients,
            "connected": self.connected,
            "connect_errors": self.connect_errors,
            "disconnects": self.disconnects,
            "connect_seconds": self.connect_secs,
            "connect_rate": Self::rate(self.connected, self.connect_secs),
            "seconds": self.traffic_secs,
            "sent": self.sent,
            "received": self.received,
            "expected": self.expected,
            "missing": self.missing,
            "publish_seconds": self.publish_secs,
            "receive_seconds": self.receive_secs,
            "sent_per_second": Self::rate(self.sent, self.publish_secs),
            "received_per_second": Self::rate(self.received, self.receive_secs),
            "errors": self.errors,
            "first_error": self.first_error,
            "latency_us": lat,
            "rss_bytes": self.rss_bytes,
            "rss_per_connection_bytes": self.rss_per_connection,
            "exit_code": self.code,
        })
        .to_string()
            + "\n"
    }

    fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "connections: {}/{} up in {:.2} s ({:.0}/s), {} failed, {} dropped",
            self.connected,
            self.clients,
            self.connect_secs,
            Self::rate(self.connected, self.connect_secs),
            self.connect_errors,
            self.disconnects
        );
        if self.mode != Mode::Conn {
            let _ = writeln!(
                s,
                "messages: {} sent in {:.2} s ({:.0}/s), {} received in {:.2} s ({:.0}/s)",
                self.sent,
                self.publish_secs,
                Self::rate(self.sent, self.publish_secs),
                self.received,
                self.receive_secs,
                Self::rate(self.received, self.receive_secs)
            );
        }
        if let Some(e) = self.expected {
            let _ = writeln!(s, "expected: {e} received, {} missing", self.missing);
        }
        if self.latency.count() > 0 {
            let _ = writeln!(
                s,
                "latency (µs): p50 {} p90 {} p99 {} max {} ({} samples)",
                self.latency.quantile(0.50),
                self.latency.quantile(0.90),
                self.latency.quantile(0.99),
                self.latency.max(),
                self.latency.count()
            );
        }
        let _ = writeln!(
            s,
            "memory: RSS {:.1} MiB, {:.1} KiB per connection",
            self.rss_bytes as f64 / 1_048_576.0,
            self.rss_per_connection as f64 / 1024.0
        );
        let _ = writeln!(s, "errors: {}", self.errors);
        if let Some(e) = &self.first_error {
            let _ = writeln!(s, "first error: {e}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn payload_carries_its_time() {
        let p = payload(64);
        assert_eq!(p.len(), 64);
        assert!(latency_us(&p).is_some_and(|us| us < 10_000_000));
        assert_eq!(payload(11).len(), 11);
        assert_eq!(latency_us(&payload(11)), None);
        assert_eq!(latency_us(b"not an mqbench payload"), None);
    }

    #[test]
    fn wildcards_replace_placeholder_levels() {
        assert_eq!(wildcard_filter("bench/%i/x"), "bench/+/x");
        assert_eq!(wildcard_filter("bench/c%i"), "bench/+");
        assert_eq!(wildcard_filter("fixed/topic"), "fixed/topic");
    }
}
