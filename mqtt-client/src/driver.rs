//! The connection task: one task per client. [`Driver::run`] is the reconnect loop; each
//! connection is opened while inputs are still taken ([`Driver::meanwhile`]), then run by
//! one `select!` loop ([`Driver::run_connection`]) over the transport (read and pending
//! write), the inbox (requests, disconnects, acknowledgements), room in a full message
//! stream, and the next deadline, until the state machine says it is over; then
//! [`Driver::close`] ends it. The task only moves bytes between the socket and
//! [`ClientState`]; requests are correlated in [`Requests`], messages routed by [`Router`].

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mqtt_proto::client::{
    ClientState, ConnectionError, ConnectionState, Event, RequestError, SubscribeAck,
};
use mqtt_proto::{ConnectReason, Disconnect, ProtocolVersion, SubscriptionId, TopicFilter};
use tokio::io::{AsyncReadExt, AsyncWriteExt as _};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, trace, warn};

use crate::backoff;
use crate::command::{Command, DisconnectRequest};
use crate::error::ConnectError;
use crate::inbox::{BATCH, Inbox, Input};
use crate::message::Message;
use crate::options::Options;
use crate::requests::Requests;
use crate::route::{Router, room_in};
use crate::socket::{IoEvent, READ_CHUNK, Tracer, poll_io};
use crate::status::ConnectionStatus;
use crate::transport::{self, BoxIo};

/// Stop taking requests while this much is waiting to be written.
const WRITE_HIGH_WATER: usize = 1024 * 1024;

/// What [`start`] hands to [`Client::connect`](crate::Client::connect) once the first
/// CONNACK accepted the connection: the sending ends of the task's channels, and what the
/// handle reports.
pub(crate) struct Started {
    pub(crate) requests: mpsc::Sender<Command>,
    pub(crate) disconnects: mpsc::UnboundedSender<DisconnectRequest>,
    pub(crate) status: watch::Receiver<ConnectionStatus>,
    /// The protocol version in use, after any fallback.
    pub(crate) protocol: ProtocolVersion,
    /// The client id in use (the one the broker assigned, if it did).
    pub(crate) client_id: Arc<str>,
    pub(crate) message_queue: usize,
    /// The SUBACKs of the subscriptions declared in the options, once all are in.
    pub(crate) declared: watch::Receiver<Option<Result<Vec<SubscribeAck>, RequestError>>>,
    /// The catch-all stream.
    pub(crate) messages: mpsc::Receiver<Message>,
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

/// What the inbox gave that the phase of the task decides on.
enum Stop {
    Disconnect(DisconnectRequest),
    /// Every handle is gone: nobody can see anything any more.
    HandlesGone,
}

/// A disconnect under way: drain until `deadline`, then send `disconnect`.
struct Closing {
    deadline: tokio::time::Instant,
    disconnect: Disconnect,
    replies: Vec<oneshot::Sender<()>>,
}

/// The first CONNACK's outcome for [`start`]: the protocol version and client id in use.
type FirstReply = oneshot::Sender<Result<(ProtocolVersion, String), ConnectError>>;

pub(crate) struct Driver {
    opts: Options,
    state: ClientState,
    inbox: Inbox,
    status: watch::Sender<ConnectionStatus>,
    requests: Requests,
    router: Router,
    closing: Option<Closing>,
    /// Until the first CONNACK (after any fallback, with the client id the broker
    /// assigned).
    first: Option<FirstReply>,
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
pub(crate) async fn start(mut opts: Options) -> Result<Started, ConnectError> {
    if opts.mqtt.client_id.is_empty() && !opts.mqtt.protocol.is_v5() && !opts.mqtt.clean_start {
        return Err(ConnectError::InvalidOptions(
            "an empty client id needs clean session on MQTT 3.1.1 [MQTT-3.1.3-7]".into(),
        ));
    }
    if opts.mqtt.protocol == ProtocolVersion::V3_1 && !(1..=23).contains(&opts.mqtt.client_id.len())
    {
        return Err(ConnectError::InvalidOptions(
            "MQTT 3.1 needs a client id of 1 to 23 characters".into(),
        ));
    }
    opts.apply_version_defaults();
    opts.request_queue = opts.request_queue.max(1);
    opts.message_queue = opts.message_queue.max(1);
    let (requests_tx, requests_rx) = mpsc::channel(opts.request_queue);
    let (disconnects_tx, disconnects_rx) = mpsc::unbounded_channel();
    let (status_tx, status_rx) = watch::channel(ConnectionStatus::Connecting);
    let (catch_tx, catch_rx) = mpsc::channel(opts.message_queue);
    let (first_tx, first_rx) = oneshot::channel();
    let message_queue = opts.message_queue;
    let declared = opts.subscriptions.clone();
    let mut driver = Driver {
        state: ClientState::new(opts.mqtt.clone()),
        opts,
        inbox: Inbox::new(requests_rx, disconnects_rx),
        status: status_tx,
        requests: Requests::default(),
        router: Router::new(catch_tx),
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
        driver.request(Command::Subscribe {
            filters: d.subscriptions,
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
    Ok(Started {
        requests: requests_tx,
        disconnects: disconnects_tx,
        status: status_rx,
        protocol,
        client_id: Arc::from(client_id.as_str()),
        message_queue,
        declared: watch_declared(declared_replies),
        messages: catch_rx,
    })
}

/// The SUBACKs of the declared subscriptions, for
/// [`Client::declared_subscriptions`](crate::Client::declared_subscriptions). They arrive
/// after CONNACK, maybe behind a resumed session's queued messages: `connect` does not wait
/// for them (the application must be able to read those messages).
fn watch_declared(
    replies: Vec<oneshot::Receiver<Result<SubscribeAck, RequestError>>>,
) -> watch::Receiver<Option<Result<Vec<SubscribeAck>, RequestError>>> {
    let (tx, rx) = watch::channel(None);
    if replies.is_empty() {
        let _ = tx.send(Some(Ok(Vec::new())));
        return rx;
    }
    tokio::spawn(async move {
        let mut acks = Vec::with_capacity(replies.len());
        for reply in replies {
            match reply.await {
                Ok(Ok(ack)) => acks.push(ack),
                Ok(Err(e)) => {
                    warn!(error = %e, "a subscription declared in the options failed");
                    let _ = tx.send(Some(Err(e)));
                    return;
                }
                Err(_) => {
                    let _ = tx.send(Some(Err(RequestError::Closed)));
                    return;
                }
            }
        }
        let _ = tx.send(Some(Ok(acks)));
    });
    rx
}

impl Driver {
    /// The reconnect loop.
    async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            let (error, up_for) = match self.connection().await {
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
                    self.opts.mqtt.protocol = ProtocolVersion::V3_1_1;
                    self.opts.apply_version_defaults();
                    self.state = ClientState::new(self.opts.mqtt.clone());
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
            if give_up || !self.inbox.is_open() || self.closing.is_some() {
                warn!(%error, "not reconnecting");
                return self.finish(Some(error));
            }
            let reconnect = &self.opts.reconnect;
            let delay = backoff::delay(reconnect.min_delay, reconnect.max_delay, attempt);
            attempt = attempt.saturating_add(1);
            info!(%error, attempt, ?delay, "connection lost; reconnecting");
            let _ = self.status.send(ConnectionStatus::Reconnecting {
                attempt,
                last_error: error,
            });
            if self
                .meanwhile(tokio::time::sleep(delay), true)
                .await
                .is_none()
            {
                return self.finish(None);
            }
        }
    }

    /// After the fallback to 3.1.1 replaced the session: queue the subscriptions declared
    /// in the options again (their routes and replies stay). Before the first CONNACK no
    /// [`Client`](crate::Client) exists, so they are the only requests open.
    fn requeue_declared(&mut self) {
        let declared = self
            .opts
            .subscriptions
            .iter()
            .filter(|d| !d.subscriptions.is_empty())
            .cloned();
        for ((reply, route), d) in self.requests.take_subscribes().into_iter().zip(declared) {
            match self.state.subscribe(d.subscriptions, d.properties) {
                Ok(id) => self.requests.subscribe(id, reply, route),
                Err(e) => {
                    self.router.remove(route);
                    let _ = reply.send(Err(e));
                }
            }
        }
    }

    /// Shut down for good: every request still open ends, the status says why.
    fn finish(mut self, reason: Option<ConnectError>) {
        self.state.abandon();
        self.events();
        self.requests.close();
        // Requests still in the channels end too.
        self.inbox.close();
        if let Some(closing) = self.closing.take() {
            for r in closing.replies {
                let _ = r.send(());
            }
        }
        let _ = self.status.send(ConnectionStatus::Disconnected { reason });
    }

    /// The "accepting requests" rule: how many requests may be taken from the channel now
    /// (0: none). Requests are taken only while the session holds fewer than
    /// `request_queue` unsent ones and less than [`WRITE_HIGH_WATER`] bytes (`unwritten`)
    /// wait to be written, so that `publish` waits (and `try_publish` fails) when the
    /// broker is slow; each request adds at most one to the session, so no more than the
    /// room left, and at most [`BATCH`] at once.
    fn room(&self, unwritten: usize) -> usize {
        let queued = self.state.queued();
        if unwritten >= WRITE_HIGH_WATER || queued >= self.opts.request_queue {
            return 0;
        }
        (self.opts.request_queue - queued).min(BATCH)
    }

    /// Apply what the inbox gave: acknowledgements and requests go to the session; a
    /// disconnect or the end of the handles is for the caller to decide on.
    fn apply(&mut self, input: Input) -> Option<Stop> {
        match input {
            Input::Ack(token) => {
                self.state.ack(token);
                while let Some(token) = self.inbox.try_ack() {
                    self.state.ack(token);
                }
                None
            }
            Input::Requests(mut batch) => {
                for cmd in batch.drain(..) {
                    self.request(cmd);
                }
                self.inbox.recycle(batch);
                None
            }
            Input::Disconnect(d) => Some(Stop::Disconnect(d)),
            Input::Closed => Some(Stop::HandlesGone),
        }
    }

    /// Start closing: drain until `deadline`, then DISCONNECT. A later disconnect joins the
    /// one under way (its reply comes with it).
    fn begin_close(
        &mut self,
        deadline: tokio::time::Instant,
        disconnect: Disconnect,
        reply: Option<oneshot::Sender<()>>,
    ) {
        let closing = self.closing.get_or_insert_with(|| Closing {
            deadline,
            disconnect,
            replies: Vec::new(),
        });
        closing.replies.extend(reply);
    }

    /// While there is no connection (the backoff delay, the credentials hook and the
    /// transport opening): run `fut`, taking inputs meanwhile (requests only if
    /// `take_requests`: they wait in the session). `None` if the client shut down first
    /// (a disconnect, which has nothing to drain, or every handle gone).
    async fn meanwhile<F: Future>(&mut self, fut: F, take_requests: bool) -> Option<F::Output> {
        tokio::pin!(fut);
        loop {
            let take = if take_requests { self.room(0) } else { 0 };
            tokio::select! {
                out = &mut fut => return Some(out),
                input = self.inbox.next(take) => match self.apply(input) {
                    None => self.events(),
                    Some(Stop::Disconnect(d)) => {
                        self.begin_close(tokio::time::Instant::now(), Disconnect::default(), Some(d.reply));
                        return None;
                    }
                    Some(Stop::HandlesGone) => return None,
                },
            }
        }
    }

    /// One connection: credentials, transport, CONNECT, and the loop until it ends.
    async fn connection(&mut self) -> End {
        // The credentials hook runs inside `meanwhile` too: one that never answers must not
        // hold up a disconnect. Requests are taken only after the first CONNACK (before it,
        // no handle exists).
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
        let take_requests = self.first.is_none();
        let io = match self.meanwhile(open, take_requests).await {
            None => return End::Shutdown,
            Some(Err(error)) => {
                return End::Failed {
                    error,
                    up_for: None,
                };
            }
            Some(Ok((credentials, io))) => {
                if let Some(c) = credentials {
                    self.state
                        .set_credentials(c.username.map(bytestring::ByteString::from), c.password);
                }
                io
            }
        };
        debug!(endpoint = %self.opts.endpoint, "transport open");
        self.run_connection(io).await
    }

    /// The connection's loop: encode what is ready into one write, then wait for the
    /// transport, the inbox, room in a full stream, or the timer.
    async fn run_connection(&mut self, mut io: BoxIo) -> End {
        let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
        let mut wbuf = BytesMut::with_capacity(READ_CHUNK);
        let mut flushing = false;
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
            self.events();
            if self.state.state() == ConnectionState::Disconnected {
                return self.close(io, &wbuf).await;
            }
            if self.closing.is_some() && self.drain_closing() {
                continue;
            }
            // The one timer: the state machine's deadline, or the disconnect deadline.
            let closing = self.closing.as_ref().map(|c| c.deadline.into_std());
            let deadline = match (self.state.poll_timeout(), closing) {
                (Some(d), Some(c)) => Some(d.min(c)),
                (d, c) => d.or(c),
            };
            if deadline != armed {
                if let Some(d) = deadline {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(d));
                }
                armed = deadline;
            }
            // With a stream full, read on only to reach an acknowledgement we await.
            let reading = self.router.reading_allowed(self.awaiting_ack());
            let unread = rbuf.len();
            let take = self.room(wbuf.len());
            let waiting = self.router.waiting_stream();
            // Unbiased: a flood of inbound bytes must not starve requests, nor the reverse.
            tokio::select! {
                ev = poll_fn(|cx| poll_io(cx, &mut io, &mut rbuf, &mut wbuf, &mut flushing, reading)) => {
                    let t = now();
                    match ev {
                        IoEvent::Read => {
                            self.router.read(rbuf.len().saturating_sub(unread));
                            if let Some(tracer) = &mut tracer {
                                tracer.received(&rbuf);
                            }
                            self.state.handle_read(t, &mut rbuf);
                            if let Some(tracer) = &mut tracer {
                                tracer.left_unread(rbuf.len());
                            }
                        }
                        IoEvent::Written => self.requests.written(true),
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
                input = self.inbox.next(take) => match self.apply(input) {
                    None => {}
                    Some(Stop::Disconnect(d)) => self.begin_close(d.deadline, d.disconnect, Some(d.reply)),
                    Some(Stop::HandlesGone) => {
                        // Nobody can see anything any more: close now, even if a
                        // disconnect (since cancelled) had given a later deadline.
                        let now = tokio::time::Instant::now();
                        self.begin_close(now, Disconnect::default(), None);
                        if let Some(c) = &mut self.closing {
                            c.deadline = c.deadline.min(now);
                        }
                    }
                },
                permit = room_in(waiting), if self.router.holding() => {
                    self.router.room(permit);
                    if !self.router.holding() {
                        // Reading resumes; the unread bytes show the broker alive.
                        self.state.handle_peer_alive(now());
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

    /// While closing: apply the acknowledgements still in their channel (true if there
    /// were some: they go out before the DISCONNECT), else send the DISCONNECT once
    /// everything has drained or the deadline has passed (true then too).
    fn drain_closing(&mut self) -> bool {
        // Acknowledgements the application made before disconnect() may still wait in
        // their channel when the disconnect won the select: apply them now, so that their
        // PUBACK / PUBREC go out before the DISCONNECT (else the broker redelivers messages
        // that were handled).
        let mut acked = false;
        while let Some(token) = self.inbox.try_ack() {
            self.state.ack(token);
            acked = true;
        }
        if acked {
            return true;
        }
        let Some(closing) = &self.closing else {
            return false;
        };
        let drained = self.state.inflight() == 0
            && self.state.queued() == 0
            && self.inbox.queued_requests() == 0;
        if drained || tokio::time::Instant::now() >= closing.deadline {
            let d = closing.disconnect.clone();
            self.state.disconnect(d);
            return true;
        }
        false
    }

    /// The close path, the one way a connection ends: write what is left (a DISCONNECT
    /// on 5.0), briefly, close the transport, and say how it ended.
    async fn close(&mut self, mut io: BoxIo, wbuf: &[u8]) -> End {
        let ours = self.closing.is_some()
            && matches!(
                self.last_event_error,
                Some(ConnectionError::ClientDisconnect)
            );
        let mut sent = false;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            io.write_all(wbuf).await?;
            io.flush().await?;
            sent = true;
            io.shutdown().await?;
            if ours {
                // After our DISCONNECT, wait (within the same second) for the broker to
                // close its side: it has then processed everything we sent before it.
                // Otherwise a reconnection with the same client id right after
                // disconnect() can take the session over while the broker has not read the
                // old connection's last acknowledgements yet, and the messages they
                // acknowledged are delivered again.
                let mut sink = [0u8; 512];
                while io.read(&mut sink).await? > 0 {}
            }
            Ok::<(), std::io::Error>(())
        })
        .await;
        // QoS 0 publishes whose bytes did not all go out were not sent.
        self.requests.written(sent);
        let error = self
            .last_event_error
            .take()
            .unwrap_or(ConnectionError::TransportClosed);
        if matches!(error, ConnectionError::ClientDisconnect) && self.closing.is_some() {
            return End::Shutdown;
        }
        // A TLS error that closed the transport before CONNACK (a client certificate refused
        // under TLS 1.3 arrives as an alert on the first read) says more than the closing.
        let error = match (self.tls_failure.take(), error) {
            (Some(tls), ConnectionError::TransportClosed) => tls,
            (_, error) => ConnectError::from(error),
        };
        End::Failed {
            // Measured on tokio's clock, like `connected_at` (not `Instant::elapsed`, which
            // reads the OS clock: with tokio's clock paused the connection never looked
            // stable and the backoff never reset).
            up_for: self
                .connected_at
                .map(|t| now().saturating_duration_since(t)),
            error,
        }
    }

    /// Whether an acknowledgement from the broker is awaited: a QoS 1/2 publish in flight
    /// (publishes queued behind it wait for it too), a subscribe or an unsubscribe.
    fn awaiting_ack(&self) -> bool {
        self.state.inflight() > 0 || self.requests.awaiting_acks()
    }

    /// Hand a request to the session and note it in the table; one refused at once is
    /// answered at once.
    fn request(&mut self, cmd: Command) {
        match cmd {
            Command::Publish(req, reply) => {
                let qos0 = req.qos == mqtt_proto::QoS::AtMostOnce;
                match self.state.publish(req) {
                    Ok(id) => self.requests.publish(id, reply, qos0),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::Subscribe {
                filters,
                mut properties,
                messages,
                reply,
            } => {
                let subscription_id = match properties.subscription_identifier {
                    Some(id) => Some(id.get()),
                    // Only when allowed (`Options::auto_subscription_ids`; mqsub turns it
                    // off so that its SUBSCRIBE and output match mosquitto_sub's), and
                    // only for a stream of its own: the catch-all needs no identifier.
                    None if self.opts.mqtt.protocol.is_v5()
                        && messages.is_some()
                        && self.opts.auto_subscription_ids
                        && self.state.server().subscription_identifiers =>
                    {
                        let id = self.router.next_subscription_id();
                        properties.subscription_identifier = SubscriptionId::new(id);
                        Some(id)
                    }
                    None => None,
                };
                let topic_filters: Vec<TopicFilter> =
                    filters.iter().map(|s| s.filter.clone()).collect();
                match self.state.subscribe(filters, properties) {
                    Ok(id) => {
                        let route = self.router.add(topic_filters, subscription_id, messages);
                        self.requests.subscribe(id, reply, route);
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
                    let before = self.router.mark();
                    self.requests.unsubscribe(id, reply, filters, before);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
        }
    }

    /// What the session reports: status changes, messages to route, requests ended.
    fn events(&mut self) {
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
                    let ack = m.ack.map(|t| (t, self.inbox.ack_sender()));
                    self.router.deliver(m.publish, ack);
                }
                Event::Published { id, result } => self.requests.published(id, result),
                Event::Subscribed { id, result } => {
                    if let Some((reply, route)) = self.requests.subscribed(id) {
                        match &result {
                            Ok(ack) => self.router.granted(route, ack),
                            Err(_) => self.router.remove(route),
                        }
                        let _ = reply.send(result);
                    }
                }
                Event::Unsubscribed { id, result } => {
                    if let Some(u) = self.requests.unsubscribed(id) {
                        if result.is_ok() {
                            self.router.unsubscribed(&u.filters, u.before);
                        }
                        let _ = u.reply.send(result);
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
