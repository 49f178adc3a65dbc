//! What the application asks for: a publish ([`PublishRequest`]), and the subscribe and
//! unsubscribe requests the session keeps until their acknowledgement.

use bytes::Bytes;

use crate::client::event::RequestId;
use crate::packet::SubscribeFilter;
use crate::packet::property::{PublishProperties, SubscribeProperties, UnsubscribeProperties};
use crate::topic::{TopicFilter, TopicName};
use crate::types::{PacketId, QoS};

/// What the application wants published. Build with [`PublishRequest::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishRequest {
    /// The topic.
    pub topic: TopicName,
    /// The payload.
    pub payload: Bytes,
    /// The QoS.
    pub qos: QoS,
    /// Retain.
    pub retain: bool,
    /// 5.0 properties. A Topic Alias here asks for that alias for this topic (as
    /// `mosquitto_pub -D publish topic-alias N` does): the first PUBLISH that maps it
    /// carries the topic and the alias, later ones an empty topic and the alias. It is used
    /// only when the server allows it (1 to its Topic Alias Maximum [MQTT-3.3.2-9]), else
    /// dropped: the PUBLISH goes with its topic.
    pub properties: Option<Box<PublishProperties>>,
}

impl PublishRequest {
    /// A publish, not retained, no properties.
    pub fn new(topic: TopicName, qos: QoS, payload: impl Into<Bytes>) -> Self {
        Self {
            topic,
            payload: payload.into(),
            qos,
            retain: false,
            properties: None,
        }
    }

    /// Set retain.
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// Set the 5.0 properties.
    pub fn properties(mut self, properties: PublishProperties) -> Self {
        self.properties = (!properties.is_empty()).then(|| Box::new(properties));
        self
    }
}

/// A publish accepted and not yet sent.
#[derive(Debug)]
pub(crate) struct PendingPublish {
    pub(crate) id: RequestId,
    pub(crate) req: PublishRequest,
}

/// A SUBSCRIBE or UNSUBSCRIBE, queued or awaiting its acknowledgement.
#[derive(Debug)]
pub(crate) struct SubRequest {
    pub(crate) origin: Origin,
    /// Allocated when first sent, kept when sent again on a later connection.
    pub(crate) packet_id: Option<PacketId>,
    pub(crate) kind: SubKind,
}

/// Who asked for a subscribe or unsubscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The application, whose request completes with an event naming this id.
    Application(RequestId),
    /// The state machine, restoring subscriptions the server lost
    /// ([`Event::Resubscribed`](crate::client::event::Event::Resubscribed)).
    Resubscription,
}

#[derive(Debug)]
pub(crate) enum SubKind {
    Subscribe(Vec<SubscribeFilter>, SubscribeProperties),
    Unsubscribe(Vec<TopicFilter>, UnsubscribeProperties),
}
