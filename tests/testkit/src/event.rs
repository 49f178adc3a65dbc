//! What the broker saw, for tests to await instead of sleeping.

use crate::fault::Fault;
use mqtt_proto::{ConnectReason, ProtocolVersion, Publish, SubAckReason, TopicFilter};
use tokio::sync::mpsc;

/// Something the broker saw or did. Events are sent in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A CONNECT was accepted and its CONNACK queued.
    Connected {
        /// The client identifier (the assigned one when the client sent an empty one).
        client_id: String,
        /// The protocol version the client speaks.
        protocol: ProtocolVersion,
        /// The Session Present flag sent back.
        session_present: bool,
    },
    /// A SUBSCRIBE was processed; its SUBACK is queued.
    Subscribed {
        /// The client.
        client_id: String,
        /// Each topic filter with the code sent back for it, in packet order.
        results: Vec<(TopicFilter, SubAckReason)>,
    },
    /// An UNSUBSCRIBE was processed; its UNSUBACK is queued.
    Unsubscribed {
        /// The client.
        client_id: String,
        /// The topic filters, in packet order.
        filters: Vec<TopicFilter>,
    },
    /// A PUBLISH (or a will) was accepted and routed to the matching subscriptions. A QoS 2
    /// duplicate is not reported twice.
    Published {
        /// The client that sent it (for a will, the client it belonged to).
        client_id: String,
        /// The packet as received (for a will: built from it, with packet id 1 standing in
        /// for QoS 1 and 2).
        publish: Publish,
        /// Whether this was the client's will.
        will: bool,
    },
    /// A CONNECT failed authentication (see
    /// [`BrokerBuilder::users`](crate::BrokerBuilder::users)); its refusing CONNACK is queued
    /// and the connection closes ([`CloseReason::Refused`]).
    AuthenticationFailed {
        /// The client identifier the CONNECT carried (empty if it carried none).
        client_id: String,
        /// The user name it carried, if any.
        username: Option<String>,
        /// The code sent back (5.0 form; 3.x clients get the matching return code).
        reason: ConnectReason,
    },
    /// A subscription was refused by a deny pattern (see
    /// [`BrokerBuilder::deny_subscribe`](crate::BrokerBuilder::deny_subscribe)); reported
    /// before the [`Event::Subscribed`] of its SUBSCRIBE, which lists it with its failure code.
    SubscribeDenied {
        /// The client.
        client_id: String,
        /// The refused filter.
        filter: TopicFilter,
    },
    /// A PUBLISH was refused by a deny pattern (see
    /// [`BrokerBuilder::deny_publish`](crate::BrokerBuilder::deny_publish)) and not routed.
    PublishDenied {
        /// The client.
        client_id: String,
        /// The packet as received.
        publish: Publish,
    },
    /// A message for this client was dropped because its session queue was full (see
    /// [`BrokerBuilder::max_queued_messages`](crate::BrokerBuilder::max_queued_messages)).
    MessageDropped {
        /// The client whose queue was full.
        client_id: String,
        /// The message.
        publish: Publish,
    },
    /// A persistent session expired while its client was away (5.0 Session Expiry
    /// Interval) and was discarded; a will still waiting for its delay was published first.
    SessionExpired {
        /// The client whose session it was.
        client_id: String,
    },
    /// A fault rule fired (see [`Broker::faults`](crate::Broker::faults)); sent before
    /// its effect is on the wire.
    FaultFired {
        /// The client it was armed for.
        client_id: String,
        /// The rule.
        fault: Fault,
    },
    /// A connection ended.
    Disconnected {
        /// The client identifier, if the connection got as far as a CONNECT.
        client_id: Option<String>,
        /// Why it ended.
        reason: CloseReason,
    },
}

/// Why a connection ended, and who ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent DISCONNECT (5.0: with a reason other than Disconnect with Will).
    ClientDisconnect,
    /// The client sent a 5.0 DISCONNECT with reason Disconnect with Will Message.
    ClientDisconnectWithWill,
    /// The socket was closed or failed without a DISCONNECT.
    ConnectionLost,
    /// Nothing was received for 1.5 times the keep alive.
    KeepAliveTimeout,
    /// No CONNECT arrived in time.
    ConnectTimeout,
    /// A half-received packet did not complete within the packet timeout (see
    /// [`BrokerBuilder::packet_timeout`](crate::BrokerBuilder::packet_timeout)).
    PacketTimeout,
    /// The client broke a rule of the protocol; the text names it.
    ProtocolViolation(String),
    /// The CONNECT was refused with this code.
    Refused(ConnectReason),
    /// Another connection took over the client identifier.
    TakenOver,
    /// The broker was shut down.
    Shutdown,
    /// A fault rule closed the connection ([`Event::FaultFired`] says which).
    Fault,
    /// The client went beyond a limit of this broker (the text names it), such as
    /// [`BrokerBuilder::max_topic_levels`](crate::BrokerBuilder::max_topic_levels).
    LimitExceeded(String),
}

impl CloseReason {
    /// Whether the client's will is published after a close for this reason.
    pub(crate) fn publishes_will(&self) -> bool {
        !matches!(self, Self::ClientDisconnect | Self::Shutdown)
    }
}

/// A receiver of broker [`Event`]s, from [`Broker::events`](crate::Broker::events).
#[derive(Debug)]
pub struct Events {
    pub(crate) rx: mpsc::UnboundedReceiver<Event>,
}

impl Events {
    /// The next event; `None` once the broker is gone.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// Skip events until one satisfies `pred`, and return it; `None` once the broker is gone.
    pub async fn wait_for(&mut self, mut pred: impl FnMut(&Event) -> bool) -> Option<Event> {
        while let Some(event) = self.rx.recv().await {
            if pred(&event) {
                return Some(event);
            }
        }
        None
    }

    /// An event already received, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}
