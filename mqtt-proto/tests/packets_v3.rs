//! Byte fixtures for every MQTT 3.1 and 3.1.1 packet, written out field by field: each is
//! decoded to an exact `Packet` and that packet is encoded back to the exact same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::{Bytes, BytesMut};
use mqtt_proto::ProtocolVersion::{V3_1, V3_1_1, V5};
use mqtt_proto::{
    ConnAck, Connect, ConnectReason, Decoder, Disconnect, Packet, PubAck, PubComp, PubRec, PubRel,
    Publish, QoS, QosPid, SubAck, SubAckReason, Subscribe, SubscribeFilter, TopicName, UnsubAck,
    Unsubscribe, Will,
};

use common::{check, check_decode, filter, pid, topic};

/// Both pre-5.0 versions share the wire format of every packet but CONNECT.
const V3: [mqtt_proto::ProtocolVersion; 2] = [V3_1, V3_1_1];

// ---- CONNECT ---------------------------------------------------------------------------------

#[test]
fn connect_v3_1_mqisdp_level_3_with_will_username_password() {
    let wire: &[u8] = &[
        0x10, 0x1e, // CONNECT; remaining length 30
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // protocol name "MQIsdp"
        0x03, // protocol level 3
        0xee, // flags: username, password, will retain, will QoS 1, will, clean session
        0x00, 0x3c, // keep alive 60 s
        0x00, 0x02, b'c', b'1', // client id "c1"
        0x00, 0x01, b'w', // will topic "w"
        0x00, 0x03, b'b', b'y', b'e', // will payload "bye"
        0x00, 0x01, b'u', // user name "u"
        0x00, 0x01, b'p', // password "p"
    ];
    let mut connect = Connect::new(V3_1, "c1");
    connect.will = Some(Will {
        qos: QoS::AtLeastOnce,
        retain: true,
        ..Will::new(topic("w"), "bye")
    });
    connect.username = Some("u".into());
    connect.password = Some(Bytes::from_static(b"p"));
    check(V3_1, wire, &connect.into());
}

#[test]
fn connect_v3_1_1_minimal_empty_client_id() {
    let wire: &[u8] = &[
        0x10, 0x0c, // CONNECT; remaining length 12
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4
        0x02, // flags: clean session
        0x00, 0x3c, // keep alive 60 s
        0x00, 0x00, // client id "" (server assigns one) [MQTT-3.1.3-6]
    ];
    check(V3_1_1, wire, &Connect::new(V3_1_1, "").into());
}

#[test]
fn connect_v3_1_1_will_qos2_username_binary_password_no_clean_session() {
    let wire: &[u8] = &[
        0x10, 0x24, // CONNECT; remaining length 36
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4
        0xd4, // flags: username, password, will QoS 2, will; no clean session
        0x01, 0x2c, // keep alive 300 s
        0x00, 0x03, b'd', b'e', b'v', // client id "dev"
        0x00, 0x03, b's', b'/', b'o', // will topic "s/o"
        0x00, 0x02, 0xde, 0xad, // will payload: binary
        0x00, 0x05, b'a', b'l', b'i', b'c', b'e', // user name "alice"
        0x00, 0x03, 0x00, 0xff, 0x7f, // password: binary data, not a string
    ];
    let connect = Connect {
        clean_start: false,
        keep_alive: 300,
        will: Some(Will {
            qos: QoS::ExactlyOnce,
            ..Will::new(topic("s/o"), Bytes::from_static(&[0xde, 0xad]))
        }),
        username: Some("alice".into()),
        password: Some(Bytes::from_static(&[0x00, 0xff, 0x7f])),
        ..Connect::new(V3_1_1, "dev")
    };
    check(V3_1_1, wire, &connect.into());
}

#[test]
fn connect_is_decoded_and_encoded_in_its_own_version_whatever_the_codec_version() {
    let wire: &[u8] = &[
        0x10, 0x0e, // CONNECT; remaining length 14
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name "MQTT"
        0x04, // protocol level 4
        0x00, // flags: none
        0x00, 0x00, // keep alive off
        0x00, 0x02, b'i', b'd', // client id "id"
    ];
    let connect = Packet::from(Connect {
        clean_start: false,
        keep_alive: 0,
        ..Connect::new(V3_1_1, "id")
    });
    // A server's decoder does not know the version until it has read the CONNECT.
    for codec_version in [V3_1, V3_1_1, V5] {
        check(codec_version, wire, &connect);
    }
}

// ---- CONNACK ---------------------------------------------------------------------------------

#[test]
fn connack_v3_return_codes_0_to_5_map_to_connect_reasons() {
    let table = [
        (0x00, ConnectReason::Success),
        (0x01, ConnectReason::UnsupportedProtocolVersion),
        (0x02, ConnectReason::ClientIdentifierNotValid),
        (0x03, ConnectReason::ServerUnavailable),
        (0x04, ConnectReason::BadUserNameOrPassword),
        (0x05, ConnectReason::NotAuthorized),
    ];
    for v in V3 {
        for (code, reason) in table {
            let wire: &[u8] = &[
                0x20, 0x02, // CONNACK; remaining length 2
                0x00, // acknowledge flags: no session present
                code, // return code
            ];
            check(v, wire, &ConnAck::new(false, reason).into());
            assert_eq!(ConnectReason::from_v3(code), Some(reason));
            assert_eq!(reason.to_v3(), Some(code));
        }
    }
}

#[test]
fn connack_v3_1_1_session_present_mqtt_3_2_2_2() {
    let wire: &[u8] = &[
        0x20, 0x02, // CONNACK; remaining length 2
        0x01, // acknowledge flags: session present
        0x00, // return code 0: accepted
    ];
    check(
        V3_1_1,
        wire,
        &ConnAck::new(true, ConnectReason::Success).into(),
    );
}

// ---- PUBLISH ---------------------------------------------------------------------------------

#[test]
fn publish_v3_qos0() {
    let wire: &[u8] = &[
        0x30, 0x07, // PUBLISH, QoS 0; remaining length 7
        0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        b'h', b'i', // payload: no packet id at QoS 0 [MQTT-2.2.1-2]
    ];
    for v in V3 {
        check(
            v,
            wire,
            &Publish::new(topic("a/b"), QosPid::AtMostOnce, "hi").into(),
        );
    }
}

#[test]
fn publish_v3_qos0_retained_empty_payload() {
    let wire: &[u8] = &[
        0x31, 0x05, // PUBLISH, QoS 0, RETAIN; remaining length 5
        0x00, 0x03, b'a', b'/',
        b'b', // topic "a/b"
              // payload: empty (clears the retained message)
    ];
    let publish = Publish {
        retain: true,
        ..Publish::new(topic("a/b"), QosPid::AtMostOnce, Bytes::new())
    };
    for v in V3 {
        check(v, wire, &publish.clone().into());
    }
}

#[test]
fn publish_v3_qos1() {
    let wire: &[u8] = &[
        0x32, 0x09, // PUBLISH, QoS 1; remaining length 9
        0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        0x00, 0x0a, // packet id 10
        b'h', b'i', // payload
    ];
    let publish = Publish::new(topic("a/b"), QosPid::AtLeastOnce(pid(10)), "hi");
    for v in V3 {
        check(v, wire, &publish.clone().into());
    }
}

#[test]
fn publish_v3_qos2_dup_retain_max_packet_id() {
    let wire: &[u8] = &[
        0x3d, 0x07, // PUBLISH, DUP, QoS 2, RETAIN; remaining length 7
        0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
        0xff, 0xff, // packet id 65535
              // payload: empty
    ];
    let publish = Publish {
        dup: true,
        retain: true,
        ..Publish::new(topic("a/b"), QosPid::ExactlyOnce(pid(65535)), Bytes::new())
    };
    for v in V3 {
        check(v, wire, &publish.clone().into());
    }
}

#[test]
fn publish_v3_two_byte_remaining_length() {
    let payload = [0x5a; 200];
    let mut wire = vec![
        0x30, 0xcb, 0x01, // PUBLISH, QoS 0; remaining length 203 (0x4b + 1 * 128)
        0x00, 0x01, b't', // topic "t"
    ];
    wire.extend_from_slice(&payload); // payload: 200 bytes
    let publish = Publish::new(
        topic("t"),
        QosPid::AtMostOnce,
        Bytes::copy_from_slice(&payload),
    );
    check(V3_1_1, &wire, &publish.into());
}

#[test]
fn publish_v3_topic_with_dollar_space_and_empty_levels_is_valid() {
    let wire: &[u8] = &[
        0x30, 0x08, // PUBLISH, QoS 0; remaining length 8
        0x00, 0x06, b'$', b'S', b'Y', b'S', b'/', b'/', // topic "$SYS//"
    ];
    check(
        V3_1_1,
        wire,
        &Publish::new(topic("$SYS//"), QosPid::AtMostOnce, "").into(),
    );
}

#[test]
fn publish_qos0_with_dup_decodes_with_dup_cleared_like_mosquitto_mqtt_3_3_1_2() {
    // DUP on QoS 0 is forbidden [MQTT-3.3.1-2], but the decoder is lenient (as mosquitto):
    // it accepts the packet and clears the flag. The encoder never writes it.
    let wire: &[u8] = &[
        0x38, 0x04, // PUBLISH, DUP, QoS 0; remaining length 4
        0x00, 0x01, b't', // topic "t"
        b'x', // payload
    ];
    let expected = Publish::new(topic("t"), QosPid::AtMostOnce, "x");
    for v in [V3_1, V3_1_1] {
        check_decode(v, wire, &expected.clone().into());
    }
    let mut buf = BytesMut::from(wire);
    let Some(Packet::Publish(publish)) = Decoder::new(V3_1_1).decode(&mut buf).unwrap() else {
        panic!("not a PUBLISH")
    };
    assert!(!publish.dup);
    // Re-encoded canonically, without DUP.
    common::check_encode(
        V3_1_1,
        &publish.into(),
        &[0x30, 0x04, 0x00, 0x01, b't', b'x'],
    );
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP ---------------------------------------------------------

#[test]
fn puback_v3() {
    let wire: &[u8] = &[
        0x40, 0x02, // PUBACK; remaining length 2
        0x12, 0x34, // packet id 0x1234
    ];
    for v in V3 {
        check(v, wire, &PubAck::new(pid(0x1234)).into());
    }
}

#[test]
fn pubrec_v3() {
    let wire: &[u8] = &[
        0x50, 0x02, // PUBREC; remaining length 2
        0x00, 0x01, // packet id 1
    ];
    for v in V3 {
        check(v, wire, &PubRec::new(pid(1)).into());
    }
}

#[test]
fn pubrel_v3_fixed_flags_0010_mqtt_3_6_1_1() {
    let wire: &[u8] = &[
        0x62, 0x02, // PUBREL, reserved flags 0b0010; remaining length 2
        0xff, 0xfe, // packet id 65534
    ];
    for v in V3 {
        check(v, wire, &PubRel::new(pid(65534)).into());
    }
}

#[test]
fn pubcomp_v3() {
    let wire: &[u8] = &[
        0x70, 0x02, // PUBCOMP; remaining length 2
        0x00, 0x80, // packet id 128
    ];
    for v in V3 {
        check(v, wire, &PubComp::new(pid(128)).into());
    }
}

// ---- SUBSCRIBE, SUBACK -----------------------------------------------------------------------

#[test]
fn subscribe_v3_three_filters_each_qos_mqtt_3_8_1_1() {
    let wire: &[u8] = &[
        0x82, 0x12, // SUBSCRIBE, reserved flags 0b0010; remaining length 18
        0x00, 0x0a, // packet id 10
        0x00, 0x03, b'a', b'/', b'+', // topic filter "a/+"
        0x00, // requested QoS 0
        0x00, 0x01, b'#', // topic filter "#"
        0x01, // requested QoS 1
        0x00, 0x03, b's', b'/', b'#', // topic filter "s/#"
        0x02, // requested QoS 2
    ];
    let subscribe = Subscribe::new(
        pid(10),
        vec![
            SubscribeFilter::new(filter("a/+"), QoS::AtMostOnce),
            SubscribeFilter::new(filter("#"), QoS::AtLeastOnce),
            SubscribeFilter::new(filter("s/#"), QoS::ExactlyOnce),
        ],
    );
    for v in V3 {
        check(v, wire, &subscribe.clone().into());
    }
}

#[test]
fn suback_v3_granted_qos_and_failure_0x80() {
    let wire: &[u8] = &[
        0x90, 0x06, // SUBACK; remaining length 6
        0x00, 0x0a, // packet id 10
        0x00, // granted QoS 0
        0x01, // granted QoS 1
        0x02, // granted QoS 2
        0x80, // failure
    ];
    let suback = SubAck::new(
        pid(10),
        vec![
            SubAckReason::GrantedQoS0,
            SubAckReason::GrantedQoS1,
            SubAckReason::GrantedQoS2,
            SubAckReason::UnspecifiedError,
        ],
    );
    for v in V3 {
        check(v, wire, &suback.clone().into());
    }
}

// ---- UNSUBSCRIBE, UNSUBACK -------------------------------------------------------------------

#[test]
fn unsubscribe_v3_two_filters_mqtt_3_10_1_1() {
    let wire: &[u8] = &[
        0xa2, 0x0a, // UNSUBSCRIBE, reserved flags 0b0010; remaining length 10
        0x00, 0x0b, // packet id 11
        0x00, 0x03, b'a', b'/', b'+', // topic filter "a/+"
        0x00, 0x01, b'#', // topic filter "#"
    ];
    let unsubscribe = Unsubscribe::new(pid(11), vec![filter("a/+"), filter("#")]);
    for v in V3 {
        check(v, wire, &unsubscribe.clone().into());
    }
}

#[test]
fn unsuback_v3_has_no_reason_codes() {
    let wire: &[u8] = &[
        0xb0, 0x02, // UNSUBACK; remaining length 2
        0x00, 0x0b, // packet id 11
    ];
    for v in V3 {
        check(v, wire, &UnsubAck::new(pid(11), vec![]).into());
    }
}

// ---- PINGREQ, PINGRESP, DISCONNECT -----------------------------------------------------------

#[test]
fn pingreq_v3() {
    let wire: &[u8] = &[
        0xc0, 0x00, // PINGREQ; remaining length 0
    ];
    for v in V3 {
        check(v, wire, &Packet::PingReq);
    }
}

#[test]
fn pingresp_v3() {
    let wire: &[u8] = &[
        0xd0, 0x00, // PINGRESP; remaining length 0
    ];
    for v in V3 {
        check(v, wire, &Packet::PingResp);
    }
}

#[test]
fn disconnect_v3_is_empty() {
    let wire: &[u8] = &[
        0xe0, 0x00, // DISCONNECT; remaining length 0
    ];
    for v in V3 {
        check(v, wire, &Disconnect::default().into());
    }
}

#[test]
fn several_packets_in_one_buffer_decode_in_order() {
    let wire: &[u8] = &[
        0xc0, 0x00, // PINGREQ
        0x40, 0x02, 0x00, 0x05, // PUBACK, packet id 5
        0x30, 0x04, 0x00, 0x01, b't', b'x', // PUBLISH QoS 0, topic "t", payload "x"
        0xd0, // the first byte of a PINGRESP: incomplete
    ];
    let mut buf = BytesMut::from(wire);
    let mut d = Decoder::new(V3_1_1);
    assert_eq!(d.decode(&mut buf), Ok(Some(Packet::PingReq)));
    assert_eq!(d.decode(&mut buf), Ok(Some(PubAck::new(pid(5)).into())));
    assert_eq!(
        d.decode(&mut buf),
        Ok(Some(
            Publish::new(topic("t"), QosPid::AtMostOnce, "x").into()
        ))
    );
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert_eq!(&buf[..], &[0xd0]);
    buf.extend_from_slice(&[0x00]);
    assert_eq!(d.decode(&mut buf), Ok(Some(Packet::PingResp)));
    assert!(buf.is_empty());
}

#[test]
fn decoded_publish_topic_and_payload_are_views_of_the_read_buffer() {
    let wire: &[u8] = &[
        0x30, 0x06, // PUBLISH, QoS 0; remaining length 6
        0x00, 0x01, b't', // topic "t"
        b'a', b'b', b'c', // payload "abc"
    ];
    let mut buf = BytesMut::from(wire);
    let start = buf.as_ptr() as usize;
    let Some(Packet::Publish(p)) = Decoder::new(V3_1_1).decode(&mut buf).unwrap() else {
        panic!("not a PUBLISH")
    };
    // Zero-copy: the payload points into the original allocation, 5 bytes in.
    assert_eq!(p.payload.as_ptr() as usize, start + 5);
    assert_eq!(p.topic, TopicName::new("t").unwrap());
}
