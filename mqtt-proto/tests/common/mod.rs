//! Helpers shared by the packet fixture tests: build values tersely, and check a fixture both
//! ways (bytes to packet, packet to bytes).

#![allow(dead_code, reason = "each test crate uses a different subset")]

use std::num::{NonZeroU16, NonZeroU32};

use bytes::BytesMut;
use mqtt_proto::{
    DecodeError, Decoder, EncodeError, Encoder, Packet, PacketId, ProtocolVersion, SubscriptionId,
    TopicFilter, TopicName, UserProperty,
};

/// Decode `wire` as `version` and expect exactly `expected`, consuming every byte; then encode
/// `expected` and expect exactly `wire`, with `encoded_len` agreeing. Also checks that every
/// strict prefix of the fixture is "not yet" (`Ok(None)`) and consumes nothing.
#[track_caller]
pub(crate) fn check(version: ProtocolVersion, wire: &[u8], expected: &Packet) {
    check_decode(version, wire, expected);
    check_encode(version, expected, wire);
}

/// Decode only: for non-canonical encodings (e.g. a 5.0 PUBACK with an explicit Success code)
/// whose re-encoding is shorter.
#[track_caller]
pub(crate) fn check_decode(version: ProtocolVersion, wire: &[u8], expected: &Packet) {
    for cut in 0..wire.len() {
        let mut buf = BytesMut::from(&wire[..cut]);
        assert_eq!(
            Decoder::new(version).decode(&mut buf),
            Ok(None),
            "prefix of {cut} bytes"
        );
        assert_eq!(buf.len(), cut, "a prefix is not consumed");
    }
    let mut buf = BytesMut::from(wire);
    let decoded = Decoder::new(version).decode(&mut buf);
    assert_eq!(decoded, Ok(Some(expected.clone())), "decode as {version}");
    assert!(buf.is_empty(), "the whole fixture is consumed");
}

/// Encode only: `packet` must encode to exactly `wire` through both `Packet::encode` and
/// `Encoder::encode`, and `encoded_len` must agree.
#[track_caller]
pub(crate) fn check_encode(version: ProtocolVersion, packet: &Packet, wire: &[u8]) {
    let mut buf = BytesMut::new();
    let written = packet.encode(version, &mut buf);
    assert_eq!(&buf[..], wire, "encode as {version}");
    assert_eq!(written, Ok(wire.len()));
    assert_eq!(packet.encoded_len(version), wire.len(), "encoded_len");
    let mut buf = BytesMut::from(&b"prefix"[..]);
    assert_eq!(
        Encoder::new(version).encode(packet, &mut buf),
        Ok(wire.len())
    );
    assert_eq!(&buf[6..], wire, "Encoder appends after existing bytes");
}

/// Decode `wire` as `version` and return the error. Checks the documented contract that the
/// decoder keeps the error: a second call fails the same way, even with fresh bytes.
#[track_caller]
pub(crate) fn decode_err(version: ProtocolVersion, wire: &[u8]) -> DecodeError {
    let mut decoder = Decoder::new(version);
    let mut buf = BytesMut::from(wire);
    let err = match decoder.decode(&mut buf) {
        Err(e) => e,
        Ok(p) => panic!("expected an error, decoded {p:?}"),
    };
    assert!(buf.len() <= wire.len());
    buf.extend_from_slice(&[0xC0, 0x00]); // a valid PINGREQ does not revive it
    assert_eq!(
        decoder.decode(&mut buf),
        Err(err.clone()),
        "same error again"
    );
    err
}

/// Encode `packet` as `version`, expect an error, and check that nothing was written.
#[track_caller]
pub(crate) fn encode_err(version: ProtocolVersion, packet: &Packet) -> EncodeError {
    let mut buf = BytesMut::from(&b"keep"[..]);
    let err = match packet.encode(version, &mut buf) {
        Err(e) => e,
        Ok(n) => panic!("expected an error, wrote {n} bytes: {:?}", &buf[4..]),
    };
    assert_eq!(&buf[..], b"keep", "nothing written on error");
    err
}

pub(crate) fn pid(v: u16) -> PacketId {
    PacketId::new(v).unwrap()
}

pub(crate) fn topic(s: &'static str) -> TopicName {
    TopicName::new(s).unwrap()
}

pub(crate) fn filter(s: &'static str) -> TopicFilter {
    TopicFilter::new(s).unwrap()
}

pub(crate) fn nz16(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v).unwrap()
}

pub(crate) fn nz32(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).unwrap()
}

pub(crate) fn sub_id(v: u32) -> SubscriptionId {
    SubscriptionId::new(v).unwrap()
}

pub(crate) fn user(name: &'static str, value: &'static str) -> UserProperty {
    UserProperty::new(name, value)
}
