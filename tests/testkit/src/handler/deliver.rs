//! Outbound delivery: what a session may send now, as its inflight window (the client's
//! Receive Maximum) allows. The connection gates, encodes and writes it.

use mqtt_proto::{PacketId, Publish};

use super::link::Link;
use crate::state::State;

/// What the session may send now, for the client's version (3.x has no PUBLISH
/// properties: those of a 5.0 publisher are dropped): first the inflight messages held
/// back at the reconnect (with DUP), then queued ones, which enter the inflight window.
/// Nothing if this connection no longer owns the session.
pub(crate) fn take(state: &mut State, link: &Link) -> (Vec<Publish>, Vec<Publish>) {
    let v5 = link.is_v5();
    let Some(session) = link
        .client_id()
        .and_then(|id| state.owned_session_mut(id, link.id))
    else {
        return (Vec::new(), Vec::new());
    };
    let quota = session.send_quota;
    let mut resends = Vec::new();
    while let Some(p) = session.inflight.next_resend(quota) {
        resends.push(p);
    }
    let mut publishes = session.take_sendable();
    if !v5 {
        for p in resends.iter_mut().chain(publishes.iter_mut()) {
            p.properties = None;
        }
    }
    (resends, publishes)
}

/// A message taken for sending could not be (larger than the client's Maximum Packet
/// Size): discarded as if delivered [MQTT-3.1.2-25], so it must not stay inflight either.
pub(crate) fn discard(state: &mut State, link: &Link, pid: PacketId) {
    if let Some(session) = link
        .client_id()
        .and_then(|id| state.owned_session_mut(id, link.id))
    {
        session.inflight.remove(pid);
    }
}
