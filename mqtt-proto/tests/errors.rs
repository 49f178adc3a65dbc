//! Every `DecodeError` and `EncodeError` variant (and every `TopicError` the decoder can
//! produce), reached through the public API, each test named after the rule it enforces.
//!
//! Decoding failures also check that the decoder keeps its first error: a second call returns
//! the same error (see `common::decode_err`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::{Bytes, BytesMut};
use mqtt_proto::ProtocolVersion::{self, V3_1, V3_1_1, V5};
use mqtt_proto::{
    AckProperties, Auth, AuthReason, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    ConnectReason, DEFAULT_DECODER_MAX_PACKET_SIZE, DecodeError, Decoder, Disconnect,
    DisconnectProperties, DisconnectReason, EncodeError, Encoder, Packet, PacketType, PropertyId,
    PubAck, PubAckReason, PubComp, PubRec, PubRel, PubRelReason, Publish, PublishProperties, QoS,
    QosPid, RetainHandling, SubAck, SubAckReason, Subscribe, SubscribeFilter, SubscribeProperties,
    SubscriptionOptions, TopicError, TopicFilter, TopicName, UnsubAck, UnsubAckReason, Unsubscribe,
    UnsubscribeProperties, Will, WillProperties,
};

use common::{decode_err, encode_err, filter, nz16, nz32, pid, topic, user};

const ALL: [ProtocolVersion; 3] = [V3_1, V3_1_1, V5];

// ==== DecodeError ==============================================================================

// ---- fixed header ----------------------------------------------------------------------------

#[test]
fn remaining_length_of_five_bytes_is_malformed_mqtt_1_5_5_1() {
    let wire: &[u8] = &[
        0x30, // PUBLISH, QoS 0
        0x80, 0x80, 0x80, 0x80, // remaining length: a fifth byte would follow
        0x01, // the fifth byte
    ];
    for v in ALL {
        assert_eq!(decode_err(v, wire), DecodeError::MalformedVarInt);
        // Known malformed after four continuation bytes, without waiting for the fifth.
        assert_eq!(decode_err(v, &wire[..5]), DecodeError::MalformedVarInt);
    }
}

#[test]
fn remaining_length_not_minimally_encoded_is_malformed_mqtt_1_5_5_1() {
    let wire: &[u8] = &[
        0xc0, // PINGREQ
        0x80, 0x00, // remaining length 0 in two bytes
    ];
    assert_eq!(decode_err(V3_1_1, wire), DecodeError::MalformedVarInt);
}

#[test]
fn property_length_of_five_bytes_is_malformed_mqtt_1_5_5_1() {
    let wire: &[u8] = &[
        0x30, 0x08, // PUBLISH, QoS 0; remaining length 8
        0x00, 0x01, b't', // topic "t"
        0x80, 0x80, 0x80, 0x80, 0x01, // property length: five bytes
    ];
    assert_eq!(decode_err(V5, wire), DecodeError::MalformedVarInt);
}

#[test]
fn subscription_identifier_not_minimally_encoded_is_malformed_mqtt_1_5_5_1() {
    let wire: &[u8] = &[
        0x30, 0x07, // PUBLISH, QoS 0; remaining length 7
        0x00, 0x01, b't', // topic "t"
        0x03, // property length 3
        0x0b, 0x81, 0x00, // subscription identifier 1 in two bytes
    ];
    assert_eq!(decode_err(V5, wire), DecodeError::MalformedVarInt);
}

#[test]
fn packet_over_max_size_rejected_from_fixed_header_alone() {
    // Only the fixed header is buffered: the limit is enforced before the body arrives.
    let header: &[u8] = &[
        0x30, 0x7f, // PUBLISH, QoS 0; remaining length 127: 129 bytes in all
    ];
    let mut d = Decoder::new(V5).with_max_packet_size(nz32(16));
    assert_eq!(d.max_packet_size(), 16);
    let mut buf = BytesMut::from(header);
    assert_eq!(
        d.decode(&mut buf),
        Err(DecodeError::PacketTooLarge { size: 129, max: 16 })
    );
    assert_eq!(&buf[..], header, "nothing consumed");
    // A 4-byte remaining length against the default 16 MiB limit.
    let hostile: &[u8] = &[
        0x30, 0xff, 0xff, 0xff, 0x7f, // PUBLISH; remaining length 268,435,455
    ];
    assert_eq!(
        decode_err(V3_1_1, hostile),
        DecodeError::PacketTooLarge {
            size: 268_435_460,
            max: DEFAULT_DECODER_MAX_PACKET_SIZE
        }
    );
}

#[test]
fn packet_of_exactly_max_size_is_accepted() {
    let wire: &[u8] = &[
        0x30, 0x04, // PUBLISH, QoS 0; remaining length 4: 6 bytes in all
        0x00, 0x01, b't', // topic "t"
        b'x', // payload
    ];
    let mut buf = BytesMut::from(wire);
    let mut d = Decoder::new(V3_1_1).with_max_packet_size(nz32(6));
    assert!(matches!(d.decode(&mut buf), Ok(Some(Packet::Publish(_)))));
    let mut buf = BytesMut::from(wire);
    let mut d = Decoder::new(V3_1_1).with_max_packet_size(nz32(5));
    assert_eq!(
        d.decode(&mut buf),
        Err(DecodeError::PacketTooLarge { size: 6, max: 5 })
    );
}

#[test]
fn reserved_packet_type_0_rejected() {
    for v in ALL {
        assert_eq!(
            decode_err(v, &[0x00, 0x00]), // type 0 (reserved); remaining length 0
            DecodeError::ReservedPacketType(0, v)
        );
    }
}

#[test]
fn auth_on_3_1_1_is_reserved_packet_type_15() {
    let wire: &[u8] = &[
        0xf0, 0x00, // AUTH (type 15, reserved before 5.0); remaining length 0
    ];
    for v in [V3_1, V3_1_1] {
        assert_eq!(decode_err(v, wire), DecodeError::ReservedPacketType(15, v));
    }
}

#[test]
fn every_reserved_flag_nibble_rejected_mqtt_2_1_3_1() {
    let mut checked = 0;
    for nibble in 1..=15u8 {
        let packet = PacketType::from_nibble(nibble).unwrap();
        if packet == PacketType::Publish {
            continue; // PUBLISH flags are DUP, QoS and RETAIN
        }
        for flags in 0..16u8 {
            if flags == packet.fixed_flags() {
                continue;
            }
            let wire: &[u8] = &[
                (nibble << 4) | flags, // packet type, wrong flags
                0x00,                  // remaining length 0
            ];
            assert_eq!(
                decode_err(V5, wire),
                DecodeError::InvalidFlags { packet, flags },
                "{packet} with flags {flags:#06b}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 14 * 15);
}

#[test]
fn pubrel_subscribe_unsubscribe_flags_must_be_0010_mqtt_3_6_1_1_mqtt_3_8_1_1_mqtt_3_10_1_1() {
    for (byte, packet) in [
        (0x60, PacketType::PubRel),      // PUBREL with flags 0000
        (0x80, PacketType::Subscribe),   // SUBSCRIBE with flags 0000
        (0xa0, PacketType::Unsubscribe), // UNSUBSCRIBE with flags 0000
    ] {
        assert_eq!(
            decode_err(V3_1_1, &[byte, 0x00]),
            DecodeError::InvalidFlags { packet, flags: 0 }
        );
    }
}

#[test]
fn publish_qos3_rejected_mqtt_3_3_1_4() {
    for first in [
        0x36, // PUBLISH, QoS 3
        0x37, // PUBLISH, QoS 3, RETAIN
        0x3e, // PUBLISH, DUP, QoS 3
        0x3f, // PUBLISH, DUP, QoS 3, RETAIN
    ] {
        for v in ALL {
            assert_eq!(decode_err(v, &[first]), DecodeError::InvalidQoS);
        }
    }
}

#[test]
fn connect_will_qos3_rejected_mqtt_3_1_2_12() {
    let wire: &[u8] = &[
        0x10, 0x0c, // CONNECT; remaining length 12
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4
        0x1e, // flags: will QoS 3, will, clean session
        0x00, 0x3c, // keep alive 60 s
        0x00, 0x00, // client id ""
    ];
    assert_eq!(decode_err(V3_1_1, wire), DecodeError::InvalidQoS);
}

// ---- packet identifiers ----------------------------------------------------------------------

#[test]
fn packet_id_0_rejected_in_publish_mqtt_2_2_1_3() {
    for first in [0x32, 0x34] {
        let wire: &[u8] = &[
            first, 0x05, // PUBLISH, QoS 1 or 2; remaining length 5
            0x00, 0x01, b't', // topic "t"
            0x00, 0x00, // packet id 0
        ];
        for v in ALL {
            assert_eq!(
                decode_err(v, wire),
                DecodeError::ZeroPacketId(PacketType::Publish)
            );
        }
    }
}

#[test]
fn packet_id_0_rejected_in_subscribe_mqtt_2_2_1_3() {
    let wire: &[u8] = &[
        0x82, 0x06, // SUBSCRIBE; remaining length 6
        0x00, 0x00, // packet id 0
        0x00, 0x01, b't', // topic filter "t"
        0x00, // QoS 0
    ];
    assert_eq!(
        decode_err(V3_1_1, wire),
        DecodeError::ZeroPacketId(PacketType::Subscribe)
    );
}

#[test]
fn packet_id_0_rejected_in_unsubscribe_mqtt_2_2_1_3() {
    let wire: &[u8] = &[
        0xa2, 0x05, // UNSUBSCRIBE; remaining length 5
        0x00, 0x00, // packet id 0
        0x00, 0x01, b't', // topic filter "t"
    ];
    assert_eq!(
        decode_err(V3_1_1, wire),
        DecodeError::ZeroPacketId(PacketType::Unsubscribe)
    );
}

#[test]
fn packet_id_0_rejected_in_acks_mqtt_2_2_1_5_mqtt_2_2_1_6() {
    for (wire, packet) in [
        (&[0x40, 0x02, 0x00, 0x00][..], PacketType::PubAck), // PUBACK, packet id 0
        (&[0x50, 0x02, 0x00, 0x00][..], PacketType::PubRec), // PUBREC, packet id 0
        (&[0x62, 0x02, 0x00, 0x00][..], PacketType::PubRel), // PUBREL, packet id 0
        (&[0x70, 0x02, 0x00, 0x00][..], PacketType::PubComp), // PUBCOMP, packet id 0
        (&[0x90, 0x03, 0x00, 0x00, 0x00][..], PacketType::SubAck), // SUBACK, packet id 0, QoS 0
        (&[0xb0, 0x02, 0x00, 0x00][..], PacketType::UnsubAck), // UNSUBACK, packet id 0
    ] {
        assert_eq!(decode_err(V3_1_1, wire), DecodeError::ZeroPacketId(packet));
    }
}

// ---- strings and topics ----------------------------------------------------------------------

#[test]
fn ill_formed_utf8_in_client_id_rejected_mqtt_1_5_4_1() {
    let wire: &[u8] = &[
        0x10, 0x0e, // CONNECT; remaining length 14
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4
        0x02, // flags: clean session
        0x00, 0x3c, // keep alive 60 s
        0x00, 0x02, 0xc3, 0x28, // client id: 0xC3 needs a continuation byte; 0x28 is not one
    ];
    assert_eq!(decode_err(V3_1_1, wire), DecodeError::InvalidUtf8);
}

#[test]
fn surrogate_in_topic_name_rejected_mqtt_1_5_4_1() {
    let wire: &[u8] = &[
        0x30, 0x05, // PUBLISH, QoS 0; remaining length 5
        0x00, 0x03, 0xed, 0xa0, 0x80, // topic: U+D800, a surrogate, CESU-style
    ];
    assert_eq!(decode_err(V3_1_1, wire), DecodeError::InvalidUtf8);
}

#[test]
fn surrogate_in_user_property_rejected_mqtt_1_5_7_1() {
    let wire: &[u8] = &[
        0x40, 0x0d, // PUBACK; remaining length 13
        0x00, 0x01, // packet id 1
        0x00, // reason code: success
        0x09, // property length 9
        0x26, 0x00, 0x01, b'k', // user property name "k"
        0x00, 0x03, 0xed, 0xa0, 0x80, // value: U+D800, a surrogate
    ];
    assert_eq!(decode_err(V5, wire), DecodeError::InvalidUtf8);
}

#[test]
fn overlong_null_in_topic_filter_rejected_mqtt_1_5_4_1() {
    let wire: &[u8] = &[
        0x82, 0x07, // SUBSCRIBE; remaining length 7
        0x00, 0x01, // packet id 1
        0x00, 0x02, 0xc0, 0x80, // topic filter: U+0000 in an overlong two-byte form
        0x00, // QoS 0
    ];
    assert_eq!(decode_err(V3_1_1, wire), DecodeError::InvalidUtf8);
}

#[test]
fn invalid_byte_ff_in_username_rejected_mqtt_1_5_4_1() {
    let wire: &[u8] = &[
        0x10, 0x0f, // CONNECT; remaining length 15
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4
        0x82, // flags: user name, clean session
        0x00, 0x3c, // keep alive 60 s
        0x00, 0x00, // client id ""
        0x00, 0x01, 0xff, // user name: 0xFF never appears in UTF-8
    ];
    assert_eq!(decode_err(V3_1_1, wire), DecodeError::InvalidUtf8);
}

#[test]
fn null_character_in_topic_name_rejected_mqtt_1_5_4_2() {
    let wire: &[u8] = &[
        0x30, 0x04, // PUBLISH, QoS 0; remaining length 4
        0x00, 0x02, b'a', 0x00, // topic "a\0"
    ];
    assert_eq!(decode_err(V3_1_1, wire), DecodeError::NullCharacter);
}

#[test]
fn null_character_in_client_id_rejected_mqtt_1_5_4_2() {
    let wire: &[u8] = &[
        0x10, 0x0d, // CONNECT; remaining length 13
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4
        0x02, // flags: clean session
        0x00, 0x3c, // keep alive 60 s
        0x00, 0x01, 0x00, // client id "\0"
    ];
    assert_eq!(decode_err(V3_1_1, wire), DecodeError::NullCharacter);
}

#[test]
fn null_character_in_topic_filter_and_user_property_rejected_mqtt_1_5_4_2() {
    let subscribe: &[u8] = &[
        0x82, 0x07, // SUBSCRIBE; remaining length 7
        0x00, 0x01, // packet id 1
        0x00, 0x02, b'a', 0x00, // topic filter "a\0"
        0x00, // QoS 0
    ];
    assert_eq!(decode_err(V3_1_1, subscribe), DecodeError::NullCharacter);
    let disconnect: &[u8] = &[
        0xe0, 0x09, // DISCONNECT; remaining length 9
        0x00, // reason code: normal disconnection
        0x07, // property length 7
        0x26, 0x00, 0x01, 0x00, // user property name "\0"
        0x00, 0x01, b'v', // value "v"
    ];
    assert_eq!(decode_err(V5, disconnect), DecodeError::NullCharacter);
}

#[test]
fn wildcards_in_publish_topic_rejected_mqtt_3_3_2_2() {
    for (wire, what) in [
        (&[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+'][..], "a/+"), // PUBLISH, topic "a/+"
        (&[0x30, 0x03, 0x00, 0x01, b'#'][..], "#"),               // PUBLISH, topic "#"
        (&[0x30, 0x04, 0x00, 0x02, b'a', b'#'][..], "a#"),        // PUBLISH, topic "a#"
    ] {
        for v in ALL {
            assert_eq!(
                decode_err(v, wire),
                DecodeError::Topic(TopicError::WildcardInTopicName),
                "{what}"
            );
        }
    }
}

#[test]
fn wildcard_in_will_topic_rejected_mqtt_3_1_3_11() {
    let wire: &[u8] = &[
        0x10, 0x12, // CONNECT; remaining length 18
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4
        0x06, // flags: will, clean session
        0x00, 0x3c, // keep alive 60 s
        0x00, 0x00, // client id ""
        0x00, 0x02, b'w', b'+', // will topic "w+"
        0x00, 0x00, // will payload: empty
    ];
    assert_eq!(
        decode_err(V3_1_1, wire),
        DecodeError::Topic(TopicError::WildcardInTopicName)
    );
}

#[test]
fn wildcard_in_response_topic_rejected_mqtt_3_3_2_14() {
    let wire: &[u8] = &[
        0x30, 0x09, // PUBLISH, QoS 0; remaining length 9
        0x00, 0x01, b't', // topic "t"
        0x05, // property length 5
        0x08, 0x00, 0x02, b'r', b'#', // response topic "r#"
    ];
    // A bad property value (DISCONNECT 0x82), not a bad Topic Name of the PUBLISH (0x90).
    let err = decode_err(V5, wire);
    assert_eq!(
        err,
        DecodeError::InvalidPropertyValue(PropertyId::ResponseTopic)
    );
    assert_eq!(err.disconnect_reason(), DisconnectReason::ProtocolError);
}

#[test]
fn empty_topic_rejected_before_5_0_mqtt_4_7_3_1() {
    let wire: &[u8] = &[
        0x30, 0x02, // PUBLISH, QoS 0; remaining length 2
        0x00, 0x00, // topic ""
    ];
    for v in [V3_1, V3_1_1] {
        assert_eq!(decode_err(v, wire), DecodeError::Topic(TopicError::Empty));
    }
}

#[test]
fn empty_will_topic_rejected_mqtt_4_7_3_1() {
    let wire: &[u8] = &[
        0x10, 0x10, // CONNECT; remaining length 16
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4
        0x06, // flags: will, clean session
        0x00, 0x3c, // keep alive 60 s
        0x00, 0x00, // client id ""
        0x00, 0x00, // will topic ""
        0x00, 0x00, // will payload: empty
    ];
    assert_eq!(
        decode_err(V3_1_1, wire),
        DecodeError::Topic(TopicError::Empty)
    );
}

#[test]
fn empty_topic_filter_rejected_mqtt_4_7_3_1() {
    let wire: &[u8] = &[
        0x82, 0x05, // SUBSCRIBE; remaining length 5
        0x00, 0x01, // packet id 1
        0x00, 0x00, // topic filter ""
        0x00, // QoS 0
    ];
    assert_eq!(
        decode_err(V3_1_1, wire),
        DecodeError::Topic(TopicError::Empty)
    );
}

#[test]
fn misplaced_multi_level_wildcard_in_subscribe_rejected_mqtt_4_7_1_1() {
    let wire: &[u8] = &[
        0x82, 0x0a, // SUBSCRIBE; remaining length 10
        0x00, 0x01, // packet id 1
        0x00, 0x05, b'a', b'/', b'#', b'/', b'b', // topic filter "a/#/b"
        0x00, // QoS 0
    ];
    assert_eq!(
        decode_err(V3_1_1, wire),
        DecodeError::Topic(TopicError::InvalidMultiLevelWildcard)
    );
}

#[test]
fn partial_level_single_level_wildcard_in_unsubscribe_rejected_mqtt_4_7_1_2() {
    let wire: &[u8] = &[
        0xa2, 0x06, // UNSUBSCRIBE; remaining length 6
        0x00, 0x01, // packet id 1
        0x00, 0x02, b'a', b'+', // topic filter "a+"
    ];
    assert_eq!(
        decode_err(V3_1_1, wire),
        DecodeError::Topic(TopicError::InvalidSingleLevelWildcard)
    );
}

#[test]
fn shared_subscription_without_filter_rejected_mqtt_4_8_2_1() {
    let wire: &[u8] = &[
        0x82, 0x0e, // SUBSCRIBE; remaining length 14
        0x00, 0x01, // packet id 1
        0x00, // property length 0
        0x00, 0x08, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', // "$share/g"
        0x00, // options
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::Topic(TopicError::InvalidSharedSubscription)
    );
}

#[test]
fn topic_errors_the_wire_cannot_carry_come_from_the_constructors_mqtt_4_7_3_2_mqtt_4_7_3_3() {
    // A 2-byte length cannot announce more than 65,535 bytes, and U+0000 in a topic is
    // reported as the string rule (DecodeError::NullCharacter, tested above): these two
    // TopicError variants come only from the constructors.
    let long = "a".repeat(65_536);
    assert_eq!(
        TopicName::new(long.as_str()),
        Err(TopicError::TooLong { len: 65_536 })
    );
    assert_eq!(
        TopicFilter::new(long),
        Err(TopicError::TooLong { len: 65_536 })
    );
    assert_eq!(TopicName::new("a\0"), Err(TopicError::NullCharacter));
    assert_eq!(TopicFilter::new("\0"), Err(TopicError::NullCharacter));
}

// ---- SUBSCRIBE and UNSUBSCRIBE ---------------------------------------------------------------

#[test]
fn subscribe_without_filters_rejected_mqtt_3_8_3_2() {
    let v3: &[u8] = &[
        0x82, 0x02, // SUBSCRIBE; remaining length 2
        0x00, 0x01, // packet id 1; no payload
    ];
    assert_eq!(decode_err(V3_1_1, v3), DecodeError::EmptySubscribe);
    let v5: &[u8] = &[
        0x82, 0x03, // SUBSCRIBE; remaining length 3
        0x00, 0x01, // packet id 1
        0x00, // property length 0; no payload
    ];
    assert_eq!(decode_err(V5, v5), DecodeError::EmptySubscribe);
}

#[test]
fn unsubscribe_without_filters_rejected_mqtt_3_10_3_2() {
    let v3: &[u8] = &[
        0xa2, 0x02, // UNSUBSCRIBE; remaining length 2
        0x00, 0x01, // packet id 1; no payload
    ];
    assert_eq!(decode_err(V3_1_1, v3), DecodeError::EmptyUnsubscribe);
    let v5: &[u8] = &[
        0xa2, 0x03, // UNSUBSCRIBE; remaining length 3
        0x00, 0x01, // packet id 1
        0x00, // property length 0; no payload
    ];
    assert_eq!(decode_err(V5, v5), DecodeError::EmptyUnsubscribe);
}

#[test]
fn subscribe_reserved_option_bits_rejected_mqtt_3_8_3_5() {
    for options in [
        0x40, // reserved bit 6
        0x80, // reserved bit 7
        0xc0, // both reserved bits
        0x30, // retain handling 3
        0x03, // QoS 3
        0x6e, // reserved bit 6 with every valid option
    ] {
        #[rustfmt::skip]
        let wire: &[u8] = &[
            0x82, 0x07, // SUBSCRIBE; remaining length 7
            0x00, 0x01, // packet id 1
            0x00, // property length 0
            0x00, 0x01, b't', // topic filter "t"
            options, // subscription options
        ];
        assert_eq!(
            decode_err(V5, wire),
            DecodeError::InvalidSubscriptionOptions(options),
            "{options:#04x}"
        );
    }
}

#[test]
fn subscribe_v3_upper_option_bits_rejected_mqtt_3_8_3_4_v3_1_1() {
    // 3.1.1 [MQTT-3-8.3-4]: the upper six bits of the requested QoS byte are reserved, so the
    // 5.0 option bits are malformed there.
    for options in [
        0x04, // 5.0 no local
        0x08, // 5.0 retain as published
        0x10, // 5.0 retain handling 1
        0x20, // 5.0 retain handling 2
        0x80, // reserved
        0x03, // QoS 3
    ] {
        #[rustfmt::skip]
        let wire: &[u8] = &[
            0x82, 0x06, // SUBSCRIBE; remaining length 6
            0x00, 0x01, // packet id 1
            0x00, 0x01, b't', // topic filter "t"
            options, // requested QoS byte
        ];
        for v in [V3_1, V3_1_1] {
            assert_eq!(
                decode_err(v, wire),
                DecodeError::InvalidSubscriptionOptions(options),
                "{options:#04x}"
            );
        }
    }
}

// ---- properties ------------------------------------------------------------------------------

#[test]
fn unknown_property_id_rejected() {
    for (id, raw) in [
        (&[0x00][..], 0x00), // 0 is no property
        (&[0x04][..], 0x04), // a gap in the table
        (&[0x2b][..], 0x2b), // one past the last
        (&[0x7f][..], 0x7f),
        (&[0x80, 0x01][..], 0x80), // a two-byte identifier: 128
    ] {
        #[rustfmt::skip]
        let mut wire = vec![
            0x30, 5 + id.len() as u8, // PUBLISH, QoS 0; remaining length
            0x00, 0x01, b't', // topic "t"
            1 + id.len() as u8, // property length
        ];
        wire.extend_from_slice(id); // property identifier
        wire.push(0x00); // a value byte
        assert_eq!(decode_err(V5, &wire), DecodeError::UnknownProperty(raw));
    }
}

#[test]
fn topic_alias_not_allowed_in_connack() {
    let wire: &[u8] = &[
        0x20, 0x06, // CONNACK; remaining length 6
        0x00, // acknowledge flags
        0x00, // reason code: success
        0x03, // property length 3
        0x23, 0x00, 0x01, // topic alias 1: a PUBLISH property
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::PropertyNotAllowed {
            property: PropertyId::TopicAlias,
            packet: PacketType::ConnAck
        }
    );
}

#[test]
fn properties_not_allowed_on_other_packets() {
    let cases: [(&[u8], PropertyId, PacketType); 7] = [
        (
            &[
                0x10, 0x0f, // CONNECT; remaining length 15
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x05, // protocol level 5
                0x02, // flags: clean start
                0x00, 0x3c, // keep alive 60 s
                0x02, // property length 2
                0x0b, 0x01, // subscription identifier 1
                0x00, 0x00, // client id ""
            ],
            PropertyId::SubscriptionIdentifier,
            PacketType::Connect,
        ),
        (
            &[
                0x10, 0x16, // CONNECT; remaining length 22
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x05, // protocol level 5
                0x06, // flags: will, clean start
                0x00, 0x3c, // keep alive 60 s
                0x00, // property length 0
                0x00, 0x00, // client id ""
                0x03, // will property length 3
                0x23, 0x00, 0x01, // topic alias 1: not a will property
                0x00, 0x01, b'w', // will topic "w"
                0x00, 0x00, // will payload: empty
            ],
            PropertyId::TopicAlias,
            PacketType::Connect,
        ),
        (
            &[
                0x30, 0x09, // PUBLISH, QoS 0; remaining length 9
                0x00, 0x01, b't', // topic "t"
                0x05, // property length 5
                0x18, 0x00, 0x00, 0x00, 0x01, // will delay interval: a will property
            ],
            PropertyId::WillDelayInterval,
            PacketType::Publish,
        ),
        (
            &[
                0x40, 0x09, // PUBACK; remaining length 9
                0x00, 0x01, // packet id 1
                0x00, // reason code: success
                0x05, // property length 5
                0x11, 0x00, 0x00, 0x00, 0x01, // session expiry interval
            ],
            PropertyId::SessionExpiryInterval,
            PacketType::PubAck,
        ),
        (
            &[
                0x90, 0x06, // SUBACK; remaining length 6
                0x00, 0x01, // packet id 1
                0x02, // property length 2
                0x0b, 0x01, // subscription identifier 1
                0x00, // granted QoS 0
            ],
            PropertyId::SubscriptionIdentifier,
            PacketType::SubAck,
        ),
        (
            &[
                0xa2, 0x0a, // UNSUBSCRIBE; remaining length 10
                0x00, 0x01, // packet id 1
                0x04, // property length 4
                0x1f, 0x00, 0x01, b'x', // reason string: not an UNSUBSCRIBE property
                0x00, 0x01, b't', // topic filter "t"
            ],
            PropertyId::ReasonString,
            PacketType::Unsubscribe,
        ),
        (
            &[
                0xe0, 0x06, // DISCONNECT; remaining length 6
                0x00, // reason code: normal disconnection
                0x04, // property length 4
                0x15, 0x00, 0x01, b'M', // authentication method
            ],
            PropertyId::AuthenticationMethod,
            PacketType::Disconnect,
        ),
    ];
    for (wire, property, packet) in cases {
        assert_eq!(
            decode_err(V5, wire),
            DecodeError::PropertyNotAllowed { property, packet }
        );
    }
}

#[test]
fn topic_alias_given_twice_rejected_mqtt_3_3_2_3_4() {
    let wire: &[u8] = &[
        0x30, 0x0a, // PUBLISH, QoS 0; remaining length 10
        0x00, 0x01, b't', // topic "t"
        0x06, // property length 6
        0x23, 0x00, 0x01, // topic alias 1
        0x23, 0x00, 0x02, // topic alias 2: a second time
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::DuplicateProperty(PropertyId::TopicAlias)
    );
}

#[test]
fn once_only_properties_given_twice_rejected() {
    let cases: [(&[u8], PropertyId); 3] = [
        (
            &[
                0x40, 0x0c, // PUBACK; remaining length 12
                0x00, 0x01, // packet id 1
                0x80, // reason code: unspecified error
                0x08, // property length 8
                0x1f, 0x00, 0x01, b'a', // reason string "a"
                0x1f, 0x00, 0x01, b'b', // reason string "b"
            ],
            PropertyId::ReasonString,
        ),
        (
            &[
                0x10, 0x17, // CONNECT; remaining length 23
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x05, // protocol level 5
                0x02, // flags: clean start
                0x00, 0x3c, // keep alive 60 s
                0x0a, // property length 10
                0x11, 0x00, 0x00, 0x00, 0x01, // session expiry interval 1
                0x11, 0x00, 0x00, 0x00, 0x02, // session expiry interval 2
                0x00, 0x00, // client id ""
            ],
            PropertyId::SessionExpiryInterval,
        ),
        (
            &[
                0x82, 0x0b, // SUBSCRIBE; remaining length 11
                0x00, 0x01, // packet id 1
                0x04, // property length 4
                0x0b, 0x01, // subscription identifier 1
                0x0b, 0x02, // subscription identifier 2: once only in SUBSCRIBE
                0x00, 0x01, b't', // topic filter "t"
                0x00, // options
            ],
            PropertyId::SubscriptionIdentifier,
        ),
    ];
    for (wire, property) in cases {
        assert_eq!(
            decode_err(V5, wire),
            DecodeError::DuplicateProperty(property)
        );
    }
}

#[test]
fn receive_maximum_0_rejected_mqtt_3_1_2_11_3() {
    let connect: &[u8] = &[
        0x10, 0x10, // CONNECT; remaining length 16
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x05, // protocol level 5
        0x02, // flags: clean start
        0x00, 0x3c, // keep alive 60 s
        0x03, // property length 3
        0x21, 0x00, 0x00, // receive maximum 0
        0x00, 0x00, // client id ""
    ];
    let connack: &[u8] = &[
        0x20, 0x06, // CONNACK; remaining length 6
        0x00, // acknowledge flags
        0x00, // reason code: success
        0x03, // property length 3
        0x21, 0x00, 0x00, // receive maximum 0
    ];
    for wire in [connect, connack] {
        assert_eq!(
            decode_err(V5, wire),
            DecodeError::InvalidPropertyValue(PropertyId::ReceiveMaximum)
        );
    }
}

#[test]
fn maximum_packet_size_0_rejected() {
    let wire: &[u8] = &[
        0x10, 0x12, // CONNECT; remaining length 18
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x05, // protocol level 5
        0x02, // flags: clean start
        0x00, 0x3c, // keep alive 60 s
        0x05, // property length 5
        0x27, 0x00, 0x00, 0x00, 0x00, // maximum packet size 0
        0x00, 0x00, // client id ""
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::InvalidPropertyValue(PropertyId::MaximumPacketSize)
    );
}

#[test]
fn topic_alias_0_rejected_mqtt_3_3_2_8() {
    let wire: &[u8] = &[
        0x30, 0x07, // PUBLISH, QoS 0; remaining length 7
        0x00, 0x01, b't', // topic "t"
        0x03, // property length 3
        0x23, 0x00, 0x00, // topic alias 0
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::InvalidPropertyValue(PropertyId::TopicAlias)
    );
}

#[test]
fn boolean_property_2_rejected() {
    let connect: &[u8] = &[
        0x10, 0x0f, // CONNECT; remaining length 15
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x05, // protocol level 5
        0x02, // flags: clean start
        0x00, 0x3c, // keep alive 60 s
        0x02, // property length 2
        0x17, 0x02, // request problem information 2
        0x00, 0x00, // client id ""
    ];
    assert_eq!(
        decode_err(V5, connect),
        DecodeError::InvalidPropertyValue(PropertyId::RequestProblemInformation)
    );
    let publish: &[u8] = &[
        0x30, 0x06, // PUBLISH, QoS 0; remaining length 6
        0x00, 0x01, b't', // topic "t"
        0x02, // property length 2
        0x01, 0x02, // payload format indicator 2
    ];
    assert_eq!(
        decode_err(V5, publish),
        DecodeError::InvalidPropertyValue(PropertyId::PayloadFormatIndicator)
    );
    let connack: &[u8] = &[
        0x20, 0x05, // CONNACK; remaining length 5
        0x00, // acknowledge flags
        0x00, // reason code: success
        0x02, // property length 2
        0x25, 0x02, // retain available 2
    ];
    assert_eq!(
        decode_err(V5, connack),
        DecodeError::InvalidPropertyValue(PropertyId::RetainAvailable)
    );
}

#[test]
fn maximum_qos_2_rejected_mqtt_3_2_2_9() {
    let wire: &[u8] = &[
        0x20, 0x05, // CONNACK; remaining length 5
        0x00, // acknowledge flags
        0x00, // reason code: success
        0x02, // property length 2
        0x24, 0x02, // maximum QoS 2: absent means 2, so 2 is not allowed
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::InvalidPropertyValue(PropertyId::MaximumQoS)
    );
}

#[test]
fn subscription_identifier_0_rejected() {
    let subscribe: &[u8] = &[
        0x82, 0x09, // SUBSCRIBE; remaining length 9
        0x00, 0x01, // packet id 1
        0x02, // property length 2
        0x0b, 0x00, // subscription identifier 0
        0x00, 0x01, b't', // topic filter "t"
        0x00, // options
    ];
    let publish: &[u8] = &[
        0x30, 0x06, // PUBLISH, QoS 0; remaining length 6
        0x00, 0x01, b't', // topic "t"
        0x02, // property length 2
        0x0b, 0x00, // subscription identifier 0
    ];
    for wire in [subscribe, publish] {
        assert_eq!(
            decode_err(V5, wire),
            DecodeError::InvalidPropertyValue(PropertyId::SubscriptionIdentifier)
        );
    }
}

#[test]
fn empty_response_topic_rejected_mqtt_3_3_2_13() {
    let wire: &[u8] = &[
        0x30, 0x07, // PUBLISH, QoS 0; remaining length 7
        0x00, 0x01, b't', // topic "t"
        0x03, // property length 3
        0x08, 0x00, 0x00, // response topic ""
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::InvalidPropertyValue(PropertyId::ResponseTopic)
    );
}

// ---- lengths ---------------------------------------------------------------------------------

#[test]
fn string_length_running_past_the_packet_is_truncated() {
    let wire: &[u8] = &[
        0x30, 0x05, // PUBLISH, QoS 0; remaining length 5
        0x00, 0x09, b'a', b'/', b'b', // topic: 9 bytes announced, 3 present
    ];
    assert_eq!(
        decode_err(V3_1_1, wire),
        DecodeError::Truncated(PacketType::Publish)
    );
}

#[test]
fn property_length_running_past_the_packet_is_truncated() {
    let wire: &[u8] = &[
        0x30, 0x04, // PUBLISH, QoS 0; remaining length 4
        0x00, 0x01, b't', // topic "t"
        0x05, // property length 5, none present
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::Truncated(PacketType::Publish)
    );
}

#[test]
fn property_value_running_past_the_property_length_is_truncated() {
    let wire: &[u8] = &[
        0x30, 0x07, // PUBLISH, QoS 0; remaining length 7
        0x00, 0x01, b't', // topic "t"
        0x02, // property length 2
        0x23, 0x00, // topic alias: one of its two bytes inside the properties
        0x01, // ... the other is payload
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::Truncated(PacketType::Publish)
    );
}

#[test]
fn missing_fields_are_truncated() {
    let cases: [(ProtocolVersion, &[u8], PacketType); 6] = [
        (
            V3_1_1,
            &[
                0x10, 0x08, // CONNECT; remaining length 8
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x02, // flags; keep alive and client id missing
            ],
            PacketType::Connect,
        ),
        (
            V3_1_1,
            &[
                0x20, 0x01, // CONNACK; remaining length 1
                0x00, // acknowledge flags; return code missing
            ],
            PacketType::ConnAck,
        ),
        (
            V5,
            &[
                0x20, 0x02, // CONNACK; remaining length 2 (a 3.1.1 CONNACK)
                0x00, // acknowledge flags
                0x00, // reason code; property length missing
            ],
            PacketType::ConnAck,
        ),
        (
            V3_1_1,
            &[
                0x40, 0x01, // PUBACK; remaining length 1
                0x00, // half a packet id
            ],
            PacketType::PubAck,
        ),
        (
            V3_1_1,
            &[
                0x82, 0x05, // SUBSCRIBE; remaining length 5
                0x00, 0x01, // packet id 1
                0x00, 0x01, b't', // topic filter "t"; options byte missing
            ],
            PacketType::Subscribe,
        ),
        (
            V5,
            &[
                0xe0, 0x05, // DISCONNECT; remaining length 5
                0x00, // reason code
                0x03, // property length 3
                0x1f, 0x00, 0x05, // reason string: 5 bytes announced, none present
            ],
            PacketType::Disconnect,
        ),
    ];
    for (v, wire, packet) in cases {
        assert_eq!(decode_err(v, wire), DecodeError::Truncated(packet));
    }
}

#[test]
fn pingreq_with_a_body_has_trailing_bytes_mqtt_3_12_1() {
    let wire: &[u8] = &[
        0xc0, 0x01, // PINGREQ; remaining length 1
        0x00, // a body PINGREQ does not have
    ];
    for v in ALL {
        assert_eq!(
            decode_err(v, wire),
            DecodeError::TrailingBytes {
                packet: PacketType::PingReq,
                count: 1
            }
        );
    }
    let pingresp: &[u8] = &[
        0xd0, 0x02, // PINGRESP; remaining length 2
        0x00, 0x00, // a body PINGRESP does not have
    ];
    assert_eq!(
        decode_err(V5, pingresp),
        DecodeError::TrailingBytes {
            packet: PacketType::PingResp,
            count: 2
        }
    );
}

#[test]
fn v3_acks_with_a_reason_code_have_trailing_bytes() {
    for (first, packet) in [
        (0x40, PacketType::PubAck),
        (0x50, PacketType::PubRec),
        (0x62, PacketType::PubRel),
        (0x70, PacketType::PubComp),
        (0xb0, PacketType::UnsubAck),
    ] {
        let wire: &[u8] = &[
            first, 0x03, // ack; remaining length 3
            0x00, 0x01, // packet id 1
            0x00, // a 5.0 reason code: not in 3.1.1
        ];
        assert_eq!(
            decode_err(V3_1_1, wire),
            DecodeError::TrailingBytes { packet, count: 1 }
        );
    }
}

#[test]
fn other_trailing_bytes_rejected() {
    let cases: [(ProtocolVersion, &[u8], PacketType); 7] = [
        (
            V3_1_1,
            &[
                0xe0, 0x01, // DISCONNECT; remaining length 1
                0x00, // a 5.0 reason code: not in 3.1.1
            ],
            PacketType::Disconnect,
        ),
        (
            V3_1_1,
            &[
                0x20, 0x03, // CONNACK; remaining length 3
                0x00, 0x00, // flags, return code
                0x00, // one byte too many
            ],
            PacketType::ConnAck,
        ),
        (
            V3_1_1,
            &[
                0x10, 0x0d, // CONNECT; remaining length 13
                0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
                0x04, // protocol level 4
                0x02, // flags: clean session
                0x00, 0x3c, // keep alive 60 s
                0x00, 0x00, // client id ""
                0xaa, // one byte too many
            ],
            PacketType::Connect,
        ),
        (
            V5,
            &[
                0x20, 0x04, // CONNACK; remaining length 4
                0x00, 0x00, 0x00, // flags, reason code, property length 0
                0xaa, // one byte too many
            ],
            PacketType::ConnAck,
        ),
        (
            V5,
            &[
                0x40, 0x05, // PUBACK; remaining length 5
                0x00, 0x01, 0x00, 0x00, // packet id 1, success, property length 0
                0xaa, // one byte too many
            ],
            PacketType::PubAck,
        ),
        (
            V5,
            &[
                0xe0, 0x03, // DISCONNECT; remaining length 3
                0x00, 0x00, // reason code, property length 0
                0xaa, // one byte too many
            ],
            PacketType::Disconnect,
        ),
        (
            V5,
            &[
                0xf0, 0x03, // AUTH; remaining length 3
                0x00, 0x00, // reason code, property length 0
                0xaa, // one byte too many
            ],
            PacketType::Auth,
        ),
    ];
    for (v, wire, packet) in cases {
        assert_eq!(
            decode_err(v, wire),
            DecodeError::TrailingBytes { packet, count: 1 }
        );
    }
}

// ---- CONNECT ---------------------------------------------------------------------------------

/// A CONNECT with this protocol name, level and flags, keep alive 60 and an empty client id.
fn connect(name: &[u8], level: u8, flags: u8) -> Vec<u8> {
    let mut wire = vec![0x10, (2 + name.len() + 1 + 1 + 2 + 2) as u8]; // CONNECT
    wire.extend_from_slice(&[0x00, name.len() as u8]); // protocol name length
    wire.extend_from_slice(name); // protocol name
    wire.push(level); // protocol level
    wire.push(flags); // connect flags
    wire.extend_from_slice(&[0x00, 0x3c]); // keep alive 60 s
    wire.extend_from_slice(&[0x00, 0x00]); // client id ""
    wire
}

#[test]
fn connect_fixture_helper_is_a_valid_connect() {
    let wire = connect(b"MQTT", 4, 0x02);
    common::check(V3_1_1, &wire, &Connect::new(V3_1_1, "").into());
}

#[test]
fn connect_bad_protocol_name_rejected_mqtt_3_1_2_1() {
    for name in [&b"MQTX"[..], b"mqtt", b"MQT", b"", b"MQIsdpX"] {
        assert_eq!(
            decode_err(V3_1_1, &connect(name, 4, 0x02)),
            DecodeError::InvalidProtocolName
        );
    }
}

#[test]
fn connect_protocol_name_level_mismatch_rejected_mqtt_3_1_2_1() {
    for (name, level) in [
        (&b"MQTT"[..], 3),   // 3.1's level with 3.1.1's name
        (&b"MQIsdp"[..], 4), // 3.1's name with 3.1.1's level
        (&b"MQIsdp"[..], 5), // 3.1's name with 5.0's level
    ] {
        assert_eq!(
            decode_err(V3_1_1, &connect(name, level, 0x02)),
            DecodeError::InvalidProtocolName
        );
    }
}

#[test]
fn connect_unknown_protocol_level_rejected_mqtt_3_1_2_2() {
    for level in [0, 1, 2, 6, 0x84, 0xff] {
        assert_eq!(
            decode_err(V3_1_1, &connect(b"MQTT", level, 0x02)),
            DecodeError::UnsupportedProtocolLevel(level)
        );
    }
}

#[test]
fn connect_reserved_flag_rejected_mqtt_3_1_2_3() {
    for (name, level) in [(&b"MQIsdp"[..], 3), (b"MQTT", 4), (b"MQTT", 5)] {
        assert_eq!(
            decode_err(V5, &connect(name, level, 0x03)), // clean start + reserved bit 0
            DecodeError::ConnectReservedFlag
        );
    }
}

#[test]
fn connect_will_qos_without_will_flag_rejected_mqtt_3_1_2_11() {
    for flags in [0x0a, 0x12] {
        // will QoS 1 or 2, no will flag, clean session
        assert_eq!(
            decode_err(V3_1_1, &connect(b"MQTT", 4, flags)),
            DecodeError::InvalidWillFlags
        );
    }
}

#[test]
fn connect_will_retain_without_will_flag_rejected_mqtt_3_1_2_13() {
    for level in [4, 5] {
        assert_eq!(
            decode_err(V3_1_1, &connect(b"MQTT", level, 0x22)), // will retain, clean
            DecodeError::InvalidWillFlags
        );
    }
}

#[test]
fn connect_password_without_username_rejected_before_5_0_mqtt_3_1_2_22() {
    for (name, level, v) in [(&b"MQIsdp"[..], 3, V3_1), (b"MQTT", 4, V3_1_1)] {
        let mut wire = connect(name, level, 0x42); // password, clean; no user name
        wire.extend_from_slice(&[0x00, 0x01, b'p']); // password "p"
        wire[1] += 3; // remaining length
        assert_eq!(decode_err(v, &wire), DecodeError::PasswordWithoutUsername);
    }
    // 5.0 allows it.
    let mut wire = connect(b"MQTT", 5, 0x42);
    wire.insert(12, 0x00); // property length 0, after keep alive
    wire.extend_from_slice(&[0x00, 0x01, b'p']); // password "p"
    wire[1] += 4; // remaining length
    let mut buf = BytesMut::from(&wire[..]);
    let Some(Packet::Connect(c)) = Decoder::new(V5).decode(&mut buf).unwrap() else {
        panic!("not a CONNECT")
    };
    assert_eq!((c.username, c.password), (None, Some(Bytes::from("p"))));
}

// ---- reason codes and CONNACK flags ----------------------------------------------------------

#[test]
fn connack_v3_return_code_over_5_rejected() {
    for code in [0x06, 0x80, 0xff] {
        let wire: &[u8] = &[
            0x20, 0x02, // CONNACK; remaining length 2
            0x00, // acknowledge flags
            code, // return code
        ];
        assert_eq!(
            decode_err(V3_1_1, wire),
            DecodeError::InvalidReasonCode {
                packet: PacketType::ConnAck,
                code
            }
        );
    }
}

#[test]
fn connack_v5_unknown_reason_code_rejected_mqtt_3_2_2_8() {
    for code in [0x01, 0x05, 0x8b, 0xff] {
        let wire: &[u8] = &[
            0x20, 0x03, // CONNACK; remaining length 3
            0x00, // acknowledge flags
            code, // reason code: a 3.1.1 return code or another packet's reason
            0x00, // property length 0
        ];
        assert_eq!(
            decode_err(V5, wire),
            DecodeError::InvalidReasonCode {
                packet: PacketType::ConnAck,
                code
            }
        );
    }
}

#[test]
fn ack_reason_codes_of_another_packet_rejected_mqtt_3_4_2_1() {
    for (first, code, packet) in [
        (0x40, 0x92, PacketType::PubAck), // PUBACK with PUBREL's "not found"
        (0x50, 0x01, PacketType::PubRec), // PUBREC with an unassigned code
        (0x62, 0x10, PacketType::PubRel), // PUBREL with PUBACK's "no matching subscribers"
        (0x70, 0x80, PacketType::PubComp), // PUBCOMP with "unspecified error"
    ] {
        let wire: &[u8] = &[
            first, 0x03, // ack; remaining length 3
            0x00, 0x01, // packet id 1
            code, // reason code
        ];
        assert_eq!(
            decode_err(V5, wire),
            DecodeError::InvalidReasonCode { packet, code }
        );
    }
}

#[test]
fn suback_invalid_codes_rejected_mqtt_3_9_3_2() {
    for (v, code) in [(V3_1_1, 0x03), (V3_1_1, 0x83), (V3_1_1, 0x87), (V3_1, 0x8f)] {
        let wire: &[u8] = &[
            0x90, 0x03, // SUBACK; remaining length 3
            0x00, 0x01, // packet id 1
            code, // return code: 5.0-only or unassigned
        ];
        assert_eq!(
            decode_err(v, wire),
            DecodeError::InvalidReasonCode {
                packet: PacketType::SubAck,
                code
            }
        );
    }
    let wire: &[u8] = &[
        0x90, 0x05, // SUBACK; remaining length 5
        0x00, 0x01, // packet id 1
        0x00, // property length 0
        0x01, // granted QoS 1
        0x03, // unassigned
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::InvalidReasonCode {
            packet: PacketType::SubAck,
            code: 0x03
        }
    );
}

#[test]
fn unsuback_v5_invalid_code_rejected_mqtt_3_11_3_2() {
    let wire: &[u8] = &[
        0xb0, 0x04, // UNSUBACK; remaining length 4
        0x00, 0x01, // packet id 1
        0x00, // property length 0
        0x01, // unassigned
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::InvalidReasonCode {
            packet: PacketType::UnsubAck,
            code: 0x01
        }
    );
}

#[test]
fn disconnect_v5_invalid_code_rejected_mqtt_3_14_2_1() {
    let wire: &[u8] = &[
        0xe0, 0x01, // DISCONNECT; remaining length 1
        0x01, // unassigned
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::InvalidReasonCode {
            packet: PacketType::Disconnect,
            code: 0x01
        }
    );
}

#[test]
fn auth_v5_invalid_code_rejected_mqtt_3_15_2_1() {
    let wire: &[u8] = &[
        0xf0, 0x01, // AUTH; remaining length 1
        0x87, // "not authorized": a CONNACK code, not an AUTH one
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::InvalidReasonCode {
            packet: PacketType::Auth,
            code: 0x87
        }
    );
}

#[test]
fn connack_reserved_flags_rejected_mqtt_3_2_2_1() {
    for flags in [0x02, 0x80, 0xff] {
        #[rustfmt::skip]
        let wire: &[u8] = &[
            0x20, 0x02, // CONNACK; remaining length 2
            flags, // acknowledge flags: reserved bits set
            0x00, // return code 0
        ];
        assert_eq!(decode_err(V3_1_1, wire), DecodeError::ConnAckReservedFlags);
        #[rustfmt::skip]
        let wire: &[u8] = &[
            0x20, 0x03, // CONNACK; remaining length 3
            flags, // acknowledge flags: reserved bits set
            0x00, // reason code: success
            0x00, // property length 0
        ];
        assert_eq!(decode_err(V5, wire), DecodeError::ConnAckReservedFlags);
    }
}

#[test]
fn empty_topic_without_alias_rejected_mqtt_3_3_2_1_mqtt_4_7_3_1() {
    let wire: &[u8] = &[
        0x30, 0x04, // PUBLISH, QoS 0; remaining length 4
        0x00, 0x00, // topic ""
        0x00, // property length 0: no topic alias
        b'x', // payload
    ];
    assert_eq!(decode_err(V5, wire), DecodeError::EmptyTopicWithoutAlias);
}

// ---- disconnect_reason -----------------------------------------------------------------------

#[test]
fn decode_errors_map_to_disconnect_reasons_mqtt_4_13_1_1() {
    use DisconnectReason as R;
    let cases = [
        (
            DecodeError::PacketTooLarge { size: 10, max: 5 },
            R::PacketTooLarge,
        ),
        (DecodeError::MalformedVarInt, R::MalformedPacket),
        (
            DecodeError::Truncated(PacketType::Publish),
            R::MalformedPacket,
        ),
        (DecodeError::InvalidUtf8, R::MalformedPacket),
        (DecodeError::InvalidQoS, R::MalformedPacket),
        (
            DecodeError::InvalidFlags {
                packet: PacketType::PubRel,
                flags: 0,
            },
            R::MalformedPacket,
        ),
        (
            DecodeError::DuplicateProperty(PropertyId::TopicAlias),
            R::ProtocolError,
        ),
        (
            DecodeError::InvalidPropertyValue(PropertyId::ReceiveMaximum),
            R::ProtocolError,
        ),
        (DecodeError::ReservedPacketType(0, V5), R::ProtocolError),
        (
            DecodeError::ZeroPacketId(PacketType::Publish),
            R::ProtocolError,
        ),
        (DecodeError::UnsupportedProtocolLevel(6), R::ProtocolError),
        (DecodeError::EmptyTopicWithoutAlias, R::ProtocolError),
        (
            DecodeError::Topic(TopicError::WildcardInTopicName),
            R::TopicNameInvalid,
        ),
    ];
    for (err, reason) in cases {
        assert_eq!(err.disconnect_reason(), reason, "{err:?}");
    }
    // And from real bytes.
    let publish_wildcard: &[u8] = &[0x30, 0x03, 0x00, 0x01, b'#']; // PUBLISH, topic "#"
    assert_eq!(
        decode_err(V5, publish_wildcard).disconnect_reason(),
        R::TopicNameInvalid
    );
}

#[test]
fn decode_error_messages_cite_their_rule() {
    assert!(
        DecodeError::InvalidQoS
            .to_string()
            .contains("[MQTT-3.3.1-4]")
    );
    assert!(
        DecodeError::EmptySubscribe
            .to_string()
            .contains("[MQTT-3.8.3-2]")
    );
    assert!(
        DecodeError::ConnectReservedFlag
            .to_string()
            .contains("[MQTT-3.1.2-3]")
    );
}

// ==== EncodeError ==============================================================================

#[test]
fn encoder_max_packet_size_refuses_larger_packets_mqtt_3_1_2_24() {
    let publish = Packet::from(Publish::new(topic("a/b"), QosPid::AtMostOnce, "hi")); // 9 bytes
    let encoder = Encoder::new(V3_1_1).with_max_packet_size(nz32(8));
    assert_eq!(encoder.max_packet_size(), 8);
    let mut buf = BytesMut::from(&b"keep"[..]);
    assert_eq!(
        encoder.encode(&publish, &mut buf),
        Err(EncodeError::PacketTooLarge { size: 9, max: 8 })
    );
    assert_eq!(&buf[..], b"keep", "nothing written on error");
    let mut encoder = encoder;
    encoder.set_max_packet_size(nz32(9));
    assert_eq!(encoder.encode(&publish, &mut buf), Ok(9));
    assert_eq!(buf.len(), 4 + 9);
}

#[test]
fn field_over_65535_bytes_refused_mqtt_1_5_4_1() {
    let big = "v".repeat(65_536);
    // A user property value.
    let mut properties = PublishProperties::default();
    properties.user_properties = vec![mqtt_proto::UserProperty::new("k", big.as_str())];
    let publish = Packet::from(Publish {
        properties: Some(Box::new(properties)),
        ..Publish::new(topic("t"), QosPid::AtMostOnce, "")
    });
    assert_eq!(encode_err(V5, &publish), EncodeError::FieldTooLong(65_536));
    // A client identifier, user name, password and will payload.
    let too_long: [Connect; 4] = [
        Connect::new(V3_1_1, big.as_str()),
        Connect {
            username: Some(big.as_str().into()),
            ..Connect::new(V3_1_1, "")
        },
        Connect {
            username: Some("u".into()),
            password: Some(Bytes::from(big.clone())),
            ..Connect::new(V3_1_1, "")
        },
        Connect {
            will: Some(Will::new(topic("w"), big.clone())),
            ..Connect::new(V3_1_1, "")
        },
    ];
    for c in too_long {
        assert_eq!(
            encode_err(V3_1_1, &c.into()),
            EncodeError::FieldTooLong(65_536)
        );
    }
    // Binary properties: correlation data and authentication data.
    let mut properties = PublishProperties::default();
    properties.correlation_data = Some(Bytes::from(big.clone()));
    let publish = Packet::from(Publish {
        properties: Some(Box::new(properties)),
        ..Publish::new(topic("t"), QosPid::AtMostOnce, "")
    });
    assert_eq!(encode_err(V5, &publish), EncodeError::FieldTooLong(65_536));
    let mut properties = mqtt_proto::AuthProperties::default();
    properties.authentication_method = Some("SCRAM-SHA-1".into());
    properties.authentication_data = Some(Bytes::from(big.clone()));
    let auth = Packet::from(Auth {
        reason: AuthReason::ContinueAuthentication,
        properties,
    });
    assert_eq!(encode_err(V5, &auth), EncodeError::FieldTooLong(65_536));
}

#[test]
fn field_of_exactly_65535_bytes_is_encoded() {
    let max = "v".repeat(65_535);
    let mut properties = AckProperties::default();
    properties.reason_string = Some(max.as_str().into());
    let puback = Packet::from(PubAck {
        properties,
        ..PubAck::new(pid(1))
    });
    let mut buf = BytesMut::new();
    let n = puback.encode(V5, &mut buf).unwrap();
    // 2 packet id + 1 reason + 3 property length + 1 id + 2 length + 65,535 = 65,544.
    assert_eq!(n, 1 + 3 + 65_544);
    assert_eq!(puback.encoded_len(V5), n);
    let decoded = Decoder::new(V5).decode(&mut buf).unwrap();
    assert_eq!(decoded, Some(puback));
}

#[test]
fn dup_on_qos0_refused_mqtt_3_3_1_2() {
    let publish = Packet::from(Publish {
        dup: true,
        ..Publish::new(topic("t"), QosPid::AtMostOnce, "x")
    });
    for v in ALL {
        assert_eq!(encode_err(v, &publish), EncodeError::DupOnQoS0);
    }
}

#[test]
fn empty_topic_without_alias_refused_mqtt_4_7_3_1() {
    let publish = Packet::from(Publish::new(
        TopicName::alias_only(),
        QosPid::AtMostOnce,
        "x",
    ));
    for v in ALL {
        assert_eq!(encode_err(v, &publish), EncodeError::EmptyTopicWithoutAlias);
    }
    // Before 5.0 there are no aliases at all.
    let mut properties = PublishProperties::default();
    properties.topic_alias = Some(nz16(1));
    let aliased = Packet::from(Publish {
        properties: Some(Box::new(properties)),
        ..Publish::new(TopicName::alias_only(), QosPid::AtMostOnce, "x")
    });
    assert_eq!(
        encode_err(V3_1_1, &aliased),
        EncodeError::EmptyTopicWithoutAlias
    );
    // A will has no alias either.
    for v in ALL {
        let connect = Packet::from(Connect {
            will: Some(Will::new(TopicName::alias_only(), "x")),
            ..Connect::new(v, "")
        });
        assert_eq!(encode_err(v, &connect), EncodeError::EmptyTopicWithoutAlias);
    }
}

#[test]
fn subscribe_and_unsubscribe_without_filters_refused_mqtt_3_8_3_2_mqtt_3_10_3_2() {
    for v in ALL {
        assert_eq!(
            encode_err(v, &Subscribe::new(pid(1), vec![]).into()),
            EncodeError::NoTopicFilters(PacketType::Subscribe)
        );
        assert_eq!(
            encode_err(v, &Unsubscribe::new(pid(1), vec![]).into()),
            EncodeError::NoTopicFilters(PacketType::Unsubscribe)
        );
    }
}

#[test]
fn password_without_username_refused_before_5_0_mqtt_3_1_2_22() {
    for v in [V3_1, V3_1_1] {
        let connect = Packet::from(Connect {
            password: Some(Bytes::from_static(b"p")),
            ..Connect::new(v, "")
        });
        assert_eq!(
            encode_err(v, &connect),
            EncodeError::PasswordWithoutUsername
        );
    }
}

#[test]
fn invalid_property_values_refused() {
    let mut properties = ConnAckProperties::default();
    properties.maximum_qos = Some(QoS::ExactlyOnce);
    let connack = Packet::from(ConnAck {
        properties,
        ..ConnAck::new(false, ConnectReason::Success)
    });
    assert_eq!(
        encode_err(V5, &connack),
        EncodeError::InvalidPropertyValue(PropertyId::MaximumQoS)
    );
    let mut properties = PublishProperties::default();
    properties.response_topic = Some(TopicName::alias_only());
    let publish = Packet::from(Publish {
        properties: Some(Box::new(properties)),
        ..Publish::new(topic("t"), QosPid::AtMostOnce, "")
    });
    assert_eq!(
        encode_err(V5, &publish),
        EncodeError::InvalidPropertyValue(PropertyId::ResponseTopic)
    );
    let mut properties = WillProperties::default();
    properties.response_topic = Some(TopicName::alias_only());
    let connect = Packet::from(Connect {
        will: Some(Will {
            properties,
            ..Will::new(topic("w"), "")
        }),
        ..Connect::new(V5, "")
    });
    assert_eq!(
        encode_err(V5, &connect),
        EncodeError::InvalidPropertyValue(PropertyId::ResponseTopic)
    );
}

/// What `EncodeError::NotInVersion` is expected for a 5.0-only field on 3.1.1 (and 3.1).
fn not_in(what: &'static str, version: ProtocolVersion) -> EncodeError {
    EncodeError::NotInVersion { what, version }
}

#[test]
fn v5_only_fields_refused_on_v3_not_in_version() {
    let mut connect_props = ConnectProperties::default();
    connect_props.session_expiry_interval = Some(1);
    let mut will_props = WillProperties::default();
    will_props.will_delay_interval = Some(1);
    let mut connack_props = ConnAckProperties::default();
    connack_props.server_keep_alive = Some(1);
    let mut publish_props = PublishProperties::default();
    publish_props.message_expiry_interval = Some(1);
    let ack_props = {
        let mut p = AckProperties::default();
        p.user_properties = vec![user("k", "v")];
        p
    };
    let mut subscribe_props = SubscribeProperties::default();
    subscribe_props.subscription_identifier = Some(common::sub_id(1));
    let mut unsubscribe_props = UnsubscribeProperties::default();
    unsubscribe_props.user_properties = vec![user("k", "v")];
    let mut disconnect_props = DisconnectProperties::default();
    disconnect_props.reason_string = Some("r".into());

    for v in [V3_1, V3_1_1] {
        let cases: Vec<(Packet, &'static str)> = vec![
            (
                Connect {
                    properties: connect_props.clone(),
                    ..Connect::new(v, "")
                }
                .into(),
                "CONNECT properties",
            ),
            (
                Connect {
                    will: Some(Will {
                        properties: will_props.clone(),
                        ..Will::new(topic("w"), "")
                    }),
                    ..Connect::new(v, "")
                }
                .into(),
                "will properties",
            ),
            (
                ConnAck::new(false, ConnectReason::Banned).into(),
                "this CONNACK reason code",
            ),
            (
                ConnAck {
                    properties: connack_props.clone(),
                    ..ConnAck::new(false, ConnectReason::Success)
                }
                .into(),
                "CONNACK properties",
            ),
            (
                Publish {
                    properties: Some(Box::new(publish_props.clone())),
                    ..Publish::new(topic("t"), QosPid::AtMostOnce, "")
                }
                .into(),
                "PUBLISH properties",
            ),
            (
                PubAck {
                    reason: PubAckReason::NoMatchingSubscribers,
                    ..PubAck::new(pid(1))
                }
                .into(),
                "PUBACK reason code",
            ),
            (
                PubAck {
                    properties: ack_props.clone(),
                    ..PubAck::new(pid(1))
                }
                .into(),
                "PUBACK properties",
            ),
            (
                PubRec {
                    reason: PubAckReason::QuotaExceeded,
                    ..PubRec::new(pid(1))
                }
                .into(),
                "PUBREC reason code",
            ),
            (
                PubRel {
                    properties: ack_props.clone(),
                    ..PubRel::new(pid(1))
                }
                .into(),
                "PUBREL properties",
            ),
            (
                PubComp {
                    reason: PubRelReason::PacketIdentifierNotFound,
                    ..PubComp::new(pid(1))
                }
                .into(),
                "PUBCOMP reason code",
            ),
            (
                Subscribe {
                    properties: subscribe_props.clone(),
                    ..Subscribe::new(
                        pid(1),
                        vec![SubscribeFilter::new(filter("t"), QoS::AtMostOnce)],
                    )
                }
                .into(),
                "SUBSCRIBE properties",
            ),
            (
                Subscribe::new(
                    pid(1),
                    vec![SubscribeFilter {
                        filter: filter("t"),
                        options: SubscriptionOptions {
                            retain_handling: RetainHandling::DoNotSend,
                            ..SubscriptionOptions::default()
                        },
                    }],
                )
                .into(),
                "subscription options other than QoS",
            ),
            (
                Subscribe::new(
                    pid(1),
                    vec![SubscribeFilter {
                        filter: filter("t"),
                        options: SubscriptionOptions {
                            no_local: true,
                            ..SubscriptionOptions::default()
                        },
                    }],
                )
                .into(),
                "subscription options other than QoS",
            ),
            (
                SubAck::new(pid(1), vec![SubAckReason::NotAuthorized]).into(),
                "this SUBACK reason code",
            ),
            (
                SubAck {
                    properties: ack_props.clone(),
                    ..SubAck::new(pid(1), vec![SubAckReason::GrantedQoS0])
                }
                .into(),
                "SUBACK properties",
            ),
            (
                Unsubscribe {
                    properties: unsubscribe_props.clone(),
                    ..Unsubscribe::new(pid(1), vec![filter("t")])
                }
                .into(),
                "UNSUBSCRIBE properties",
            ),
            (
                UnsubAck::new(pid(1), vec![UnsubAckReason::Success]).into(),
                "UNSUBACK reason codes",
            ),
            (
                UnsubAck {
                    properties: ack_props.clone(),
                    ..UnsubAck::new(pid(1), vec![])
                }
                .into(),
                "UNSUBACK properties",
            ),
            (
                Disconnect::new(DisconnectReason::DisconnectWithWillMessage).into(),
                "a DISCONNECT reason code",
            ),
            (
                Disconnect {
                    reason: DisconnectReason::NormalDisconnection,
                    properties: disconnect_props.clone(),
                }
                .into(),
                "DISCONNECT properties",
            ),
            (Auth::new(AuthReason::Success).into(), "AUTH"),
        ];
        for (packet, what) in cases {
            assert_eq!(encode_err(v, &packet), not_in(what, v), "{what}");
        }
    }
}

#[test]
fn connect_properties_are_judged_by_the_connect_version_not_the_codec_version() {
    let mut properties = ConnectProperties::default();
    properties.receive_maximum = Some(nz16(5));
    let connect = Packet::from(Connect {
        properties,
        ..Connect::new(V3_1_1, "")
    });
    assert_eq!(
        encode_err(V5, &connect),
        not_in("CONNECT properties", V3_1_1)
    );
}

#[test]
fn encode_error_messages_cite_their_rule() {
    assert!(
        EncodeError::DupOnQoS0
            .to_string()
            .contains("[MQTT-3.3.1-2]")
    );
    assert_eq!(
        not_in("AUTH", V3_1_1).to_string(),
        "AUTH cannot be sent with MQTT 3.1.1"
    );
}

#[test]
fn no_local_on_shared_subscription_rejected_mqtt_3_8_3_4() {
    let wire: &[u8] = &[
        0x82, 0x10, // SUBSCRIBE; remaining length 16
        0x00, 0x01, // packet id 1
        0x00, // no properties
        0x00, 0x0A, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/',
        b'a', // "$share/g/a"
        0x04, // options: QoS 0, No Local
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::NoLocalOnSharedSubscription
    );
    assert_eq!(
        DecodeError::NoLocalOnSharedSubscription.disconnect_reason(),
        DisconnectReason::ProtocolError
    );
    let mut s = SubscribeFilter::new(filter("$share/g/a"), QoS::AtMostOnce);
    s.options.no_local = true;
    let packet = Packet::from(Subscribe::new(pid(1), vec![s]));
    assert_eq!(
        encode_err(V5, &packet),
        EncodeError::NoLocalOnSharedSubscription
    );
}

#[test]
fn authentication_data_without_method_rejected() {
    let wire: &[u8] = &[
        0xF0, 0x05, // AUTH; remaining length 5
        0x18, // Continue authentication
        0x03, // property length 3
        0x16, 0x00, 0x00, // Authentication Data, empty; no Authentication Method
    ];
    assert_eq!(
        decode_err(V5, wire),
        DecodeError::AuthenticationDataWithoutMethod
    );
    let mut auth = Auth::new(AuthReason::ContinueAuthentication);
    auth.properties.authentication_data = Some(Bytes::from_static(b"x"));
    assert_eq!(
        encode_err(V5, &Packet::from(auth)),
        EncodeError::AuthenticationDataWithoutMethod
    );
}

#[test]
fn subscription_option_value_errors_are_protocol_errors_reserved_bits_malformed() {
    assert_eq!(
        DecodeError::InvalidSubscriptionOptions(0x30).disconnect_reason(),
        DisconnectReason::ProtocolError
    );
    assert_eq!(
        DecodeError::InvalidSubscriptionOptions(0x40).disconnect_reason(),
        DisconnectReason::MalformedPacket
    );
    assert_eq!(
        DecodeError::EmptySubscribe.disconnect_reason(),
        DisconnectReason::ProtocolError
    );
}

#[test]
fn null_character_refused_when_sending_mqtt_1_5_4_2() {
    let packet = Packet::from(Connect::new(V3_1_1, "a\0b"));
    assert_eq!(encode_err(V3_1_1, &packet), EncodeError::NullCharacter);
    let mut connect = Connect::new(V5, "c");
    connect.username = Some("u\0".into());
    assert_eq!(encode_err(V5, &connect.into()), EncodeError::NullCharacter);
    let mut props = PublishProperties::default();
    props.user_properties.push(user("k", "v\0"));
    let publish = Publish::new(topic("t"), QosPid::AtMostOnce, "").with_properties(props);
    assert_eq!(encode_err(V5, &publish.into()), EncodeError::NullCharacter);
    let mut props = PublishProperties::default();
    props.content_type = Some("text/\0plain".into());
    let publish = Publish::new(topic("t"), QosPid::AtMostOnce, "").with_properties(props);
    assert_eq!(encode_err(V5, &publish.into()), EncodeError::NullCharacter);
}
