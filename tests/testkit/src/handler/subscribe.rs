//! SUBSCRIBE and UNSUBSCRIBE: per filter, the level cap, the deny lists, the subscription
//! cap, the Maximum QoS, replacement, retained messages; one code per filter back.

use mqtt_proto::{
    DisconnectReason, QoS, RetainHandling, SubAck, SubAckReason, Subscribe, UnsubAck,
    UnsubAckReason, Unsubscribe,
};

use super::link::{Link, Reply};
use crate::event::Event;
use crate::state::State;

/// The SUBACK code granting `qos`.
fn granted(qos: QoS) -> SubAckReason {
    match qos {
        QoS::AtMostOnce => SubAckReason::GrantedQoS0,
        QoS::AtLeastOnce => SubAckReason::GrantedQoS1,
        QoS::ExactlyOnce => SubAckReason::GrantedQoS2,
    }
}

pub(crate) fn subscribe(state: &mut State, link: &Link, subscribe: &Subscribe) -> Reply {
    if subscribe
        .subscriptions
        .iter()
        .any(|s| super::has_control_character(s.filter.as_str()))
    {
        return super::control_character_close(link, "topic filter");
    }
    // Identifier 0 is refused by the decoder already (a Protocol Error, 5.0 §3.8.2.1.2).
    let subscription_id = subscribe.properties.subscription_identifier;
    if subscription_id.is_some() && !state.config.subscription_identifiers {
        // We announced Subscription Identifiers Available = 0 (5.0 §3.2.2.3.12).
        return Reply::close(link.protocol_close(
            "subscription identifier not supported",
            "5.0 §3.2.2.3.12",
            DisconnectReason::SubscriptionIdentifiersNotSupported,
        ));
    }
    let v5 = link.is_v5();
    // 3.1.1 knows only 0x80 for a failure.
    let failure = |v5_reason| {
        if v5 {
            v5_reason
        } else {
            SubAckReason::UnspecifiedError
        }
    };
    let mut reasons = Vec::new();
    if let Some(id) = link.owner(state) {
        let mut results = Vec::with_capacity(subscribe.subscriptions.len());
        let max_subscriptions = state.config.max_subscriptions;
        let maximum_qos = state.config.maximum_qos;
        for sub in &subscribe.subscriptions {
            if state.config.too_many_levels(sub.filter.as_str()) {
                // A limit of this broker: refused like an invalid filter.
                tracing::warn!(
                    client_id = id,
                    limit = state.config.max_topic_levels,
                    "subscription refused: topic filter with more levels than allowed"
                );
                results.push((
                    sub.filter.clone(),
                    failure(SubAckReason::TopicFilterInvalid),
                ));
                continue;
            }
            // A shared subscription is checked as written and by its inner filter.
            let pattern = state
                .config
                .subscribe_denied(id, link.username(), sub.filter.as_str())
                .or_else(|| {
                    state
                        .config
                        .subscribe_denied(id, link.username(), sub.filter.filter())
                })
                .map(str::to_owned);
            if let Some(pattern) = pattern {
                tracing::info!(
                    client_id = id,
                    filter = sub.filter.as_str(),
                    pattern,
                    "subscription denied"
                );
                state.emit(Event::SubscribeDenied {
                    client_id: id.to_owned(),
                    filter: sub.filter.clone(),
                });
                results.push((sub.filter.clone(), failure(SubAckReason::NotAuthorized)));
                continue;
            }
            let Some(session) = state.sessions.get_mut(id) else {
                break;
            };
            let replaces = session.has_subscription(sub.filter.as_str());
            if !replaces && session.subscriptions.len() >= max_subscriptions {
                tracing::warn!(
                    client_id = id,
                    filter = sub.filter.as_str(),
                    limit = max_subscriptions,
                    "subscription refused: too many subscriptions"
                );
                results.push((sub.filter.clone(), failure(SubAckReason::QuotaExceeded)));
                continue;
            }
            // Granted at most the Maximum QoS [MQTT-3.2.2-10], [MQTT-3.8.4-7]; what it
            // sends is then at most that QoS [MQTT-3.8.4-8].
            let mut sub = sub.clone();
            sub.options.qos = sub.options.qos.min(maximum_qos);
            // [MQTT-3.8.4-3]: a subscription to the same filter replaces the old one, its
            // Subscription Identifier included.
            let existed = session.subscribe(sub.clone(), subscription_id);
            let send = match sub.options.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendAtSubscribeIfNew => !existed,
                RetainHandling::DoNotSend => false,
            };
            // Retained messages are not sent for shared subscriptions (5.0 §4.8.2).
            if send && !sub.filter.is_shared() {
                state.send_retained(id, &sub.filter, sub.options.qos, subscription_id);
            }
            results.push((sub.filter.clone(), granted(sub.options.qos)));
        }
        reasons = results.iter().map(|(_, r)| *r).collect();
        state.emit(Event::Subscribed {
            client_id: id.to_owned(),
            results,
        });
    }
    let mut reply = Reply::default();
    // The SUBACK goes out before the retained messages it releases [MQTT-3.8.4-4].
    reply.send(SubAck::new(subscribe.packet_id, reasons));
    reply.pending();
    reply
}

pub(crate) fn unsubscribe(state: &mut State, link: &Link, unsubscribe: &Unsubscribe) -> Reply {
    if unsubscribe
        .filters
        .iter()
        .any(|f| super::has_control_character(f.as_str()))
    {
        return super::control_character_close(link, "topic filter");
    }
    let mut reasons = Vec::new();
    if let Some(id) = link.owner(state) {
        if let Some(session) = state.sessions.get_mut(id) {
            reasons = unsubscribe
                .filters
                .iter()
                .map(|f| {
                    if session.unsubscribe(f.as_str()) {
                        UnsubAckReason::Success
                    } else {
                        UnsubAckReason::NoSubscriptionExisted
                    }
                })
                .collect();
        }
        state.emit(Event::Unsubscribed {
            client_id: id.to_owned(),
            filters: unsubscribe.filters.clone(),
        });
    }
    // 3.1.1 UNSUBACK carries no codes.
    if !link.is_v5() {
        reasons.clear();
    }
    let mut reply = Reply::default();
    reply.send(UnsubAck::new(unsubscribe.packet_id, reasons));
    reply
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use mqtt_proto::{Connect, Packet, PacketId, ProtocolVersion, SubscribeFilter, TopicFilter};

    use super::super::test_support::Harness;
    use super::*;
    use crate::config::Config;

    fn sub(filter: &str, qos: QoS) -> SubscribeFilter {
        SubscribeFilter::new(TopicFilter::new(filter).unwrap(), qos)
    }

    #[test]
    fn each_filter_gets_its_own_code() {
        let config = Config {
            maximum_qos: QoS::AtLeastOnce,
            max_subscriptions: 2,
            deny_subscribe: vec!["secret/#".into()],
            ..Config::default()
        };
        let mut h = Harness::new(config);
        let (mut link, _rx) = h.link();
        h.handle(&mut link, Connect::new(ProtocolVersion::V5, "c").into());
        let packet = Subscribe::new(
            PacketId::new(1).unwrap(),
            vec![
                sub("a", QoS::ExactlyOnce),
                sub("secret/x", QoS::AtMostOnce),
                sub("b", QoS::AtMostOnce),
                sub("c", QoS::AtMostOnce),
                sub("a", QoS::AtMostOnce),
            ],
        );
        let reply = h.handle(&mut link, packet.into());
        let Packet::SubAck(ack) = reply.packets()[0] else {
            panic!("expected SUBACK, got {reply:?}");
        };
        use SubAckReason::*;
        assert_eq!(
            ack.reasons,
            [
                GrantedQoS1,
                NotAuthorized,
                GrantedQoS0,
                QuotaExceeded,
                GrantedQoS0
            ],
            "capped at the Maximum QoS; denied; over the cap; a replacement always fits"
        );
        assert_eq!(h.state.sessions["c"].subscriptions.len(), 2);
    }
}
