//! Routing: which stream an inbound message goes to, and its delivery there.
//!
//! Each subscribe call is a route with its filters, its stream and, on 5.0 when the server
//! allows it, a Subscription Identifier of its own. A message goes to the routes named by its
//! identifiers (and to the routes sharing one of their filters), else to every route whose
//! filter matches, else to the catch-all stream; one copy per stream, and only one copy
//! carries the manual acknowledgement. Subscriptions declared in the options are routes to
//! the catch-all. A route whose stream was dropped takes nothing: its messages go to the
//! catch-all, and it is forgotten when the next route is made.
//!
//! Streams are bounded: when one is full, the message and every one after it wait in a
//! backlog, in arrival order, and the connection reads the socket only to reach an
//! acknowledgement it awaits ([`Router::reading_allowed`]).

use std::collections::{HashMap, VecDeque};

use mqtt_proto::client::{AckToken, SubscribeAck};
use mqtt_proto::{Publish, SubscriptionId, TopicFilter, TopicName};
use tokio::sync::mpsc;
use tracing::{trace, warn};

use crate::id_hash::IdMap;
use crate::message::Message;

/// While a message stream is full the socket is read on only if we await an
/// acknowledgement (PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK), and for at most this many
/// bytes: the acknowledgement may be queued behind messages that nobody reads yet, and a
/// task that awaits it while holding a full subscription would otherwise wait for ever
/// (rumqttc #1025). The bound keeps memory bounded; it is well above what socket buffers
/// hold, so an acknowledgement already on its way is reached.
const BACKLOG_READ_MAX: usize = 16 * 1024 * 1024;

/// Names a route (one subscribe call) for the life of the client; later routes have
/// larger ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RouteId(u64);

/// Where the messages of one subscribe call go.
struct Route {
    id: RouteId,
    filters: Vec<TopicFilter>,
    subscription_id: Option<u32>,
    tx: mpsc::Sender<Message>,
}

/// The manual acknowledgement a message carries: its token and where to send it.
pub(crate) type Ack = (AckToken, mpsc::UnboundedSender<AckToken>);

/// The routes, and the messages waiting for room in their streams.
pub(crate) struct Router {
    /// Every change to `routes` (or their filters) must call [`Router::changed`].
    routes: Vec<Route>,
    /// The routes matched by the last topic routed by filter: consecutive messages mostly
    /// share a topic, and comparing it is cheaper than matching every filter again.
    cache: Option<(TopicName, Vec<usize>)>,
    /// Scratch for [`Router::deliver`], kept to avoid an allocation per message.
    targets: Vec<usize>,
    /// For routing by Subscription Identifier (5.0), built from `routes` when first needed
    /// and dropped with `cache`.
    index: Option<RouteIndex>,
    next_route: u64,
    next_subscription_id: u32,
    catch_all: mpsc::Sender<Message>,
    /// Messages waiting for room in a full stream, in arrival order; while any wait the
    /// socket is read only to reach an acknowledgement we await (see [`BACKLOG_READ_MAX`]).
    backlog: VecDeque<(mpsc::Sender<Message>, Message)>,
    /// Bytes read while the backlog was not empty (see [`BACKLOG_READ_MAX`]).
    backlog_read: usize,
}

impl Router {
    pub(crate) fn new(catch_all: mpsc::Sender<Message>) -> Self {
        Self {
            routes: Vec::new(),
            cache: None,
            targets: Vec::new(),
            index: None,
            next_route: 1,
            next_subscription_id: 1,
            catch_all,
            backlog: VecDeque::new(),
            backlog_read: 0,
        }
    }

    /// A Subscription Identifier for a new route (1 to [`SubscriptionId::MAX`], then
    /// around again).
    pub(crate) fn next_subscription_id(&mut self) -> u32 {
        let id = self.next_subscription_id;
        self.next_subscription_id = if id >= SubscriptionId::MAX { 1 } else { id + 1 };
        id
    }

    /// A route for a subscribe call, made before its SUBSCRIBE is written (a PUBLISH that
    /// overtakes the SUBACK has its stream); `stream` `None` is the catch-all.
    pub(crate) fn add(
        &mut self,
        filters: Vec<TopicFilter>,
        subscription_id: Option<u32>,
        stream: Option<mpsc::Sender<Message>>,
    ) -> RouteId {
        let id = RouteId(self.next_route);
        self.next_route += 1;
        self.changed();
        // Routes whose stream was dropped take nothing any more (their messages go to the
        // catch-all): forget them, so that subscribing again and again while dropping the
        // streams cannot grow the table (and the per-message scan) without bound.
        self.routes.retain(|r| !r.tx.is_closed());
        self.routes.push(Route {
            id,
            filters,
            subscription_id,
            tx: stream.unwrap_or_else(|| self.catch_all.clone()),
        });
        id
    }

    /// The id the next route will have: an unsubscribe queued now affects the routes
    /// before it.
    pub(crate) fn mark(&self) -> RouteId {
        RouteId(self.next_route)
    }

    /// The SUBACK of `route`: filters refused route nothing.
    pub(crate) fn granted(&mut self, route: RouteId, ack: &SubscribeAck) {
        self.changed();
        if let Some(r) = self.routes.iter_mut().find(|r| r.id == route) {
            r.filters = ack
                .results
                .iter()
                .filter(|(_, reason)| !reason.is_error())
                .map(|(f, _)| f.clone())
                .collect();
        }
    }

    /// The subscribe of `route` failed.
    pub(crate) fn remove(&mut self, route: RouteId) {
        self.changed();
        self.routes.retain(|r| r.id != route);
    }

    /// An UNSUBACK for `filters`: the routes made before `before` lose them; a route left
    /// without filters ends (its stream closes once its messages are read).
    pub(crate) fn unsubscribed(&mut self, filters: &[TopicFilter], before: RouteId) {
        self.changed();
        for r in self.routes.iter_mut().filter(|r| r.id < before) {
            r.filters.retain(|f| !filters.contains(f));
        }
        self.routes.retain(|r| !r.filters.is_empty());
    }

    /// `routes` or their filters changed: what was derived from them is stale.
    fn changed(&mut self) {
        self.cache = None;
        self.index = None;
    }

    /// Hand an inbound message to the streams whose subscription it matches.
    pub(crate) fn deliver(&mut self, publish: Publish, ack: Option<Ack>) {
        let mut targets = std::mem::take(&mut self.targets);
        targets.clear();
        let ids = &publish.properties().subscription_identifiers;
        if !ids.is_empty() {
            let routes = &self.routes;
            self.index
                .get_or_insert_with(|| RouteIndex::new(routes))
                .targets(ids.iter().map(|id| id.get()), &mut targets);
        }
        if targets.is_empty() {
            match &self.cache {
                Some((topic, cached)) if *topic == publish.topic => {
                    targets.extend_from_slice(cached);
                }
                _ => {
                    for (i, r) in self.routes.iter().enumerate() {
                        if r.filters.iter().any(|f| f.matches(&publish.topic)) {
                            targets.push(i);
                        }
                    }
                    self.cache = Some((publish.topic.clone(), targets.clone()));
                }
            }
        }
        targets.retain(|&i| !self.routes[i].tx.is_closed());
        if targets.len() > 1 {
            // One copy per stream: several subscriptions declared in the options (or a
            // PUBLISH naming several identifiers) may all lead to the catch-all.
            let routes = &self.routes;
            let mut k = 1;
            while k < targets.len() {
                let tx = &routes[targets[k]].tx;
                if targets[..k].iter().any(|&j| routes[j].tx.same_channel(tx)) {
                    targets.remove(k);
                } else {
                    k += 1;
                }
            }
        }
        let mut message = Some(Message { publish, ack });
        let last = targets.len();
        if last == 0
            && let Some(m) = message.take()
            && let Some(m) = offer(&mut self.backlog, &self.catch_all, m)
        {
            self.undeliverable(m);
        }
        for (n, &i) in targets.iter().enumerate() {
            let m = if n + 1 == last {
                message.take()
            } else {
                message.as_ref().map(|m| Message {
                    publish: m.publish.clone(),
                    ack: None,
                })
            };
            if let Some(m) = m
                && let Some(m) = offer(&mut self.backlog, &self.routes[i].tx, m)
            {
                self.undeliverable(m);
            }
        }
        self.targets = targets;
    }

    /// Whether messages wait for room in a stream.
    pub(crate) fn holding(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Whether the socket may be read: always unless messages are held back; then only to
    /// reach an acknowledgement we await, up to [`BACKLOG_READ_MAX`] bytes.
    pub(crate) fn reading_allowed(&self, awaiting_ack: bool) -> bool {
        self.backlog.is_empty() || (self.backlog_read < BACKLOG_READ_MAX && awaiting_ack)
    }

    /// `n` bytes were read from the socket.
    pub(crate) fn read(&mut self, n: usize) {
        if !self.backlog.is_empty() {
            self.backlog_read += n;
        }
    }

    /// The stream the oldest held-back message waits for.
    pub(crate) fn waiting_stream(&self) -> Option<mpsc::Sender<Message>> {
        self.backlog.front().map(|(tx, _)| tx.clone())
    }

    /// The stream of [`Router::waiting_stream`] has room (`permit`), or is gone (`None`):
    /// deliver what the backlog holds while there is room.
    pub(crate) fn room(&mut self, permit: Option<mpsc::OwnedPermit<Message>>) {
        if let Some((_, m)) = self.backlog.pop_front() {
            match permit {
                Some(permit) => {
                    permit.send(m);
                }
                // That stream is gone: the message goes elsewhere.
                None => self.undeliverable(m),
            }
        }
        self.flush();
    }

    /// Deliver what the backlog holds while there is room.
    fn flush(&mut self) {
        while let Some((tx, m)) = self.backlog.pop_front() {
            let closed = match tx.try_reserve() {
                Ok(permit) => {
                    permit.send(m);
                    continue;
                }
                Err(mpsc::error::TrySendError::Full(())) => false,
                Err(mpsc::error::TrySendError::Closed(())) => true,
            };
            if !closed {
                self.backlog.push_front((tx, m));
                return;
            }
            let mut m = m;
            if self.catch_all.is_closed() {
                warn!(topic = m.topic(), "no stream takes this message: discarded");
                m.ack();
            } else {
                self.undeliverable(m);
            }
        }
        self.backlog_read = 0;
    }

    /// A stream closed under a message: the catch-all takes it, else it is dropped, loudly
    /// (and acknowledged, so that it does not hold back the acknowledgements after it).
    fn undeliverable(&mut self, mut m: Message) {
        if !self.catch_all.is_closed() {
            let tx = self.catch_all.clone();
            match tx.try_send(m) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(back)) => {
                    self.backlog.push_back((tx, back));
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(back)) => m = back,
            }
        }
        warn!(
            topic = m.topic(),
            "no stream takes this message (catch-all dropped): discarded"
        );
        m.ack();
    }
}

/// Hand `m` to `tx`, behind whatever the backlog holds (a full stream puts it in the
/// backlog). Returns it if the stream is closed.
fn offer(
    backlog: &mut VecDeque<(mpsc::Sender<Message>, Message)>,
    tx: &mpsc::Sender<Message>,
    m: Message,
) -> Option<Message> {
    if !backlog.is_empty() {
        // Order: nothing overtakes a message already waiting.
        backlog.push_back((tx.clone(), m));
        return None;
    }
    match tx.try_send(m) {
        Ok(()) => None,
        Err(mpsc::error::TrySendError::Full(m)) => {
            trace!("message stream full: reading paused");
            backlog.push_back((tx.clone(), m));
            None
        }
        Err(mpsc::error::TrySendError::Closed(m)) => Some(m),
    }
}

/// Room in `tx` (`None` if it closed); never resolves without a stream.
pub(crate) async fn room_in(
    tx: Option<mpsc::Sender<Message>>,
) -> Option<mpsc::OwnedPermit<Message>> {
    match tx {
        Some(tx) => tx.reserve_owned().await.ok(),
        None => std::future::pending().await,
    }
}

/// What [`Router::deliver`] looks up for a message carrying Subscription Identifiers.
struct RouteIndex {
    /// The first route (its position in `routes`) with each identifier.
    by_id: IdMap<u32, usize>,
    /// For each route (by position), the other routes sharing one of its filters, in
    /// ascending order.
    shared: Vec<Vec<usize>>,
}

impl RouteIndex {
    fn new(routes: &[Route]) -> Self {
        let mut by_id = IdMap::default();
        for (i, r) in routes.iter().enumerate() {
            if let Some(id) = r.subscription_id {
                by_id.entry(id).or_insert(i);
            }
        }
        let mut by_filter: HashMap<&TopicFilter, Vec<usize>> = HashMap::new();
        for (i, r) in routes.iter().enumerate() {
            for f in &r.filters {
                let v = by_filter.entry(f).or_default();
                if v.last() != Some(&i) {
                    v.push(i);
                }
            }
        }
        let mut shared = vec![Vec::new(); routes.len()];
        for owners in by_filter.values().filter(|o| o.len() > 1) {
            for &i in owners {
                shared[i].extend(owners.iter().copied().filter(|&j| j != i));
            }
        }
        for v in &mut shared {
            v.sort_unstable();
            v.dedup();
        }
        Self { by_id, shared }
    }

    /// The routes (positions) for a message carrying these identifiers, in `targets`.
    fn targets(&self, ids: impl Iterator<Item = u32>, targets: &mut Vec<usize>) {
        for id in ids {
            if let Some(&i) = self.by_id.get(&id)
                && !targets.contains(&i)
            {
                targets.push(i);
            }
        }
        // Two subscribe calls with the same filter share one subscription at the broker,
        // which keeps only the latest identifier: the earlier call's stream gets its copy
        // too, as it does by filter matching on 3.1.1.
        let named = targets.len();
        for k in 0..named {
            for &j in &self.shared[targets[k]] {
                if !targets.contains(&j) {
                    targets.push(j);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::time::Instant;

    use bytes::BytesMut;
    use mqtt_proto::client::{ClientOptions, ClientState, Event};
    use mqtt_proto::{
        AckProperties, ConnAck, ConnectReason, Encoder, Packet, PacketId, ProtocolVersion, QosPid,
        SubAckReason,
    };

    use super::*;

    fn filter(f: &str) -> TopicFilter {
        TopicFilter::new(f).unwrap()
    }

    fn publish(topic: &str, ids: &[u32]) -> Publish {
        let mut p = Publish::new(TopicName::new(topic).unwrap(), QosPid::AtMostOnce, "x");
        p.properties_mut().subscription_identifiers = ids
            .iter()
            .map(|&i| SubscriptionId::new(i).unwrap())
            .collect();
        p
    }

    /// A router, its catch-all stream, and streams of their own, each with room for `cap`.
    fn router(cap: usize) -> (Router, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(cap);
        (Router::new(tx), rx)
    }

    fn stream(cap: usize) -> (mpsc::Sender<Message>, mpsc::Receiver<Message>) {
        mpsc::channel(cap)
    }

    /// The topics waiting in a stream, in order.
    fn topics(rx: &mut mpsc::Receiver<Message>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            out.push(m.topic().to_owned());
        }
        out
    }

    fn granted(route: RouteId, filters: &[&str], router: &mut Router) {
        let results = filters
            .iter()
            .map(|f| (filter(f), SubAckReason::GrantedQoS0))
            .collect();
        router.granted(
            route,
            &SubscribeAck::new(PacketId::MIN, results, AckProperties::default()),
        );
    }

    /// `n` QoS 1 messages with the acknowledgement each owes, from a real session with
    /// manual acknowledgements (a CONNACK and the PUBLISHes fed to it as bytes).
    fn owing_acks(n: u16) -> Vec<(Publish, AckToken)> {
        let mut opts = ClientOptions::new(ProtocolVersion::V5, "router");
        opts.manual_acks = true;
        let mut state = ClientState::new(opts);
        let t = Instant::now();
        state.connect(t);
        let mut out = BytesMut::new();
        while state.poll_transmit(t, &mut out) > 0 {}
        let encoder = Encoder::new(ProtocolVersion::V5);
        let mut wire = BytesMut::new();
        let connack = ConnAck::new(false, ConnectReason::Success);
        encoder
            .encode(&Packet::ConnAck(Box::new(connack)), &mut wire)
            .unwrap();
        for i in 1..=n {
            let qos = QosPid::AtLeastOnce(PacketId::new(i).unwrap());
            let p = Publish::new(TopicName::new("t").unwrap(), qos, "x");
            encoder.encode(&Packet::Publish(p), &mut wire).unwrap();
        }
        state.handle_read(t, &mut wire);
        let mut acks = Vec::new();
        while let Some(e) = state.poll_event() {
            if let Event::Message(d) = e {
                acks.push((d.publish, d.ack.expect("manual acks: a token")));
            }
        }
        assert_eq!(acks.len(), usize::from(n));
        acks
    }

    #[test]
    fn without_routes_everything_goes_to_the_catch_all() {
        let (mut r, mut all) = router(8);
        r.deliver(publish("a/b", &[]), None);
        r.deliver(publish("c", &[7]), None);
        assert_eq!(topics(&mut all), ["a/b", "c"]);
    }

    #[test]
    fn a_message_goes_to_every_stream_whose_filter_matches_else_to_the_catch_all() {
        let (mut r, mut all) = router(8);
        let (a, mut a_rx) = stream(8);
        let (b, mut b_rx) = stream(8);
        r.add(vec![filter("a/+")], None, Some(a));
        r.add(vec![filter("a/#"), filter("b")], None, Some(b));
        for t in ["a/x", "b", "a/x/y", "c"] {
            r.deliver(publish(t, &[]), None);
        }
        assert_eq!(topics(&mut a_rx), ["a/x"]);
        assert_eq!(topics(&mut b_rx), ["a/x", "b", "a/x/y"]);
        assert_eq!(topics(&mut all), ["c"]);
    }

    #[test]
    fn subscription_identifiers_name_the_stream_whatever_the_filters_match() {
        // 5.0: `a/#` (identifier 1) and `a/b` (identifier 2) both match `a/b`; the broker
        // sent it for identifier 2 only, so only the second stream gets it.
        let (mut r, mut all) = router(8);
        let (one, mut one_rx) = stream(8);
        let (two, mut two_rx) = stream(8);
        r.add(vec![filter("a/#")], Some(1), Some(one));
        r.add(vec![filter("a/b")], Some(2), Some(two));
        r.deliver(publish("a/b", &[2]), None);
        r.deliver(publish("a/c", &[1]), None);
        // An identifier no route has: routed by filter.
        r.deliver(publish("a/d", &[9]), None);
        assert_eq!(topics(&mut one_rx), ["a/c", "a/d"]);
        assert_eq!(topics(&mut two_rx), ["a/b"]);
        assert!(topics(&mut all).is_empty());
    }

    #[test]
    fn subscribe_calls_sharing_a_filter_share_the_latest_identifier() {
        // The broker keeps one subscription per filter, with the latest identifier: the
        // earlier call's stream gets its copy too.
        let (mut r, _all) = router(8);
        let (one, mut one_rx) = stream(8);
        let (two, mut two_rx) = stream(8);
        r.add(vec![filter("s")], Some(1), Some(one));
        r.add(vec![filter("s")], Some(2), Some(two));
        r.deliver(publish("s", &[2]), None);
        assert_eq!(topics(&mut one_rx), ["s"]);
        assert_eq!(topics(&mut two_rx), ["s"]);
    }

    #[test]
    fn declared_subscriptions_deliver_on_the_catch_all_one_copy_each() {
        // Two subscriptions declared in the options, both matching: one copy on the
        // catch-all, and that copy carries the acknowledgement.
        let (mut r, mut all) = router(8);
        r.add(vec![filter("t")], None, None);
        r.add(vec![filter("#")], None, None);
        let (tx, mut acks) = mpsc::unbounded_channel();
        let (p, token) = owing_acks(1).remove(0);
        r.deliver(p, Some((token, tx)));
        let mut m = all.try_recv().unwrap();
        assert!(all.try_recv().is_err(), "one copy per stream");
        assert!(m.needs_ack());
        m.ack();
        assert_eq!(acks.try_recv().unwrap(), token);
    }

    #[test]
    fn one_copy_per_stream_and_only_one_copy_carries_the_acknowledgement() {
        let (mut r, mut all) = router(8);
        let (a, mut a_rx) = stream(8);
        let (b, mut b_rx) = stream(8);
        r.add(vec![filter("t")], None, Some(a.clone()));
        // The same stream twice (a PUBLISH naming two identifiers of one stream).
        r.add(vec![filter("#")], None, Some(a));
        r.add(vec![filter("t")], None, Some(b));
        let (tx, _acks) = mpsc::unbounded_channel();
        let (p, token) = owing_acks(1).remove(0);
        r.deliver(p, Some((token, tx)));
        let a_copies: Vec<Message> = std::iter::from_fn(|| a_rx.try_recv().ok()).collect();
        let b_copies: Vec<Message> = std::iter::from_fn(|| b_rx.try_recv().ok()).collect();
        assert_eq!((a_copies.len(), b_copies.len()), (1, 1));
        let owing = a_copies.iter().chain(&b_copies).filter(|m| m.needs_ack());
        assert_eq!(owing.count(), 1);
        assert!(topics(&mut all).is_empty());
    }

    #[test]
    fn a_dropped_stream_sends_its_messages_to_the_catch_all_and_is_forgotten() {
        let (mut r, mut all) = router(8);
        let (a, a_rx) = stream(8);
        r.add(vec![filter("a")], None, Some(a));
        drop(a_rx);
        r.deliver(publish("a", &[]), None);
        assert_eq!(topics(&mut all), ["a"]);
        assert_eq!(r.routes.len(), 1);
        // The next route made forgets it: subscribing and dropping again and again cannot
        // grow the table.
        for _ in 0..10 {
            let (tx, rx) = stream(1);
            r.add(vec![filter("b")], None, Some(tx));
            drop(rx);
        }
        assert_eq!(r.routes.len(), 1);
    }

    #[test]
    fn the_routes_are_looked_up_again_after_every_change() {
        let (mut r, mut all) = router(8);
        let (a, mut a_rx) = stream(8);
        // By filter, cached per topic: a new route, a SUBACK refusing a filter, and an
        // UNSUBACK each change where the same topic goes.
        r.deliver(publish("t", &[]), None);
        let route = r.add(vec![filter("t"), filter("u")], None, Some(a));
        r.deliver(publish("t", &[]), None);
        granted(route, &["u"], &mut r);
        r.deliver(publish("t", &[]), None);
        r.deliver(publish("u", &[]), None);
        let before = r.mark();
        r.unsubscribed(&[filter("u")], before);
        r.deliver(publish("u", &[]), None);
        assert_eq!(topics(&mut a_rx), ["t", "u"]);
        assert_eq!(topics(&mut all), ["t", "t", "u"]);
        // By identifier, indexed: the index follows a route removed and another made with
        // the same identifier.
        let (b, mut b_rx) = stream(8);
        let (c, mut c_rx) = stream(8);
        let first = r.add(vec![filter("x")], Some(5), Some(b));
        r.deliver(publish("x", &[5]), None);
        r.remove(first);
        r.add(vec![filter("y")], Some(5), Some(c));
        r.deliver(publish("y", &[5]), None);
        assert_eq!(topics(&mut b_rx), ["x"]);
        assert_eq!(topics(&mut c_rx), ["y"]);
    }

    #[test]
    fn an_unsubscribe_leaves_the_routes_made_after_it() {
        let (mut r, _all) = router(8);
        let (a, mut a_rx) = stream(8);
        let (b, mut b_rx) = stream(8);
        r.add(vec![filter("t")], None, Some(a));
        let before = r.mark();
        // SUBSCRIBE t queued after the UNSUBSCRIBE t, before its UNSUBACK.
        r.add(vec![filter("t")], None, Some(b));
        r.unsubscribed(&[filter("t")], before);
        r.deliver(publish("t", &[]), None);
        assert!(topics(&mut a_rx).is_empty());
        assert!(
            a_rx.try_recv()
                .is_err_and(|e| e == mpsc::error::TryRecvError::Disconnected)
        );
        assert_eq!(topics(&mut b_rx), ["t"]);
    }

    #[tokio::test]
    async fn a_full_stream_holds_back_what_follows_in_order_until_it_has_room() {
        let (mut r, mut all) = router(8);
        let (a, mut a_rx) = stream(1);
        r.add(vec![filter("a/+")], None, Some(a));
        for t in ["a/1", "a/2", "other", "a/3"] {
            r.deliver(publish(t, &[]), None);
        }
        // a/2 waits for room; `other`, for the catch-all, waits behind it.
        assert!(r.holding());
        assert!(topics(&mut all).is_empty());
        assert!(r.reading_allowed(true));
        assert!(!r.reading_allowed(false));
        r.read(BACKLOG_READ_MAX);
        assert!(
            !r.reading_allowed(true),
            "read on at most BACKLOG_READ_MAX bytes"
        );
        assert_eq!(a_rx.recv().await.unwrap().topic(), "a/1");
        let permit = room_in(r.waiting_stream()).await;
        r.room(permit);
        // a/2 and `other` went out; a/3 waits for a/2 to be read.
        assert_eq!(topics(&mut all), ["other"]);
        assert_eq!(a_rx.recv().await.unwrap().topic(), "a/2");
        let permit = room_in(r.waiting_stream()).await;
        r.room(permit);
        assert!(!r.holding());
        assert!(r.reading_allowed(false));
        assert_eq!(topics(&mut a_rx), ["a/3"]);
    }

    #[tokio::test]
    async fn a_message_held_for_a_stream_dropped_meanwhile_goes_to_the_catch_all() {
        let (mut r, mut all) = router(8);
        let (a, a_rx) = stream(1);
        r.add(vec![filter("a")], None, Some(a));
        r.deliver(publish("a", &[]), None);
        r.deliver(publish("a", &[]), None);
        assert!(r.holding());
        drop(a_rx);
        let permit = room_in(r.waiting_stream()).await;
        assert!(permit.is_none());
        r.room(permit);
        assert!(!r.holding());
        assert_eq!(topics(&mut all), ["a"]);
    }

    #[test]
    fn with_every_stream_dropped_a_message_is_acknowledged_and_discarded() {
        let (mut r, all) = router(8);
        drop(all);
        let (tx, mut acks) = mpsc::unbounded_channel();
        let (p, token) = owing_acks(1).remove(0);
        r.deliver(p, Some((token, tx)));
        assert_eq!(acks.try_recv().unwrap(), token, "acknowledged, not held");
        assert!(!r.holding());
    }

    /// What `deliver` did before [`RouteIndex`]: scan routes × filters per message.
    fn by_scan(routes: &[Route], ids: &[u32]) -> Vec<usize> {
        let mut targets = Vec::new();
        for id in ids {
            if let Some(i) = routes.iter().position(|r| r.subscription_id == Some(*id))
                && !targets.contains(&i)
            {
                targets.push(i);
            }
        }
        let named = targets.len();
        for k in 0..named {
            let i = targets[k];
            for (j, r) in routes.iter().enumerate() {
                if !targets.contains(&j) && r.filters.iter().any(|f| routes[i].filters.contains(f))
                {
                    targets.push(j);
                }
            }
        }
        targets
    }

    fn by_index(index: &RouteIndex, ids: &[u32]) -> Vec<usize> {
        let mut targets = Vec::new();
        index.targets(ids.iter().copied(), &mut targets);
        targets
    }

    #[test]
    fn the_route_index_routes_as_the_scan_did() {
        let (tx, _rx) = mpsc::channel(1);
        let filter = |n: u64| TopicFilter::new(format!("f/{n}")).unwrap();
        // Seeded, so that every run checks the same cases: routes with 0 to 3 filters out
        // of 6 (repeats within a route included), identifiers out of 5 (shared and missing
        // ones too).
        let mut rng = fastrand::Rng::with_seed(0x2545_F491_4F6C_DD1D);
        for _ in 0..500 {
            let routes: Vec<Route> = (0..rng.u64(0..8))
                .map(|id| Route {
                    id: RouteId(id),
                    filters: (0..rng.u64(0..4)).map(|_| filter(rng.u64(0..6))).collect(),
                    subscription_id: Some(rng.u32(0..6)).filter(|&i| i > 0),
                    tx: tx.clone(),
                })
                .collect();
            let index = RouteIndex::new(&routes);
            for ids in [vec![], vec![1], vec![2, 1], vec![3, 4, 5], vec![5, 5, 9]] {
                assert_eq!(by_index(&index, &ids), by_scan(&routes, &ids), "{ids:?}");
            }
        }
    }
}
