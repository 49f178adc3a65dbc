//! Fault injection: rules, armed per client identifier or per connection, that make the
//! broker misbehave on purpose at a chosen point of a flow, once, n times or every time.

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
    /// Hold the next received packet of this type, and every packet after it, for this long
    /// before processing it.
    DelayReceived {
        /// The packet type delayed.
        packet: PacketType,
        /// For how long.
        by: Duration,
    },
    /// Close the connection (no DISCONNECT) this long after the rule was armed, or after
    /// the CONNECT of a later connection.
    CloseAfterTime {
        /// How long after.
        after: Duration,
    },
}

/// What a rule applies to: every connection of a client identifier, or one connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    Client(String),
    Conn(u64),
}

/// An armed rule and how many matching packets it has seen.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    fault: Fault,
    seen: u32,
    /// How many more times it fires; `None`: every time.
    left: Option<u32>,
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
    /// Report rule `index` of `scope` as fired for `client_id`, and disarm it unless it has
    /// more firings left (then it counts afresh).
    fn fire(&mut self, scope: &Scope, client_id: &str, index: usize) -> Option<Fault> {
        let rules = self.faults.get_mut(scope)?;
        let rule = rules.get_mut(index)?;
        let fault = rule.fault;
        rule.seen = 0;
        let spent = match &mut rule.left {
            None => false,
            Some(n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
        };
        if spent {
            rules.remove(index);
            if rules.is_empty() {
                self.faults.remove(scope);
            }
        }
        tracing::info!(client_id, ?fault, "fault injected");
        self.emit(Event::FaultFired {
            client_id: client_id.to_owned(),
            fault,
        });
        Some(fault)
    }

    /// The scopes whose rules apply to connection `conn_id` of `client_id`: the
    /// connection's own first, then the client's.
    fn scopes(client_id: &str, conn_id: u64) -> [Scope; 2] {
        [Scope::Conn(conn_id), Scope::Client(client_id.to_owned())]
    }

    /// Count a packet of `client_id` on connection `conn_id` against the rules; the first
    /// rule that fires decides.
    pub(crate) fn fault_for_packet(
        &mut self,
        client_id: &str,
        conn_id: u64,
        direction: Direction,
        packet: PacketType,
    ) -> Action {
        let mut fired = None;
        for scope in Self::scopes(client_id, conn_id) {
            let Some(rules) = self.faults.get_mut(&scope) else {
                continue;
            };
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
                    Fault::Delay { packet: p, by }
                        if direction == Direction::Out && p == packet =>
                    {
                        (Action::Delay(by), 1)
                    }
                    _ => continue,
                };
                rule.seen = rule.seen.saturating_add(1);
                if fired.is_none() && rule.seen >= nth {
                    fired = Some((scope.clone(), i, action));
                }
            }
        }
        match fired {
            Some((scope, i, action)) => {
                self.fire(&scope, client_id, i);
                action
            }
            None => Action::Pass,
        }
    }

    /// The first rule for connection `conn_id` of `client_id` matching `pick`, fired.
    pub(crate) fn take_fault<T>(
        &mut self,
        client_id: &str,
        conn_id: u64,
        pick: impl Fn(&Fault) -> Option<T>,
    ) -> Option<T> {
        for scope in Self::scopes(client_id, conn_id) {
            let Some(rules) = self.faults.get(&scope) else {
                continue;
            };
            if let Some((i, value)) = rules
                .iter()
                .enumerate()
                .find_map(|(i, r)| pick(&r.fault).map(|v| (i, v)))
            {
                self.fire(&scope, client_id, i);
                return Some(value);
            }
        }
        None
    }

    /// How long to hold a received packet of type `packet` before processing it, if a
    /// [`Fault::DelayReceived`] rule fires for it.
    pub(crate) fn fault_delay_received(
        &mut self,
        client_id: &str,
        conn_id: u64,
        packet: PacketType,
    ) -> Option<Duration> {
        self.take_fault(client_id, conn_id, |f| match f {
            Fault::DelayReceived { packet: p, by } if *p == packet => Some(*by),
            _ => None,
        })
    }

    /// The shortest [`Fault::CloseAfterTime`] armed for connection `conn_id` of
    /// `client_id`, without firing it.
    pub(crate) fn fault_close_timer(&self, client_id: &str, conn_id: u64) -> Option<Duration> {
        Self::scopes(client_id, conn_id)
            .iter()
            .filter_map(|scope| self.faults.get(scope))
            .flatten()
            .filter_map(|r| match r.fault {
                Fault::CloseAfterTime { after } => Some(after),
                _ => None,
            })
            .min()
    }

    /// A close timer of connection `conn_id` came due: fire the shortest
    /// [`Fault::CloseAfterTime`] rule still armed (whether to close).
    pub(crate) fn fire_close_timer(&mut self, client_id: &str, conn_id: u64) -> bool {
        let Some(shortest) = self.fault_close_timer(client_id, conn_id) else {
            return false;
        };
        self.take_fault(client_id, conn_id, |f| {
            matches!(f, Fault::CloseAfterTime { after } if *after == shortest).then_some(())
        })
        .is_some()
    }

    /// Connection `conn_id` ended: its own rules go with it.
    pub(crate) fn drop_connection_faults(&mut self, conn_id: u64) {
        self.faults.remove(&Scope::Conn(conn_id));
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
            conn: None,
            fires: Some(1),
        }
    }

    /// Disarm every rule not spent yet (repeating ones and connection ones included).
    pub fn clear(&self) {
        conn::lock(&self.shared).faults.clear();
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
        let mut state = conn::lock(&self.shared);
        if self.conn.is_some() && self.live_tx(&state).is_none() {
            // Its connection has ended: the rule could never fire.
            return self;
        }
        state.faults.entry(self.scope()).or_default().push(Rule {
            fault,
            seen: 0,
            left: self.fires,
        });
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
        let state = conn::lock(&self.shared);
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
        let mut state = conn::lock(&self.shared);
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
