//! What the decoder does not keep: the fixed header of the packet about to be decoded, and
//! before CONNECT the protocol level it asks for. The connection peeks at its buffered bytes
//! with [`Head::peek`] before each decode (no copy, a few bytes read); the rules here use it
//! where a packet's type or raw flags decide the outcome:
//! - [`check`]: a QoS 0 PUBLISH with DUP set [MQTT-3.3.1-2] (the decoder clears the flag);
//! - [`super::decode_error`]: the reason code for bytes that do not decode, which depends
//!   on the packet type (a packet a server never receives is a Protocol Error whatever its
//!   content) and, before CONNECT, on the version the CONNECT asked for (5.0 gets a CONNACK
//!   with the reason code, 5.0 §3.2.2.2).

use mqtt_proto::{DisconnectReason, PacketType};

use super::link::{Link, Reply};

/// The first byte of the buffered packet and, before CONNECT, its protocol level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Head {
    /// The fixed header's first byte (type and flags), if one is buffered.
    pub(crate) first: Option<u8>,
    /// The CONNECT's protocol level, when the packet is a CONNECT buffered that far.
    pub(crate) connect_level: Option<u8>,
}

impl Head {
    /// Peek at `buf`, the connection's unread bytes.
    pub(crate) fn peek(link: &Link, buf: &[u8]) -> Self {
        let first = buf.first().copied();
        let connect_level = if link.client.is_none() && first == Some(0x10) {
            connect_level(buf)
        } else {
            None
        };
        Self {
            first,
            connect_level,
        }
    }

    /// The packet type of the first byte, if it names one.
    pub(crate) fn packet_type(&self) -> Option<PacketType> {
        self.first.and_then(|b| PacketType::from_nibble(b >> 4))
    }

    /// Whether the packet is one only a server sends: a client that sends it breaks the
    /// protocol whatever the bytes after the header (5.0 §1.2 Protocol Error).
    pub(crate) fn server_only(&self) -> bool {
        matches!(
            self.packet_type(),
            Some(
                PacketType::ConnAck
                    | PacketType::SubAck
                    | PacketType::UnsubAck
                    | PacketType::PingResp
            )
        )
    }
}

/// The protocol level of the CONNECT at the start of `buf`: after the fixed header, the
/// protocol name (a two-byte length and its bytes), one byte.
fn connect_level(buf: &[u8]) -> Option<u8> {
    let mut i = 1;
    loop {
        let b = *buf.get(i)?;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        if i > 4 {
            return None;
        }
    }
    let len = u16::from_be_bytes([*buf.get(i)?, *buf.get(i + 1)?]);
    buf.get(i + 2 + usize::from(len)).copied()
}

/// Rules on the raw fixed header, before the packet is decoded: the reply that closes the
/// connection if one is broken.
pub(crate) fn check(link: &Link, head: &Head) -> Option<Reply> {
    let first = head.first?;
    if link.client.is_some() && first & 0xF0 == 0x30 && first & 0x06 == 0 && first & 0x08 != 0 {
        // "The DUP flag MUST be set to 0 for all QoS 0 messages" [MQTT-3.3.1-2]: such a
        // PUBLISH is malformed (its flags are invalid, 5.0 §2.1.3).
        return Some(Reply::close(link.protocol_close(
            "QoS 0 PUBLISH with DUP set",
            "MQTT-3.3.1-2",
            DisconnectReason::MalformedPacket,
        )));
    }
    None
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_connect_level_is_read_past_the_protocol_name() {
        // 5.0 CONNECT: 10 r? 00 04 'MQTT' 05 ...
        let v5 = [0x10, 0x10, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02];
        assert_eq!(connect_level(&v5), Some(5));
        let v31 = [
            0x10, 0x10, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03,
        ];
        assert_eq!(connect_level(&v31), Some(3));
        // Not buffered that far yet, or a hostile length: nothing, no panic.
        assert_eq!(connect_level(&v5[..8]), None);
        assert_eq!(connect_level(&[0x10, 0x80, 0x80, 0x80, 0x80, 0x80]), None);
        assert_eq!(connect_level(&[0x10, 0x05, 0xFF, 0xFF]), None);
    }

    #[test]
    fn server_only_packets_are_known_by_their_type() {
        for first in [0x20, 0x90, 0xB0, 0xD0, 0x21] {
            let head = Head {
                first: Some(first),
                connect_level: None,
            };
            assert!(head.server_only(), "{first:#04x}");
        }
        for first in [0x10, 0x30, 0x40, 0x82, 0xC0, 0xE0, 0xF0] {
            let head = Head {
                first: Some(first),
                connect_level: None,
            };
            assert!(!head.server_only(), "{first:#04x}");
        }
    }

    #[test]
    fn a_qos_0_publish_with_dup_closes_once_connected() {
        use mqtt_proto::{Connect, ProtocolVersion};

        use super::super::test_support::Harness;

        let mut h = Harness::default();
        let (mut link, _rx) = h.link();
        let head = |first| Head {
            first: Some(first),
            connect_level: None,
        };
        // Before CONNECT the first-packet rule applies, not this one.
        assert!(check(&link, &head(0x38)).is_none());
        h.handle(&mut link, Connect::new(ProtocolVersion::V5, "c").into());
        let reply = check(&link, &head(0x38)).expect("QoS 0 with DUP closes");
        assert_eq!(
            reply.close.and_then(|c| c.disconnect),
            Some(DisconnectReason::MalformedPacket)
        );
        for fine in [0x30, 0x31, 0x3A, 0x3C, 0x82] {
            assert!(check(&link, &head(fine)).is_none(), "{fine:#04x}");
        }
    }
}
