//! What a [`Client`](crate::Client) handle sends to its connection task: requests
//! ([`Command`], over the bounded request channel) and disconnects ([`DisconnectRequest`],
//! over their own unbounded channel, so that a disconnect never waits behind a full request
//! queue). A leaf: the handle that sends these and the task that takes them both import it.

use mqtt_proto::client::{PublishAck, PublishRequest, RequestError, SubscribeAck, UnsubscribeAck};
use mqtt_proto::{
    Disconnect, SubscribeFilter, SubscribeProperties, TopicFilter, UnsubscribeProperties,
};
use tokio::sync::{mpsc, oneshot};

use crate::message::Message;

/// Where the result of a publish goes: the [`PublishHandle`](crate::PublishHandle).
pub(crate) type PublishReply = oneshot::Sender<Result<PublishAck, RequestError>>;
/// Where the result of a subscribe goes.
pub(crate) type SubscribeReply = oneshot::Sender<Result<SubscribeAck, RequestError>>;
/// Where the result of an unsubscribe goes.
pub(crate) type UnsubscribeReply = oneshot::Sender<Result<UnsubscribeAck, RequestError>>;

/// A request from a [`Client`](crate::Client) handle.
pub(crate) enum Command {
    Publish(PublishRequest, PublishReply),
    Subscribe {
        filters: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
        /// The subscription's own stream; `None`: the catch-all (a subscription declared
        /// in [`Options::subscriptions`](crate::Options::subscriptions)).
        messages: Option<mpsc::Sender<Message>>,
        reply: SubscribeReply,
    },
    Unsubscribe {
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
        reply: UnsubscribeReply,
    },
}

impl Command {
    /// End the request unmade: the client has shut down.
    pub(crate) fn reject(self) {
        match self {
            Self::Publish(_, reply) => {
                let _ = reply.send(Err(RequestError::Closed));
            }
            Self::Subscribe { reply, .. } => {
                let _ = reply.send(Err(RequestError::Closed));
            }
            Self::Unsubscribe { reply, .. } => {
                let _ = reply.send(Err(RequestError::Closed));
            }
        }
    }
}

/// [`Client::disconnect_with`](crate::Client::disconnect_with): drain until `deadline`,
/// then send `disconnect`; `reply` once the connection is closed.
pub(crate) struct DisconnectRequest {
    pub(crate) deadline: tokio::time::Instant,
    pub(crate) disconnect: Disconnect,
    pub(crate) reply: oneshot::Sender<()>,
}
