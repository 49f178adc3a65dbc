//! The connection task: one task per client, one `select!` loop per connection over the
//! transport (read and pending write), the next deadline, the request channel and the
//! acknowledgement channel. It only moves bytes between the socket and
//! [`ClientState`] and routes events to callers.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use mqtt_proto::client::{
    AckToken, ClientOptions, ClientState, ConnectionError, ConnectionState, Event, PublishAck,
    PublishRequest, RequestError, SubscribeAck, UnsubscribeAck,
};
use mqtt_proto::{
    ConnectReason, Disconnect, Publish, SubscribeProperties, Subscription, SubscriptionId,
    TopicFilter, TopicName, UnsubscribeProperties,
};
use std::future::Future;

use tokio::io::{AsyncReadExt, AsyncWriteExt as _};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, trace, warn};

use crate::backoff;
use crate::client::{Client, ConnectionStatus, Message, Messages};
use crate::error::ConnectError;
use crate::options::Options;
use crate::transport::{self, BoxIo};

/// Reads go into the read buffer in chunks of at least this much spare room.
const READ_CHUNK: usize = 64 * 1024;
/// Stop taking requests while this much is waiting to be written.
const WRITE_HIGH_WATER: usize = 1024 * 1024;
/// Requests taken from the channel in one go before encoding them into one write.
const BATCH: usize = 512;
/// While a message stream is full the socket is read on only if we await an
/// acknowledgement (PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK), and for at most this many
/// bytes: the acknowledgement may be queued behind messages that nobody reads yet, and a
/// task that awaits it while holding a full subscription would otherwise wait for ever
/// (rumqttc #1025). The bound keeps memory bounded; it is well above what socket buffers
/// hold, so an acknowledgement already on its way is reached.
const BACKLOG_READ_MAX: usize = 16 * 1024 * 1024;

/// Hashes the request ids keying `Driver::pending` (a counter, never chosen by the peer):
/// one multiplication instead of SipHash on every publish and acknowledgement.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A request from a [`Client`] handle.
pub(crate) enum Command {
    Publish(
        PublishRequest,
        oneshot::Sender<Result<PublishAck, RequestError>>,
    ),
    Subscribe {
        subscriptions: Vec<Subscription>,
        properties: SubscribeProperties,
        /// The subscription's own stream; `None`: the catch-all (a subscription declared
        /// in [`Options::subscriptions`]).
        messages: Option<mpsc::Sender<Message>>,
        reply: oneshot::Sender<Result<SubscribeAck, RequestError>>,
    },
    Unsubscribe {
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
        reply: oneshot::Sender<Result<UnsubscribeAck, RequestError>>,
    },
    Disconnect {
        deadline: tokio::time::Instant,
        disconnect: Disconnect,
        reply: oneshot::Sender<()>,
    },
}

enum Pending {
    Publish {
        reply: oneshot::Sender<Result<PublishAck, RequestError>>,
        qos0: bool,
    },
    Subscribe {
        reply: oneshot::Sender<Result<SubscribeAck, RequestError>>,
        route: u64,
    },
    Unsubscribe {
        reply: oneshot::Sender<Result<UnsubscribeAck, RequestError>>,
        filters: Vec<TopicFilter>,
        /// `next_route` when the UNSUBSCRIBE was queued: it affects only the routes made
        /// before it, not those of a SUBSCRIBE queued after it.
        routes_before: u64,
    },
}

/// Where the messages of one subscribe call go.
struct Route {
    id: u64,
    filters: Vec<TopicFilter>,
    subscription_id: Option<u32>,
    tx: mpsc::Sender<Message>,
}

/// What [`Driver::route`] looks up for a message carrying Subscription Identifiers.
struct RouteIndex {
    /// The first route (its position in `routes`) with each identifier.
    by_id: HashMap<u32, usize, BuildHasherDefault<IdHasher>>,
    /// For each route (by position), the other routes sharing one of its filters, in
    /// ascending order.
    shared: Vec<Vec<usize>>,
}

impl RouteIndex {
    fn new(routes: &[Route]) -> Self {
        let mut by_id = HashMap::default();
        for (i, r) in routes.iter().enumerate() {
            if let Some(id) = r.subscription_id {
                by_id.entry(id).or_insert(i);
            }
        }
        let mut by_filter: HashMap<&TopicFilter, Vec<usize>> = HashMap::new();
        for (i, r) in routes.iter().enumerate() {
            for f in &r.filters {
                let v = by_filter.entry(f).or_default();
                if v.last() != Some(&i) {
                    v.push(i);
                }
            }
        }
        let mut shared = vec![Vec::new(); routes.len()];
        for owners in by_filter.values().filter(|o| o.len() > 1) {
            for &i in owners {
                shared[i].extend(owners.iter().copied().filter(|&j| j != i));
            }
        }
        for v in &mut shared {
            v.sort_unstable();
            v.dedup();
        }
        Self { by_id, shared }
    }

    /// The routes (positions) for a message carrying these identifiers, in `targets`.
    fn targets(&self, ids: impl Iterator<Item = u32>, targets: &mut Vec<usize>) {
        for id in ids {
            if let Some(&i) = self.by_id.get(&id) {
                if !targets.contains(&i) {
                    targets.push(i);
                }
            }
        }
        // Two subscribe calls with the same filter share one subscription at the broker,
        // which keeps only the latest identifier: the earlier call's stream gets its copy
        // too, as it does by filter matching on 3.1.1.
        let named = targets.len();
        for k in 0..named {
            for &j in &self.shared[targets[k]] {
                if !targets.contains(&j) {
                    targets.push(j);
                }
            }
        }
    }
}

/// How a connection ended.
enum End {
    /// The client shut down (disconnect, or every handle dropped).
    Shutdown,
    /// The connection (or the attempt) failed.
    Failed {
        error: ConnectError,
        /// How long it was up, if CONNACK accepted it.
        up_for: Option<Duration>,
    },
}

struct Closing {
    deadline: tokio::time::Instant,
    disconnect: Disconnect,
    reply: Vec<oneshot::Sender<()>>,
}

pub(crate) struct Driver {
    opts: Options,
    state: ClientState,
    cmd_rx: mpsc::Receiver<Command>,
    /// [`Command::Disconnect`] only: apart from `cmd_rx`, which is not read while the
    /// request queue is full, so that a disconnect never waits behind it (its deadline would
    /// not hold). Unbounded, but each caller waits for its reply.
    ctl_rx: mpsc::UnboundedReceiver<Command>,
    cmd_open: bool,
    ack_tx: mpsc::UnboundedSender<AckToken>,
    ack_rx: mpsc::UnboundedReceiver<AckToken>,
    status: watch::Sender<ConnectionStatus>,
    pending: HashMap<u64, Pending, BuildHasherDefault<IdHasher>>,
    /// How many of `pending` are subscribes or unsubscribes (for [`Driver::awaiting_ack`],
    /// asked on every loop turn while messages are held back).
    pending_requests: usize,
    /// Every change to `routes` (or their filters) must call [`Driver::routes_changed`].
    routes: Vec<Route>,
    /// The routes matched by the last topic routed by filter: consecutive messages mostly
    /// share a topic, and comparing it is cheaper than matching every filter again.
    route_cache: Option<(TopicName, Vec<usize>)>,
    /// Scratch for [`Driver::route`], kept to avoid an allocation per message.
    route_targets: Vec<usize>,
    /// For routing by Subscription Identifier (5.0), built from `routes` when first needed
    /// and dropped with `route_cache`.
    route_index: Option<RouteIndex>,
    next_route: u64,
    next_subscription_id: u32,
    catch_all: mpsc::Sender<Message>,
    /// Messages waiting for room in a full stream, in arrival order; while any wait the
    /// socket is read only to reach an acknowledgement we await (see [`BACKLOG_READ_MAX`]).
    backlog: VecDeque<(mpsc::Sender<Message>, Message)>,
    /// Bytes read while the backlog was not empty (see [`BACKLOG_READ_MAX`]).
    backlog_read: usize,
    /// QoS 0 publishes complete once their bytes are written.
    after_write: Vec<oneshot::Sender<Result<PublishAck, RequestError>>>,
    closing: Option<Closing>,
    /// The first CONNACK's outcome for [`start`]: the protocol version and client id in
    /// use (after any fallback, and the one the broker assigned).
    first: Option<oneshot::Sender<Result<(mqtt_proto::ProtocolVersion, String), ConnectError>>>,
    connected_at: Option<Instant>,
    last_event_error: Option<ConnectionError>,
    /// A TLS error that closed the transport before CONNACK (a refused client
    /// certificate under TLS 1.3): reported instead of `TransportClosed`.
    tls_failure: Option<ConnectError>,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Spawn the connection task and wait for the first CONNACK.
pub(crate) async fn start(mut opts: Options) -> Result<(Client, Messages), ConnectError> {
    if opts.mqtt.client_id.is_empty() && !opts.mqtt.protocol.is_v5() && !opts.mqtt.clean_start {
        return Err(ConnectError::InvalidOptions(
            "an empty client id needs clean session on MQTT 3.1.1 [MQTT-3.1.3-7]".into(),
        ));
    }
    if opts.mqtt.protocol == mqtt_proto::ProtocolVersion::V3_1
        && !(1..=23).contains(&opts.mqtt.client_id.len())
    {
        return Err(ConnectError::InvalidOptions(
            "MQTT 3.1 needs a client id of 1 to 23 characters".into(),
        ));
    }
    opts.apply_version_defaults();
    if opts.request_queue == 0 {
        opts.request_queue = 1;
    }
    if opts.message_queue == 0 {
        opts.message_queue = 1;
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(opts.request_queue);
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let (status_tx, status_rx) = watch::channel(ConnectionStatus::Connecting);
    let (catch_tx, catch_rx) = mpsc::channel(opts.message_queue);
    let (first_tx, first_rx) = oneshot::channel();
    let message_queue = opts.message_queue;
    let declared = opts.subscriptions.clone();
    let state = ClientState::new(opts.mqtt.clone());
    let mut driver = Driver {
        opts,
        state,
        cmd_rx,
        ctl_rx,
        cmd_open: true,
        ack_tx: ack_tx.clone(),
        ack_rx,
        status: status_tx,
        pending: HashMap::default(),
        pending_requests: 0,
        routes: Vec::new(),
        route_cache: None,
        route_targets: Vec::new(),
        route_index: None,
        next_route: 1,
        next_subscription_id: 1,
        catch_all: catch_tx,
        backlog: VecDeque::new(),
        backlog_read: 0,
        after_write: Vec::new(),
        closing: None,
        first: Some(first_tx),
        connected_at: None,
        last_event_error: None,
        tls_failure: None,
    };
    // Subscriptions declared in the options: queued in the session (and routed to the
    // catch-all) before the first CONNECT, so their SUBSCRIBE goes out right after CONNACK
    // and every message of theirs, even one that comes with the CONNACK, has its route.
    let mut declared_replies = Vec::with_capacity(declared.len());
    for d in declared {
        let (tx, rx) = oneshot::channel();
        driver.command(Command::Subscribe {
            subscriptions: d.subscriptions,
            properties: d.properties,
            messages: None,
            reply: tx,
        });
        declared_replies.push(rx);
    }
    // Every log line of the task carries the client id and the endpoint.
    let span = tracing::info_span!(
        "mqtt_client",
        client_id = %driver.opts.mqtt.client_id,
        endpoint = %driver.opts.endpoint
    );
    tokio::spawn(tracing::Instrument::instrument(driver.run(), span));
    let (protocol, client_id) = first_rx.await.map_err(|_| ConnectError::Shutdown)??;
    let (declared_tx, declared_rx) = watch::channel(None);
    if declared_replies.is_empty() {
        let _ = declared_tx.send(Some(Ok(Vec::new())));
    } else {
        // The SUBACKs arrive after CONNACK, maybe behind a resumed session's queued
        // messages: `connect` does not wait for them (the application must be able to read
        // those messages), `Client::declared_subscriptions` does.
        tokio::spawn(async move {
            let mut acks = Vec::with_capacity(declared_replies.len());
            for rx in declared_replies {
                match rx.await {
                    Ok(Ok(ack)) => acks.push(ack),
                    Ok(Err(e)) => {
                        warn!(error = %e, "a subscription declared in the options failed");
                        let _ = declared_tx.send(Some(Err(e)));
                        return;
                    }
                    Err(_) => {
                        let _ = declared_tx.send(Some(Err(RequestError::Closed)));
                        return;
                    }
                }
            }
            let _ = declared_tx.send(Some(Ok(acks)));
        });
    }
    let client = Client {
        declared: declared_rx,
        cmd: cmd_tx,
        ctl: ctl_tx,
        status: status_rx,
        protocol,
        client_id: Arc::from(client_id.as_str()),
        message_queue,
    };
    let messages = Messages {
        rx: catch_rx.into(),
        _client: Some(client.clone()),
    };
    Ok((client, messages))
}

impl Driver {
    async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            let end = self.connection().await;
            let (error, up_for) = match end {
                End::Shutdown => return self.finish(None),
                End::Failed { error, up_for } => (error, up_for),
            };
            if let Some(first) = self.first.take() {
                // The first connection failed: no task is left behind, unless the 5.0
                // to 3.1.1 fallback applies.
                if self.opts.fallback_to_v311
                    && self.opts.mqtt.protocol.is_v5()
                    && version_refused(&error)
                {
                    info!("the broker refused MQTT 5.0; trying 3.1.1");
                    self.opts.mqtt.protocol = mqtt_proto::ProtocolVersion::V3_1_1;
                    self.opts.apply_version_defaults();
                    let mqtt: ClientOptions = self.opts.mqtt.clone();
                    self.state = ClientState::new(mqtt);
                    self.requeue_declared();
                    self.first = Some(first);
                    continue;
                }
                let _ = first.send(Err(error));
                self.state.abandon();
                return;
            }
            if up_for.is_some_and(|d| d >= self.opts.reconnect.reset_after) {
                attempt = 0;
            }
            let give_up = !self.opts.reconnect.enabled
                || (error.is_fatal_refusal() && !self.opts.reconnect.retry_fatal_refusals)
                || self
                    .opts
                    .reconnect
                    .max_attempts
                    .is_some_and(|max| attempt >= max);
            // A connection lost while disconnect() drains does not reconnect: the caller
            // asked to stop, and a broker that stays away would hold its reply for ever.
            if give_up || !self.cmd_open || self.closing.is_some() {
                warn!(%error, "not reconnecting");
                return self.finish(Some(error));
            }
            let delay = backoff::delay(&self.opts.reconnect, attempt);
            attempt = attempt.saturating_add(1);
            info!(%error, attempt, ?delay, "connection lost; reconnecting");
            let _ = self.status.send(ConnectionStatus::Reconnecting {
                attempt,
                last_error: error,
            });
            if !self.wait(delay).await {
                return self.finish(None);
            }
        }
    }

    /// After the fallback to 3.1.1 replaced the session: queue the subscriptions declared
    /// in the options again (their routes and replies stay). Before the first CONNACK no
    /// [`Client`] exists, so they are the only requests pending.
    fn requeue_declared(&mut self) {
        let mut old: Vec<(u64, Pending)> = self.pending.drain().collect();
        old.sort_unstable_by_key(|(id, _)| *id);
        self.pending_requests = 0;
        let declared: Vec<_> = self
            .opts
            .subscriptions
            .iter()
            .filter(|d| !d.subscriptions.is_empty())
            .cloned()
            .collect();
        for ((_, pending), d) in old.into_iter().zip(declared) {
            let Pending::Subscribe { reply, route } = pending else {
                continue;
            };
            match self.state.subscribe(d.subscriptions, d.properties) {
                Ok(id) => {
                    self.pending
                        .insert(id.get(), Pending::Subscribe { reply, route });
                    self.pending_requests += 1;
                }
                Err(e) => {
                    self.routes.retain(|r| r.id != route);
                    let _ = reply.send(Err(e));
                }
            }
        }
        self.routes_changed();
    }

    /// Shut down for good: every request still open ends, the status says why.
    fn finish(mut self, reason: Option<ConnectError>) {
        self.state.abandon();
        self.drain_events();
        // (Empty: a connection ends with `written`.) Never written, so not sent.
        for tx in self.after_write.drain(..) {
            let _ = tx.send(Err(RequestError::Closed));
        }
        self.pending_requests = 0;
        for (_, p) in self.pending.drain() {
            match p {
                Pending::Publish { reply, .. } => {
                    let _ = reply.send(Err(RequestError::Closed));
                }
                Pending::Subscribe { reply, .. } => {
                    let _ = reply.send(Err(RequestError::Closed));
                }
                Pending::Unsubscribe { reply, .. } => {
                    let _ = reply.send(Err(RequestError::Closed));
                }
            }
        }
        // Requests still in the channel end too.
        self.cmd_rx.close();
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            reject(cmd);
        }
        self.ctl_rx.close();
        while let Ok(cmd) = self.ctl_rx.try_recv() {
            reject(cmd);
        }
        if let Some(closing) = self.closing.take() {
            for r in closing.reply {
                let _ = r.send(());
            }
        }
        let _ = self.status.send(ConnectionStatus::Disconnected { reason });
    }

    /// The backoff delay; requests are taken meanwhile. False if the client shut down.
    async fn wait(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                Some(token) = self.ack_rx.recv() => self.state.ack(token),
                Some(cmd) = self.ctl_rx.recv() => {
                    // Nothing can be drained while disconnected.
                    self.close_now(cmd);
                    return false;
                }
                cmd = self.cmd_rx.recv(), if self.cmd_open && self.state.queued() < self.opts.request_queue => {
                    match cmd {
                        None => {
                            self.cmd_open = false;
                            return false;
                        }
                        Some(cmd) => self.command(cmd),
                    }
                    self.drain_events();
                }
            }
        }
    }

    /// One connection: transport, CONNECT, and the loop until it ends.
    async fn connection(&mut self) -> End {
        // Requests keep being taken while the credentials hook runs and the transport
        // opens (they wait in the session); a disconnect ends the attempt. The hook runs
        // inside this select too: one that never answers must not hold up a disconnect.
        let opts = self.opts.clone();
        let open = async move {
            let credentials = match &opts.credentials {
                // Bounded like the transport: a hook that never answers fails the attempt
                // (and the first connect) instead of hanging.
                Some(hook) => Some(
                    tokio::time::timeout(opts.transport_timeout, hook())
                        .await
                        .map_err(|_| {
                            ConnectError::Credentials("the credentials hook timed out".into())
                        })?
                        .map_err(ConnectError::Credentials)?,
                ),
                None => None,
            };
            Ok::<_, ConnectError>((credentials, transport::open(&opts).await?))
        };
        tokio::pin!(open);
        let io = loop {
            tokio::select! {
                r = &mut open => match r {
                    Ok((credentials, io)) => {
                        if let Some(c) = credentials {
                            self.state.set_credentials(
                                c.username.map(bytestring::ByteString::from),
                                c.password,
                            );
                        }
                        break io;
                    }
                    Err(error) => return End::Failed { error, up_for: None },
                },
                Some(token) = self.ack_rx.recv() => self.state.ack(token),
                Some(cmd) = self.ctl_rx.recv() => {
                    self.close_now(cmd);
                    return End::Shutdown;
                }
                cmd = self.cmd_rx.recv(),
                    if self.first.is_none()
                        && self.cmd_open
                        && self.state.queued() < self.opts.request_queue =>
                {
                    match cmd {
                        Some(other) => {
                            self.command(other);
                            self.drain_events();
                        }
                        None => {
                            self.cmd_open = false;
                            return End::Shutdown;
                        }
                    }
                }
            }
        };
        debug!(endpoint = %self.opts.endpoint, "transport open");
        self.run_connection(io).await
    }

    async fn run_connection(&mut self, mut io: BoxIo) -> End {
        let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
        let mut wbuf = BytesMut::with_capacity(READ_CHUNK);
        let mut flushing = false;
        let mut cmds: Vec<Command> = Vec::with_capacity(BATCH);
        let mut tracer = self
            .opts
            .packet_trace
            .clone()
            .map(|f| Tracer::new(f, self.opts.mqtt.protocol));
        self.connected_at = None;
        self.last_event_error = None;
        self.tls_failure = None;
        self.state.connect(now());
        let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            // Everything ready goes into one buffer, written with one call.
            let t = now();
            let before = wbuf.len();
            while self.state.poll_transmit(t, &mut wbuf) > 0 {}
            if let Some(tracer) = &mut tracer {
                tracer.sent(&wbuf[before..]);
            }
            self.drain_events();
            if self.state.state() == ConnectionState::Disconnected {
                // Write what is left (a DISCONNECT on 5.0), briefly, then close.
                let ours = self.closing.is_some()
                    && matches!(
                        self.last_event_error,
                        Some(ConnectionError::ClientDisconnect)
                    );
                let mut sent = false;
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    io.write_all(&wbuf).await?;
                    io.flush().await?;
                    sent = true;
                    io.shutdown().await?;
                    if ours {
                        // After our DISCONNECT, wait (within the same second) for the broker
                        // to close its side: it has then processed everything we sent
                        // before it. Otherwise a reconnection with the same client id right
                        // after disconnect() can take the session over while the broker has
                        // not read the old connection's last acknowledgements yet, and the
                        // messages they acknowledged are delivered again.
                        let mut sink = [0u8; 512];
                        while io.read(&mut sink).await? > 0 {}
                    }
                    Ok::<(), io::Error>(())
                })
                .await;
                // QoS 0 publishes whose bytes did not all go out were not sent.
                self.written(sent);
                let error = self
                    .last_event_error
                    .take()
                    .unwrap_or(ConnectionError::TransportClosed);
                if matches!(error, ConnectionError::ClientDisconnect) && self.closing.is_some() {
                    return End::Shutdown;
                }
                let error = match (self.tls_failure.take(), error) {
                    (Some(tls), ConnectionError::TransportClosed) => tls,
                    (_, error) => ConnectError::from(error),
                };
                return End::Failed {
                    // Measured on tokio's clock, like `connected_at` (not `Instant::elapsed`,
                    // which reads the OS clock: with tokio's clock paused the connection
                    // never looked stable and the backoff never reset).
                    up_for: self
                        .connected_at
                        .map(|t| now().saturating_duration_since(t)),
                    error,
                };
            }
            if self.closing.is_some() {
                // Acknowledgements the application made before disconnect() may still wait
                // in their channel when the Disconnect command wins the select: apply them
                // now, so that their PUBACK / PUBREC go out before the DISCONNECT (else the
                // broker redelivers messages that were handled).
                let mut acked = false;
                while let Ok(token) = self.ack_rx.try_recv() {
                    self.state.ack(token);
                    acked = true;
                }
                if acked {
                    continue;
                }
            }
            if let Some(closing) = &self.closing {
                let drained = self.state.inflight() == 0
                    && self.state.queued() == 0
                    && self.pending_publishes() == 0;
                if drained || tokio::time::Instant::now() >= closing.deadline {
                    let d = closing.disconnect.clone();
                    self.state.disconnect(d);
                    continue;
                }
            }
            // The one timer: the state machine's deadline, or the disconnect deadline.
            let deadline = match (self.state.poll_timeout(), &self.closing) {
                (Some(d), Some(c)) => Some(d.min(c.deadline.into_std())),
                (d, None) => d,
                (None, Some(c)) => Some(c.deadline.into_std()),
            };
            if deadline != armed {
                if let Some(d) = deadline {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(d));
                }
                armed = deadline;
            }
            if self.backlog.is_empty() {
                self.backlog_read = 0;
            }
            // With a stream full, read on only to reach an acknowledgement we await.
            let reading = self.backlog.is_empty()
                || (self.backlog_read < BACKLOG_READ_MAX && self.awaiting_ack());
            let unread = rbuf.len();
            let accepting = self.cmd_open
                && wbuf.len() < WRITE_HIGH_WATER
                && self.state.queued() < self.opts.request_queue;
            let backlog_tx = self.backlog.front().map(|(tx, _)| tx.clone());
            // Unbiased: a flood of inbound bytes must not starve requests, nor the reverse.
            tokio::select! {
                ev = poll_fn(|cx| poll_io(cx, &mut io, &mut rbuf, &mut wbuf, &mut flushing, reading)) => {
                    let t = now();
                    match ev {
                        IoEvent::Read => {
                            if !self.backlog.is_empty() {
                                self.backlog_read += rbuf.len().saturating_sub(unread);
                            }
                            if let Some(tracer) = &mut tracer {
                                tracer.received(&rbuf);
                            }
                            self.state.handle_read(t, &mut rbuf);
                            if let Some(tracer) = &mut tracer {
                                tracer.tail = rbuf.len();
                            }
                        }
                        IoEvent::Written => self.written(true),
                        IoEvent::Closed(e) => {
                            if let Some(e) = e {
                                debug!(error = %e, "transport error");
                                if self.connected_at.is_none() {
                                    self.tls_failure = transport::tls_failure(&self.opts.endpoint, &e);
                                }
                            }
                            self.state.handle_transport_closed(t);
                        }
                    }
                }
                Some(token) = self.ack_rx.recv() => {
                    self.state.ack(token);
                    while let Ok(token) = self.ack_rx.try_recv() {
                        self.state.ack(token);
                    }
                }
                permit = reserve(backlog_tx), if !self.backlog.is_empty() => {
                    if let Some(permit) = permit {
                        if let Some((_, m)) = self.backlog.pop_front() {
                            permit.send(m);
                        }
                    } else if let Some((_, m)) = self.backlog.pop_front() {
                        // That stream is gone: the message goes elsewhere.
                        self.undeliverable_route(m);
                    }
                    self.flush_backlog();
                    if self.backlog.is_empty() {
                        // Reading resumes; the unread bytes show the broker alive.
                        self.state.handle_peer_alive(now());
                    }
                }
                Some(cmd) = self.ctl_rx.recv() => self.command(cmd),
                // At most what the state machine may still queue (each request adds at
                // most one): taken in one go, the channel's permits released at once.
                n = self.cmd_rx.recv_many(
                    &mut cmds,
                    self.opts.request_queue.saturating_sub(self.state.queued()).clamp(1, BATCH),
                ), if accepting => {
                    match n {
                        1.. => {
                            for cmd in cmds.drain(..) {
                                self.command(cmd);
                            }
                        }
                        0 => {
                            // Every handle is gone: nobody can see anything any more.
                            self.cmd_open = false;
                            self.closing = Some(Closing {
                                deadline: tokio::time::Instant::now(),
                                disconnect: Disconnect::default(),
                                reply: Vec::new(),
                            });
                        }
                    }
                }
                () = &mut sleep, if armed.is_some() => {
                    armed = None;
                    let t = now();
                    if !reading {
                        // Held back by our own reader, not by a dead broker.
                        self.state.handle_peer_alive(t);
                    }
                    self.state.handle_timeout(t);
                }
            }
        }
    }

    /// Whether an acknowledgement from the broker is awaited: a QoS 1/2 publish in flight
    /// (publishes queued behind it wait for it too), a subscribe or an unsubscribe.
    fn awaiting_ack(&self) -> bool {
        debug_assert_eq!(
            self.pending_requests,
            self.pending
                .values()
                .filter(|p| matches!(p, Pending::Subscribe { .. } | Pending::Unsubscribe { .. }))
                .count()
        );
        self.state.inflight() > 0 || self.pending_requests > 0
    }

    /// Requests still in the channel.
    fn pending_publishes(&self) -> usize {
        self.cmd_rx.len()
    }

    /// The write buffer is empty and flushed (`sent`): QoS 0 publishes are done; or the
    /// connection ended before it was: they fail with [`RequestError::NotSent`].
    fn written(&mut self, sent: bool) {
        for tx in self.after_write.drain(..) {
            let _ = tx.send(if sent {
                Ok(qos0_ack())
            } else {
                Err(RequestError::NotSent)
            });
        }
    }

    /// A disconnect while there is no connection to drain: shut down at once.
    fn close_now(&mut self, cmd: Command) {
        match cmd {
            Command::Disconnect { reply, .. } => match &mut self.closing {
                Some(c) => c.reply.push(reply),
                None => {
                    self.closing = Some(Closing {
                        deadline: tokio::time::Instant::now(),
                        disconnect: Disconnect::default(),
                        reply: vec![reply],
                    });
                }
            },
            other => self.command(other),
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish(req, reply) => {
                let qos0 = req.qos == mqtt_proto::QoS::AtMostOnce;
                match self.state.publish(req) {
                    Ok(id) => {
                        self.pending
                            .insert(id.get(), Pending::Publish { reply, qos0 });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::Subscribe {
                subscriptions,
                mut properties,
                messages,
                reply,
            } => {
                let v5 = self.opts.mqtt.protocol.is_v5();
                let subscription_id = match properties.subscription_identifier {
                    Some(id) => Some(id.get()),
                    // Only when allowed (`Options::auto_subscription_ids`; mqsub turns it
                    // off so that its SUBSCRIBE and output match mosquitto_sub's), and
                    // only for a stream of its own: the catch-all needs no identifier.
                    None if v5
                        && messages.is_some()
                        && self.opts.auto_subscription_ids
                        && self.state.server().subscription_identifiers =>
                    {
                        let id = self.next_subscription_id;
                        self.next_subscription_id =
                            if id >= SubscriptionId::MAX { 1 } else { id + 1 };
                        properties.subscription_identifier = SubscriptionId::new(id);
                        Some(id)
                    }
                    None => None,
                };
                let filters: Vec<TopicFilter> =
                    subscriptions.iter().map(|s| s.filter.clone()).collect();
                match self.state.subscribe(subscriptions, properties) {
                    Ok(id) => {
                        let route = self.next_route;
                        self.next_route += 1;
                        self.routes_changed();
                        // Routes whose stream was dropped take nothing any more (their
                        // messages go to the catch-all): forget them, so that subscribing
                        // again and again while dropping the streams cannot grow the table
                        // (and the per-message scan) without bound.
                        self.routes.retain(|r| !r.tx.is_closed());
                        self.routes.push(Route {
                            id: route,
                            filters,
                            subscription_id,
                            tx: messages.unwrap_or_else(|| self.catch_all.clone()),
                        });
                        self.pending
                            .insert(id.get(), Pending::Subscribe { reply, route });
                        self.pending_requests += 1;
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::Unsubscribe {
                filters,
                properties,
                reply,
            } => match self.state.unsubscribe(filters.clone(), properties) {
                Ok(id) => {
                    let routes_before = self.next_route;
                    self.pending_requests += 1;
                    self.pending.insert(
                        id.get(),
                        Pending::Unsubscribe {
                            reply,
                            filters,
                            routes_before,
                        },
                    );
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Disconnect {
                deadline,
                disconnect,
                reply,
            } => match &mut self.closing {
                Some(c) => c.reply.push(reply),
                None => {
                    self.closing = Some(Closing {
                        deadline,
                        disconnect,
                        reply: vec![reply],
                    });
                }
            },
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.state.poll_event() {
            match event {
                Event::Connected(c) => {
                    self.connected_at = Some(now());
                    if let Some(id) = &c.properties.assigned_client_identifier {
                        self.opts.mqtt.client_id = id.clone();
                    }
                    let _ = self.status.send(ConnectionStatus::Connected {
                        session_present: c.session_present,
                    });
                    if let Some(first) = self.first.take() {
                        let _ = first.send(Ok((
                            self.opts.mqtt.protocol,
                            self.opts.mqtt.client_id.to_string(),
                        )));
                    }
                    info!(session_present = c.session_present, "connected");
                }
                Event::Disconnected(e) => {
                    debug!(error = %e, "connection ended");
                    self.last_event_error = Some(e);
                }
                Event::Message(m) => {
                    let ack = m.ack.map(|t| (t, self.ack_tx.clone()));
                    self.route(m.publish, ack);
                }
                Event::Published { id, result } => {
                    if let Some(Pending::Publish { reply, qos0 }) = self.pending.remove(&id.get()) {
                        if qos0 && result.is_ok() {
                            self.after_write.push(reply);
                        } else {
                            let _ = reply.send(result);
                        }
                    }
                }
                Event::Subscribed { id, result } => {
                    if let Some(Pending::Subscribe { reply, route }) =
                        self.pending.remove(&id.get())
                    {
                        self.pending_requests -= 1;
                        self.routes_changed();
                        match &result {
                            Ok(ack) => {
                                // Refused filters route nothing.
                                if let Some(r) = self.routes.iter_mut().find(|r| r.id == route) {
                                    r.filters = ack
                                        .results
                                        .iter()
                                        .filter(|(_, reason)| !reason.is_error())
                                        .map(|(f, _)| f.clone())
                                        .collect();
                                }
                            }
                            Err(_) => self.routes.retain(|r| r.id != route),
                        }
                        let _ = reply.send(result);
                    }
                }
                Event::Unsubscribed { id, result } => {
                    if let Some(Pending::Unsubscribe {
                        reply,
                        filters,
                        routes_before,
                    }) = self.pending.remove(&id.get())
                    {
                        self.pending_requests -= 1;
                        if result.is_ok() {
                            self.routes_changed();
                            for r in self.routes.iter_mut().filter(|r| r.id < routes_before) {
                                r.filters.retain(|f| !filters.contains(f));
                            }
                            self.routes.retain(|r| !r.filters.is_empty());
                        }
                        let _ = reply.send(result);
                    }
                }
                Event::Resubscribed(result) => match result {
                    Ok(ack) => {
                        for (f, reason) in &ack.results {
                            if reason.is_error() {
                                warn!(filter = %f.as_str(), %reason, "resubscription refused");
                            }
                        }
                    }
                    Err(e) => warn!(error = %e, "resubscription failed"),
                },
                other => trace!(?other, "event"),
            }
        }
    }

    /// Hand an inbound message to the streams whose subscription it matches.
    fn route(
        &mut self,
        publish: Publish,
        ack: Option<(AckToken, mpsc::UnboundedSender<AckToken>)>,
    ) {
        let mut targets = std::mem::take(&mut self.route_targets);
        targets.clear();
        let ids = &publish.properties().subscription_identifiers;
        if !ids.is_empty() {
            let routes = &self.routes;
            self.route_index
                .get_or_insert_with(|| RouteIndex::new(routes))
                .targets(ids.iter().map(|id| id.get()), &mut targets);
        }
        if targets.is_empty() {
            match &self.route_cache {
                Some((topic, cached)) if *topic == publish.topic => {
                    targets.extend_from_slice(cached);
                }
                _ => {
                    for (i, r) in self.routes.iter().enumerate() {
                        if r.filters.iter().any(|f| f.matches(&publish.topic)) {
                            targets.push(i);
                        }
                    }
                    self.route_cache = Some((publish.topic.clone(), targets.clone()));
                }
            }
        }
        targets.retain(|&i| !self.routes[i].tx.is_closed());
        if targets.len() > 1 {
            // One copy per stream: several subscriptions declared in the options (or a
            // PUBLISH naming several identifiers) may all lead to the catch-all.
            let routes = &self.routes;
            let mut k = 1;
            while k < targets.len() {
                let tx = &routes[targets[k]].tx;
                if targets[..k].iter().any(|&j| routes[j].tx.same_channel(tx)) {
                    targets.remove(k);
                } else {
                    k += 1;
                }
            }
        }
        let mut message = Some(Message { publish, ack });
        let last = targets.len();
        if last == 0 {
            if let Some(m) = message.take() {
                if let Some(m) = offer(&mut self.backlog, &self.catch_all, m) {
                    self.undeliverable_route(m);
                }
            }
        }
        for (n, &i) in targets.iter().enumerate() {
            let m = if n + 1 == last {
                message.take()
            } else {
                message.as_ref().map(|m| Message {
                    publish: m.publish.clone(),
                    ack: None,
                })
            };
            if let Some(m) = m {
                if let Some(m) = offer(&mut self.backlog, &self.routes[i].tx, m) {
                    self.undeliverable_route(m);
                }
            }
        }
        self.route_targets = targets;
    }

    /// `routes` or their filters changed: what was derived from them is stale.
    fn routes_changed(&mut self) {
        self.route_cache = None;
        self.route_index = None;
    }

    /// A stream closed under a message: the catch-all takes it, else it is dropped, loudly
    /// (and acknowledged, so that it does not hold back the acknowledgements after it).
    fn undeliverable_route(&mut self, mut m: Message) {
        if !self.catch_all.is_closed() {
            let tx = self.catch_all.clone();
            match tx.try_send(m) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(back)) => {
                    self.backlog.push_back((tx, back));
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(back)) => m = back,
            }
        }
        warn!(
            topic = m.topic(),
            "no stream takes this message (catch-all dropped): discarded"
        );
        m.ack();
    }

    /// Deliver what the backlog holds while there is room.
    fn flush_backlog(&mut self) {
        while let Some((tx, m)) = self.backlog.pop_front() {
            let closed = match tx.try_reserve() {
                Ok(permit) => {
                    permit.send(m);
                    continue;
                }
                Err(mpsc::error::TrySendError::Full(())) => false,
                Err(mpsc::error::TrySendError::Closed(())) => true,
            };
            if !closed {
                self.backlog.push_front((tx, m));
                return;
            }
            let mut m = m;
            if self.catch_all.is_closed() {
                warn!(topic = m.topic(), "no stream takes this message: discarded");
                m.ack();
            } else {
                self.undeliverable_route(m);
            }
        }
    }
}

/// Hand `m` to `tx`, behind whatever the backlog holds (a full stream puts it in the
/// backlog). Returns it if the stream is closed.
fn offer(
    backlog: &mut VecDeque<(mpsc::Sender<Message>, Message)>,
    tx: &mpsc::Sender<Message>,
    m: Message,
) -> Option<Message> {
    if !backlog.is_empty() {
        // Order: nothing overtakes a message already waiting.
        backlog.push_back((tx.clone(), m));
        return None;
    }
    match tx.try_send(m) {
        Ok(()) => None,
        Err(mpsc::error::TrySendError::Full(m)) => {
            trace!("message stream full: reading paused");
            backlog.push_back((tx.clone(), m));
            None
        }
        Err(mpsc::error::TrySendError::Closed(m)) => Some(m),
    }
}

async fn reserve(tx: Option<mpsc::Sender<Message>>) -> Option<mpsc::OwnedPermit<Message>> {
    match tx {
        Some(tx) => tx.reserve_owned().await.ok(),
        None => std::future::pending().await,
    }
}

fn qos0_ack() -> PublishAck {
    PublishAck::at_most_once()
}

fn reject(cmd: Command) {
    match cmd {
        Command::Publish(_, reply) => {
            let _ = reply.send(Err(RequestError::Closed));
        }
        Command::Subscribe { reply, .. } => {
            let _ = reply.send(Err(RequestError::Closed));
        }
        Command::Unsubscribe { reply, .. } => {
            let _ = reply.send(Err(RequestError::Closed));
        }
        Command::Disconnect { reply, .. } => {
            let _ = reply.send(());
        }
    }
}

fn version_refused(e: &ConnectError) -> bool {
    matches!(
        e,
        ConnectError::Refused {
            reason: ConnectReason::UnsupportedProtocolVersion,
            ..
        } | ConnectError::Connection(ConnectionError::Decode(_))
            | ConnectError::Connection(ConnectionError::TransportClosed)
    )
}

/// Decodes the bytes on the wire a second time for [`PacketTrace`].
struct Tracer {
    f: crate::options::PacketTrace,
    out: mqtt_proto::Decoder,
    out_buf: BytesMut,
    inb: mqtt_proto::Decoder,
    in_buf: BytesMut,
    /// Bytes at the end of the read buffer already copied (a packet still arriving).
    tail: usize,
}

impl Tracer {
    fn new(f: crate::options::PacketTrace, v: mqtt_proto::ProtocolVersion) -> Self {
        let max = std::num::NonZeroU32::new(mqtt_proto::MAX_PACKET_SIZE)
            .unwrap_or(std::num::NonZeroU32::MIN);
        Self {
            f,
            out: mqtt_proto::Decoder::new(v).with_max_packet_size(max),
            out_buf: BytesMut::new(),
            inb: mqtt_proto::Decoder::new(v).with_max_packet_size(max),
            in_buf: BytesMut::new(),
            tail: 0,
        }
    }

    fn sent(&mut self, bytes: &[u8]) {
        self.out_buf.extend_from_slice(bytes);
        while let Ok(Some(p)) = self.out.decode(&mut self.out_buf) {
            (self.f)(crate::options::Direction::Sent, &p);
        }
    }

    fn received(&mut self, rbuf: &[u8]) {
        self.in_buf
            .extend_from_slice(rbuf.get(self.tail..).unwrap_or_default());
        while let Ok(Some(p)) = self.inb.decode(&mut self.in_buf) {
            (self.f)(crate::options::Direction::Received, &p);
        }
    }
}

enum IoEvent {
    /// Bytes were read into the buffer.
    Read,
    /// The write buffer was written and flushed.
    Written,
    /// End of stream or an error.
    Closed(Option<io::Error>),
}

/// Write what is buffered (then flush), and read when `reading`: one future, so the
/// socket is both read and written from one `select!` branch. Cancel-safe: bytes are taken
/// from `wbuf` only once written, and added to `rbuf` only once read.
fn poll_io(
    cx: &mut Context<'_>,
    io: &mut BoxIo,
    rbuf: &mut BytesMut,
    wbuf: &mut BytesMut,
    flushing: &mut bool,
    reading: bool,
) -> Poll<IoEvent> {
    while !wbuf.is_empty() {
        match Pin::new(&mut **io).poll_write(cx, wbuf) {
            Poll::Ready(Ok(0)) => {
                return Poll::Ready(IoEvent::Closed(Some(io::ErrorKind::WriteZero.into())));
            }
            Poll::Ready(Ok(n)) => {
                wbuf.advance(n);
                if wbuf.is_empty() {
                    *flushing = true;
                }
            }
            Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Closed(Some(e))),
            Poll::Pending => break,
        }
    }
    if *flushing {
        match Pin::new(&mut **io).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                *flushing = false;
                return Poll::Ready(IoEvent::Written);
            }
            Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Closed(Some(e))),
            Poll::Pending => {}
        }
    }
    if reading {
        if rbuf.capacity() - rbuf.len() < READ_CHUNK / 4 {
            rbuf.reserve(READ_CHUNK);
        }
        let read = io.read_buf(rbuf);
        tokio::pin!(read);
        match read.poll(cx) {
            Poll::Ready(Ok(0)) => return Poll::Ready(IoEvent::Closed(None)),
            Poll::Ready(Ok(_)) => return Poll::Ready(IoEvent::Read),
            Poll::Ready(Err(e)) => return Poll::Ready(IoEvent::Closed(Some(e))),
            Poll::Pending => {}
        }
    }
    Poll::Pending
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// What `route` did before [`RouteIndex`]: scan routes × filters per message.
    fn by_scan(routes: &[Route], ids: &[u32]) -> Vec<usize> {
        let mut targets = Vec::new();
        for id in ids {
            if let Some(i) = routes.iter().position(|r| r.subscription_id == Some(*id)) {
                if !targets.contains(&i) {
                    targets.push(i);
                }
            }
        }
        let named = targets.len();
        for k in 0..named {
            let i = targets[k];
            for (j, r) in routes.iter().enumerate() {
                if !targets.contains(&j) && r.filters.iter().any(|f| routes[i].filters.contains(f))
                {
                    targets.push(j);
                }
            }
        }
        targets
    }

    fn by_index(index: &RouteIndex, ids: &[u32]) -> Vec<usize> {
        let mut targets = Vec::new();
        index.targets(ids.iter().copied(), &mut targets);
        targets
    }

    #[test]
    fn the_route_index_routes_as_the_scan_did() {
        let (tx, _rx) = mpsc::channel(1);
        let filter = |n: u64| TopicFilter::new(format!("f/{n}")).unwrap();
        // A small deterministic generator: routes with 0 to 3 filters out of 6 (repeats
        // within a route included), identifiers out of 5 (shared and missing ones too).
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..500 {
            let routes: Vec<Route> = (0..next(8))
                .map(|id| Route {
                    id,
                    filters: (0..next(4)).map(|_| filter(next(6))).collect(),
                    subscription_id: u32::try_from(next(6)).ok().filter(|&i| i > 0),
                    tx: tx.clone(),
                })
                .collect();
            let index = RouteIndex::new(&routes);
            for ids in [vec![], vec![1], vec![2, 1], vec![3, 4, 5], vec![5, 5, 9]] {
                assert_eq!(by_index(&index, &ids), by_scan(&routes, &ids), "{ids:?}");
            }
        }
    }
}
