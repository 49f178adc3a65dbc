//! Byte fixtures for every MQTT 5.0 packet, written out field by field: each is decoded to an
//! exact `Packet` and that packet is encoded back to the exact same bytes.
//!
//! Properties are written in the order the encoder emits them (the field order of each
//! properties struct, repeatable properties last); repeated properties keep their order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use mqtt_proto::ProtocolVersion::V5;
use mqtt_proto::{
    AckProperties, Auth, AuthProperties, AuthReason, ConnAck, ConnAckProperties, Connect,
    ConnectProperties, ConnectReason, DecodeError, Disconnect, DisconnectProperties,
    DisconnectReason, Packet, PacketType, PubAck, PubAckReason, PubComp, PubRec, PubRel,
    PubRelReason, Publish, PublishProperties, QoS, QosPid, RetainHandling, SubAck, SubAckReason,
    Subscribe, SubscribeFilter, SubscribeProperties, SubscriptionOptions, TopicName, UnsubAck,
    UnsubAckReason, Unsubscribe, UnsubscribeProperties, Will, WillProperties,
};

use common::{
    check, check_decode, check_encode, decode_err, filter, nz16, nz32, pid, sub_id, topic, user,
};

// ---- CONNECT ---------------------------------------------------------------------------------

#[test]
fn connect_v5_minimal() {
    let wire: &[u8] = &[
        0x10, 0x0d, // CONNECT; remaining length 13
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x05, // protocol level 5
        0x02, // flags: clean start
        0x00, 0x3c, // keep alive 60 s
        0x00, // property length 0
        0x00, 0x00, // client id ""
    ];
    check(V5, wire, &Connect::new(V5, "").into());
}

#[test]
fn connect_v5_every_property_will_with_every_property_username_password() {
    let wire: &[u8] = &[
        0x10, 0x75, // CONNECT; remaining length 117
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x05, // protocol level 5
        0xee, // flags: username, password, will retain, will QoS 1, will, clean start
        0x00, 0x1e, // keep alive 30 s
        0x2f, // property length 47
        0x11, 0x00, 0x00, 0x0e, 0x10, // session expiry interval 3600 s
        0x21, 0x00, 0x14, // receive maximum 20
        0x27, 0x00, 0x01, 0x00, 0x00, // maximum packet size 65536
        0x22, 0x00, 0x0a, // topic alias maximum 10
        0x19, 0x01, // request response information: yes
        0x17, 0x00, // request problem information: no
        0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M', // authentication method "SCRAM"
        0x16, 0x00, 0x02, 0x01, 0x02, // authentication data 01 02
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'w', // user property k=w (same name again)
        0x00, 0x01, b'c', // client id "c"
        0x25, // will property length 37
        0x18, 0x00, 0x00, 0x00, 0x05, // will delay interval 5 s
        0x01, 0x01, // payload format indicator: UTF-8
        0x02, 0x00, 0x00, 0x00, 0x3c, // message expiry interval 60 s
        0x03, 0x00, 0x04, b't', b'e', b'x', b't', // content type "text"
        0x08, 0x00, 0x03, b'r', b'/', b'1', // response topic "r/1"
        0x09, 0x00, 0x02, 0xca, 0xfe, // correlation data ca fe
        0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b', // user property a=b
        0x00, 0x03, b'w', b'/', b't', // will topic "w/t"
        0x00, 0x04, b'g', b'o', b'n', b'e', // will payload "gone"
        0x00, 0x01, b'u', // user name "u"
        0x00, 0x02, b'p', b'w', // password "pw"
    ];
    let mut properties = ConnectProperties::default();
    properties.session_expiry_interval = Some(3600);
    properties.receive_maximum = Some(nz16(20));
    properties.maximum_packet_size = Some(nz32(65536));
    properties.topic_alias_maximum = Some(10);
    properties.request_response_information = Some(true);
    properties.request_problem_information = Some(false);
    properties.authentication_method = Some("SCRAM".into());
    properties.authentication_data = Some(Bytes::from_static(&[1, 2]));
    properties.user_properties = vec![user("k", "v"), user("k", "w")];
    let mut will_properties = WillProperties::default();
    will_properties.will_delay_interval = Some(5);
    will_properties.payload_format_indicator = Some(true);
    will_properties.message_expiry_interval = Some(60);
    will_properties.content_type = Some("text".into());
    will_properties.response_topic = Some(topic("r/1"));
    will_properties.correlation_data = Some(Bytes::from_static(&[0xca, 0xfe]));
    will_properties.user_properties = vec![user("a", "b")];
    let connect = Connect {
        keep_alive: 30,
        will: Some(Will {
            topic: topic("w/t"),
            payload: Bytes::from_static(b"gone"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: will_properties,
        }),
        username: Some("u".into()),
        password: Some(Bytes::from_static(b"pw")),
        properties,
        ..Connect::new(V5, "c")
    };
    check(V5, wire, &connect.into());
}

#[test]
fn connect_v5_password_without_username_is_allowed() {
    // 5.0 dropped 3.1.1's [MQTT-3.1.2-22]: a password may come without a user name.
    let wire: &[u8] = &[
        0x10, 0x10, // CONNECT; remaining length 16
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x05, // protocol level 5
        0x42, // flags: password, clean start; no user name
        0x00, 0x3c, // keep alive 60 s
        0x00, // property length 0
        0x00, 0x00, // client id ""
        0x00, 0x01, b'p', // password "p"
    ];
    let connect = Connect {
        password: Some(Bytes::from_static(b"p")),
        ..Connect::new(V5, "")
    };
    check(V5, wire, &connect.into());
}

// ---- CONNACK ---------------------------------------------------------------------------------

#[test]
fn connack_v5_every_reason_code_mqtt_3_2_2_8() {
    for &reason in ConnectReason::ALL {
        #[rustfmt::skip]
        let wire: &[u8] = &[
            0x20, 0x03, // CONNACK; remaining length 3
            0x00, // acknowledge flags: no session present
            reason.code(), // reason code
            0x00, // property length 0
        ];
        check(V5, wire, &ConnAck::new(false, reason).into());
    }
}

/// A server that only speaks 3.1.1 (aedes) answers a 5.0 CONNECT with its own refusal, return
/// code 1 and no property length: on 5.0 that is "Unsupported Protocol Version", the refusal
/// 5.0 allows for a version the server does not support [MQTT-3.1.2-2], not a malformed
/// packet. (Encoding it on 5.0 gives the 5.0 shape, 0x84 with a property length.)
#[test]
fn connack_v3_1_1_version_refusal_decodes_on_v5_as_unsupported_protocol_version_mqtt_3_1_2_2() {
    #[rustfmt::skip]
    let wire: &[u8] = &[
        0x20, 0x02, // CONNACK; remaining length 2 (the 3.1.1 shape)
        0x00, // acknowledge flags: no session present
        0x01, // 3.1.1 return code 1: unacceptable protocol version
    ];
    check_decode(
        V5,
        wire,
        &ConnAck::new(false, ConnectReason::UnsupportedProtocolVersion).into(),
    );
    // Every other 3.1.1-shaped CONNACK stays malformed on 5.0: the property length is
    // missing, and a return code other than 1 is no version refusal.
    assert_eq!(
        decode_err(V5, &[0x20, 0x02, 0x00, 0x00]),
        DecodeError::Truncated(PacketType::ConnAck)
    );
    for body in [[0x00, 0x02], [0x00, 0x05], [0x01, 0x01]] {
        assert_eq!(
            decode_err(V5, &[0x20, 0x02, body[0], body[1]]),
            DecodeError::InvalidReasonCode {
                packet: PacketType::ConnAck,
                code: body[1]
            },
            "{body:02x?}"
        );
    }
}

#[test]
fn connack_v5_every_property() {
    let wire: &[u8] = &[
        0x20, 0x44, // CONNACK; remaining length 68
        0x01, // acknowledge flags: session present
        0x00, // reason code: success
        0x41, // property length 65
        0x11, 0x00, 0x00, 0x00, 0x78, // session expiry interval 120 s
        0x21, 0x00, 0x0a, // receive maximum 10
        0x24, 0x01, // maximum QoS 1
        0x25, 0x00, // retain available: no
        0x27, 0x00, 0x00, 0x10, 0x00, // maximum packet size 4096
        0x12, 0x00, 0x03, b'a', b'b', b'c', // assigned client identifier "abc"
        0x22, 0x00, 0x05, // topic alias maximum 5
        0x1f, 0x00, 0x02, b'o', b'k', // reason string "ok"
        0x28, 0x01, // wildcard subscription available: yes
        0x29, 0x00, // subscription identifiers available: no
        0x2a, 0x01, // shared subscription available: yes
        0x13, 0x00, 0x0f, // server keep alive 15 s
        0x1a, 0x00, 0x02, b'r', b'i', // response information "ri"
        0x1c, 0x00, 0x02, b's', b'2', // server reference "s2"
        0x15, 0x00, 0x01, b'M', // authentication method "M"
        0x16, 0x00, 0x01, 0x00, // authentication data 00
        0x26, 0x00, 0x01, b'x', 0x00, 0x01, b'y', // user property x=y
    ];
    let mut properties = ConnAckProperties::default();
    properties.session_expiry_interval = Some(120);
    properties.receive_maximum = Some(nz16(10));
    properties.maximum_qos = Some(QoS::AtLeastOnce);
    properties.retain_available = Some(false);
    properties.maximum_packet_size = Some(nz32(4096));
    properties.assigned_client_identifier = Some("abc".into());
    properties.topic_alias_maximum = Some(5);
    properties.reason_string = Some("ok".into());
    properties.wildcard_subscription_available = Some(true);
    properties.subscription_identifier_available = Some(false);
    properties.shared_subscription_available = Some(true);
    properties.server_keep_alive = Some(15);
    properties.response_information = Some("ri".into());
    properties.server_reference = Some("s2".into());
    properties.authentication_method = Some("M".into());
    properties.authentication_data = Some(Bytes::from_static(&[0]));
    properties.user_properties = vec![user("x", "y")];
    let connack = ConnAck {
        properties,
        ..ConnAck::new(true, ConnectReason::Success)
    };
    check(V5, wire, &connack.into());
}

// ---- PUBLISH ---------------------------------------------------------------------------------

#[test]
fn publish_v5_qos0_no_properties() {
    let wire: &[u8] = &[
        0x30, 0x08, // PUBLISH, QoS 0; remaining length 8
        0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        0x00, // property length 0
        b'h', b'i', // payload
    ];
    check(
        V5,
        wire,
        &Publish::new(topic("a/b"), QosPid::AtMostOnce, "hi").into(),
    );
}

#[test]
fn publish_v5_qos1_no_properties() {
    let wire: &[u8] = &[
        0x32, 0x0a, // PUBLISH, QoS 1; remaining length 10
        0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        0x00, 0x0a, // packet id 10
        0x00, // property length 0
        b'h', b'i', // payload
    ];
    let publish = Publish::new(topic("a/b"), QosPid::AtLeastOnce(pid(10)), "hi");
    check(V5, wire, &publish.into());
}

#[test]
fn publish_v5_qos2_dup_no_properties_empty_payload() {
    let wire: &[u8] = &[
        0x3c, 0x06, // PUBLISH, DUP, QoS 2; remaining length 6
        0x00, 0x01, b't', // topic "t"
        0x01, 0x00, // packet id 256
        0x00, // property length 0
              // payload: empty
    ];
    let publish = Publish {
        dup: true,
        ..Publish::new(topic("t"), QosPid::ExactlyOnce(pid(256)), Bytes::new())
    };
    check(V5, wire, &publish.into());
}

fn every_publish_property() -> PublishProperties {
    let mut p = PublishProperties::default();
    p.payload_format_indicator = Some(true);
    p.message_expiry_interval = Some(10);
    p.topic_alias = Some(nz16(3));
    p.response_topic = Some(topic("reply"));
    p.correlation_data = Some(Bytes::from_static(&[1, 2, 3]));
    p.content_type = Some("text/plain".into());
    // Not sorted, and "b" repeats: order and repetition are kept.
    p.user_properties = vec![user("b", "1"), user("a", "2"), user("b", "3")];
    p.subscription_identifiers = vec![sub_id(5), sub_id(128), sub_id(268_435_455)];
    p
}

#[test]
fn publish_v5_every_property_several_subscription_ids_and_user_properties_in_order() {
    for (first, qos, qos_pid) in [
        (0x30, "QoS 0", QosPid::AtMostOnce),
        (0x32, "QoS 1", QosPid::AtLeastOnce(pid(7))),
        (0x34, "QoS 2", QosPid::ExactlyOnce(pid(7))),
    ] {
        let has_id = qos_pid != QosPid::AtMostOnce;
        #[rustfmt::skip]
        let mut wire = vec![
            first, 0x4f + 2 * u8::from(has_id), // PUBLISH; remaining length 79 (+2 with an id)
            0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        ];
        if has_id {
            wire.extend_from_slice(&[0x00, 0x07]); // packet id 7
        }
        #[rustfmt::skip]
        wire.extend_from_slice(&[
            0x44, // property length 68
            0x01, 0x01, // payload format indicator: UTF-8
            0x02, 0x00, 0x00, 0x00, 0x0a, // message expiry interval 10 s
            0x23, 0x00, 0x03, // topic alias 3
            0x08, 0x00, 0x05, b'r', b'e', b'p', b'l', b'y', // response topic "reply"
            0x09, 0x00, 0x03, 0x01, 0x02, 0x03, // correlation data 01 02 03
            0x03, 0x00, 0x0a, b't', b'e', b'x', b't', b'/', b'p', b'l', b'a', b'i', b'n', // content type "text/plain"
            0x26, 0x00, 0x01, b'b', 0x00, 0x01, b'1', // user property b=1
            0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'2', // user property a=2
            0x26, 0x00, 0x01, b'b', 0x00, 0x01, b'3', // user property b=3
            0x0b, 0x05, // subscription identifier 5
            0x0b, 0x80, 0x01, // subscription identifier 128 (two-byte varint)
            0x0b, 0xff, 0xff, 0xff, 0x7f, // subscription identifier 268,435,455 (the maximum)
            b'h', b'e', b'l', b'l', b'o', // payload "hello"
        ]);
        let publish = Publish {
            properties: Some(Box::new(every_publish_property())),
            ..Publish::new(topic("a/b"), qos_pid, "hello")
        };
        assert_eq!(publish.qos.qos().to_string(), qos[4..]);
        check(V5, &wire, &publish.into());
    }
}

#[test]
fn publish_v5_topic_alias_with_empty_topic_mqtt_3_3_2_12() {
    let wire: &[u8] = &[
        0x30, 0x07, // PUBLISH, QoS 0; remaining length 7
        0x00, 0x00, // topic "": the topic alias stands for it
        0x03, // property length 3
        0x23, 0x00, 0x03, // topic alias 3
        b'x', // payload
    ];
    let mut properties = PublishProperties::default();
    properties.topic_alias = Some(nz16(3));
    let publish = Publish {
        properties: Some(Box::new(properties)),
        ..Publish::new(TopicName::alias_only(), QosPid::AtMostOnce, "x")
    };
    check(V5, wire, &publish.into());
}

#[test]
fn publish_v5_retained_qos1_subscription_identifier_only() {
    let wire: &[u8] = &[
        0x33, 0x08, // PUBLISH, QoS 1, RETAIN; remaining length 8
        0x00, 0x01, b't', // topic "t"
        0x00, 0x01, // packet id 1
        0x02, // property length 2
        0x0b, 0x01, // subscription identifier 1
              // payload: empty
    ];
    let mut properties = PublishProperties::default();
    properties.subscription_identifiers = vec![sub_id(1)];
    let publish = Publish {
        retain: true,
        properties: Some(Box::new(properties)),
        ..Publish::new(topic("t"), QosPid::AtLeastOnce(pid(1)), Bytes::new())
    };
    check(V5, wire, &publish.into());
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP ---------------------------------------------------------

fn reason_string(s: &'static str) -> AckProperties {
    let mut p = AckProperties::default();
    p.reason_string = Some(s.into());
    p
}

#[test]
fn puback_v5_two_byte_form_means_success_mqtt_3_4_2_1() {
    let wire: &[u8] = &[
        0x40, 0x02, // PUBACK; remaining length 2
        0x00, 0x01, // packet id 1; reason code omitted: success
    ];
    check(V5, wire, &PubAck::new(pid(1)).into());
}

#[test]
fn puback_v5_three_byte_form_reason_without_properties() {
    let wire: &[u8] = &[
        0x40, 0x03, // PUBACK; remaining length 3
        0x00, 0x01, // packet id 1
        0x10, // reason code: no matching subscribers; property length omitted
    ];
    let puback = PubAck {
        reason: PubAckReason::NoMatchingSubscribers,
        ..PubAck::new(pid(1))
    };
    check(V5, wire, &puback.into());
}

#[test]
fn puback_v5_four_byte_form_with_empty_properties_decodes() {
    // Property length 0 written out: legal, and re-encoded in the shorter form.
    let wire: &[u8] = &[
        0x40, 0x04, // PUBACK; remaining length 4
        0x00, 0x01, // packet id 1
        0x10, // reason code: no matching subscribers
        0x00, // property length 0
    ];
    let puback = Packet::from(PubAck {
        reason: PubAckReason::NoMatchingSubscribers,
        ..PubAck::new(pid(1))
    });
    check_decode(V5, wire, &puback);
    let canonical: &[u8] = &[
        0x40, 0x03, // PUBACK; remaining length 3
        0x00, 0x01, // packet id 1
        0x10, // reason code: no matching subscribers
    ];
    check_encode(V5, &puback, canonical);
    // And the explicit success code with no properties is the two-byte form.
    check_decode(
        V5,
        &[0x40, 0x03, 0x00, 0x01, 0x00],
        &PubAck::new(pid(1)).into(),
    );
    check_decode(
        V5,
        &[0x40, 0x04, 0x00, 0x01, 0x00, 0x00],
        &PubAck::new(pid(1)).into(),
    );
}

#[test]
fn puback_v5_with_reason_string_and_user_property() {
    let wire: &[u8] = &[
        0x40, 0x12, // PUBACK; remaining length 18
        0x00, 0x01, // packet id 1
        0x80, // reason code: unspecified error
        0x0e, // property length 14
        0x1f, 0x00, 0x04, b'o', b'o', b'p', b's', // reason string "oops"
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
    ];
    let mut properties = reason_string("oops");
    properties.user_properties = vec![user("k", "v")];
    let puback = PubAck {
        reason: PubAckReason::UnspecifiedError,
        properties,
        ..PubAck::new(pid(1))
    };
    check(V5, wire, &puback.into());
}

#[test]
fn puback_v5_success_with_properties_writes_the_reason_code() {
    let wire: &[u8] = &[
        0x40, 0x0b, // PUBACK; remaining length 11
        0x00, 0x02, // packet id 2
        0x00, // reason code: success (needed before the properties)
        0x07, // property length 7
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
    ];
    let mut properties = AckProperties::default();
    properties.user_properties = vec![user("k", "v")];
    let puback = PubAck {
        properties,
        ..PubAck::new(pid(2))
    };
    check(V5, wire, &puback.into());
}

#[test]
fn puback_v5_every_reason_code() {
    for &reason in PubAckReason::ALL {
        if reason == PubAckReason::Success {
            continue; // the two-byte form, tested above
        }
        #[rustfmt::skip]
        let wire: &[u8] = &[
            0x40, 0x03, // PUBACK; remaining length 3
            0x00, 0x09, // packet id 9
            reason.code(), // reason code
        ];
        let puback = PubAck {
            reason,
            ..PubAck::new(pid(9))
        };
        check(V5, wire, &puback.into());
    }
}

#[test]
fn pubrec_v5_two_three_and_four_plus_byte_forms() {
    let two: &[u8] = &[
        0x50, 0x02, // PUBREC; remaining length 2
        0x00, 0x03, // packet id 3; success
    ];
    check(V5, two, &PubRec::new(pid(3)).into());
    let three: &[u8] = &[
        0x50, 0x03, // PUBREC; remaining length 3
        0x00, 0x03, // packet id 3
        0x91, // reason code: packet identifier in use
    ];
    let pubrec = PubRec {
        reason: PubAckReason::PacketIdentifierInUse,
        ..PubRec::new(pid(3))
    };
    check(V5, three, &pubrec.into());
    let more: &[u8] = &[
        0x50, 0x0b, // PUBREC; remaining length 11
        0x00, 0x03, // packet id 3
        0x97, // reason code: quota exceeded
        0x07, // property length 7
        0x1f, 0x00, 0x04, b'f', b'u', b'l', b'l', // reason string "full"
    ];
    let pubrec = PubRec {
        reason: PubAckReason::QuotaExceeded,
        properties: reason_string("full"),
        ..PubRec::new(pid(3))
    };
    check(V5, more, &pubrec.into());
}

#[test]
fn pubrel_v5_two_three_and_four_plus_byte_forms() {
    let two: &[u8] = &[
        0x62, 0x02, // PUBREL, reserved flags 0b0010; remaining length 2
        0x00, 0x04, // packet id 4; success
    ];
    check(V5, two, &PubRel::new(pid(4)).into());
    let three: &[u8] = &[
        0x62, 0x03, // PUBREL; remaining length 3
        0x00, 0x04, // packet id 4
        0x92, // reason code: packet identifier not found
    ];
    let pubrel = PubRel {
        reason: PubRelReason::PacketIdentifierNotFound,
        ..PubRel::new(pid(4))
    };
    check(V5, three, &pubrel.into());
    let more: &[u8] = &[
        0x62, 0x0b, // PUBREL; remaining length 11
        0x00, 0x04, // packet id 4
        0x92, // reason code: packet identifier not found
        0x07, // property length 7
        0x1f, 0x00, 0x04, b'g', b'o', b'n', b'e', // reason string "gone"
    ];
    let pubrel = PubRel {
        reason: PubRelReason::PacketIdentifierNotFound,
        properties: reason_string("gone"),
        ..PubRel::new(pid(4))
    };
    check(V5, more, &pubrel.into());
}

#[test]
fn pubcomp_v5_two_three_and_four_plus_byte_forms() {
    let two: &[u8] = &[
        0x70, 0x02, // PUBCOMP; remaining length 2
        0x00, 0x05, // packet id 5; success
    ];
    check(V5, two, &PubComp::new(pid(5)).into());
    let three: &[u8] = &[
        0x70, 0x03, // PUBCOMP; remaining length 3
        0x00, 0x05, // packet id 5
        0x92, // reason code: packet identifier not found
    ];
    let pubcomp = PubComp {
        reason: PubRelReason::PacketIdentifierNotFound,
        ..PubComp::new(pid(5))
    };
    check(V5, three, &pubcomp.into());
    let more: &[u8] = &[
        0x70, 0x0c, // PUBCOMP; remaining length 12
        0x00, 0x05, // packet id 5
        0x00, // reason code: success
        0x08, // property length 8
        0x26, 0x00, 0x01, b'k', 0x00, 0x02, b'v', b'2', // user property k=v2
    ];
    let mut properties = AckProperties::default();
    properties.user_properties = vec![user("k", "v2")];
    let pubcomp = PubComp {
        properties,
        ..PubComp::new(pid(5))
    };
    check(V5, more, &pubcomp.into());
}

// ---- SUBSCRIBE, SUBACK -----------------------------------------------------------------------

#[test]
fn subscribe_v5_all_option_bits_and_properties() {
    let wire: &[u8] = &[
        0x82, 0x23, // SUBSCRIBE, reserved flags 0b0010; remaining length 35
        0x00, 0x01, // packet id 1
        0x09, // property length 9
        0x0b, 0x2a, // subscription identifier 42
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
        0x00, 0x03, b'a', b'/', b'#', // topic filter "a/#"
        0x2e, // options: retain handling 2, retain as published, no local, QoS 2
        0x00, 0x01, b'b', // topic filter "b"
        0x11, // options: retain handling 1, QoS 1
        0x00, 0x0a, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/',
        b'c', // "$share/g/c"
        0x00, // options: all clear
    ];
    let mut properties = SubscribeProperties::default();
    properties.subscription_identifier = Some(sub_id(42));
    properties.user_properties = vec![user("k", "v")];
    let subscribe = Subscribe {
        properties,
        ..Subscribe::new(
            pid(1),
            vec![
                SubscribeFilter {
                    filter: filter("a/#"),
                    options: SubscriptionOptions {
                        qos: QoS::ExactlyOnce,
                        no_local: true,
                        retain_as_published: true,
                        retain_handling: RetainHandling::DoNotSend,
                    },
                },
                SubscribeFilter {
                    filter: filter("b"),
                    options: SubscriptionOptions {
                        retain_handling: RetainHandling::SendAtSubscribeIfNew,
                        ..SubscriptionOptions::new(QoS::AtLeastOnce)
                    },
                },
                SubscribeFilter::new(filter("$share/g/c"), QoS::AtMostOnce),
            ],
        )
    };
    check(V5, wire, &subscribe.into());
}

#[test]
fn subscribe_v5_each_option_bit_alone_mqtt_3_8_3_1() {
    let table = [
        (0x00, SubscriptionOptions::default()),
        (0x01, SubscriptionOptions::new(QoS::AtLeastOnce)),
        (0x02, SubscriptionOptions::new(QoS::ExactlyOnce)),
        (
            0x04,
            SubscriptionOptions {
                no_local: true,
                ..Default::default()
            },
        ),
        (
            0x08,
            SubscriptionOptions {
                retain_as_published: true,
                ..Default::default()
            },
        ),
        (
            0x10,
            SubscriptionOptions {
                retain_handling: RetainHandling::SendAtSubscribeIfNew,
                ..Default::default()
            },
        ),
        (
            0x20,
            SubscriptionOptions {
                retain_handling: RetainHandling::DoNotSend,
                ..Default::default()
            },
        ),
    ];
    for (byte, options) in table {
        let wire: &[u8] = &[
            0x82, 0x07, // SUBSCRIBE; remaining length 7
            0x00, 0x01, // packet id 1
            0x00, // property length 0
            0x00, 0x01, b't', // topic filter "t"
            byte, // subscription options
        ];
        let subscribe = Subscribe::new(
            pid(1),
            vec![SubscribeFilter {
                filter: filter("t"),
                options,
            }],
        );
        check(V5, wire, &subscribe.into());
    }
}

#[test]
fn suback_v5_every_reason_code_in_order_mqtt_3_9_3_1() {
    let wire: &[u8] = &[
        0x90, 0x0f, // SUBACK; remaining length 15
        0x00, 0x01, // packet id 1
        0x00, // property length 0
        0x00, // granted QoS 0
        0x01, // granted QoS 1
        0x02, // granted QoS 2
        0x80, // unspecified error
        0x83, // implementation specific error
        0x87, // not authorized
        0x8f, // topic filter invalid
        0x91, // packet identifier in use
        0x97, // quota exceeded
        0x9e, // shared subscriptions not supported
        0xa1, // subscription identifiers not supported
        0xa2, // wildcard subscriptions not supported
    ];
    let suback = SubAck::new(pid(1), SubAckReason::ALL.to_vec());
    check(V5, wire, &suback.into());
}

#[test]
fn suback_v5_with_reason_string() {
    let wire: &[u8] = &[
        0x90, 0x09, // SUBACK; remaining length 9
        0x00, 0x02, // packet id 2
        0x05, // property length 5
        0x1f, 0x00, 0x02, b'n', b'o', // reason string "no"
        0x87, // not authorized
    ];
    let suback = SubAck {
        properties: reason_string("no"),
        ..SubAck::new(pid(2), vec![SubAckReason::NotAuthorized])
    };
    check(V5, wire, &suback.into());
}

// ---- UNSUBSCRIBE, UNSUBACK -------------------------------------------------------------------

#[test]
fn unsubscribe_v5_with_user_property() {
    let wire: &[u8] = &[
        0xa2, 0x1b, // UNSUBSCRIBE, reserved flags 0b0010; remaining length 27
        0x00, 0x02, // packet id 2
        0x07, // property length 7
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
        0x00, 0x03, b'a', b'/', b'+', // topic filter "a/+"
        0x00, 0x0a, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/',
        b'#', // "$share/g/#"
    ];
    let mut properties = UnsubscribeProperties::default();
    properties.user_properties = vec![user("k", "v")];
    let unsubscribe = Unsubscribe {
        properties,
        ..Unsubscribe::new(pid(2), vec![filter("a/+"), filter("$share/g/#")])
    };
    check(V5, wire, &unsubscribe.into());
}

#[test]
fn unsubscribe_v5_no_properties() {
    let wire: &[u8] = &[
        0xa2, 0x06, // UNSUBSCRIBE; remaining length 6
        0x00, 0x03, // packet id 3
        0x00, // property length 0
        0x00, 0x01, b'#', // topic filter "#"
    ];
    check(
        V5,
        wire,
        &Unsubscribe::new(pid(3), vec![filter("#")]).into(),
    );
}

#[test]
fn unsuback_v5_every_reason_code_with_reason_string() {
    let wire: &[u8] = &[
        0xb0, 0x0f, // UNSUBACK; remaining length 15
        0x00, 0x02, // packet id 2
        0x05, // property length 5
        0x1f, 0x00, 0x02, b'n', b'o', // reason string "no"
        0x00, // success
        0x11, // no subscription existed
        0x80, // unspecified error
        0x83, // implementation specific error
        0x87, // not authorized
        0x8f, // topic filter invalid
        0x91, // packet identifier in use
    ];
    let unsuback = UnsubAck {
        properties: reason_string("no"),
        ..UnsubAck::new(pid(2), UnsubAckReason::ALL.to_vec())
    };
    check(V5, wire, &unsuback.into());
}

#[test]
fn unsuback_v5_one_code_no_properties() {
    let wire: &[u8] = &[
        0xb0, 0x04, // UNSUBACK; remaining length 4
        0x00, 0x02, // packet id 2
        0x00, // property length 0
        0x11, // no subscription existed
    ];
    let unsuback = UnsubAck::new(pid(2), vec![UnsubAckReason::NoSubscriptionExisted]);
    check(V5, wire, &unsuback.into());
}

// ---- PINGREQ, PINGRESP -----------------------------------------------------------------------

#[test]
fn pingreq_and_pingresp_v5() {
    check(V5, &[0xc0, 0x00], &Packet::PingReq); // PINGREQ; remaining length 0
    check(V5, &[0xd0, 0x00], &Packet::PingResp); // PINGRESP; remaining length 0
}

// ---- DISCONNECT ------------------------------------------------------------------------------

#[test]
fn disconnect_v5_empty_means_normal_disconnection_mqtt_3_14_2_1() {
    let wire: &[u8] = &[
        0xe0, 0x00, // DISCONNECT; remaining length 0: normal disconnection
    ];
    check(
        V5,
        wire,
        &Disconnect::new(DisconnectReason::NormalDisconnection).into(),
    );
}

#[test]
fn disconnect_v5_reason_code_only() {
    let wire: &[u8] = &[
        0xe0, 0x01, // DISCONNECT; remaining length 1
        0x04, // reason code: disconnect with will message; property length omitted
    ];
    check(
        V5,
        wire,
        &Disconnect::new(DisconnectReason::DisconnectWithWillMessage).into(),
    );
    // An explicit normal-disconnection code decodes the same, and re-encodes as empty.
    check_decode(V5, &[0xe0, 0x01, 0x00], &Disconnect::default().into());
}

#[test]
fn disconnect_v5_every_reason_code() {
    for &reason in DisconnectReason::ALL {
        if reason == DisconnectReason::NormalDisconnection {
            continue;
        }
        #[rustfmt::skip]
        let wire: &[u8] = &[
            0xe0, 0x01, // DISCONNECT; remaining length 1
            reason.code(), // reason code
        ];
        check(V5, wire, &Disconnect::new(reason).into());
    }
}

#[test]
fn disconnect_v5_with_every_property() {
    let wire: &[u8] = &[
        0xe0, 0x19, // DISCONNECT; remaining length 25
        0x9c, // reason code: use another server
        0x17, // property length 23
        0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0
        0x1f, 0x00, 0x03, b'b', b'y', b'e', // reason string "bye"
        0x1c, 0x00, 0x02, b's', b'2', // server reference "s2"
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
    ];
    let mut properties = DisconnectProperties::default();
    properties.session_expiry_interval = Some(0);
    properties.reason_string = Some("bye".into());
    properties.server_reference = Some("s2".into());
    properties.user_properties = vec![user("k", "v")];
    let disconnect = Disconnect {
        reason: DisconnectReason::UseAnotherServer,
        properties,
    };
    check(V5, wire, &disconnect.into());
}

// ---- AUTH ------------------------------------------------------------------------------------

#[test]
fn auth_v5_empty_means_success_mqtt_3_15_2_1() {
    let wire: &[u8] = &[
        0xf0, 0x00, // AUTH; remaining length 0: success, no properties
    ];
    check(V5, wire, &Auth::new(AuthReason::Success).into());
}

#[test]
fn auth_v5_reason_code_only() {
    let wire: &[u8] = &[
        0xf0, 0x01, // AUTH; remaining length 1
        0x18, // reason code: continue authentication
    ];
    check(
        V5,
        wire,
        &Auth::new(AuthReason::ContinueAuthentication).into(),
    );
}

#[test]
fn auth_v5_with_properties() {
    let wire: &[u8] = &[
        0xf0, 0x1f, // AUTH; remaining length 31
        0x19, // reason code: re-authenticate
        0x1d, // property length 29
        0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M', // authentication method "SCRAM"
        0x16, 0x00, 0x03, 0x01, 0x02, 0x03, // authentication data 01 02 03
        0x1f, 0x00, 0x05, b'a', b'g', b'a', b'i', b'n', // reason string "again"
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
    ];
    let mut properties = AuthProperties::default();
    properties.authentication_method = Some("SCRAM".into());
    properties.authentication_data = Some(Bytes::from_static(&[1, 2, 3]));
    properties.reason_string = Some("again".into());
    properties.user_properties = vec![user("k", "v")];
    let auth = Auth {
        reason: AuthReason::ReAuthenticate,
        properties,
    };
    check(V5, wire, &auth.into());
}

#[test]
fn decoder_and_encoder_switch_to_v5_once_the_connect_is_read() {
    let auth: &[u8] = &[
        0xf0, 0x00, // AUTH; remaining length 0
    ];
    let mut decoder = mqtt_proto::Decoder::new(mqtt_proto::ProtocolVersion::V3_1_1);
    decoder.set_version(V5);
    assert_eq!(decoder.version(), V5);
    let mut buf = bytes::BytesMut::from(auth);
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Auth::new(AuthReason::Success).into()))
    );
    let mut encoder = mqtt_proto::Encoder::new(mqtt_proto::ProtocolVersion::V3_1_1);
    encoder.set_version(V5);
    assert_eq!(encoder.version(), V5);
    assert_eq!(
        encoder.encode(&Auth::new(AuthReason::Success).into(), &mut buf),
        Ok(2)
    );
    assert_eq!(&buf[..], auth);
}
