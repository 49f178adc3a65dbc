//! What the application asks of a client session: the CONNECT it sends and the policies the
//! state machine follows.

use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;

use crate::codec::DEFAULT_DECODER_MAX_PACKET_SIZE;
use crate::packet::Will;
use crate::packet::property::{ConnectProperties, UserProperty};
use crate::types::ProtocolVersion;

/// Options of a client session. Build with [`ClientOptions::new`] and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The protocol version.
    pub protocol: ProtocolVersion,
    /// The client identifier; empty asks the server to assign one (5.0 reports it; 3.1.1
    /// needs `clean_start`).
    pub client_id: ByteString,
    /// Clean Session (3.1.1) / Clean Start (5.0) for the first connection. Later connections
    /// of the same session ask to resume it (clean start 0) on 5.0, and repeat this value on
    /// 3.1 and 3.1.1, where a clean session ends with its connection.
    pub clean_start: bool,
    /// Keep Alive sent in CONNECT; zero turns keepalive off. The server's Server Keep Alive
    /// replaces it on 5.0 [MQTT-3.2.2-21].
    pub keep_alive: Duration,
    /// How long to wait for PINGRESP (or any packet) after a PINGREQ before closing the
    /// connection with a keepalive error.
    pub ping_timeout: Duration,
    /// How long to wait for CONNACK after CONNECT.
    pub connect_timeout: Duration,
    /// The will message.
    pub will: Option<Will>,
    /// User name.
    pub username: Option<ByteString>,
    /// Password.
    pub password: Option<Bytes>,
    /// Session Expiry Interval (5.0), seconds; `u32::MAX` means never.
    pub session_expiry_interval: u32,
    /// Receive Maximum we announce (5.0): how many inbound QoS 1 and 2 messages may be
    /// unacknowledged at once.
    pub receive_maximum: NonZeroU16,
    /// The largest packet we accept (announced on 5.0); larger inbound packets are refused
    /// from their fixed header.
    pub max_packet_size: NonZeroU32,
    /// Topic Alias Maximum we announce (5.0): inbound aliases accepted. 0 refuses them.
    pub topic_alias_maximum: u16,
    /// Request Response Information (5.0).
    pub request_response_information: bool,
    /// Request Problem Information (5.0); `None` leaves the server's default (true).
    pub request_problem_information: Option<bool>,
    /// CONNECT user properties (5.0).
    pub user_properties: Vec<UserProperty>,
    /// Our limit on outbound QoS 1 and 2 messages awaiting acknowledgement. The server's
    /// Receive Maximum, if lower, wins.
    pub max_inflight: NonZeroU16,
    /// Assign outbound topic aliases automatically when the server allows them (5.0),
    /// least recently used first.
    pub outbound_topic_aliases: bool,
    /// Restore subscriptions when the server has no session for us (results reported as
    /// [`Event::Resubscribed`](crate::client::Event::Resubscribed)).
    pub resubscribe: bool,
    /// Acknowledge inbound QoS 1 and 2 messages only when the application calls
    /// [`ClientState::ack`](crate::client::ClientState::ack). The application must then ack
    /// every message that carries an [`AckToken`](crate::client::AckToken): acknowledgements go
    /// out in arrival order [MQTT-4.6.0-2], so one message never acked holds back the ones
    /// after it, and holds a Receive Maximum slot [MQTT-4.5.0-2].
    pub manual_acks: bool,
    /// What to do with unacknowledged publishes when the server has lost our session.
    pub session_loss: SessionLossPolicy,
    /// Record the changes a durable session store needs
    /// ([`ClientState::poll_persist`](crate::client::ClientState::poll_persist)). Off by
    /// default: then nothing is recorded, cloned or kept, as before stores existed.
    pub persist: bool,
}

/// What happens to unacknowledged QoS 1 and 2 publishes when a reconnection finds that the
/// server no longer has our session (CONNACK session present 0 while we hold state)
/// [MQTT-3.2.2-5].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionLossPolicy {
    /// QoS 1 (default [`LostPublish::Republish`]: at least once still holds).
    pub qos1: LostPublish,
    /// QoS 2 (default [`LostPublish::Fail`]: republishing could deliver twice, so the
    /// request ends with [`RequestError::SessionLost`](crate::client::RequestError) unless
    /// the application chose otherwise).
    pub qos2: LostPublish,
}

impl Default for SessionLossPolicy {
    fn default() -> Self {
        Self {
            qos1: LostPublish::Republish,
            qos2: LostPublish::Fail,
        }
    }
}

/// The fate of one publish lost with its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostPublish {
    /// Publish it again as a new message (new packet identifier, DUP clear).
    Republish,
    /// End its request with [`RequestError::SessionLost`](crate::client::RequestError).
    Fail,
}

impl ClientOptions {
    /// Options with defaults that do not bite: clean start, keepalive 60 s, ping timeout
    /// 10 s, connect timeout 30 s, 16 MiB packets, 100 inflight, resubscribe on.
    pub fn new(protocol: ProtocolVersion, client_id: impl Into<ByteString>) -> Self {
        Self {
            protocol,
            client_id: client_id.into(),
            clean_start: true,
            keep_alive: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(30),
            will: None,
            username: None,
            password: None,
            session_expiry_interval: 0,
            receive_maximum: NonZeroU16::MAX,
            max_packet_size: NonZeroU32::new(DEFAULT_DECODER_MAX_PACKET_SIZE)
                .unwrap_or(NonZeroU32::MAX),
            topic_alias_maximum: 0,
            request_response_information: false,
            request_problem_information: None,
            user_properties: Vec::new(),
            max_inflight: NonZeroU16::new(100).unwrap_or(NonZeroU16::MAX),
            outbound_topic_aliases: false,
            resubscribe: true,
            manual_acks: false,
            session_loss: SessionLossPolicy::default(),
            persist: false,
        }
    }

    /// The CONNECT properties these options announce (5.0).
    pub(crate) fn connect_properties(&self) -> ConnectProperties {
        let mut p = ConnectProperties::default();
        if self.session_expiry_interval != 0 {
            p.session_expiry_interval = Some(self.session_expiry_interval);
        }
        if self.receive_maximum != NonZeroU16::MAX {
            p.receive_maximum = Some(self.receive_maximum);
        }
        p.maximum_packet_size = Some(self.max_packet_size);
        if self.topic_alias_maximum != 0 {
            p.topic_alias_maximum = Some(self.topic_alias_maximum);
        }
        if self.request_response_information {
            p.request_response_information = Some(true);
        }
        p.request_problem_information = self.request_problem_information;
        p.user_properties.clone_from(&self.user_properties);
        p
    }
}
