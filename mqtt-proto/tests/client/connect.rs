//! Connecting: the CONNECT built from the options, the CONNACK timeout, refusals, and what an
//! accepting CONNACK says (5.0) applied to later requests.

use std::time::Duration;

use bytes::Bytes;
use mqtt_proto::client::{
    ClientOptions, ConnectionError, ConnectionState, Event, Limit, PublishRequest, RequestError,
};
use mqtt_proto::{
    ConnAck, ConnectProperties, ConnectReason, EncodeError, Packet, PubAck, QoS, SubAck,
    SubAckReason, SubscribeProperties, SubscriptionId, UserProperty, Will, WillProperties,
};

use crate::auth::TestAuth;
use crate::harness::{
    BOTH, Harness, V5, V311, connack, nz16, nz32, opts, pid, published, sub, topic,
};

fn will() -> Will {
    let mut will = Will::new(topic("clients/c/status"), "gone");
    will.qos = QoS::AtLeastOnce;
    will.retain = true;
    will
}

#[test]
fn connect_sends_options_in_connect_v311() {
    let mut o = ClientOptions::new(V311, "client-1");
    o.keep_alive = Duration::from_secs(30);
    o.will = Some(will());
    o.username = Some("user".into());
    o.password = Some(Bytes::from_static(b"secret"));
    // 5.0-only options must not leak into a 3.1.1 CONNECT.
    o.session_expiry_interval = 60;
    o.topic_alias_maximum = 4;
    o.user_properties = vec![UserProperty::new("k", "v")];
    let mut h = Harness::new(o);
    let c = h.open();
    assert_eq!(c.protocol, V311);
    assert_eq!(c.client_id, "client-1");
    assert!(c.clean_start);
    assert_eq!(c.keep_alive, 30);
    assert_eq!(c.will, Some(will()));
    assert_eq!(c.username.as_deref(), Some("user"));
    assert_eq!(c.password, Some(Bytes::from_static(b"secret")));
    assert!(c.properties.is_empty());
}

#[test]
fn connect_sends_options_in_connect_v311_without_will_properties() {
    // Will properties are 5.0 only: a 3.1.1 CONNECT goes out without them rather than not at
    // all.
    let mut o = ClientOptions::new(V311, "c");
    let mut w = will();
    w.properties.will_delay_interval = Some(5);
    o.will = Some(w);
    let mut h = Harness::new(o);
    let c = h.open();
    assert_eq!(c.will, Some(will()));
}

#[test]
fn connect_sends_options_in_connect_v5() {
    let mut o = ClientOptions::new(V5, "client-1");
    o.clean_start = true;
    o.keep_alive = Duration::from_secs(30);
    let mut w = will();
    let mut wp = WillProperties::default();
    wp.will_delay_interval = Some(5);
    wp.payload_format_indicator = Some(true);
    wp.message_expiry_interval = Some(600);
    wp.content_type = Some("text/plain".into());
    wp.response_topic = Some(topic("clients/c/reply"));
    wp.correlation_data = Some(Bytes::from_static(b"corr"));
    wp.user_properties = vec![UserProperty::new("w", "1")];
    w.properties = wp;
    o.will = Some(w.clone());
    o.username = Some("user".into());
    o.password = Some(Bytes::from_static(b"secret"));
    o.session_expiry_interval = 3600;
    o.receive_maximum = nz16(10);
    o.max_packet_size = nz32(64 * 1024);
    o.topic_alias_maximum = 8;
    o.request_response_information = true;
    o.request_problem_information = Some(false);
    o.user_properties = vec![UserProperty::new("a", "b"), UserProperty::new("a", "c")];
    let mut h = Harness::new(o);
    h.client.set_authenticator(Box::new(TestAuth::default()));
    let c = h.open();
    assert_eq!(c.protocol, V5);
    assert_eq!(c.client_id, "client-1");
    assert!(c.clean_start);
    assert_eq!(c.keep_alive, 30);
    assert_eq!(c.will, Some(w));
    assert_eq!(c.username.as_deref(), Some("user"));
    assert_eq!(c.password, Some(Bytes::from_static(b"secret")));
    let mut p = ConnectProperties::default();
    p.session_expiry_interval = Some(3600);
    p.receive_maximum = Some(nz16(10));
    p.maximum_packet_size = Some(nz32(64 * 1024));
    p.topic_alias_maximum = Some(8);
    p.request_response_information = Some(true);
    p.request_problem_information = Some(false);
    p.authentication_method = Some(TestAuth::METHOD.into());
    p.authentication_data = Some(Bytes::from_static(TestAuth::FIRST));
    p.user_properties = vec![UserProperty::new("a", "b"), UserProperty::new("a", "c")];
    assert_eq!(c.properties, p);
}

#[test]
fn connect_defaults_announce_a_maximum_packet_size_in_mib_v5() {
    let mut h = Harness::new(opts(V5));
    let c = h.open();
    assert_eq!(c.keep_alive, 60);
    assert!(c.clean_start);
    let max = c.properties.maximum_packet_size.unwrap().get();
    assert!(max >= 1024 * 1024, "maximum packet size {max}");
    assert_eq!(c.properties.session_expiry_interval, None);
    assert_eq!(c.properties.authentication_method, None);
}

#[test]
fn connack_timeout_closes() {
    for v in BOTH {
        let mut o = opts(v);
        o.connect_timeout = Duration::from_secs(10);
        let mut h = Harness::new(o);
        h.open();
        assert_eq!(h.client.state(), ConnectionState::Connecting);
        h.advance(Duration::from_millis(9_999));
        assert!(h.events().is_empty());
        h.advance(Duration::from_millis(1));
        assert_eq!(
            h.expect_disconnected(),
            ConnectionError::ConnectTimeout(Duration::from_secs(10))
        );
        // The message names the limit that fired and its value.
        assert_eq!(
            ConnectionError::ConnectTimeout(Duration::from_secs(10)).to_string(),
            "no CONNACK within the connect timeout (10 s)"
        );
        assert_eq!(
            ConnectionError::ConnectTimeout(Duration::from_millis(250)).to_string(),
            "no CONNACK within the connect timeout (250 ms)"
        );
        assert_eq!(
            ConnectionError::ConnectTimeout(Duration::from_millis(1500)).to_string(),
            "no CONNACK within the connect timeout (1.5 s)"
        );
        h.recv_nothing();
        assert_eq!(h.client.poll_timeout(), None);
        // No keepalive before CONNACK either: nothing more happens, however long we wait.
        h.advance(Duration::from_secs(3600));
        h.recv_nothing();
        assert!(h.events().is_empty());
        // And the next attempt works.
        h.assert_next_connection_healthy();
    }
}

#[test]
fn connack_before_timeout_disarms_it() {
    let mut h = Harness::new(opts(V311));
    h.open();
    h.advance(Duration::from_secs(29));
    h.accept(connack(false));
    h.advance(Duration::from_secs(5));
    assert!(h.events().is_empty());
    assert_eq!(h.client.state(), ConnectionState::Connected);
}

#[test]
fn refused_connack_reports_reason_v311() {
    // 3.1.1 §3.2.2.3: return codes 1 to 5.
    let codes = [
        (1, ConnectReason::UnsupportedProtocolVersion),
        (2, ConnectReason::ClientIdentifierNotValid),
        (3, ConnectReason::ServerUnavailable),
        (4, ConnectReason::BadUserNameOrPassword),
        (5, ConnectReason::NotAuthorized),
    ];
    let mut h = Harness::new(opts(V311));
    for (code, reason) in codes {
        h.open();
        h.send_bytes(&[0x20, 0x02, 0x00, code]);
        assert_eq!(
            h.expect_disconnected(),
            ConnectionError::Refused {
                reason,
                server_reference: None,
                reason_string: None,
            }
        );
        h.recv_nothing();
        assert_eq!(h.client.poll_timeout(), None);
        let _ = h.drop_transport();
    }
    h.assert_next_connection_healthy();
}

#[test]
fn refused_connack_reports_reason_v5() {
    let reasons = [
        ConnectReason::UnspecifiedError,
        ConnectReason::MalformedPacket,
        ConnectReason::ProtocolError,
        ConnectReason::ImplementationSpecificError,
        ConnectReason::UnsupportedProtocolVersion,
        ConnectReason::ClientIdentifierNotValid,
        ConnectReason::BadUserNameOrPassword,
        ConnectReason::NotAuthorized,
        ConnectReason::ServerUnavailable,
        ConnectReason::ServerBusy,
        ConnectReason::Banned,
        ConnectReason::BadAuthenticationMethod,
        ConnectReason::TopicNameInvalid,
        ConnectReason::PacketTooLarge,
        ConnectReason::QuotaExceeded,
        ConnectReason::PayloadFormatInvalid,
        ConnectReason::RetainNotSupported,
        ConnectReason::QoSNotSupported,
        ConnectReason::ConnectionRateExceeded,
    ];
    let mut h = Harness::new(opts(V5));
    for reason in reasons {
        h.open();
        let mut ack = ConnAck::new(false, reason);
        ack.properties.reason_string = Some("go away".into());
        h.send(ack);
        assert_eq!(
            h.expect_disconnected(),
            ConnectionError::Refused {
                reason,
                server_reference: None,
                reason_string: Some("go away".into()),
            }
        );
        // A refusal is the server's last word: the client says nothing back.
        h.recv_nothing();
        let _ = h.drop_transport();
    }
    h.assert_next_connection_healthy();
}

/// A 3.1.1-only server (aedes) answers a 5.0 CONNECT with `20 02 00 01`, its "unacceptable
/// protocol version": a 5.0 client reports the refusal by its 5.0 name, Unsupported Protocol
/// Version [MQTT-3.1.2-2], which is what lets a caller fall back to 3.1.1. Not a malformed
/// packet, and no DISCONNECT back (a refusal is the server's last word).
#[test]
fn v3_1_1_version_refusal_on_v5_is_unsupported_protocol_version_mqtt_3_1_2_2() {
    let mut h = Harness::new(opts(V5));
    h.open();
    h.send_bytes(&[0x20, 0x02, 0x00, 0x01]);
    assert_eq!(
        h.expect_disconnected(),
        ConnectionError::Refused {
            reason: ConnectReason::UnsupportedProtocolVersion,
            server_reference: None,
            reason_string: None,
        }
    );
    h.recv_nothing();
    assert_eq!(h.client.poll_timeout(), None);
    let _ = h.drop_transport();
    h.assert_next_connection_healthy();
}

#[test]
fn refused_connack_reports_server_reference_for_use_another_server_v5() {
    let mut h = Harness::new(opts(V5));
    for reason in [ConnectReason::UseAnotherServer, ConnectReason::ServerMoved] {
        h.open();
        let mut ack = ConnAck::new(false, reason);
        ack.properties.server_reference = Some("other.example:1883".into());
        h.send(ack);
        assert_eq!(
            h.expect_disconnected(),
            ConnectionError::Refused {
                reason,
                server_reference: Some("other.example:1883".into()),
                reason_string: None,
            }
        );
        h.recv_nothing();
        let _ = h.drop_transport();
    }
}

#[test]
fn refused_connack_keeps_requests_for_the_next_attempt() {
    let mut h = Harness::new(opts(V5));
    let id = h.publish("t", QoS::AtLeastOnce, "kept");
    h.open();
    h.send(ConnAck::new(false, ConnectReason::ServerBusy));
    let _ = h.expect_disconnected();
    h.recv_nothing();
    let _ = h.drop_transport();
    h.reconnect(false);
    let p = h.recv_publish();
    assert_eq!(p.payload, "kept");
    h.send(PubAck::new(pid(&p)));
    assert_eq!(published(&h.events()), vec![(id, true)]);
}

// ---- what CONNACK says (5.0) ----

#[test]
fn connack_limits_applied_receive_maximum_caps_inflight() {
    let mut ack = connack(false);
    ack.properties.receive_maximum = Some(nz16(2));
    let mut h = Harness::connected_with(opts(V5), ack);
    assert_eq!(h.client.server().receive_maximum, 2);
    assert_eq!(h.client.inflight_limit(), 2);
    for payload in ["1", "2", "3"] {
        h.publish("t", QoS::AtLeastOnce, payload);
    }
    let sent = h.recv();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!((h.client.inflight(), h.client.queued()), (2, 1));
    let Packet::Publish(first) = &sent[0] else {
        panic!("{sent:?}")
    };
    h.send(PubAck::new(pid(first)));
    assert_eq!(h.recv_publish().payload, "3");
}

#[test]
fn connack_limits_applied_our_inflight_limit_when_lower() {
    let mut o = opts(V5);
    o.max_inflight = nz16(1);
    let mut ack = connack(false);
    ack.properties.receive_maximum = Some(nz16(10));
    let mut h = Harness::connected_with(o, ack);
    assert_eq!(h.client.inflight_limit(), 1);
    h.publish("t", QoS::ExactlyOnce, "1");
    h.publish("t", QoS::ExactlyOnce, "2");
    assert_eq!(h.recv().len(), 1);
}

#[test]
fn connack_limits_applied_maximum_packet_size_refuses_locally() {
    // [MQTT-3.2.2-15]: nothing larger than the server's Maximum Packet Size goes out.
    let mut ack = connack(false);
    ack.properties.maximum_packet_size = Some(nz32(64));
    let mut h = Harness::connected_with(opts(V5), ack);
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let big = PublishRequest::new(topic("t"), qos, vec![0u8; 100]);
        let result = h.client.publish(big);
        assert!(
            matches!(
                result,
                Err(RequestError::Encode(EncodeError::PacketTooLarge {
                    max: 64,
                    ..
                }))
            ),
            "{result:?}"
        );
        h.recv_nothing();
        assert!(h.events().is_empty());
        assert_eq!(h.client.packet_ids_in_use(), 0);
    }
    // A packet that fits goes.
    h.publish("t", QoS::AtLeastOnce, "small");
    assert_eq!(h.recv_publish().payload, "small");
}

#[test]
fn connack_limits_applied_maximum_packet_size_to_requests_queued_while_disconnected() {
    let mut h = Harness::new(opts(V5));
    let id = h
        .client
        .publish(PublishRequest::new(
            topic("t"),
            QoS::AtLeastOnce,
            vec![0u8; 100],
        ))
        .unwrap();
    h.open();
    let mut ack = connack(false);
    ack.properties.maximum_packet_size = Some(nz32(64));
    let events = h.accept(ack);
    h.recv_nothing();
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Published { id: got, result: Err(RequestError::Encode(EncodeError::PacketTooLarge { .. })) }
            if *got == id)),
        "{events:?}"
    );
    assert_eq!(h.client.packet_ids_in_use(), 0);
}

#[test]
fn connack_limits_applied_maximum_qos_and_retain_fail_locally() {
    let mut ack = connack(false);
    ack.properties.maximum_qos = Some(QoS::AtLeastOnce);
    ack.properties.retain_available = Some(false);
    let mut h = Harness::connected_with(opts(V5), ack);
    // [MQTT-3.2.2-11]
    assert_eq!(
        h.client
            .publish(PublishRequest::new(topic("t"), QoS::ExactlyOnce, "x")),
        Err(RequestError::NotAllowed(Limit::MaximumQoS(
            QoS::AtLeastOnce
        )))
    );
    // [MQTT-3.2.2-14]
    assert_eq!(
        h.client
            .publish(PublishRequest::new(topic("t"), QoS::AtMostOnce, "x").retain(true)),
        Err(RequestError::NotAllowed(Limit::RetainNotAvailable))
    );
    h.recv_nothing();
    assert!(h.events().is_empty());
    assert_eq!(h.client.queued(), 0);
    h.publish("t", QoS::AtLeastOnce, "ok");
    assert_eq!(h.recv_publish().payload, "ok");
}

#[test]
fn connack_limits_applied_maximum_qos_to_requests_queued_while_disconnected() {
    let mut h = Harness::new(opts(V5));
    let id = h.publish("t", QoS::ExactlyOnce, "x");
    h.open();
    let mut ack = connack(false);
    ack.properties.maximum_qos = Some(QoS::AtMostOnce);
    let events = h.accept(ack);
    h.recv_nothing();
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Published { id: got, result: Err(RequestError::NotAllowed(Limit::MaximumQoS(QoS::AtMostOnce))) }
            if *got == id)),
        "{events:?}"
    );
}

#[test]
fn connack_limits_applied_subscription_features_fail_locally() {
    let mut ack = connack(false);
    ack.properties.wildcard_subscription_available = Some(false);
    ack.properties.shared_subscription_available = Some(false);
    ack.properties.subscription_identifier_available = Some(false);
    let mut h = Harness::connected_with(opts(V5), ack);
    assert_eq!(
        h.client.subscribe(
            vec![sub("a/+", QoS::AtMostOnce)],
            SubscribeProperties::default()
        ),
        Err(RequestError::NotAllowed(
            Limit::WildcardSubscriptionsNotAvailable
        ))
    );
    assert_eq!(
        h.client.subscribe(
            vec![sub("a/#", QoS::AtMostOnce)],
            SubscribeProperties::default()
        ),
        Err(RequestError::NotAllowed(
            Limit::WildcardSubscriptionsNotAvailable
        ))
    );
    assert_eq!(
        h.client.subscribe(
            vec![sub("$share/g/a", QoS::AtMostOnce)],
            SubscribeProperties::default()
        ),
        Err(RequestError::NotAllowed(
            Limit::SharedSubscriptionsNotAvailable
        ))
    );
    let mut with_id = SubscribeProperties::default();
    with_id.subscription_identifier = SubscriptionId::new(1);
    assert_eq!(
        h.client.subscribe(vec![sub("a", QoS::AtMostOnce)], with_id),
        Err(RequestError::NotAllowed(
            Limit::SubscriptionIdentifiersNotAvailable
        ))
    );
    h.recv_nothing();
    assert!(h.events().is_empty());
    // A plain subscription is fine.
    h.client
        .subscribe(
            vec![sub("a", QoS::AtMostOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    let Packet::Subscribe(s) = h.recv_one() else {
        panic!()
    };
    h.send(SubAck::new(s.packet_id, vec![SubAckReason::GrantedQoS0]));
}

#[test]
fn connack_limits_applied_server_keep_alive_replaces_ours() {
    // [MQTT-3.2.2-21]
    let mut o = opts(V5);
    o.keep_alive = Duration::from_secs(60);
    let mut ack = connack(false);
    ack.properties.server_keep_alive = Some(5);
    let mut h = Harness::connected_with(o, ack);
    assert_eq!(h.client.server().keep_alive, Duration::from_secs(5));
    h.advance(Duration::from_millis(4_999));
    h.recv_nothing();
    h.advance(Duration::from_millis(1));
    assert_eq!(h.recv(), vec![Packet::PingReq]);
}

#[test]
fn connack_limits_applied_server_keep_alive_zero_turns_keepalive_off() {
    let mut ack = connack(false);
    ack.properties.server_keep_alive = Some(0);
    let mut h = Harness::connected_with(opts(V5), ack);
    assert_eq!(h.client.poll_timeout(), None);
    h.advance(Duration::from_secs(3600));
    h.recv_nothing();
}

#[test]
fn connack_limits_applied_assigned_client_identifier_used_on_reconnect() {
    let mut o = opts(V5);
    o.client_id = "".into();
    let mut h = Harness::new(o);
    assert_eq!(h.open().client_id, "");
    let mut ack = connack(false);
    ack.properties.assigned_client_identifier = Some("srv-assigned-1".into());
    let events = h.accept(ack);
    let Some(Event::Connected(c)) = events.first() else {
        panic!("{events:?}")
    };
    assert_eq!(
        c.properties.assigned_client_identifier.as_deref(),
        Some("srv-assigned-1")
    );
    assert_eq!(h.client.options().client_id, "srv-assigned-1");
    let _ = h.drop_transport();
    let c = h.open();
    assert_eq!(c.client_id, "srv-assigned-1");
    // The session can only be resumed under the assigned identifier.
    assert!(!c.clean_start);
}

#[test]
fn connack_limits_applied_response_information_reported() {
    let mut o = opts(V5);
    o.request_response_information = true;
    let mut h = Harness::new(o);
    h.open();
    let mut ack = connack(false);
    ack.properties.response_information = Some("replies/c".into());
    ack.properties.topic_alias_maximum = Some(3);
    let events = h.accept(ack);
    let Some(Event::Connected(c)) = events.first() else {
        panic!("{events:?}")
    };
    assert_eq!(
        c.properties.response_information.as_deref(),
        Some("replies/c")
    );
    assert!(!c.session_present);
    assert_eq!(h.client.server().topic_alias_maximum, 3);
}

#[test]
fn connack_limits_reset_on_the_next_connection() {
    let mut ack = connack(false);
    ack.properties.maximum_qos = Some(QoS::AtMostOnce);
    let mut h = Harness::connected_with(opts(V5), ack);
    assert!(
        h.client
            .publish(PublishRequest::new(topic("t"), QoS::AtLeastOnce, "x"))
            .is_err()
    );
    let _ = h.drop_transport();
    h.reconnect(false);
    h.publish("t", QoS::AtLeastOnce, "x");
    assert_eq!(h.recv_publish().qos.qos(), QoS::AtLeastOnce);
}

#[test]
fn connack_limits_applied_to_subscriptions_queued_while_disconnected() {
    let mut h = Harness::new(opts(V5));
    let id = h
        .client
        .subscribe(
            vec![sub("a/#", QoS::AtMostOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    h.open();
    let mut ack = connack(false);
    ack.properties.wildcard_subscription_available = Some(false);
    let events = h.accept(ack);
    h.recv_nothing();
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Subscribed { id: got, result: Err(RequestError::NotAllowed(Limit::WildcardSubscriptionsNotAvailable)) }
            if *got == id)),
        "{events:?}"
    );
    assert_eq!(h.client.packet_ids_in_use(), 0);
}

#[test]
fn unencodable_connect_fails_at_once_with_nothing_sent() {
    // 3.1.1 forbids a password without a user name [MQTT-3.1.2-22]: the attempt ends now,
    // not at the CONNACK timeout, and no byte goes on the wire.
    let mut o = opts(V311);
    o.password = Some(Bytes::from_static(b"secret"));
    let mut h = Harness::new(o);
    h.client.connect(h.now);
    h.recv_nothing();
    assert_eq!(
        h.events(),
        vec![Event::Disconnected(ConnectionError::InvalidConnect(
            EncodeError::PasswordWithoutUsername
        ))]
    );
    assert_eq!(h.client.state(), ConnectionState::Disconnected);
    assert_eq!(h.client.poll_timeout(), None);
}

#[test]
fn empty_client_id_without_clean_session_refused_on_3_1_1_mqtt_3_1_3_7() {
    // "If the Client supplies a zero-byte ClientId, the Client MUST also set CleanSession to
    // 1": the attempt fails at once, nothing sent. 5.0 lets the server assign one.
    let mut o = opts(V311);
    o.client_id = "".into();
    o.clean_start = false;
    let mut h = Harness::new(o);
    h.client.connect(h.now);
    h.recv_nothing();
    assert_eq!(
        h.events(),
        vec![Event::Disconnected(ConnectionError::InvalidConnect(
            EncodeError::EmptyClientIdWithoutCleanSession
        ))]
    );
    let mut o = opts(V5);
    o.client_id = "".into();
    o.clean_start = false;
    let mut h = Harness::new(o);
    let connect = h.open();
    assert!(connect.client_id.is_empty() && !connect.clean_start);
}
