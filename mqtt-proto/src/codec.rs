//! The streaming decoder and the size-checking encoder: bytes to [`Packet`]s and back. The
//! wire primitives they and every packet file share are in `wire.rs`, a leaf module.

use std::num::NonZeroU32;

use bytes::{Buf, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::{Packet, Publish};
use crate::types::ProtocolVersion;
use crate::wire::FixedHeader;
pub use crate::wire::{MAX_PACKET_SIZE, MAX_REMAINING_LENGTH};

/// The decoder's default limit on inbound packets: 16 MiB. Large enough for real payloads,
/// small enough that a hostile peer cannot make us buffer the protocol's 256 MiB. Also the
/// default of [`ClientOptions::max_packet_size`](crate::client::ClientOptions::max_packet_size)
/// (the tokio client's own default, `mqtt_client::DEFAULT_MAX_PACKET_SIZE`, is 8 MiB).
pub const DEFAULT_DECODER_MAX_PACKET_SIZE: u32 = 16 * 1024 * 1024;

/// A streaming packet decoder for one connection.
///
/// Feed it whatever bytes arrived; [`Decoder::decode`] returns a whole packet, `Ok(None)`
/// when more bytes are needed (never an error), or a typed [`DecodeError`]. A stream cut at any
/// byte decodes to the same packets. The packet size limit is checked from the fixed header,
/// before the body is buffered. Topics and payloads are zero-copy slices of the read buffer.
///
/// ```
/// use bytes::BytesMut;
/// use mqtt_proto::{Decoder, Packet, ProtocolVersion};
///
/// let mut decoder = Decoder::new(ProtocolVersion::V3_1_1);
/// let mut buf = BytesMut::from(&b"\x30\x0c\x00\x05hello"[..]);
/// assert_eq!(decoder.decode(&mut buf), Ok(None)); // 5 bytes of payload still to come
/// buf.extend_from_slice(b"world");
/// let Some(Packet::Publish(publish)) = decoder.decode(&mut buf).unwrap() else { panic!() };
/// assert_eq!(publish.topic.as_str(), "hello");
/// assert_eq!(&publish.payload[..], b"world");
/// ```
///
/// An error is fatal for the connection: the decoder keeps it and every later call returns
/// it again (the bytes of a packet whose body failed are consumed; errors found in the fixed
/// header consume nothing). [`Decoder::reset`] clears it for a new connection.
#[derive(Debug, Clone)]
pub struct Decoder {
    version: ProtocolVersion,
    max_packet_size: u32,
    /// The first error: decoding stops there.
    failed: Option<DecodeError>,
}

impl Decoder {
    /// A decoder for `version` with the default size limit ([`DEFAULT_DECODER_MAX_PACKET_SIZE`]).
    pub const fn new(version: ProtocolVersion) -> Self {
        Self {
            version,
            max_packet_size: DEFAULT_DECODER_MAX_PACKET_SIZE,
            failed: None,
        }
    }

    /// Set the largest packet accepted, fixed header included (the Maximum Packet Size we
    /// announce on 5.0). Values above [`MAX_PACKET_SIZE`] mean "no limit but the protocol's".
    pub const fn with_max_packet_size(mut self, max: NonZeroU32) -> Self {
        self.max_packet_size = max.get();
        self
    }

    /// The protocol version packets are decoded as.
    pub const fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Change the protocol version, e.g. once a server has read the client's CONNECT.
    pub const fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
    }

    /// The largest packet accepted.
    pub const fn max_packet_size(&self) -> u32 {
        self.max_packet_size
    }

    /// Decode one packet from the front of `buf`, consuming its bytes.
    ///
    /// CONNECT is decoded by the version it announces, whatever the decoder's version.
    #[inline]
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let header = match FixedHeader::parse(buf, self.version) {
            Ok(Some(header)) => header,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.fail(e)),
        };
        let total = header.header_len + header.remaining_len;
        if total > self.max_packet_size as usize {
            return Err(self.fail(DecodeError::PacketTooLarge {
                size: total,
                max: self.max_packet_size,
            }));
        }
        if buf.len() < total {
            return Ok(None);
        }
        let mut frame = buf.split_to(total);
        frame.advance(header.header_len);
        match Packet::decode_body(
            header.packet_type,
            header.flags,
            frame.freeze(),
            self.version,
        ) {
            Ok(packet) => Ok(Some(packet)),
            Err(e) => Err(self.fail(e)),
        }
    }

    #[cold]
    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.failed = Some(e.clone());
        e
    }

    /// Forget an earlier error, for a new connection.
    pub fn reset(&mut self) {
        self.failed = None;
    }
}

/// Encodes packets for one connection, refusing any larger than the peer accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoder {
    version: ProtocolVersion,
    max_packet_size: u32,
}

impl Encoder {
    /// An encoder for `version` with no limit but the protocol's.
    pub const fn new(version: ProtocolVersion) -> Self {
        Self {
            version,
            max_packet_size: MAX_PACKET_SIZE,
        }
    }

    /// Refuse packets larger than `max` bytes (the peer's Maximum Packet Size on 5.0).
    pub const fn with_max_packet_size(mut self, max: NonZeroU32) -> Self {
        self.max_packet_size = max.get();
        self
    }

    /// Change the size limit, e.g. when the CONNACK names one.
    pub const fn set_max_packet_size(&mut self, max: NonZeroU32) {
        self.max_packet_size = max.get();
    }

    /// Change the protocol version.
    pub const fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
    }

    /// The protocol version.
    pub const fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The largest packet this encoder will write.
    pub const fn max_packet_size(&self) -> u32 {
        self.max_packet_size
    }

    /// Append a PUBLISH to `buf` without wrapping it in a [`Packet`]; as [`Encoder::encode`].
    #[inline]
    pub fn encode_publish(
        &self,
        publish: &Publish,
        buf: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        publish.encode_limited(self.version, self.max_packet_size as usize, buf)
    }

    /// Append `packet` to `buf`; returns the number of bytes written. Nothing is written on
    /// error.
    #[inline]
    pub fn encode(&self, packet: &Packet, buf: &mut BytesMut) -> Result<usize, EncodeError> {
        packet.encode_limited(self.version, self.max_packet_size as usize, buf)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hostile_remaining_length_rejected_before_body_arrives() {
        // 0x30, remaining length 268,435,455: announced, never sent.
        let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..]);
        let mut d = Decoder::new(ProtocolVersion::V5);
        assert_eq!(
            d.decode(&mut buf),
            Err(DecodeError::PacketTooLarge {
                size: 268_435_460,
                max: DEFAULT_DECODER_MAX_PACKET_SIZE
            })
        );
        assert_eq!(buf.len(), 5, "nothing consumed");
    }
    #[test]
    fn packet_size_limit_counts_the_fixed_header() {
        // PINGREQ is 2 bytes: a limit of 2 passes, 1 fails.
        let mut d = Decoder::new(ProtocolVersion::V5).with_max_packet_size(NonZeroU32::MIN);
        let mut buf = BytesMut::from(&[0xC0, 0x00][..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(DecodeError::PacketTooLarge { size: 2, max: 1 })
        );
        let mut d =
            Decoder::new(ProtocolVersion::V5).with_max_packet_size(NonZeroU32::new(2).unwrap());
        assert_eq!(d.decode(&mut buf), Ok(Some(Packet::PingReq)));
    }
}
