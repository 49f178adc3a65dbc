//! Fault injection's rules: what can be armed ([`Fault`]) and the table of armed rules
//! ([`FaultRules`]) that decides, packet by packet, which one fires. A leaf: it knows
//! nothing of the state, the connections or the events; whoever consults it reports a
//! fired rule ([`State`](crate::state::State) emits [`Event::FaultFired`](crate::Event)).
//! The public handles that arm rules are in `inject.rs`.

use std::collections::HashMap;
use std::time::Duration;

use mqtt_proto::{ConnectReason, DisconnectReason, PacketType};

/// Which way a packet travels, seen from the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the broker (received).
    In,
    /// From the broker to the client (sent).
    Out,
}

/// A fault rule, as armed through [`ClientFaults`](crate::ClientFaults) and reported by
/// [`Event::FaultFired`](crate::Event::FaultFired).
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

/// The armed rules, by client identifier or connection, in the order they were armed.
#[derive(Debug, Default)]
pub(crate) struct FaultRules {
    rules: HashMap<Scope, Vec<Rule>>,
}

impl FaultRules {
    /// Arm `fault` for `scope`, to fire `fires` times (`None`: every time).
    pub(crate) fn arm(&mut self, scope: Scope, fault: Fault, fires: Option<u32>) {
        self.rules.entry(scope).or_default().push(Rule {
            fault,
            seen: 0,
            left: fires,
        });
    }

    /// Disarm every rule.
    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Connection `conn_id` ended: its own rules go with it.
    pub(crate) fn drop_connection(&mut self, conn_id: u64) {
        self.rules.remove(&Scope::Conn(conn_id));
    }

    /// Fire rule `index` of `scope`: disarm it unless it has more firings left (then it
    /// counts afresh).
    fn fire(&mut self, scope: &Scope, index: usize) -> Option<Fault> {
        let rules = self.rules.get_mut(scope)?;
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
                self.rules.remove(scope);
            }
        }
        Some(fault)
    }

    /// The scopes whose rules apply to connection `conn_id` of `client_id`: the
    /// connection's own first, then the client's.
    fn scopes(client_id: &str, conn_id: u64) -> [Scope; 2] {
        [Scope::Conn(conn_id), Scope::Client(client_id.to_owned())]
    }

    /// Count a packet of `client_id` on connection `conn_id` against the rules; the first
    /// rule that fires decides (and is returned, to be reported).
    pub(crate) fn for_packet(
        &mut self,
        client_id: &str,
        conn_id: u64,
        direction: Direction,
        packet: PacketType,
    ) -> (Action, Option<Fault>) {
        let mut fired = None;
        for scope in Self::scopes(client_id, conn_id) {
            let Some(rules) = self.rules.get_mut(&scope) else {
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
            Some((scope, i, action)) => (action, self.fire(&scope, i)),
            None => (Action::Pass, None),
        }
    }

    /// The first rule for connection `conn_id` of `client_id` that `pick` accepts, fired:
    /// what `pick` made of it, and the rule.
    pub(crate) fn take<T>(
        &mut self,
        client_id: &str,
        conn_id: u64,
        pick: impl Fn(&Fault) -> Option<T>,
    ) -> Option<(T, Fault)> {
        for scope in Self::scopes(client_id, conn_id) {
            let Some(rules) = self.rules.get(&scope) else {
                continue;
            };
            if let Some((i, value)) = rules
                .iter()
                .enumerate()
                .find_map(|(i, r)| pick(&r.fault).map(|v| (i, v)))
            {
                let fault = self.fire(&scope, i)?;
                return Some((value, fault));
            }
        }
        None
    }

    /// The shortest [`Fault::CloseAfterTime`] armed for connection `conn_id` of
    /// `client_id`, without firing it.
    pub(crate) fn close_timer(&self, client_id: &str, conn_id: u64) -> Option<Duration> {
        Self::scopes(client_id, conn_id)
            .iter()
            .filter_map(|scope| self.rules.get(scope))
            .flatten()
            .filter_map(|r| match r.fault {
                Fault::CloseAfterTime { after } => Some(after),
                _ => None,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_rule_fires_on_the_nth_packet_and_counts_afresh() {
        let mut rules = FaultRules::default();
        let fault = Fault::CloseAfter {
            direction: Direction::In,
            packet: PacketType::Publish,
            nth: 2,
        };
        rules.arm(Scope::Client("c".into()), fault, Some(2));
        let mut fired = Vec::new();
        for _ in 0..6 {
            fired.push(
                rules
                    .for_packet("c", 1, Direction::In, PacketType::Publish)
                    .0,
            );
        }
        use Action::{CloseAfter, Pass};
        assert_eq!(fired, [Pass, CloseAfter, Pass, CloseAfter, Pass, Pass]);
        // Other directions, types and clients are not counted.
        rules.arm(Scope::Client("c".into()), fault, None);
        assert_eq!(
            rules
                .for_packet("c", 1, Direction::Out, PacketType::Publish)
                .0,
            Pass
        );
        assert_eq!(
            rules
                .for_packet("d", 1, Direction::In, PacketType::Publish)
                .0,
            Pass
        );
    }

    #[test]
    fn connection_rules_come_first_and_go_with_the_connection() {
        let mut rules = FaultRules::default();
        rules.arm(
            Scope::Client("c".into()),
            Fault::SessionPresent(false),
            Some(1),
        );
        rules.arm(Scope::Conn(7), Fault::SessionPresent(true), Some(1));
        let pick = |f: &Fault| match f {
            Fault::SessionPresent(p) => Some(*p),
            _ => None,
        };
        assert_eq!(rules.take("c", 7, pick).map(|(p, _)| p), Some(true));
        rules.arm(Scope::Conn(7), Fault::SessionPresent(true), Some(1));
        rules.drop_connection(7);
        assert_eq!(rules.take("c", 7, pick).map(|(p, _)| p), Some(false));
        assert_eq!(rules.take("c", 7, pick), None);
    }
}
