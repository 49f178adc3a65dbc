//! What the rules know of one connection ([`Link`]) and what they answer ([`Reply`]): the
//! vocabulary every handler shares. Handlers import this file; it imports none of them.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU16;
use std::time::Duration;

use mqtt_proto::{DisconnectReason, Packet, PacketId, ProtocolVersion, Publish, TopicName, Will};
use tokio::sync::mpsc;

use crate::event::CloseReason;
use crate::peer::Peer;
use crate::session::{ConnCmd, ConnHandle};
use crate::state::State;

/// What the client negotiated in its CONNECT.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) version: ProtocolVersion,
    /// 1.5 × the keep alive [MQTT-3.1.2-24]; `None` when the client sent 0.
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) will: Option<Will>,
    /// Seconds the session outlives the connection (CONNECT, or DISCONNECT on 5.0);
    /// `u32::MAX`: never expires (also 3.x clean session 0).
    pub(crate) session_expiry: u32,
    /// The user name the CONNECT carried (authenticated, if users are configured), for
    /// per-user deny lists.
    pub(crate) username: Option<String>,
}

/// One connection as the rules see it: who it is, what its CONNECT negotiated, and the
/// protocol state that lives as long as the connection (not the session). The connection
/// task owns it and lends it to the handlers with each packet.
#[derive(Debug)]
pub(crate) struct Link {
    /// The connection's number (unique in this broker).
    pub(crate) id: u64,
    pub(crate) peer: Peer,
    /// How the state reaches this connection (messages queued, takeover, faults).
    pub(crate) tx: mpsc::UnboundedSender<ConnCmd>,
    /// Set once a CONNECT is accepted.
    pub(crate) client: Option<Client>,
    /// The Topic Alias Maximum announced to this (5.0) client; 0: none.
    pub(crate) topic_alias_maximum: u16,
    /// Inbound topic aliases of this connection.
    pub(crate) topic_aliases: HashMap<u16, TopicName>,
    /// The Receive Maximum held against this (5.0) client; 0: none (3.x).
    pub(crate) receive_maximum: u16,
    /// Inbound QoS 2 packet ids received on this connection whose PUBCOMP is not sent yet:
    /// they count against the Receive Maximum (a QoS 1 PUBLISH is acknowledged at once).
    pub(crate) inbound_unacked: HashSet<PacketId>,
    /// Topic aliases the broker assigns to outbound PUBLISHes on this connection.
    pub(crate) out_aliases: OutAliases,
}

impl Link {
    pub(crate) fn new(id: u64, peer: Peer, tx: mpsc::UnboundedSender<ConnCmd>) -> Self {
        Self {
            id,
            peer,
            tx,
            client: None,
            topic_alias_maximum: 0,
            topic_aliases: HashMap::new(),
            receive_maximum: 0,
            inbound_unacked: HashSet::new(),
            out_aliases: OutAliases::default(),
        }
    }

    /// The handle the session keeps of this connection.
    pub(crate) fn handle(&self) -> ConnHandle {
        ConnHandle {
            id: self.id,
            tx: self.tx.clone(),
        }
    }

    pub(crate) fn client_id(&self) -> Option<&str> {
        self.client.as_ref().map(|c| c.id.as_str())
    }

    /// The user name of the client's CONNECT, if any.
    pub(crate) fn username(&self) -> Option<&str> {
        self.client.as_ref().and_then(|c| c.username.as_deref())
    }

    pub(crate) fn is_v5(&self) -> bool {
        self.client.as_ref().is_some_and(|c| c.version.is_v5())
    }

    /// The client identifier, if this connection still owns its session (it was not
    /// taken over): what most handlers need before they touch the session.
    pub(crate) fn owner(&self, state: &State) -> Option<&str> {
        self.client_id().filter(|id| state.owns(id, self.id))
    }

    /// Log a protocol violation naming the rule.
    pub(crate) fn violation(&self, what: &str, rule: &str) {
        tracing::warn!(
            conn = self.id,
            peer = %self.peer,
            client_id = self.client_id().unwrap_or("-"),
            rule,
            "protocol violation: {what}"
        );
    }

    /// Close over a protocol violation: 5.0 clients get a DISCONNECT with `code` first.
    pub(crate) fn protocol_close(&self, what: &str, rule: &str, code: DisconnectReason) -> Close {
        self.violation(what, rule);
        let reason = CloseReason::ProtocolViolation(format!("{what} [{rule}]"));
        self.close_with(reason, code)
    }

    /// Close for a limit of this broker (not a rule of the protocol) the client went
    /// beyond: logged, DISCONNECT with `code` on 5.0.
    pub(crate) fn limit_close(&self, what: &str, code: DisconnectReason) -> Close {
        tracing::warn!(
            conn = self.id,
            peer = %self.peer,
            client_id = self.client_id().unwrap_or("-"),
            "{what}: closing"
        );
        self.close_with(CloseReason::LimitExceeded(what.to_owned()), code)
    }

    /// Close for `reason`, with a DISCONNECT carrying `code` if the client speaks 5.0.
    pub(crate) fn close_with(&self, reason: CloseReason, code: DisconnectReason) -> Close {
        if self.is_v5() {
            Close::with_disconnect(reason, code)
        } else {
            Close::new(reason)
        }
    }
}

/// How a connection ends: the reason, and the 5.0 DISCONNECT to send first, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Close {
    pub(crate) reason: CloseReason,
    pub(crate) disconnect: Option<DisconnectReason>,
}

impl Close {
    pub(crate) fn new(reason: CloseReason) -> Self {
        Self {
            reason,
            disconnect: None,
        }
    }

    pub(crate) fn with_disconnect(reason: CloseReason, code: DisconnectReason) -> Self {
        Self {
            reason,
            disconnect: Some(code),
        }
    }
}

/// One thing for the connection to write, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Out {
    /// This packet.
    Packet(Packet),
    /// What the session may send now ([`super::deliver::take`]): held-back resends, then
    /// queued messages, as the inflight window allows.
    Pending,
}

/// What the rules answer to one input: what to write, in order, then whether to close.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) out: Vec<Out>,
    pub(crate) close: Option<Close>,
}

impl Reply {
    /// Nothing to write; close.
    pub(crate) fn close(close: Close) -> Self {
        Self {
            out: Vec::new(),
            close: Some(close),
        }
    }

    /// Write `packet`.
    pub(crate) fn send(&mut self, packet: impl Into<Packet>) {
        self.out.push(Out::Packet(packet.into()));
    }

    /// Write what the session may send now.
    pub(crate) fn pending(&mut self) {
        self.out.push(Out::Pending);
    }

    /// `self`, then close.
    pub(crate) fn then_close(mut self, close: Close) -> Self {
        self.close = Some(close);
        self
    }

    /// The packets to write, for tests (a pending marker is left out).
    #[cfg(test)]
    pub(crate) fn packets(&self) -> Vec<&Packet> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Out::Packet(p) => Some(p),
                Out::Pending => None,
            })
            .collect()
    }
}

/// Topic aliases the broker assigns to outbound PUBLISHes on one connection, up to the
/// client's Topic Alias Maximum [MQTT-3.3.2-11]: the topic and a new alias the first time,
/// then the alias alone. Aliases start afresh on each connection [MQTT-3.3.2-7].
#[derive(Debug, Default)]
pub(crate) struct OutAliases {
    /// The client's Topic Alias Maximum when the broker assigns aliases to it; 0: none.
    maximum: u16,
    assigned: HashMap<TopicName, NonZeroU16>,
}

impl OutAliases {
    /// Assign aliases to this client, up to `maximum` (0: none).
    pub(crate) fn set_maximum(&mut self, maximum: u16) {
        self.maximum = maximum;
    }

    /// Give an outbound PUBLISH a topic alias, if the broker assigns them to this client:
    /// the topic's alias with an empty topic once it has one, else a new alias with the
    /// topic while the client's maximum allows. Returns a new mapping, to
    /// [`record`](Self::record) once the packet is encoded.
    pub(crate) fn apply(&self, publish: &mut Publish) -> Option<(TopicName, NonZeroU16)> {
        if self.maximum == 0 {
            return None;
        }
        if let Some(&alias) = self.assigned.get(&publish.topic) {
            publish.properties_mut().topic_alias = Some(alias);
            publish.topic = TopicName::alias_only();
            return None;
        }
        // Aliases 1..=maximum, handed out in order and never reused for another topic.
        let next = u16::try_from(self.assigned.len() + 1).ok()?;
        if next > self.maximum {
            return None;
        }
        let alias = NonZeroU16::new(next)?;
        publish.properties_mut().topic_alias = Some(alias);
        Some((publish.topic.clone(), alias))
    }

    /// A new mapping made by [`apply`](Self::apply) is on the wire.
    pub(crate) fn record(&mut self, (topic, alias): (TopicName, NonZeroU16)) {
        self.assigned.insert(topic, alias);
    }
}
