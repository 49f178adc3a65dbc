//! For the rules' unit tests: a state and connections without sockets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mqtt_proto::{ConnAck, Packet};
use tokio::sync::mpsc;

use super::{Link, Reply, Timer};
use crate::config::Config;
use crate::event::CloseReason;
use crate::peer::Peer;
use crate::session::ConnCmd;
use crate::state::State;

/// A broker's state, and the connections made to it.
pub(crate) struct Harness {
    pub(crate) state: State,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Harness {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            state: State::new(config),
        }
    }

    /// A new connection, and what the state tells it (takeover, messages queued).
    pub(crate) fn link(&mut self) -> (Link, mpsc::UnboundedReceiver<ConnCmd>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let peer = Peer::Tcp(std::net::SocketAddr::from(([127, 0, 0, 1], 1883)));
        (Link::new(self.state.conn_id(), peer, tx), rx)
    }

    /// `packet` received on `link`.
    pub(crate) fn handle(&mut self, link: &mut Link, packet: Packet) -> Reply {
        super::handle(&mut self.state, link, packet)
    }

    /// `link` closed for `reason`.
    pub(crate) fn end(&mut self, link: &mut Link, reason: CloseReason) -> Vec<Timer> {
        super::end(&mut self.state, link, &reason)
    }
}

/// The CONNACK a reply starts with.
pub(crate) fn connack(reply: &Reply) -> &ConnAck {
    match reply.packets().first() {
        Some(Packet::ConnAck(ack)) => ack,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}
