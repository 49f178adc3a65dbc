//! A server that breaks the protocol: every violation ends the connection with a typed error
//! and, on 5.0, a DISCONNECT with the right reason code; nothing panics, and the next
//! connection of the same `ClientState` is healthy.

use std::time::Duration;

use mqtt_proto::client::{ConnectionError, ConnectionState, ProtocolError};
use mqtt_proto::{
    Connect, ConnectReason, DecodeError, DisconnectReason, Packet, PacketType, PubAck, PubComp,
    PubRec, QoS, QosPid, SubAck, SubAckReason, Subscribe, SubscribeProperties, UnsubAck,
    Unsubscribe, UnsubscribeProperties,
};

use crate::harness::{
    BOTH, Harness, V5, connack, decode_error, filter, inbound, nz32, opts, pid, pid_of, sub,
};

fn protocol(e: ProtocolError) -> ConnectionError {
    ConnectionError::Protocol(e)
}

#[test]
fn packets_a_client_must_not_receive_end_the_connection() {
    for v in BOTH {
        let packets: Vec<Packet> = vec![
            Connect::new(v, "server?").into(),
            Subscribe::new(pid_of(1), vec![sub("a", QoS::AtMostOnce)]).into(),
            Unsubscribe::new(pid_of(1), vec![filter("a")]).into(),
            Packet::PingReq,
        ];
        for p in packets {
            let t = p.packet_type();
            let mut h = Harness::connected(opts(v));
            h.send(p);
            h.assert_closed_by_client(
                &protocol(ProtocolError::ClientOnlyPacket(t)),
                DisconnectReason::ProtocolError,
            );
        }
    }
}

#[test]
fn disconnect_from_a_3_1_1_server_ends_the_connection_as_a_protocol_error() {
    // 3.1.1 §3.14: DISCONNECT flows from client to server only.
    let mut h = Harness::connected(opts(crate::harness::V311));
    h.send(mqtt_proto::Disconnect::default());
    h.assert_closed_by_client(
        &protocol(ProtocolError::ClientOnlyPacket(PacketType::Disconnect)),
        DisconnectReason::ProtocolError,
    );
}

#[test]
fn publish_before_connack_ends_the_connection() {
    // [MQTT-3.2.0-1]
    for v in BOTH {
        let mut h = Harness::new(opts(v));
        h.open();
        h.send(inbound("a", QosPid::AtLeastOnce(pid_of(1)), "early"));
        h.assert_closed_by_client(
            &protocol(ProtocolError::BeforeConnAck(PacketType::Publish)),
            DisconnectReason::ProtocolError,
        );
    }
}

#[test]
fn other_packets_before_connack_end_the_connection() {
    for v in BOTH {
        let packets: Vec<Packet> = vec![
            PubAck::new(pid_of(1)).into(),
            SubAck::new(pid_of(1), vec![SubAckReason::GrantedQoS0]).into(),
            Packet::PingResp,
        ];
        for p in packets {
            let t = p.packet_type();
            let mut h = Harness::new(opts(v));
            h.open();
            h.send(p);
            h.assert_closed_by_client(
                &protocol(ProtocolError::BeforeConnAck(t)),
                DisconnectReason::ProtocolError,
            );
        }
    }
    // [MQTT-3.14.0-1]: no DISCONNECT before CONNACK either.
    let mut h = Harness::new(opts(V5));
    h.open();
    h.send(mqtt_proto::Disconnect::default());
    h.assert_closed_by_client(
        &protocol(ProtocolError::BeforeConnAck(PacketType::Disconnect)),
        DisconnectReason::ProtocolError,
    );
}

#[test]
fn second_connack_ends_the_connection() {
    // [MQTT-3.2.0-2]
    for v in BOTH {
        let mut h = Harness::connected(opts(v));
        h.send(connack(false));
        h.assert_closed_by_client(
            &protocol(ProtocolError::SecondConnAck),
            DisconnectReason::ProtocolError,
        );
    }
}

#[test]
fn refused_connack_with_session_present_ends_the_connection_mqtt_3_2_2_6() {
    let mut h = Harness::new(opts(V5));
    h.open();
    h.send(mqtt_proto::ConnAck::new(true, ConnectReason::NotAuthorized));
    h.assert_closed_by_client(
        &protocol(ProtocolError::SessionPresentOnRefusal),
        DisconnectReason::ProtocolError,
    );
}

#[test]
fn suback_with_no_reason_codes_or_the_wrong_count_ends_the_connection() {
    // [MQTT-3.9.3-2]: one reason code per filter.
    for v in BOTH {
        for got in [0, 1, 3] {
            let mut h = Harness::connected(opts(v));
            h.client
                .subscribe(
                    vec![sub("a", QoS::AtMostOnce), sub("b", QoS::AtMostOnce)],
                    SubscribeProperties::default(),
                )
                .unwrap();
            let Packet::Subscribe(s) = h.recv_one() else {
                panic!()
            };
            h.send(SubAck::new(
                s.packet_id,
                vec![SubAckReason::GrantedQoS0; got],
            ));
            h.assert_closed_by_client(
                &protocol(ProtocolError::ReasonCountMismatch {
                    packet: PacketType::SubAck,
                    expected: 2,
                    got,
                }),
                DisconnectReason::ProtocolError,
            );
        }
    }
}

#[test]
fn unsuback_with_the_wrong_count_ends_the_connection_v5() {
    // [MQTT-3.11.3-2]
    let mut h = Harness::connected(opts(V5));
    h.client
        .unsubscribe(vec![filter("a")], UnsubscribeProperties::default())
        .unwrap();
    let Packet::Unsubscribe(u) = h.recv_one() else {
        panic!()
    };
    h.send(UnsubAck::new(u.packet_id, vec![]));
    h.assert_closed_by_client(
        &protocol(ProtocolError::ReasonCountMismatch {
            packet: PacketType::UnsubAck,
            expected: 1,
            got: 0,
        }),
        DisconnectReason::ProtocolError,
    );
}

#[test]
fn acks_with_unknown_packet_id_end_the_connection() {
    // [MQTT-2.2.1-5], [MQTT-2.2.1-6]
    for v in BOTH {
        let unsuback = UnsubAck::new(
            pid_of(9),
            if v.is_v5() {
                vec![mqtt_proto::UnsubAckReason::Success]
            } else {
                vec![]
            },
        );
        let packets: Vec<Packet> = vec![
            PubAck::new(pid_of(9)).into(),
            PubComp::new(pid_of(9)).into(),
            SubAck::new(pid_of(9), vec![SubAckReason::GrantedQoS0]).into(),
            unsuback.into(),
        ];
        for p in packets {
            let t = p.packet_type();
            let mut h = Harness::connected(opts(v));
            // Something is in flight, under another identifier.
            h.publish("t", QoS::AtLeastOnce, "x");
            assert_ne!(pid(&h.recv_publish()), pid_of(9));
            h.send(p);
            h.assert_closed_by_client(
                &protocol(ProtocolError::UnknownPacketId {
                    packet: t,
                    id: pid_of(9),
                }),
                DisconnectReason::ProtocolError,
            );
        }
    }
}

#[test]
fn ack_of_the_wrong_kind_ends_the_connection() {
    for v in BOTH {
        // PUBACK for a QoS 2 publish.
        let mut h = Harness::connected(opts(v));
        h.publish("t", QoS::ExactlyOnce, "x");
        let id = pid(&h.recv_publish());
        h.send(PubAck::new(id));
        h.assert_closed_by_client(
            &protocol(ProtocolError::WrongAck {
                packet: PacketType::PubAck,
                id,
            }),
            DisconnectReason::ProtocolError,
        );
        // PUBCOMP before PUBREC.
        let mut h = Harness::connected(opts(v));
        h.publish("t", QoS::ExactlyOnce, "x");
        let id = pid(&h.recv_publish());
        h.send(PubComp::new(id));
        h.assert_closed_by_client(
            &protocol(ProtocolError::WrongAck {
                packet: PacketType::PubComp,
                id,
            }),
            DisconnectReason::ProtocolError,
        );
        // PUBREC for a QoS 1 publish.
        let mut h = Harness::connected(opts(v));
        h.publish("t", QoS::AtLeastOnce, "x");
        let id = pid(&h.recv_publish());
        h.send(PubRec::new(id));
        h.assert_closed_by_client(
            &protocol(ProtocolError::WrongAck {
                packet: PacketType::PubRec,
                id,
            }),
            DisconnectReason::ProtocolError,
        );
        // SUBACK answering an UNSUBSCRIBE.
        let mut h = Harness::connected(opts(v));
        h.client
            .unsubscribe(vec![filter("a")], UnsubscribeProperties::default())
            .unwrap();
        let Packet::Unsubscribe(u) = h.recv_one() else {
            panic!()
        };
        h.send(SubAck::new(u.packet_id, vec![SubAckReason::GrantedQoS0]));
        h.assert_closed_by_client(
            &protocol(ProtocolError::UnknownPacketId {
                packet: PacketType::SubAck,
                id: u.packet_id,
            }),
            DisconnectReason::ProtocolError,
        );
    }
}

#[test]
fn malformed_bytes_end_the_connection() {
    // [MQTT-3.14.1-1] and 5.0 §4.13: Malformed Packet is 0x81.
    for v in BOTH {
        let cases: Vec<(&[u8], DecodeError, DisconnectReason)> = vec![
            // PUBACK with reserved flag bits set [MQTT-2.1.3-1].
            (
                &[0x41, 0x02, 0x00, 0x01],
                DecodeError::InvalidFlags {
                    packet: PacketType::PubAck,
                    flags: 1,
                },
                DisconnectReason::MalformedPacket,
            ),
            // PUBLISH with QoS 3.
            (
                &[0x36, 0x03, 0x00, 0x01, b'a'],
                DecodeError::InvalidQoS,
                DisconnectReason::MalformedPacket,
            ),
            // A remaining length of five bytes.
            (
                &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
                DecodeError::MalformedVarInt,
                DisconnectReason::MalformedPacket,
            ),
            // PUBACK too short for its packet identifier.
            (
                &[0x40, 0x01, 0x00],
                DecodeError::Truncated(PacketType::PubAck),
                DisconnectReason::MalformedPacket,
            ),
            // Packet type 0.
            (
                &[0x00, 0x00],
                DecodeError::ReservedPacketType(0, v),
                DisconnectReason::ProtocolError,
            ),
        ];
        for (bytes, error, reason) in cases {
            let mut h = Harness::connected(opts(v));
            h.send_bytes(bytes);
            h.assert_closed_by_client(&decode_error(error), reason);
        }
    }
}

#[test]
fn malformed_bytes_before_connack_end_the_connection() {
    for v in BOTH {
        let mut h = Harness::new(opts(v));
        h.open();
        // CONNACK with reserved acknowledge flags.
        let bytes: &[u8] = if v.is_v5() {
            &[0x20, 0x03, 0x02, 0x00, 0x00]
        } else {
            &[0x20, 0x02, 0x02, 0x00]
        };
        h.send_bytes(bytes);
        h.assert_closed_by_client(
            &decode_error(DecodeError::ConnAckReservedFlags),
            DisconnectReason::MalformedPacket,
        );
    }
}

#[test]
fn inbound_packet_over_our_maximum_packet_size_refused_from_its_fixed_header() {
    for v in BOTH {
        let mut o = opts(v);
        o.max_packet_size = nz32(1024);
        let mut h = Harness::connected(o);
        // Only the fixed header of a 2,003-byte PUBLISH: refused before its body arrives.
        h.send_bytes(&[0x30, 0xD0, 0x0F]);
        h.assert_closed_by_client(
            &decode_error(DecodeError::PacketTooLarge {
                size: 2003,
                max: 1024,
            }),
            DisconnectReason::PacketTooLarge,
        );
    }
}

#[test]
fn inbound_packet_at_our_maximum_packet_size_accepted() {
    let mut o = opts(V5);
    o.max_packet_size = nz32(64);
    let mut h = Harness::connected(o);
    // Fixed header 2 + topic 3 + property length 1 + payload 58 = 64 bytes.
    let p = mqtt_proto::Publish::new(
        crate::harness::topic("a"),
        QosPid::AtMostOnce,
        vec![b'p'; 58],
    );
    assert_eq!(Packet::from(p.clone()).encoded_len(V5), 64);
    h.send(p);
    assert_eq!(h.events().len(), 1);
    assert_eq!(h.client.state(), ConnectionState::Connected);
}

#[test]
fn a_packet_split_across_reads_is_not_an_error() {
    for v in BOTH {
        let mut h = Harness::connected(opts(v));
        let mut wire = bytes::BytesMut::new();
        Packet::from(inbound("a/b", QosPid::AtLeastOnce(pid_of(3)), "payload"))
            .encode(v, &mut wire)
            .unwrap();
        for b in wire.iter() {
            h.send_bytes(&[*b]);
        }
        assert_eq!(h.recv(), vec![PubAck::new(pid_of(3)).into()]);
        assert_eq!(h.events().len(), 1);
    }
}

/// A small deterministic generator (xorshift64*), so the test needs no dependency and every
/// run is the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

#[test]
fn hostile_bytes_never_panic_and_the_next_connection_works() {
    for v in BOTH {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(v.is_v5()));
        for round in 0..300 {
            let mut o = opts(v);
            o.topic_alias_maximum = 4;
            o.max_packet_size = nz32(512);
            let mut h = Harness::new(o);
            h.open();
            if round % 3 != 0 {
                h.accept(connack(false));
                h.publish("t", QoS::ExactlyOnce, "x");
                h.publish("t", QoS::AtLeastOnce, "y");
                let _ = h.recv();
            }
            // A plausible first byte (any packet type and flags), then noise.
            let len = 1 + (rng.next() % 40) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            if rng.next().is_multiple_of(2) {
                bytes[0] = (bytes[0] & 0xF0) | [0, 2, 0, 2][(rng.next() % 4) as usize];
            }
            if bytes.len() > 1 {
                bytes[1] = (bytes[1] & 0x3F).min((len - 2) as u8);
            }
            h.send_bytes(&bytes);
            h.advance(Duration::from_secs(1));
            let _ = h.recv();
            let _ = h.events();
            h.assert_next_connection_healthy();
        }
    }
}

#[test]
fn assigned_client_identifier_when_we_named_one_ends_the_connection() {
    // 5.0 §3.2.2.3.7: the server assigns an identifier only for a zero-length one.
    let mut h = Harness::new(opts(V5));
    h.open();
    let mut ack = connack(false);
    ack.properties.assigned_client_identifier = Some("someone-else".into());
    h.send(ack);
    h.assert_closed_by_client(
        &protocol(ProtocolError::UnexpectedAssignedClientId),
        DisconnectReason::ProtocolError,
    );
    assert_eq!(h.client.options().client_id, "c");
}
