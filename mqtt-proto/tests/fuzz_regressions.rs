//! Regression tests for inputs found by the cargo-fuzz targets in `fuzz/` (see
//! `fuzz/README.md`). Each test names its target and holds the minimised input as a byte
//! string, and checks the property the target asserted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::BytesMut;
use mqtt_proto::{DecodeError, Decoder, PacketType, ProtocolVersion};

/// `decode`, input `02 40 00` (selector 0x02: MQTT 5.0): a PUBACK with remaining length 0.
/// The body error consumed the frame, so a second call did not return the error again as
/// `Decoder::decode` promised: it returned `Ok(None)` here, or decoded the bytes after the
/// bad packet as if nothing had happened. The decoder now keeps its first error.
#[test]
fn decode_body_error_is_returned_again() {
    let mut decoder = Decoder::new(ProtocolVersion::V5);
    let mut buf = BytesMut::from(&b"\x40\x00"[..]);
    let err = DecodeError::Truncated(PacketType::PubAck);
    assert_eq!(decoder.decode(&mut buf), Err(err.clone()));
    assert_eq!(decoder.decode(&mut buf), Err(err));
    assert!(buf.is_empty(), "the frame of the failed packet is consumed");
}

/// The same with a packet after the bad one (PINGRESP, `d0 00`): it must not be decoded.
#[test]
fn decode_body_error_stops_the_stream() {
    let mut decoder = Decoder::new(ProtocolVersion::V5);
    let mut buf = BytesMut::from(&b"\x40\x00\xd0\x00"[..]);
    let err = DecodeError::Truncated(PacketType::PubAck);
    assert_eq!(decoder.decode(&mut buf), Err(err.clone()));
    assert_eq!(&buf[..], b"\xd0\x00", "only the failed frame is consumed");
    assert_eq!(decoder.decode(&mut buf), Err(err));
    assert_eq!(&buf[..], b"\xd0\x00");
}
