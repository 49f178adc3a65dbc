//! A scripted server and a virtual clock for the client state machine, in the manner of
//! quinn-proto's test harness.
//!
//! The [`Harness`] plays the driver (it polls the client after every input, as
//! `mqtt-client` does) and the server (tests script every packet it sends with
//! [`Harness::send`] and read every packet the client wrote with [`Harness::recv`]). Time is
//! an [`Instant`] the test moves with [`Harness::advance`]: nothing sleeps, nothing opens a
//! socket, and every run is the same.

use std::num::{NonZeroU16, NonZeroU32};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mqtt_proto::client::{
    ClientOptions, ClientState, ConnectionError, ConnectionState, Event, PublishRequest, RequestId,
};
use mqtt_proto::{
    ConnAck, ConnAckProperties, Connect, ConnectReason, DecodeError, Decoder, DisconnectReason,
    Packet, PacketId, ProtocolVersion, PubAck, Publish, QoS, QosPid, SubscribeFilter, TopicFilter,
    TopicName,
};

pub(crate) const V5: ProtocolVersion = ProtocolVersion::V5;
pub(crate) const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
/// The versions whose behaviour is checked where 3.1.1 and 5.0 share it.
pub(crate) const BOTH: [ProtocolVersion; 2] = [V311, V5];

/// A client under test, the server's end of its transport, and the clock.
pub(crate) struct Harness {
    /// The state machine under test: call its commands directly.
    pub(crate) client: ClientState,
    /// The virtual clock.
    pub(crate) now: Instant,
    version: ProtocolVersion,
    /// The server's decoder for the current connection.
    decoder: Decoder,
    /// Bytes the client wrote that the server has not read yet.
    to_server: BytesMut,
    /// Bytes the server wrote that the client has not consumed yet (a partial packet).
    to_client: BytesMut,
    /// The properties of the CONNACK that [`Harness::reconnect`] sends (an authentication
    /// method, for instance).
    pub(crate) reconnect_properties: ConnAckProperties,
}

impl Harness {
    /// A client with these options, not connected.
    pub(crate) fn new(opts: ClientOptions) -> Self {
        let version = opts.protocol;
        Self {
            client: ClientState::new(opts),
            now: Instant::now(),
            version,
            decoder: server_decoder(version),
            to_server: BytesMut::new(),
            to_client: BytesMut::new(),
            reconnect_properties: ConnAckProperties::default(),
        }
    }

    /// A client that sent CONNECT and got CONNACK (session present 0, success, no
    /// properties); its events are drained.
    pub(crate) fn connected(opts: ClientOptions) -> Self {
        Self::connected_with(opts, connack(false))
    }

    /// A client that sent CONNECT and got this (accepting) CONNACK; its events are drained.
    pub(crate) fn connected_with(opts: ClientOptions, ack: ConnAck) -> Self {
        let mut h = Self::new(opts);
        h.open();
        let events = h.accept(ack);
        assert!(
            matches!(events.first(), Some(Event::Connected(_))),
            "expected Connected, got {events:?}"
        );
        h
    }

    /// A new transport: the client connects and the server reads its CONNECT.
    pub(crate) fn open(&mut self) -> Connect {
        self.to_server.clear();
        self.to_client.clear();
        self.decoder = server_decoder(self.version);
        self.client.connect(self.now);
        match self.recv_one() {
            Packet::Connect(c) => *c,
            other => panic!("expected CONNECT, got {other:?}"),
        }
    }

    /// The server answers CONNECT with `ack`; returns the events that follow.
    pub(crate) fn accept(&mut self, ack: ConnAck) -> Vec<Event> {
        self.send(ack);
        self.events()
    }

    /// A new transport and an accepting CONNACK with this session present flag; returns the
    /// events of the new connection (the first is `Connected`). Events still queued from the
    /// previous connection are discarded.
    pub(crate) fn reconnect(&mut self, session_present: bool) -> Vec<Event> {
        let _ = self.events();
        self.open();
        let mut ack = connack(session_present);
        ack.properties = self.reconnect_properties.clone();
        let events = self.accept(ack);
        let connected: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Connected(c) => Some(c.session_present),
                _ => None,
            })
            .collect();
        assert_eq!(
            connected,
            [session_present],
            "expected Connected, got {events:?}"
        );
        events
    }

    /// The server writes `packet`; the client reads it (and is polled, as a driver would).
    pub(crate) fn send(&mut self, packet: impl Into<Packet>) {
        let packet = packet.into();
        let mut buf = BytesMut::new();
        packet
            .encode(self.version, &mut buf)
            .unwrap_or_else(|e| panic!("the scripted server cannot encode {packet:?}: {e}"));
        self.send_bytes(&buf);
    }

    /// The server writes raw bytes (malformed packets, partial packets...).
    pub(crate) fn send_bytes(&mut self, bytes: &[u8]) {
        self.to_client.extend_from_slice(bytes);
        self.client.handle_read(self.now, &mut self.to_client);
        self.pump();
    }

    /// The driver's write step: whatever the client has to send goes onto the wire.
    pub(crate) fn pump(&mut self) {
        while self.client.poll_transmit(self.now, &mut self.to_server) > 0 {}
    }

    /// Every packet the client wrote since the last call, decoded by the server.
    pub(crate) fn recv(&mut self) -> Vec<Packet> {
        self.pump();
        let mut packets = Vec::new();
        loop {
            match self.decoder.decode(&mut self.to_server) {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => break,
                Err(e) => panic!("the client wrote a malformed packet: {e}; so far {packets:?}"),
            }
        }
        assert!(
            self.to_server.is_empty(),
            "the client wrote a partial packet: {:?}",
            &self.to_server[..]
        );
        packets
    }

    /// Exactly one packet the client wrote.
    #[track_caller]
    pub(crate) fn recv_one(&mut self) -> Packet {
        let mut packets = self.recv();
        assert_eq!(packets.len(), 1, "expected one packet, got {packets:?}");
        packets.remove(0)
    }

    /// Exactly one PUBLISH the client wrote.
    #[track_caller]
    pub(crate) fn recv_publish(&mut self) -> Publish {
        match self.recv_one() {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Assert the client wrote nothing.
    #[track_caller]
    pub(crate) fn recv_nothing(&mut self) {
        let packets = self.recv();
        assert!(packets.is_empty(), "expected nothing, got {packets:?}");
    }

    /// Move the clock by `d`, firing every timer that falls due on the way at its deadline
    /// (and polling the client after each, as a driver would).
    pub(crate) fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        self.pump();
        let mut fired = 0;
        while let Some(t) = self.client.poll_timeout() {
            if t > target {
                break;
            }
            fired += 1;
            assert!(fired < 10_000, "the timer does not move on: stuck at {t:?}");
            self.now = self.now.max(t);
            self.client.handle_timeout(self.now);
            self.pump();
        }
        self.now = target;
    }

    /// Every event queued (after polling transmit first, as the documented order asks).
    pub(crate) fn events(&mut self) -> Vec<Event> {
        self.pump();
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    /// The transport dies: the client is told, and bytes in flight either way are lost.
    /// Returns the events that follow.
    pub(crate) fn drop_transport(&mut self) -> Vec<Event> {
        self.client.handle_transport_closed(self.now);
        let events = self.events();
        self.to_server.clear();
        self.to_client.clear();
        events
    }

    /// The one `Disconnected` event among the queued ones (the others are dropped).
    #[track_caller]
    pub(crate) fn expect_disconnected(&mut self) -> ConnectionError {
        let events = self.events();
        let mut errors = events.iter().filter_map(|e| match e {
            Event::Disconnected(e) => Some(e.clone()),
            _ => None,
        });
        let error = errors
            .next()
            .unwrap_or_else(|| panic!("expected Disconnected, got {events:?}"));
        assert!(
            errors.next().is_none(),
            "two Disconnected events: {events:?}"
        );
        assert_eq!(self.client.state(), ConnectionState::Disconnected);
        error
    }

    /// The connection just failed: the client reports `error`, writes (5.0) a DISCONNECT with
    /// `reason` and nothing else, and its next connection works.
    #[track_caller]
    pub(crate) fn assert_closed_by_client(
        &mut self,
        error: &ConnectionError,
        reason: DisconnectReason,
    ) {
        assert_eq!(&self.expect_disconnected(), error);
        let packets = self.recv();
        if self.version.is_v5() {
            assert_eq!(packets.len(), 1, "expected one DISCONNECT, got {packets:?}");
            let Packet::Disconnect(d) = &packets[0] else {
                panic!("expected DISCONNECT, got {packets:?}");
            };
            assert_eq!(d.reason, reason, "DISCONNECT reason code");
        } else {
            assert!(
                packets.is_empty(),
                "3.1.1 closes without a word: {packets:?}"
            );
        }
        // Bytes that arrive on a dead connection are ignored.
        self.send_bytes(&[0xFF, 0xFF]);
        self.recv_nothing();
        assert!(self.events().is_empty());
        self.assert_next_connection_healthy();
    }

    /// Reconnect (no session on the server) and run a QoS 1 exchange both ways.
    #[track_caller]
    pub(crate) fn assert_next_connection_healthy(&mut self) {
        let _ = self.drop_transport();
        let events = self.reconnect(false);
        // Whatever the session held is resolved by the session-loss policy; only the new
        // exchange matters here.
        let _ = events;
        let drained: Vec<Packet> = self.recv();
        // Republished requests of the old session: acknowledge them so they do not linger.
        for p in drained {
            if let Packet::Publish(p) = p
                && let QosPid::AtLeastOnce(id) = p.qos
            {
                self.send(PubAck::new(id));
            }
        }
        let _ = self.events();
        let id = self
            .client
            .publish(PublishRequest::new(topic("health"), QoS::AtLeastOnce, "ok"))
            .expect("publish on a healthy connection");
        let p = self.recv_publish();
        assert_eq!(p.topic.as_str(), "health");
        assert!(!p.dup);
        let pid = p.qos.packet_id().expect("QoS 1 has a packet id");
        self.send(PubAck::new(pid));
        let events = self.events();
        assert!(
            matches!(&events[..], [Event::Published { id: got, result: Ok(_) }] if *got == id),
            "expected the publish to complete, got {events:?}"
        );
        self.send(Publish::new(
            topic("health/in"),
            QosPid::AtLeastOnce(pid_of(7)),
            "in",
        ));
        let events = self.events();
        let token = match &events[..] {
            [Event::Message(m)] if m.publish.topic.as_str() == "health/in" => m.ack,
            _ => panic!("expected the inbound message, got {events:?}"),
        };
        if let Some(token) = token {
            self.client.ack(token);
        }
        assert_eq!(self.recv(), vec![PubAck::new(pid_of(7)).into()]);
        assert_eq!(self.client.state(), ConnectionState::Connected);
    }

    /// Publish and return the request id (panics if refused at once).
    #[track_caller]
    pub(crate) fn publish(
        &mut self,
        topic_name: &str,
        qos: QoS,
        payload: &'static str,
    ) -> RequestId {
        self.client
            .publish(PublishRequest::new(topic(topic_name), qos, payload))
            .unwrap_or_else(|e| panic!("publish refused at once: {e}"))
    }
}

/// The server's decoder: no size limit but the protocol's.
fn server_decoder(version: ProtocolVersion) -> Decoder {
    Decoder::new(version).with_max_packet_size(NonZeroU32::MAX)
}

/// An accepting CONNACK.
pub(crate) fn connack(session_present: bool) -> ConnAck {
    ConnAck::new(session_present, ConnectReason::Success)
}

/// A topic name.
#[track_caller]
pub(crate) fn topic(s: &str) -> TopicName {
    TopicName::new(s).expect("valid topic name")
}

/// A topic filter.
#[track_caller]
pub(crate) fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).expect("valid topic filter")
}

/// A subscription to `s` at `qos`.
#[track_caller]
pub(crate) fn sub(s: &str, qos: QoS) -> SubscribeFilter {
    SubscribeFilter::new(filter(s), qos)
}

/// A packet identifier.
#[track_caller]
pub(crate) fn pid_of(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero packet id")
}

/// A non-zero u16.
#[track_caller]
pub(crate) fn nz16(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("non-zero")
}

/// A non-zero u32.
#[track_caller]
pub(crate) fn nz32(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).expect("non-zero")
}

/// An inbound PUBLISH as the server sends it.
pub(crate) fn inbound(topic_name: &str, qos: QosPid, payload: &'static str) -> Publish {
    Publish::new(
        topic(topic_name),
        qos,
        Bytes::from_static(payload.as_bytes()),
    )
}

/// The options most tests use: clean start, keepalive 60 s.
pub(crate) fn opts(version: ProtocolVersion) -> ClientOptions {
    ClientOptions::new(version, "c")
}

/// The packet identifier of a PUBLISH the client sent (QoS 1 or 2).
#[track_caller]
pub(crate) fn pid(p: &Publish) -> PacketId {
    p.qos.packet_id().expect("QoS 1 or 2 PUBLISH")
}

/// The `Published` results among `events`, in order.
pub(crate) fn published(events: &[Event]) -> Vec<(RequestId, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Published { id, result } => Some((*id, result.is_ok())),
            _ => None,
        })
        .collect()
}

/// The decode error a malformed packet ends the connection with.
pub(crate) fn decode_error(e: DecodeError) -> ConnectionError {
    ConnectionError::Decode(e)
}
