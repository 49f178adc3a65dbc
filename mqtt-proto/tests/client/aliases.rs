//! 5.0 topic aliases: inbound aliases resolved and checked, outbound aliases assigned (least
//! recently used first) when the server allows them, and forgotten with the connection.

use mqtt_proto::client::{ConnectionError, Event, ProtocolError, PublishRequest};
use mqtt_proto::{DisconnectReason, PubAck, Publish, PublishProperties, QoS, QosPid, TopicName};

use crate::harness::{Harness, V5, connack, inbound, nz16, opts, pid, topic};

fn with_alias(mut p: Publish, alias: u16) -> Publish {
    p.properties_mut().topic_alias = Some(nz16(alias));
    p
}

fn alias_only(alias: u16, payload: &'static str) -> Publish {
    with_alias(
        Publish::new(TopicName::alias_only(), QosPid::AtMostOnce, payload),
        alias,
    )
}

fn harness_accepting_aliases(max: u16) -> Harness {
    let mut o = opts(V5);
    o.topic_alias_maximum = max;
    Harness::connected(o)
}

fn topics(events: Vec<Event>) -> Vec<String> {
    events
        .into_iter()
        .map(|e| match e {
            Event::Message(m) => m.publish.topic.as_str().to_owned(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn inbound_topic_alias_resolved() {
    // [MQTT-3.3.2-10]: every alias from 1 to our maximum is accepted.
    let mut h = harness_accepting_aliases(3);
    h.send(with_alias(inbound("sensors/1", QosPid::AtMostOnce, "a"), 1));
    h.send(with_alias(inbound("sensors/3", QosPid::AtMostOnce, "b"), 3));
    h.send(alias_only(1, "c"));
    h.send(alias_only(3, "d"));
    // A new topic for a known alias replaces the mapping.
    h.send(with_alias(inbound("sensors/2", QosPid::AtMostOnce, "e"), 1));
    h.send(alias_only(1, "f"));
    assert_eq!(
        topics(h.events()),
        [
            "sensors/1",
            "sensors/3",
            "sensors/1",
            "sensors/3",
            "sensors/2",
            "sensors/2"
        ]
    );
    // QoS 1 with an alias: acknowledged as usual.
    let mut p = alias_only(3, "g");
    p.qos = QosPid::AtLeastOnce(crate::harness::pid_of(1));
    h.send(p);
    assert_eq!(
        h.recv(),
        vec![PubAck::new(crate::harness::pid_of(1)).into()]
    );
    assert_eq!(topics(h.events()), ["sensors/3"]);
}

#[test]
fn inbound_topic_aliases_forgotten_on_reconnect_mqtt_3_3_2_7() {
    let mut h = harness_accepting_aliases(3);
    h.send(with_alias(inbound("t", QosPid::AtMostOnce, "a"), 1));
    let _ = h.events();
    let _ = h.drop_transport();
    h.reconnect(false);
    h.send(alias_only(1, "b"));
    h.assert_closed_by_client(
        &ConnectionError::Protocol(ProtocolError::UnknownTopicAlias(1)),
        DisconnectReason::ProtocolError,
    );
}

#[test]
fn topic_alias_0_or_above_max_or_unknown_is_error() {
    // Alias 0 [MQTT-3.3.2-8]: Topic Alias invalid. PUBLISH "a", QoS 0, properties
    // {Topic Alias: 0}, payload "x" (the codec cannot build it, so raw bytes).
    let mut h = harness_accepting_aliases(3);
    h.send_bytes(&[0x30, 0x08, 0x00, 0x01, b'a', 0x03, 0x23, 0x00, 0x00, b'x']);
    h.assert_closed_by_client(
        &ConnectionError::Protocol(ProtocolError::TopicAliasOutOfRange(0)),
        DisconnectReason::TopicAliasInvalid,
    );
    // Above our maximum [MQTT-3.3.2-10], [MQTT-3.1.2-26].
    let mut h = harness_accepting_aliases(3);
    h.send(with_alias(inbound("t", QosPid::AtMostOnce, "x"), 4));
    h.assert_closed_by_client(
        &ConnectionError::Protocol(ProtocolError::TopicAliasOutOfRange(4)),
        DisconnectReason::TopicAliasInvalid,
    );
    // Any alias when we announced none [MQTT-3.1.2-27].
    let mut h = harness_accepting_aliases(0);
    h.send(with_alias(inbound("t", QosPid::AtMostOnce, "x"), 1));
    h.assert_closed_by_client(
        &ConnectionError::Protocol(ProtocolError::TopicAliasOutOfRange(1)),
        DisconnectReason::TopicAliasInvalid,
    );
    // In range but never mapped on this connection: a Protocol Error.
    let mut h = harness_accepting_aliases(3);
    h.send(alias_only(2, "x"));
    h.assert_closed_by_client(
        &ConnectionError::Protocol(ProtocolError::UnknownTopicAlias(2)),
        DisconnectReason::ProtocolError,
    );
}

fn harness_assigning_aliases(server_max: u16) -> Harness {
    let mut o = opts(V5);
    o.outbound_topic_aliases = true;
    let mut ack = connack(false);
    ack.properties.topic_alias_maximum = Some(server_max);
    Harness::connected_with(o, ack)
}

/// Publish QoS 0 to `t`; return (topic on the wire, alias on the wire).
fn send_to(h: &mut Harness, t: &str) -> (String, Option<u16>) {
    h.publish(t, QoS::AtMostOnce, "x");
    let p = h.recv_publish();
    (
        p.topic.as_str().to_owned(),
        p.properties().topic_alias.map(|a| a.get()),
    )
}

#[test]
fn outbound_topic_aliases_assigned_lru_and_forgotten_on_reconnect() {
    let mut h = harness_assigning_aliases(2);
    // [MQTT-3.2.2-17], [MQTT-3.3.2-9]: aliases 1..=2 only.
    assert_eq!(send_to(&mut h, "a"), ("a".into(), Some(1)));
    assert_eq!(send_to(&mut h, "a"), ("".into(), Some(1)));
    assert_eq!(send_to(&mut h, "b"), ("b".into(), Some(2)));
    assert_eq!(send_to(&mut h, "a"), ("".into(), Some(1)));
    // Full: the least recently used (b) gives up its alias.
    assert_eq!(send_to(&mut h, "c"), ("c".into(), Some(2)));
    assert_eq!(send_to(&mut h, "c"), ("".into(), Some(2)));
    assert_eq!(send_to(&mut h, "a"), ("".into(), Some(1)));
    // Now c is the least recently used.
    assert_eq!(send_to(&mut h, "b"), ("b".into(), Some(2)));
    assert_eq!(send_to(&mut h, "a"), ("".into(), Some(1)));
    assert_eq!(send_to(&mut h, "b"), ("".into(), Some(2)));

    // A QoS 1 publish with an alias...
    h.publish("a", QoS::AtLeastOnce, "q1");
    let p = h.recv_publish();
    assert_eq!(p.topic.as_str(), "");
    let q1 = pid(&p);

    // ... and a new connection: aliases are forgotten [MQTT-3.3.2-7]; the resend carries the
    // full topic and no alias from the old connection.
    let _ = h.drop_transport();
    h.open();
    let mut ack = connack(true);
    ack.properties.topic_alias_maximum = Some(2);
    h.accept(ack);
    let resent = h.recv_publish();
    assert!(resent.dup);
    assert_eq!(pid(&resent), q1);
    assert_eq!(resent.topic.as_str(), "a");
    assert_eq!(resent.properties().topic_alias, None);
    assert_eq!(send_to(&mut h, "b"), ("b".into(), Some(1)));
    assert_eq!(send_to(&mut h, "b"), ("".into(), Some(1)));
}

#[test]
fn outbound_topic_aliases_only_when_the_server_allows_them() {
    // [MQTT-3.2.2-18]: no Topic Alias Maximum, no aliases.
    let mut h = harness_assigning_aliases(0);
    assert_eq!(send_to(&mut h, "a"), ("a".into(), None));
    assert_eq!(send_to(&mut h, "a"), ("a".into(), None));
    // The option is off by default.
    let mut ack = connack(false);
    ack.properties.topic_alias_maximum = Some(10);
    let mut h = Harness::connected_with(opts(V5), ack);
    assert_eq!(send_to(&mut h, "a"), ("a".into(), None));
    assert_eq!(send_to(&mut h, "a"), ("a".into(), None));
}

#[test]
fn outbound_alias_not_assumed_known_after_a_failed_encode() {
    let mut h = harness_assigning_aliases(2);
    // This publish cannot be encoded (a property longer than a string may be): the server
    // never learns the alias, so the next publish must carry the full topic.
    let mut props = PublishProperties::default();
    props.content_type = Some("x".repeat(70_000).into());
    let refused = h
        .client
        .publish(PublishRequest::new(topic("a"), QoS::AtMostOnce, "x").properties(props));
    h.recv_nothing();
    let failed = refused.is_err()
        || h.events()
            .iter()
            .any(|e| matches!(e, Event::Published { result: Err(_), .. }));
    assert!(failed, "the publish fails locally");
    assert_eq!(send_to(&mut h, "a"), ("a".into(), Some(1)));
    assert_eq!(send_to(&mut h, "a"), ("".into(), Some(1)));
}

#[test]
fn failed_publish_leaves_the_alias_table_as_it_was() {
    // A PUBLISH that cannot be encoded (here a user property holding U+0000) must neither
    // evict a mapping the server still holds nor leave two topics on one alias.
    let mut h = harness_assigning_aliases(2);
    assert_eq!(send_to(&mut h, "a"), ("a".into(), Some(1)));
    assert_eq!(send_to(&mut h, "b"), ("b".into(), Some(2)));
    let mut props = PublishProperties::default();
    props
        .user_properties
        .push(mqtt_proto::UserProperty::new("k", "bad\0"));
    let bad = PublishRequest::new(topic("c"), QoS::AtMostOnce, "x").properties(props);
    h.client.publish(bad).unwrap();
    h.recv_nothing();
    let events = h.events();
    assert!(
        matches!(events.last(), Some(Event::Published { result: Err(_), .. })),
        "{events:?}"
    );
    // Both mappings survive, and the next new topic takes the least recently used one.
    assert_eq!(send_to(&mut h, "a"), ("".into(), Some(1)));
    assert_eq!(send_to(&mut h, "b"), ("".into(), Some(2)));
    assert_eq!(send_to(&mut h, "d"), ("d".into(), Some(1)));
    assert_eq!(send_to(&mut h, "b"), ("".into(), Some(2)));
    assert_eq!(send_to(&mut h, "a"), ("a".into(), Some(1)));
}

#[test]
fn publish_that_fits_only_without_its_new_alias_goes_without_one() {
    // The Topic Alias property adds 3 bytes; a PUBLISH within 3 bytes of the server's
    // Maximum Packet Size is sent with its topic and no alias rather than refused.
    let mut o = opts(V5);
    o.outbound_topic_aliases = true;
    let mut ack = connack(false);
    ack.properties.topic_alias_maximum = Some(4);
    // PUBLISH QoS 0, topic "t", no properties, 10-byte payload: 2 + 2 + 1 + 1 + 10 = 16.
    ack.properties.maximum_packet_size = Some(crate::harness::nz32(16));
    let mut h = Harness::connected_with(o, ack);
    h.publish("t", QoS::AtMostOnce, "0123456789");
    let p = h.recv_publish();
    assert_eq!(p.topic.as_str(), "t");
    assert_eq!(p.properties().topic_alias, None);
    assert!(matches!(
        h.events().last(),
        Some(Event::Published { result: Ok(_), .. })
    ));
}

/// Publish QoS 0 to `t` asking for `alias` (as `mosquitto_pub -D publish topic-alias N`);
/// return (topic on the wire, alias on the wire).
fn send_asking(h: &mut Harness, t: &str, alias: u16) -> (String, Option<u16>) {
    let mut props = PublishProperties::default();
    props.topic_alias = Some(nz16(alias));
    let req = PublishRequest::new(topic(t), QoS::AtMostOnce, "x").properties(props);
    h.client.publish(req).unwrap();
    let p = h.recv_publish();
    (
        p.topic.as_str().to_owned(),
        p.properties().topic_alias.map(|a| a.get()),
    )
}

fn harness_allowing_aliases(server_max: u16) -> Harness {
    let mut ack = connack(false);
    ack.properties.topic_alias_maximum = Some(server_max);
    Harness::connected_with(opts(V5), ack)
}

#[test]
fn an_alias_asked_for_is_used_as_mosquitto_pub_uses_it() {
    // Issue 16: the first PUBLISH maps the alias (topic + alias), later ones carry an empty
    // topic and the alias; automatic aliases are not needed for it.
    let mut h = harness_allowing_aliases(2);
    assert_eq!(send_asking(&mut h, "a", 2), ("a".into(), Some(2)));
    assert_eq!(send_asking(&mut h, "a", 2), ("".into(), Some(2)));
    assert_eq!(send_asking(&mut h, "a", 2), ("".into(), Some(2)));
    // Another topic asking for the same alias takes it over (and maps it again)...
    assert_eq!(send_asking(&mut h, "b", 2), ("b".into(), Some(2)));
    assert_eq!(send_asking(&mut h, "b", 2), ("".into(), Some(2)));
    // ... so the first topic must map it again too.
    assert_eq!(send_asking(&mut h, "a", 2), ("a".into(), Some(2)));
    // A topic moved to another alias.
    assert_eq!(send_asking(&mut h, "a", 1), ("a".into(), Some(1)));
    assert_eq!(send_asking(&mut h, "a", 1), ("".into(), Some(1)));
    // Without asking (and without automatic aliases), no alias.
    assert_eq!(send_to(&mut h, "a"), ("a".into(), None));

    // A new connection forgets them [MQTT-3.3.2-7]: mapped again.
    let _ = h.drop_transport();
    h.open();
    let mut ack = connack(true);
    ack.properties.topic_alias_maximum = Some(2);
    h.accept(ack);
    assert_eq!(send_asking(&mut h, "a", 1), ("a".into(), Some(1)));
    assert_eq!(send_asking(&mut h, "a", 1), ("".into(), Some(1)));
}

#[test]
fn an_alias_the_server_does_not_allow_is_dropped_mqtt_3_3_2_9() {
    // Above the server's Topic Alias Maximum, or none allowed: the topic goes instead.
    let mut h = harness_allowing_aliases(2);
    assert_eq!(send_asking(&mut h, "a", 3), ("a".into(), None));
    assert_eq!(send_asking(&mut h, "a", 3), ("a".into(), None));
    let mut h = harness_allowing_aliases(0);
    assert_eq!(send_asking(&mut h, "a", 1), ("a".into(), None));
    assert_eq!(send_asking(&mut h, "a", 1), ("a".into(), None));
}

#[test]
fn automatic_aliases_work_around_those_asked_for() {
    let mut h = harness_assigning_aliases(3);
    assert_eq!(send_asking(&mut h, "x", 1), ("x".into(), Some(1)));
    // Automatic ones take the lowest free aliases, never one in use.
    assert_eq!(send_to(&mut h, "a"), ("a".into(), Some(2)));
    assert_eq!(send_to(&mut h, "b"), ("b".into(), Some(3)));
    assert_eq!(send_to(&mut h, "x"), ("".into(), Some(1)));
    assert_eq!(send_to(&mut h, "a"), ("".into(), Some(2)));
    // Full: the least recently used (b) gives up its alias.
    assert_eq!(send_to(&mut h, "c"), ("c".into(), Some(3)));
    // Asking for an alias another topic holds takes it over; that topic maps again.
    assert_eq!(send_asking(&mut h, "x", 2), ("x".into(), Some(2)));
    assert_eq!(send_to(&mut h, "a"), ("a".into(), Some(1)));
    assert_eq!(send_to(&mut h, "x"), ("".into(), Some(2)));
    assert_eq!(send_to(&mut h, "c"), ("".into(), Some(3)));
}
