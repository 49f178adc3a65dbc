//! The public handles that arm fault rules on a running broker ([`Faults`],
//! [`ClientFaults`]) and send the immediate ones to a live connection. The rules
//! themselves are in `fault.rs`; the connection applies them (`conn.rs`).

use std::time::Duration;

use bytes::Bytes;
use mqtt_proto::{ConnectReason, DisconnectReason, Packet, PacketType};

use crate::event::Event;
use crate::fault::{Direction, Fault, Scope};
use crate::session::ConnCmd;
use crate::shared::{Shared, lock};
use crate::state::State;

/// Fault injection for a running broker, from [`Broker::faults`](crate::Broker::faults).
#[derive(Debug, Clone)]
pub struct Faults {
    pub(crate) shared: Shared,
}

impl Faults {
    /// Rules for the connections of one client identifier.
    pub fn for_client(&self, client_id: impl Into<String>) -> ClientFaults {
        ClientFaults {
            shared: self.shared.clone(),
            client_id: client_id.into(),
            conn: None,
            fires: Some(1),
        }
    }

    /// Disarm every rule not spent yet (repeating ones and connection ones included).
    pub fn clear(&self) {
        lock(&self.shared).faults.clear();
    }
}

/// Rules for one client identifier. Each applies to that client's connections from now on
/// (the live one, if any, and the next ones) and fires once, then is gone; unless armed
/// through [`ClientFaults::live_connection`] (that connection only), [`ClientFaults::times`]
/// or [`ClientFaults::every_time`].
#[derive(Debug, Clone)]
pub struct ClientFaults {
    shared: Shared,
    client_id: String,
    /// `Some`: rules apply to this connection only.
    conn: Option<u64>,
    /// How many times each rule armed fires; `None`: every time.
    fires: Option<u32>,
}

impl ClientFaults {
    fn scope(&self) -> Scope {
        match self.conn {
            Some(id) => Scope::Conn(id),
            None => Scope::Client(self.client_id.clone()),
        }
    }

    /// The live connection this handle's rules apply to: its own connection, or the
    /// client's current one.
    fn live_tx(&self, state: &State) -> Option<tokio::sync::mpsc::UnboundedSender<ConnCmd>> {
        state
            .sessions
            .get(&self.client_id)
            .and_then(|s| s.conn.as_ref())
            .filter(|c| self.conn.is_none_or(|id| id == c.id))
            .map(|c| c.tx.clone())
    }

    fn arm(&self, fault: Fault) -> &Self {
        let mut state = lock(&self.shared);
        if self.conn.is_some() && self.live_tx(&state).is_none() {
            // Its connection has ended: the rule could never fire.
            return self;
        }
        state.faults.arm(self.scope(), fault, self.fires);
        if let Fault::CloseAfterTime { after } = fault {
            // The live connection starts counting now.
            if let Some(tx) = self.live_tx(&state) {
                let _ = tx.send(ConnCmd::CloseTimer(tokio::time::Instant::now() + after));
            }
        }
        self
    }

    /// A handle whose rules apply to the client's live connection only, and are discarded
    /// when it ends; `None` if the client is not connected. (A rule about CONNECT or
    /// CONNACK never fires there: that connection is past them.)
    pub fn live_connection(&self) -> Option<ClientFaults> {
        let state = lock(&self.shared);
        let id = state
            .sessions
            .get(&self.client_id)
            .and_then(|s| s.conn.as_ref())
            .map(|c| c.id)?;
        Some(ClientFaults {
            conn: Some(id),
            ..self.clone()
        })
    }

    /// A handle whose rules each fire `n` times (0 counts as 1), then are gone. A counting
    /// rule counts afresh after each firing: `times(3).close_after(Direction::In,
    /// PacketType::Publish, 2)` closes after the 2nd, 4th and 6th PUBLISH.
    pub fn times(&self, n: u32) -> ClientFaults {
        ClientFaults {
            fires: Some(n.max(1)),
            ..self.clone()
        }
    }

    /// A handle whose rules fire every time, until [`Faults::clear`] (or, for
    /// [`live_connection`](Self::live_connection) rules, until the connection ends).
    pub fn every_time(&self) -> ClientFaults {
        ClientFaults {
            fires: None,
            ..self.clone()
        }
    }

    /// Close the connection right after the `nth` (1 = next) packet of type `packet` in
    /// `direction`. Received: the packet is processed (a PUBLISH is routed, a PUBREL
    /// releases) but nothing it would cause is sent. Sent: the packet is written, nothing
    /// after it. No DISCONNECT either way; the will is published. An `nth` of 0 counts as 1.
    pub fn close_after(&self, direction: Direction, packet: PacketType, nth: u32) -> &Self {
        self.arm(Fault::CloseAfter {
            direction,
            packet,
            nth,
        })
    }

    /// Do not send the next packet of type `packet` (an acknowledgement, usually). A
    /// withheld PUBLISH stays inflight, as if lost on the way.
    pub fn withhold(&self, packet: PacketType) -> &Self {
        self.arm(Fault::Withhold(packet))
    }

    /// Answer the next CONNECT with a CONNACK carrying `reason`, then close. The session is
    /// not touched. 3.x clients get 0x03 (Server unavailable) for a reason 3.1.1 lacks.
    pub fn refuse_connect(&self, reason: ConnectReason) -> &Self {
        self.arm(Fault::RefuseConnect(reason))
    }

    /// Set Session Present to `present` on the next successful CONNACK, whatever the truth
    /// ([`Event::Connected`] reports the flag sent). The session itself is unchanged.
    pub fn session_present(&self, present: bool) -> &Self {
        self.arm(Fault::SessionPresent(present))
    }

    /// Go silent right after the `nth` (1 = next) packet of type `packet` in `direction`:
    /// the socket stays open and is read, but nothing is processed or answered any more
    /// and keep alive is not enforced (a half-open connection, as seen by the client). It
    /// ends when the client closes it, on a takeover, or at shutdown.
    pub fn go_silent_after(&self, direction: Direction, packet: PacketType, nth: u32) -> &Self {
        self.arm(Fault::GoSilentAfter {
            direction,
            packet,
            nth,
        })
    }

    /// Hold the next outbound packet of type `packet` back for `by`: packets sent after it
    /// overtake it. It is lost if the connection ends first (and, for a PUBLISH, stays
    /// inflight as if lost).
    pub fn delay(&self, packet: PacketType, by: Duration) -> &Self {
        self.arm(Fault::Delay { packet, by })
    }

    /// Send the next outbound QoS 1 or 2 PUBLISH twice: as usual, then again right after
    /// it with DUP set and the same packet identifier (QoS 0 ones are not counted).
    pub fn send_duplicate_publish(&self) -> &Self {
        self.arm(Fault::DuplicatePublish)
    }

    /// Hold the next received packet of type `packet` for `by` before processing it; the
    /// packets received after it wait behind it (input is processed in order), while what
    /// the broker sends meanwhile goes out as usual. Keep alive is not enforced while a
    /// packet is held. A CONNECT can be delayed too (the rule is matched by the client
    /// identifier it carries).
    pub fn delay_received(&self, packet: PacketType, by: Duration) -> &Self {
        self.arm(Fault::DelayReceived { packet, by })
    }

    /// Close the connection, without DISCONNECT, `after` from now if the client is
    /// connected, else `after` its next CONNECT (and so for each later connection, as long
    /// as the rule has firings left). The will is published.
    pub fn close_after_time(&self, after: Duration) -> &Self {
        self.arm(Fault::CloseAfterTime { after })
    }

    /// Now, on the client's live connection: send DISCONNECT with `reason` (5.0; 3.x
    /// clients are just closed) and close. Returns whether the client was connected.
    pub fn disconnect_with(&self, reason: DisconnectReason) -> bool {
        self.command(ConnCmd::Disconnect(reason), Fault::DisconnectWith(reason))
    }

    /// Now, on the client's live connection: send `packet` as is, outside any flow (a
    /// PUBACK with an unknown packet id, a SUBACK nobody asked for...). It is encoded for
    /// the client's version and bypasses the other rules; one larger than the client's
    /// Maximum Packet Size is not sent (use [`send_raw`](Self::send_raw)). Returns whether
    /// the client was connected.
    pub fn send_unsolicited(&self, packet: impl Into<Packet>) -> bool {
        let packet = packet.into();
        let fault = Fault::Unsolicited(packet.packet_type());
        self.command(ConnCmd::Send(Box::new(packet)), fault)
    }

    /// Now, on the client's live connection: write `bytes` as they are (an oversize or
    /// malformed packet built by the test). Returns whether the client was connected.
    pub fn send_raw(&self, bytes: impl Into<Bytes>) -> bool {
        let bytes = bytes.into();
        let fault = Fault::UnsolicitedRaw { len: bytes.len() };
        self.command(ConnCmd::SendRaw(bytes), fault)
    }

    /// Hand `cmd` to the live connection and report `fault`.
    fn command(&self, cmd: ConnCmd, fault: Fault) -> bool {
        let mut state = lock(&self.shared);
        let Some(tx) = self.live_tx(&state) else {
            return false;
        };
        if tx.send(cmd).is_err() {
            return false;
        }
        state.emit(Event::FaultFired {
            client_id: self.client_id.clone(),
            fault,
        });
        true
    }
}
