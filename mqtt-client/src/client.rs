//! The handle applications hold: [`Client`], and what its calls return.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use mqtt_proto::client::{PublishAck, PublishRequest, RequestError, SubscribeAck, UnsubscribeAck};
use mqtt_proto::{
    Disconnect, DisconnectReason, ProtocolVersion, PublishProperties, QoS, SubscribeFilter,
    SubscribeProperties, TopicFilter, TopicName, UnsubscribeProperties,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::command::{Command, DisconnectRequest};
use crate::driver;
use crate::error::{ClientError, ConnectError};
use crate::message::{Message, MessageRx};
use crate::options::Options;
use crate::status::ConnectionStatus;

/// An MQTT client: a cheap handle (`Clone + Send + Sync`) to a connection task that owns the
/// socket, keeps the connection alive and reconnects. Every method returns without waiting
/// for the network unless it says so; when every handle (and every message stream) is
/// dropped, the task disconnects and ends.
#[derive(Clone)]
pub struct Client {
    requests: mpsc::Sender<Command>,
    /// Disconnects, which must not wait behind a full request queue.
    disconnects: mpsc::UnboundedSender<DisconnectRequest>,
    status: watch::Receiver<ConnectionStatus>,
    protocol: ProtocolVersion,
    client_id: Arc<str>,
    message_queue: usize,
    /// The SUBACKs of the subscriptions declared in the options, once all are in.
    declared: watch::Receiver<Option<Result<Vec<SubscribeAck>, RequestError>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("protocol", &self.protocol)
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connect: open the transport, send CONNECT and wait for CONNACK. Returns the handle and
    /// the catch-all message stream ([`Messages`]: every message that no
    /// [`Subscription`] stream takes). Fails with a typed error if the broker cannot be
    /// reached, refuses, or does not answer in time; no task is left behind then.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use mqtt_client::{Client, Options, QoS};
    ///
    /// let (client, mut messages) = Client::connect(Options::from_url("mqtt://localhost")?).await?;
    /// client.subscribe("sensors/#", QoS::AtLeastOnce).await?;
    /// client.publish("sensors/kitchen", QoS::AtLeastOnce, false, "21.5").await?.await?;
    /// while let Some(message) = messages.recv().await {
    ///     println!("{}: {:?}", message.topic(), message.payload());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(options: Options) -> Result<(Client, Messages), ConnectError> {
        let started = driver::start(options).await?;
        let client = Client {
            requests: started.requests,
            disconnects: started.disconnects,
            status: started.status,
            protocol: started.protocol,
            client_id: started.client_id,
            message_queue: started.message_queue,
            declared: started.declared,
        };
        let messages = Messages {
            rx: started.messages.into(),
            _client: Some(client.clone()),
        };
        Ok((client, messages))
    }

    /// Connect to a URL with default options (see [`Options::from_url`]).
    pub async fn connect_url(url: &str) -> Result<(Client, Messages), ConnectError> {
        Self::connect(Options::from_url(url)?).await
    }

    /// The protocol version in use (after any fallback to 3.1.1).
    pub fn protocol(&self) -> ProtocolVersion {
        self.protocol
    }

    /// The client identifier (the one the broker assigned, if it did).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A watch of the connection status. Its current value counts as seen, so
    /// `changed()` waits for the next change (use `wait_for` for a state that may already
    /// have been reached).
    pub fn status(&self) -> watch::Receiver<ConnectionStatus> {
        // A clone inherits the seen version of the handle's own receiver, which never reads:
        // without this, `changed()` would return at once once the status had ever changed.
        let mut rx = self.status.clone();
        rx.mark_unchanged();
        rx
    }

    /// The SUBACKs of the subscriptions declared in the options
    /// ([`Options::with_subscription`]), in order, once all have arrived (at once if none
    /// was declared). Fails with the first declared SUBSCRIBE that the broker refused
    /// entirely ([`RequestError::SubscribeRefused`]; [`SubscribeAck`] reports partial
    /// refusals), or [`ClientError::Closed`] if the client shut down first. The messages
    /// of declared subscriptions arrive on the catch-all [`Messages`] stream whether this is
    /// awaited or not; they may arrive before the SUBACK (a resumed session's queued
    /// messages do), so read them meanwhile rather than awaiting this first when a session
    /// may hold more than the stream's queue.
    pub async fn declared_subscriptions(&self) -> Result<Vec<SubscribeAck>, ClientError> {
        let mut rx = self.declared.clone();
        let done = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| ClientError::Closed)?;
        match &*done {
            Some(Ok(acks)) => Ok(acks.clone()),
            Some(Err(e)) => Err(ClientError::Request(e.clone())),
            None => Err(ClientError::Closed),
        }
    }

    /// Publish. Waits only for room in the request queue, then returns a
    /// [`PublishHandle`] that resolves when the broker has acknowledged the message (QoS 1:
    /// PUBACK; QoS 2: PUBCOMP) or, for QoS 0, when it has been written to the socket (an
    /// error if the connection ended first: see [`PublishHandle`]).
    /// Dropping the handle does not cancel the publish.
    pub async fn publish(
        &self,
        topic: impl AsRef<str>,
        qos: QoS,
        retain: bool,
        payload: impl Into<Bytes>,
    ) -> Result<PublishHandle, ClientError> {
        let topic = TopicName::new(topic.as_ref())?;
        self.publish_with(PublishRequest::new(topic, qos, payload).retain(retain))
            .await
    }

    /// Publish a request built with [`PublishRequest`] (5.0 properties: message expiry,
    /// content type, response topic, correlation data, user properties...).
    pub async fn publish_with(&self, req: PublishRequest) -> Result<PublishHandle, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Command::Publish(req, tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        Ok(PublishHandle(rx))
    }

    /// Publish without waiting: fails with [`ClientError::QueueFull`] when the request queue
    /// is full.
    pub fn try_publish(
        &self,
        topic: impl AsRef<str>,
        qos: QoS,
        retain: bool,
        payload: impl Into<Bytes>,
    ) -> Result<PublishHandle, ClientError> {
        let topic = TopicName::new(topic.as_ref())?;
        self.try_publish_with(PublishRequest::new(topic, qos, payload).retain(retain))
    }

    /// [`try_publish`](Self::try_publish) with a [`PublishRequest`].
    pub fn try_publish_with(&self, req: PublishRequest) -> Result<PublishHandle, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .try_send(Command::Publish(req, tx))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => ClientError::QueueFull,
                mpsc::error::TrySendError::Closed(_) => ClientError::Closed,
            })?;
        Ok(PublishHandle(rx))
    }

    /// Subscribe to one filter and wait for the SUBACK. The returned [`Subscription`] is a
    /// stream of the messages of this subscription (routed by Subscription Identifier on
    /// 5.0, else by matching the filter); messages it does not take (once dropped) go to the
    /// catch-all [`Messages`]. Fails if the broker refused the filter.
    pub async fn subscribe(
        &self,
        filter: impl AsRef<str>,
        qos: QoS,
    ) -> Result<Subscription, ClientError> {
        let filter = TopicFilter::new(filter.as_ref())?;
        self.subscribe_many(
            vec![SubscribeFilter::new(filter, qos)],
            SubscribeProperties::default(),
        )
        .await
    }

    /// Subscribe to several filters at once, with options (no local, retain handling...) and
    /// properties. Succeeds if at least one filter was granted:
    /// [`Subscription::ack`] has the result of each.
    pub async fn subscribe_many(
        &self,
        filters: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
    ) -> Result<Subscription, ClientError> {
        let (tx, rx) = oneshot::channel();
        let (msg_tx, msg_rx) = mpsc::channel(self.message_queue.max(1));
        self.requests
            .send(Command::Subscribe {
                filters,
                properties,
                messages: Some(msg_tx),
                reply: tx,
            })
            .await
            .map_err(|_| ClientError::Closed)?;
        let ack = rx.await.map_err(|_| ClientError::Closed)??;
        Ok(Subscription {
            ack,
            rx: msg_rx.into(),
            _client: self.clone(),
        })
    }

    /// Unsubscribe and wait for the UNSUBACK. Subscription streams of these filters end
    /// once none of their filters is left.
    pub async fn unsubscribe(
        &self,
        filter: impl AsRef<str>,
    ) -> Result<UnsubscribeAck, ClientError> {
        let filter = TopicFilter::new(filter.as_ref())?;
        self.unsubscribe_many(vec![filter], UnsubscribeProperties::default())
            .await
    }

    /// Unsubscribe from several filters, with properties.
    pub async fn unsubscribe_many(
        &self,
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
    ) -> Result<UnsubscribeAck, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Command::Unsubscribe {
                filters,
                properties,
                reply: tx,
            })
            .await
            .map_err(|_| ClientError::Closed)?;
        Ok(rx.await.map_err(|_| ClientError::Closed)??)
    }

    /// Disconnect cleanly: publishes already queued or in flight have until `timeout` to be
    /// acknowledged, then DISCONNECT goes out (normal disconnection: no will) and every
    /// request still open ends with [`RequestError::Closed`]. Returns when the connection is
    /// closed; it does not wait behind a full request queue. If the connection is lost
    /// meanwhile, the client does not reconnect: it stops there, and the status says why.
    /// Later calls on any handle fail with [`ClientError::Closed`].
    pub async fn disconnect(&self, timeout: Duration) -> Result<(), ClientError> {
        self.disconnect_with(
            timeout,
            Disconnect::new(DisconnectReason::NormalDisconnection),
        )
        .await
    }

    /// [`disconnect`](Self::disconnect) with a 5.0 DISCONNECT of your own (reason code,
    /// Session Expiry Interval, reason string, user properties).
    pub async fn disconnect_with(
        &self,
        timeout: Duration,
        disconnect: Disconnect,
    ) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        let deadline = tokio::time::Instant::now() + timeout;
        self.disconnects
            .send(DisconnectRequest {
                deadline,
                disconnect,
                reply: tx,
            })
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)
    }

    /// A helper for 5.0 request/response: subscribes to `response_topic` and matches replies
    /// to requests by Correlation Data.
    pub async fn requester(&self, response_topic: &str) -> Result<Requester, ClientError> {
        Requester::new(self.clone(), response_topic).await
    }
}

/// Resolves when a publish has ended: `Ok` with the broker's acknowledgement (QoS 0: once
/// written, with reason Success), or an error (refused with a reason code, session lost,
/// shut down). Always resolves.
///
/// A QoS 0 publish is `Ok` only once the write holding it has completed and been flushed
/// to the transport (which says nothing of the broker having read it). If the connection
/// ends before that (the write failed, or did not finish in time while closing), it fails
/// with [`RequestError::NotSent`](mqtt_proto::client::RequestError::NotSent) (as
/// [`ClientError::Request`]): not known to have been written (part of an unfinished write
/// may still have gone out). It is not sent again on the next connection: QoS 0 is at most
/// once, and a late copy could arrive out of order with what was published since. Publish
/// again if it matters. QoS 0 publishes made while disconnected wait in the
/// session and go out on the next connection.
#[derive(Debug)]
#[must_use = "a PublishHandle does nothing unless awaited (the publish goes ahead anyway)"]
pub struct PublishHandle(oneshot::Receiver<Result<PublishAck, RequestError>>);

impl Future for PublishHandle {
    type Output = Result<PublishAck, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(ack))) => Poll::Ready(Ok(ack)),
            Poll::Ready(Ok(Err(e))) => Poll::Ready(Err(ClientError::Request(e))),
            Poll::Ready(Err(_)) => Poll::Ready(Err(ClientError::Closed)),
        }
    }
}

/// The catch-all message stream: every message no live [`Subscription`] takes. Returned by
/// [`Client::connect`]. If it is dropped, such messages are logged and dropped (and
/// acknowledged). If it is not read, the client stops reading the socket when its queue is
/// full (backpressure), so read it or drop it.
#[derive(Debug)]
pub struct Messages {
    rx: MessageRx,
    _client: Option<Client>,
}

/// `recv`, `try_recv` and `Stream` for a message stream type, read from its `rx`
/// ([`MessageRx`]); `$end` says when `recv` returns `None`.
macro_rules! message_stream {
    ($ty:ident, $end:literal) => {
        impl $ty {
            #[doc = concat!("The next message; `None` once ", $end, ".")]
            pub async fn recv(&mut self) -> Option<Message> {
                self.rx.recv().await
            }

            /// The next message if one is waiting.
            pub fn try_recv(&mut self) -> Option<Message> {
                self.rx.try_recv()
            }
        }

        impl futures_core::Stream for $ty {
            type Item = Message;

            fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
                self.rx.poll_recv(cx)
            }
        }
    };
}

message_stream!(Messages, "the client has shut down");

/// The messages of one subscribe call, and its SUBACK. A stream; it ends when its filters
/// are unsubscribed or the client shuts down. Dropping it does not unsubscribe: its
/// messages then go to the catch-all [`Messages`].
#[derive(Debug)]
pub struct Subscription {
    ack: SubscribeAck,
    rx: MessageRx,
    _client: Client,
}

impl Subscription {
    /// The SUBACK: each filter with its granted QoS or failure.
    pub fn ack(&self) -> &SubscribeAck {
        &self.ack
    }
}

message_stream!(Subscription, "the subscription has ended");

type Waiters = Arc<Mutex<HashMap<Bytes, oneshot::Sender<Message>>>>;

/// Request/response over MQTT 5.0 (§4.10): each request carries our Response Topic and a
/// unique Correlation Data; the reply with the same Correlation Data completes it. Made by
/// [`Client::requester`].
#[derive(Debug)]
pub struct Requester {
    client: Client,
    response_topic: TopicName,
    waiters: Waiters,
    task: tokio::task::JoinHandle<()>,
}

/// Correlation Data counter, shared by every [`Requester`] of the process: two requesters
/// on one response topic both see every reply there, so their keys must differ.
static NEXT_CORRELATION: AtomicU64 = AtomicU64::new(1);

/// Removes a waiting request's entry when its `request` call ends, whether answered, failed
/// or cancelled (by the timeout the docs recommend): else every cancelled one stays.
struct WaitGuard<'a> {
    waiters: &'a Waiters,
    key: Bytes,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.waiters.lock() {
            m.remove(&self.key);
        }
    }
}

impl Requester {
    async fn new(client: Client, response_topic: &str) -> Result<Self, ClientError> {
        let topic = TopicName::new(response_topic)?;
        let mut sub = client.subscribe(response_topic, QoS::AtLeastOnce).await?;
        let waiters: Waiters = Arc::default();
        let w = waiters.clone();
        let task = tokio::spawn(async move {
            while let Some(message) = sub.recv().await {
                let Some(key) = message.properties().correlation_data.clone() else {
                    tracing::debug!(topic = message.topic(), "reply without correlation data");
                    continue;
                };
                let waiter = w.lock().ok().and_then(|mut m| m.remove(&key));
                match waiter {
                    Some(tx) => {
                        let _ = tx.send(message);
                    }
                    None => tracing::debug!("reply for no waiting request"),
                }
            }
        });
        Ok(Self {
            client,
            response_topic: topic,
            waiters,
            task,
        })
    }

    /// Send `payload` to `topic` and wait for the reply. Wrap it in a timeout: a responder
    /// that never answers leaves it waiting.
    pub async fn request(
        &self,
        topic: impl AsRef<str>,
        qos: QoS,
        payload: impl Into<Bytes>,
    ) -> Result<Message, ClientError> {
        let topic = TopicName::new(topic.as_ref())?;
        let n = NEXT_CORRELATION.fetch_add(1, Ordering::Relaxed);
        let key = Bytes::from(format!("{}-{n}", self.client.client_id()));
        let (tx, rx) = oneshot::channel();
        if let Ok(mut m) = self.waiters.lock() {
            m.insert(key.clone(), tx);
        }
        let _guard = WaitGuard {
            waiters: &self.waiters,
            key: key.clone(),
        };
        let mut properties = PublishProperties::default();
        properties.response_topic = Some(self.response_topic.clone());
        properties.correlation_data = Some(key);
        let req = PublishRequest::new(topic, qos, payload).properties(properties);
        self.client.publish_with(req).await?.await?;
        rx.await.map_err(|_| ClientError::Closed)
    }
}

impl Drop for Requester {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answer a request received as `request` (5.0): publish `payload` to its Response Topic
/// with its Correlation Data. Returns `Ok(None)` if the request named no response topic.
pub async fn respond(
    client: &Client,
    request: &Message,
    qos: QoS,
    payload: impl Into<Bytes>,
) -> Result<Option<PublishHandle>, ClientError> {
    let props = request.properties();
    let Some(topic) = props.response_topic.clone() else {
        return Ok(None);
    };
    let mut properties = PublishProperties::default();
    properties.correlation_data = props.correlation_data.clone();
    let req = PublishRequest::new(topic, qos, payload).properties(properties);
    client.publish_with(req).await.map(Some)
}
