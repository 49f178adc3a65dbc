//! Request correlation: every request the state machine has taken, keyed by its
//! [`RequestId`], with the reply its caller waits on, until the event that ends it. One
//! table for publishes, subscribes and unsubscribes, and for the QoS 0 publishes that the
//! state machine has handed over but whose bytes are not yet written and flushed.

use mqtt_proto::TopicFilter;
use mqtt_proto::client::{PublishAck, RequestError, RequestId};

use crate::command::{PublishReply, SubscribeReply, UnsubscribeReply};
use crate::id_hash::IdMap;
use crate::route::RouteId;

enum Pending {
    Publish {
        reply: PublishReply,
        qos0: bool,
    },
    Subscribe {
        reply: SubscribeReply,
        route: RouteId,
    },
    Unsubscribe {
        reply: UnsubscribeReply,
        filters: Vec<TopicFilter>,
        /// The routes it affects: those made before it, not those of a SUBSCRIBE queued
        /// after it.
        before: RouteId,
    },
}

/// What a finished unsubscribe asks of the routes.
pub(crate) struct Unsubscribed {
    pub(crate) reply: UnsubscribeReply,
    pub(crate) filters: Vec<TopicFilter>,
    pub(crate) before: RouteId,
}

/// The open requests (see the module documentation).
#[derive(Default)]
pub(crate) struct Requests {
    pending: IdMap<RequestId, Pending>,
    /// How many of `pending` are subscribes or unsubscribes (for
    /// [`Requests::awaiting_acks`], asked on every loop turn while messages are held back).
    acks_awaited: usize,
    /// QoS 0 publishes handed over by the state machine: done once their bytes are written.
    unwritten: Vec<PublishReply>,
}

impl Requests {
    pub(crate) fn publish(&mut self, id: RequestId, reply: PublishReply, qos0: bool) {
        self.pending.insert(id, Pending::Publish { reply, qos0 });
    }

    pub(crate) fn subscribe(&mut self, id: RequestId, reply: SubscribeReply, route: RouteId) {
        self.pending.insert(id, Pending::Subscribe { reply, route });
        self.acks_awaited += 1;
    }

    pub(crate) fn unsubscribe(
        &mut self,
        id: RequestId,
        reply: UnsubscribeReply,
        filters: Vec<TopicFilter>,
        before: RouteId,
    ) {
        self.pending.insert(
            id,
            Pending::Unsubscribe {
                reply,
                filters,
                before,
            },
        );
        self.acks_awaited += 1;
    }

    /// A publish ended: its handle resolves, except that a QoS 0 publish handed over waits
    /// for its bytes to be written ([`Requests::written`]).
    pub(crate) fn published(&mut self, id: RequestId, result: Result<PublishAck, RequestError>) {
        if let Some(Pending::Publish { reply, qos0 }) = self.take(id) {
            if qos0 && result.is_ok() {
                self.unwritten.push(reply);
            } else {
                let _ = reply.send(result);
            }
        }
    }

    /// A subscribe ended: its reply and route, if it was ours.
    pub(crate) fn subscribed(&mut self, id: RequestId) -> Option<(SubscribeReply, RouteId)> {
        match self.take(id)? {
            Pending::Subscribe { reply, route } => Some((reply, route)),
            other => {
                self.pending.insert(id, other);
                None
            }
        }
    }

    /// An unsubscribe ended: what it needs to finish, if it was ours.
    pub(crate) fn unsubscribed(&mut self, id: RequestId) -> Option<Unsubscribed> {
        match self.take(id)? {
            Pending::Unsubscribe {
                reply,
                filters,
                before,
            } => Some(Unsubscribed {
                reply,
                filters,
                before,
            }),
            other => {
                self.pending.insert(id, other);
                None
            }
        }
    }

    fn take(&mut self, id: RequestId) -> Option<Pending> {
        let p = self.pending.remove(&id)?;
        if matches!(p, Pending::Subscribe { .. } | Pending::Unsubscribe { .. }) {
            self.acks_awaited -= 1;
        }
        Some(p)
    }

    /// Whether a SUBACK or UNSUBACK is awaited.
    pub(crate) fn awaiting_acks(&self) -> bool {
        self.acks_awaited > 0
    }

    /// The write buffer is empty and flushed (`sent`): the QoS 0 publishes handed over are
    /// done; or the connection ended before it was: they fail with
    /// [`RequestError::NotSent`] (not sent again: QoS 0 is at most once).
    pub(crate) fn written(&mut self, sent: bool) {
        for tx in self.unwritten.drain(..) {
            let _ = tx.send(if sent {
                Ok(PublishAck::at_most_once())
            } else {
                Err(RequestError::NotSent)
            });
        }
    }

    /// Take the open subscribes, oldest first, forgetting every other request (only
    /// subscribes are open before the first CONNACK: see `Driver::requeue_declared`).
    pub(crate) fn take_subscribes(&mut self) -> Vec<(SubscribeReply, RouteId)> {
        let mut old: Vec<(RequestId, Pending)> = self.pending.drain().collect();
        self.acks_awaited = 0;
        old.sort_unstable_by_key(|(id, _)| *id);
        old.into_iter()
            .filter_map(|(_, p)| match p {
                Pending::Subscribe { reply, route } => Some((reply, route)),
                _ => None,
            })
            .collect()
    }

    /// Shut down: every request still open ends with [`RequestError::Closed`].
    pub(crate) fn close(&mut self) {
        // (Empty: a connection ends with `written`.) Never written, so not sent.
        for tx in self.unwritten.drain(..) {
            let _ = tx.send(Err(RequestError::Closed));
        }
        self.acks_awaited = 0;
        for (_, p) in self.pending.drain() {
            match p {
                Pending::Publish { reply, .. } => {
                    let _ = reply.send(Err(RequestError::Closed));
                }
                Pending::Subscribe { reply, .. } => {
                    let _ = reply.send(Err(RequestError::Closed));
                }
                Pending::Unsubscribe { reply, .. } => {
                    let _ = reply.send(Err(RequestError::Closed));
                }
            }
        }
    }
}
