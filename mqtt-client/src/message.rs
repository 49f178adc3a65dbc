//! An inbound application message ([`Message`]) and the receiving end of a message stream
//! ([`MessageRx`]). A leaf: the routing that sends messages and the streams that hand them
//! out both import it.

use std::task::{Context, Poll};

use bytes::Bytes;
use mqtt_proto::client::AckToken;
use mqtt_proto::{Publish, PublishProperties, QoS};
use tokio::sync::mpsc;

/// An inbound application message.
#[derive(Debug)]
pub struct Message {
    pub(crate) publish: Publish,
    pub(crate) ack: Option<(AckToken, mpsc::UnboundedSender<AckToken>)>,
}

impl Message {
    /// The topic.
    pub fn topic(&self) -> &str {
        self.publish.topic.as_str()
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.publish.payload
    }

    /// The QoS it was delivered at.
    pub fn qos(&self) -> QoS {
        self.publish.qos.qos()
    }

    /// RETAIN: a retained message sent on subscribe (or, with retain-as-published, as
    /// published).
    pub fn retain(&self) -> bool {
        self.publish.retain
    }

    /// DUP: the broker may have sent it before.
    pub fn dup(&self) -> bool {
        self.publish.dup
    }

    /// The 5.0 properties (empty on 3.1.1).
    pub fn properties(&self) -> &PublishProperties {
        self.publish.properties()
    }

    /// The PUBLISH packet itself.
    pub fn publish(&self) -> &Publish {
        &self.publish
    }

    /// Take the PUBLISH packet.
    pub fn into_publish(self) -> Publish {
        self.publish
    }

    /// With manual acknowledgements ([`Options::with_manual_acks`](crate::Options::with_manual_acks)):
    /// whether this message still owes an acknowledgement.
    pub fn needs_ack(&self) -> bool {
        self.ack.is_some()
    }

    /// With manual acknowledgements: acknowledge this message (PUBACK, or PUBREC for QoS 2).
    /// Acknowledgements go out in the order messages arrived [MQTT-4.6.0-2], whatever the
    /// order of these calls, so a message never acknowledged holds back the ones after it.
    /// A message dropped without `ack` is not acknowledged: the broker sends it again on the
    /// next connection. Does nothing without manual acks, or when called twice.
    pub fn ack(&mut self) {
        if let Some((token, tx)) = self.ack.take() {
            // The connection task may be gone: then there is nobody to acknowledge to.
            let _ = tx.send(token);
        }
    }
}

/// Messages taken from the channel at once by [`MessageRx`].
const RECV_BATCH: usize = 32;

/// The receiving end of a message stream. It takes what the channel holds in batches (the
/// channel's permits are released once per batch, not once per message) and hands the
/// messages out one by one, in order. Only a receive in progress takes a batch, so a stream
/// that is not read holds no more than its queue.
#[derive(Debug)]
pub(crate) struct MessageRx {
    rx: mpsc::Receiver<Message>,
    /// Taken from the channel, not yet handed out, in reverse order: the next is the last.
    buf: Vec<Message>,
}

impl From<mpsc::Receiver<Message>> for MessageRx {
    fn from(rx: mpsc::Receiver<Message>) -> Self {
        Self {
            rx,
            buf: Vec::new(),
        }
    }
}

impl MessageRx {
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        if let Some(m) = self.buf.pop() {
            return Poll::Ready(Some(m));
        }
        match self.rx.poll_recv_many(cx, &mut self.buf, RECV_BATCH) {
            Poll::Ready(0) => Poll::Ready(None),
            Poll::Ready(_) => {
                self.buf.reverse();
                Poll::Ready(self.buf.pop())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    pub(crate) async fn recv(&mut self) -> Option<Message> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    pub(crate) fn try_recv(&mut self) -> Option<Message> {
        self.buf.pop().or_else(|| self.rx.try_recv().ok())
    }
}
