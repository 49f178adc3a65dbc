//! Fault injection: rules, armed per client identifier, that make the broker misbehave on
//! purpose at a chosen point of a flow.

use std::time::Duration;

use bytes::Bytes;
use mqtt_proto::{ConnectReason, DisconnectReason, Packet, PacketType};

use crate::conn::{self, Shared};
use crate::event::Event;
use crate::state::{ConnCmd, State};

/// Which way a packet travels, seen from the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the broker (received).
    In,
    /// From the broker to the client (sent).
    Out,
}

/// A fault rule, as armed through [`ClientFaults`] and reported by [`Event::FaultFired`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Close the connection right after the `nth` packet of this type in this direction.
    CloseAfter {
        /// Received or sent.
        direction: Direction,
        /// The packet type counted.
        packet: PacketType,
        /// Which one (1 is the next one).
        nth: u32,
    },
    /// Go silent (half-open) right after the `nth` packet of this type in this direction.
    GoSilentAfter {
        /// Received or sent.
        direction: Direction,
        /// The packet type counted.
        packet: PacketType,
        /// Which one (1 is the next one).
        nth: u32,
    },
    /// Do not send the next packet of this type.
    Withhold(PacketType),
    /// Refuse the next CONNECT with this code.
    RefuseConnect(ConnectReason),
    /// Send this Session Present flag on the next successful CONNACK.
    SessionPresent(bool),
    /// A DISCONNECT with this reason was sent (5.0) and the connection closed.
    DisconnectWith(DisconnectReason),
    /// Hold the next outbound packet of this type back for this long.
    Delay {
        /// The packet type delayed.
        packet: PacketType,
        /// For how long.
        by: Duration,
    },
    /// Send the next outbound QoS 1 or 2 PUBLISH twice, the second copy with DUP set.
    DuplicatePublish,
    /// An unsolicited packet of this type was queued on the live connection.
    Unsolicited(PacketType),
    /// Unsolicited raw bytes, this many, were queued on the live connection.
    UnsolicitedRaw {
        /// How many bytes.
        len: usize,
    },
}

/// An armed rule and how many matching packets it has seen.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    fault: Fault,
    seen: u32,
}

/// What a connection must do about a packet, after the rules were consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing special.
    Pass,
    /// Do not send it (outbound only).
    Withhold,
    /// Let it through, then close the connection.
    CloseAfter,
    /// Let it through, then go silent.
    GoSilentAfter,
    /// Send it this much later (outbound only).
    Delay(Duration),
}

impl State {
    fn fire(&mut self, client_id: &str, index: usize) -> Option<Fault> {
        let rules = self.faults.get_mut(client_id)?;
        if index >= rules.len() {
            return None;
        }
        let rule = rules.remove(index);
        if rules.is_empty() {
            self.faults.remove(client_id);
        }
        tracing::info!(client_id, fault = ?rule.fault, "fault injected");
        self.emit(Event::FaultFired {
            client_id: client_id.to_owned(),
            fault: rule.fault,
        });
        Some(rule.fault)
    }

    /// Count a packet of `client_id` against the rules; the first rule that fires decides.
    pub(crate) fn fault_for_packet(
        &mut self,
        client_id: &str,
        direction: Direction,
        packet: PacketType,
    ) -> Action {
        let Some(rules) = self.faults.get_mut(client_id) else {
            return Action::Pass;
        };
        let mut fired = None;
        for (i, rule) in rules.iter_mut().enumerate() {
            let (action, nth) = match rule.fault {
                Fault::CloseAfter {
                    direction: d,
                    packet: p,
                    nth,
                } if d == direction && p == packet => (Action::CloseAfter, nth),
                Fault::GoSilentAfter {
                    direction: d,
                    packet: p,
                    nth,
                } if d == direction && p == packet => (Action::GoSilentAfter, nth),
                Fault::Withhold(p) if direction == Direction::Out && p == packet => {
                    (Action::Withhold, 1)
                }
                Fault::Delay { packet: p, by } if direction == Direction::Out && p == packet => {
                    (Action::Delay(by), 1)
                }
                _ => continue,
            };
            rule.seen += 1;
            if fired.is_none() && rule.seen >= nth {
                fired = Some((i, action));
            }
        }
        match fired {
            Some((i, action)) => {
                self.fire(client_id, i);
                action
            }
            None => Action::Pass,
        }
    }

    /// The first rule of `client_id` matching `pick`, fired.
    pub(crate) fn take_fault<T>(
        &mut self,
        client_id: &str,
        pick: impl Fn(&Fault) -> Option<T>,
    ) -> Option<T> {
        let rules = self.faults.get(client_id)?;
        let (i, value) = rules
            .iter()
            .enumerate()
            .find_map(|(i, r)| pick(&r.fault).map(|v| (i, v)))?;
        self.fire(client_id, i);
        Some(value)
    }
}

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
        }
    }

    /// Disarm every rule not fired yet.
    pub fn clear(&self) {
        conn::lock(&self.shared).faults.clear();
    }
}

/// Rules for one client identifier. Each applies to that client's connections from now on
/// (the live one, if any, and the next ones) and fires once, then is gone.
#[derive(Debug, Clone)]
pub struct ClientFaults {
    shared: Shared,
    client_id: String,
}

impl ClientFaults {
    fn arm(&self, fault: Fault) -> &Self {
        conn::lock(&self.shared)
            .faults
            .entry(self.client_id.clone())
            .or_default()
            .push(Rule { fault, seen: 0 });
        self
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
        let mut state = conn::lock(&self.shared);
        let Some(tx) = state
            .sessions
            .get(&self.client_id)
            .and_then(|s| s.conn.as_ref())
            .map(|c| c.tx.clone())
        else {
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
