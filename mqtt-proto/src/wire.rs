//! Wire primitives (MQTT §1.5, §2.1): the fixed header, variable byte integers, two-byte
//! integers, length-prefixed strings and binary data, and topic fields, read from a packet
//! body and written into a buffer. Every packet file imports them; this module imports no
//! packet, so the packet files, [`crate::codec`] and [`crate::packet`] stay a tree.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};
use crate::topic::{TopicError, TopicFilter, TopicName};
use crate::types::{PacketId, PacketType, ProtocolVersion};

/// The largest remaining length the fixed header can express (four-byte variable integer).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// The largest whole packet: the largest remaining length plus a five-byte fixed header.
pub const MAX_PACKET_SIZE: u32 = 268_435_460;

/// The fixed header of a packet: type, flags and remaining length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedHeader {
    pub(crate) packet_type: PacketType,
    pub(crate) flags: u8,
    pub(crate) remaining_len: usize,
    pub(crate) header_len: usize,
}

impl FixedHeader {
    /// Parse the fixed header at the front of `buf` without consuming it. Type and flags are
    /// checked as soon as the first byte is there.
    pub(crate) fn parse(buf: &[u8], version: ProtocolVersion) -> Result<Option<Self>, DecodeError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let nibble = first >> 4;
        let flags = first & 0x0F;
        let packet_type = match PacketType::from_nibble(nibble) {
            Some(PacketType::Auth) if !version.is_v5() => {
                return Err(DecodeError::ReservedPacketType(nibble, version));
            }
            Some(t) => t,
            None => return Err(DecodeError::ReservedPacketType(nibble, version)),
        };
        if packet_type == PacketType::Publish {
            if flags & 0b0110 == 0b0110 {
                return Err(DecodeError::InvalidQoS);
            }
        } else if flags != packet_type.fixed_flags() {
            return Err(DecodeError::InvalidFlags {
                packet: packet_type,
                flags,
            });
        }
        let mut value: usize = 0;
        for i in 0..4 {
            let Some(&byte) = buf.get(1 + i) else {
                return Ok(None);
            };
            value |= ((byte & 0x7F) as usize) << (7 * i);
            if byte & 0x80 == 0 {
                // [MQTT-1.5.5-1]: a trailing zero byte means the value had a shorter encoding.
                if i > 0 && byte == 0 {
                    return Err(DecodeError::MalformedVarInt);
                }
                return Ok(Some(Self {
                    packet_type,
                    flags,
                    remaining_len: value,
                    header_len: 2 + i,
                }));
            }
        }
        Err(DecodeError::MalformedVarInt)
    }
}

/// The number of bytes `v` takes as a variable byte integer.
#[inline]
pub(crate) const fn varint_len(v: usize) -> usize {
    if v < 128 {
        1
    } else if v < 16_384 {
        2
    } else if v < 2_097_152 {
        3
    } else {
        4
    }
}

#[inline]
pub(crate) fn put_varint(buf: &mut BytesMut, v: usize) {
    let mut bytes = [0u8; 4];
    let n = varint_into(&mut bytes, v);
    buf.put_slice(&bytes[..n]);
}

/// Write `v` as a variable byte integer into `out`; returns the bytes used (1 to 4; callers
/// keep `v` within [`MAX_REMAINING_LENGTH`]).
#[inline]
pub(crate) fn varint_into(out: &mut [u8; 4], mut v: usize) -> usize {
    let mut i = 0;
    while i < 4 {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out[i] = byte;
            return i + 1;
        }
        out[i] = byte | 0x80;
        i += 1;
    }
    4
}

/// Fixed header length for a remaining length.
#[inline]
pub(crate) const fn header_len(remaining: usize) -> usize {
    1 + varint_len(remaining)
}

#[inline]
pub(crate) fn read_u8(b: &mut Bytes, p: PacketType) -> Result<u8, DecodeError> {
    if b.is_empty() {
        return Err(DecodeError::Truncated(p));
    }
    Ok(b.get_u8())
}

#[inline]
pub(crate) fn read_u16(b: &mut Bytes, p: PacketType) -> Result<u16, DecodeError> {
    if b.len() < 2 {
        return Err(DecodeError::Truncated(p));
    }
    Ok(b.get_u16())
}

#[inline]
pub(crate) fn read_u32(b: &mut Bytes, p: PacketType) -> Result<u32, DecodeError> {
    if b.len() < 4 {
        return Err(DecodeError::Truncated(p));
    }
    Ok(b.get_u32())
}

#[inline]
pub(crate) fn read_packet_id(b: &mut Bytes, p: PacketType) -> Result<PacketId, DecodeError> {
    PacketId::new(read_u16(b, p)?).ok_or(DecodeError::ZeroPacketId(p))
}

/// A variable byte integer inside a packet body [MQTT-1.5.5-1].
pub(crate) fn read_varint(b: &mut Bytes, p: PacketType) -> Result<u32, DecodeError> {
    let mut value: u32 = 0;
    for i in 0..4 {
        let byte = read_u8(b, p)?;
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return Err(DecodeError::MalformedVarInt);
            }
            return Ok(value);
        }
    }
    Err(DecodeError::MalformedVarInt)
}

/// Binary data: a two-byte length and that many bytes (a zero-copy slice).
#[inline]
pub(crate) fn read_binary(b: &mut Bytes, p: PacketType) -> Result<Bytes, DecodeError> {
    let len = read_u16(b, p)? as usize;
    if b.len() < len {
        return Err(DecodeError::Truncated(p));
    }
    Ok(b.split_to(len))
}

/// A UTF-8 string: well-formed, no surrogates [MQTT-1.5.4-1], no U+0000 [MQTT-1.5.4-2].
pub(crate) fn read_string(b: &mut Bytes, p: PacketType) -> Result<ByteString, DecodeError> {
    let raw = read_binary(b, p)?;
    check_utf8(raw)
}

pub(crate) fn check_utf8(raw: Bytes) -> Result<ByteString, DecodeError> {
    if raw.contains(&0) {
        return Err(DecodeError::NullCharacter);
    }
    ByteString::try_from(raw).map_err(|_| DecodeError::InvalidUtf8)
}

/// A topic name: a UTF-8 string without wildcards [MQTT-3.3.2-2]. The empty name is returned
/// as is: only the caller knows whether a topic alias makes it legal. Short names are copied
/// inline (no reference count); longer ones are slices of `b`.
#[inline(always)]
pub(crate) fn read_topic_name(b: &mut Bytes, p: PacketType) -> Result<TopicName, DecodeError> {
    let len = read_u16(b, p)? as usize;
    if b.len() < len {
        return Err(DecodeError::Truncated(p));
    }
    let raw = &b[..len];
    if has_null_or_wildcard(raw) {
        if raw.contains(&0) {
            return Err(DecodeError::NullCharacter);
        }
        return Err(TopicError::WildcardInTopicName.into());
    }
    if len <= TopicName::INLINE {
        let s = std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8)?;
        let topic = TopicName::from_validated_str(s);
        b.advance(len);
        Ok(topic)
    } else {
        let s = ByteString::try_from(b.split_to(len)).map_err(|_| DecodeError::InvalidUtf8)?;
        Ok(TopicName::from_validated(s))
    }
}

/// Whether `raw` holds U+0000, `+` or `#`: eight bytes at a time (SWAR), no early exit.
#[inline]
fn has_null_or_wildcard(raw: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    #[inline]
    fn has_zero_byte(v: u64) -> bool {
        v.wrapping_sub(LO) & !v & HI != 0
    }
    let mut chunks = raw.chunks_exact(8);
    let mut found = false;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        found |= has_zero_byte(v)
            | has_zero_byte(v ^ (LO * u64::from(b'+')))
            | has_zero_byte(v ^ (LO * u64::from(b'#')));
    }
    found
        | chunks
            .remainder()
            .iter()
            .any(|&c| c == 0 || c == b'+' || c == b'#')
}

pub(crate) fn read_topic_filter(b: &mut Bytes, p: PacketType) -> Result<TopicFilter, DecodeError> {
    let s = read_string(b, p)?;
    Ok(TopicFilter::new(s)?)
}

/// Fail with [`DecodeError::TrailingBytes`] if anything is left of a packet body.
#[inline]
pub(crate) fn finish(b: &Bytes, p: PacketType) -> Result<(), DecodeError> {
    if b.is_empty() {
        Ok(())
    } else {
        Err(DecodeError::TrailingBytes {
            packet: p,
            count: b.len(),
        })
    }
}

/// A UTF-8 string we are about to send: at most 65,535 bytes, no U+0000 [MQTT-1.5.4-2].
pub(crate) fn check_string(s: &str) -> Result<(), EncodeError> {
    check_field_len(s.len())?;
    if s.as_bytes().contains(&0) {
        return Err(EncodeError::NullCharacter);
    }
    Ok(())
}

pub(crate) fn check_field_len(len: usize) -> Result<(), EncodeError> {
    if len > usize::from(u16::MAX) {
        Err(EncodeError::FieldTooLong(len))
    } else {
        Ok(())
    }
}

#[inline]
pub(crate) fn put_binary(buf: &mut BytesMut, data: &[u8]) {
    // Callers validate lengths before writing anything (`check_field_len`).
    buf.extend_from_slice(&(data.len() as u16).to_be_bytes());
    buf.extend_from_slice(data);
}

/// Check the size of a packet with this remaining length against `max`, then write its fixed
/// header (in one call) and its body.
#[inline]
pub(crate) fn write_framed(
    first_byte: u8,
    remaining: usize,
    max: usize,
    buf: &mut BytesMut,
    put_body: impl FnOnce(&mut BytesMut),
) -> Result<usize, EncodeError> {
    let total = header_len(remaining) + remaining;
    if remaining > MAX_REMAINING_LENGTH || total > max {
        return Err(EncodeError::PacketTooLarge {
            size: total,
            max: max.min(MAX_PACKET_SIZE as usize),
        });
    }
    buf.reserve(total);
    let mut header = [0u8; 5];
    header[0] = first_byte;
    let mut len = [0u8; 4];
    let n = varint_into(&mut len, remaining);
    header[1..1 + n].copy_from_slice(&len[..n]);
    buf.extend_from_slice(&header[..1 + n]);
    put_body(buf);
    Ok(total)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_matches_put_varint() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            MAX_REMAINING_LENGTH,
        ] {
            let mut buf = BytesMut::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
            let mut b = buf.freeze();
            assert_eq!(
                read_varint(&mut b, PacketType::Publish).unwrap() as usize,
                v
            );
        }
    }
    #[test]
    fn varint_over_four_bytes_is_malformed_mqtt_1_5_5_1() {
        let mut b = Bytes::from_static(&[0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
        assert_eq!(
            read_varint(&mut b, PacketType::Publish),
            Err(DecodeError::MalformedVarInt)
        );
    }
    #[test]
    fn varint_not_minimal_is_malformed_mqtt_1_5_5_1() {
        let mut b = Bytes::from_static(&[0x80, 0x00]);
        assert_eq!(
            read_varint(&mut b, PacketType::Publish),
            Err(DecodeError::MalformedVarInt)
        );
        assert_eq!(
            FixedHeader::parse(&[0x30, 0x81, 0x00], ProtocolVersion::V5),
            Err(DecodeError::MalformedVarInt)
        );
    }
    #[test]
    fn fixed_header_waits_for_all_length_bytes() {
        assert_eq!(FixedHeader::parse(&[], ProtocolVersion::V5), Ok(None));
        assert_eq!(FixedHeader::parse(&[0x30], ProtocolVersion::V5), Ok(None));
        assert_eq!(
            FixedHeader::parse(&[0x30, 0x80, 0x80], ProtocolVersion::V5),
            Ok(None)
        );
        let h = FixedHeader::parse(&[0x30, 0x80, 0x01], ProtocolVersion::V5)
            .unwrap()
            .unwrap();
        assert_eq!((h.remaining_len, h.header_len), (128, 3));
    }
    #[test]
    fn remaining_length_of_five_bytes_is_malformed() {
        assert_eq!(
            FixedHeader::parse(
                &[0x30, 0x80, 0x80, 0x80, 0x80, 0x01],
                ProtocolVersion::V3_1_1
            ),
            Err(DecodeError::MalformedVarInt)
        );
    }
    #[test]
    fn reserved_packet_types_rejected_from_first_byte() {
        assert_eq!(
            FixedHeader::parse(&[0x00], ProtocolVersion::V5),
            Err(DecodeError::ReservedPacketType(0, ProtocolVersion::V5))
        );
        assert_eq!(
            FixedHeader::parse(&[0xF0], ProtocolVersion::V3_1_1),
            Err(DecodeError::ReservedPacketType(15, ProtocolVersion::V3_1_1))
        );
        assert!(FixedHeader::parse(&[0xF0], ProtocolVersion::V5).is_ok());
    }
    #[test]
    fn reserved_flag_bits_rejected_mqtt_2_1_3_1() {
        for (byte, packet) in [
            (0x11, PacketType::Connect),
            (0x60, PacketType::PubRel),
            (0x80, PacketType::Subscribe),
            (0xA0, PacketType::Unsubscribe),
            (0xC1, PacketType::PingReq),
            (0xE8, PacketType::Disconnect),
        ] {
            assert_eq!(
                FixedHeader::parse(&[byte], ProtocolVersion::V5),
                Err(DecodeError::InvalidFlags {
                    packet,
                    flags: byte & 0x0F
                })
            );
        }
    }
    #[test]
    fn publish_qos_3_rejected_mqtt_3_3_1_4() {
        assert_eq!(
            FixedHeader::parse(&[0x36], ProtocolVersion::V3_1_1),
            Err(DecodeError::InvalidQoS)
        );
    }
    #[test]
    fn null_and_wildcard_scan_finds_every_position() {
        for len in 0..40 {
            let clean = vec![b'a'; len];
            assert!(!has_null_or_wildcard(&clean));
            for pos in 0..len {
                for bad in [0u8, b'+', b'#'] {
                    let mut v = clean.clone();
                    v[pos] = bad;
                    assert!(has_null_or_wildcard(&v), "{len} {pos} {bad}");
                }
                // Bytes next to the forbidden ones are fine ('*' is 0x2A, ',' 0x2C, '"' 0x22).
                let mut v = clean.clone();
                v[pos] = [b'*', b',', b'"', 0x80, 0xFF][pos % 5];
                assert!(!has_null_or_wildcard(&v));
            }
        }
    }
    #[test]
    fn strings_reject_null_and_ill_formed_utf8() {
        let p = PacketType::Connect;
        let mut b = Bytes::from_static(b"\x00\x03a\x00b");
        assert_eq!(read_string(&mut b, p), Err(DecodeError::NullCharacter));
        // U+D800 encoded as CESU-style 0xED 0xA0 0x80: a surrogate [MQTT-1.5.4-1].
        let mut b = Bytes::from_static(b"\x00\x03\xED\xA0\x80");
        assert_eq!(read_string(&mut b, p), Err(DecodeError::InvalidUtf8));
        let mut b = Bytes::from_static(b"\x00\x02\xC3");
        assert_eq!(read_string(&mut b, p), Err(DecodeError::Truncated(p)));
        // U+FEFF is kept, not stripped [MQTT-1.5.4-3].
        let mut b = Bytes::from_static(b"\x00\x04\xEF\xBB\xBFa");
        assert_eq!(&read_string(&mut b, p).unwrap()[..], "\u{FEFF}a");
    }
}
