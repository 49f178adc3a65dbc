//! Fuzz `Decoder::decode` and the encode/decode round trip.
//!
//! Input: the first byte is a selector, the rest is the byte stream.
//! - selector bits 0-1: protocol version (0 = 3.1, 1 = 3.1.1, 2 and 3 = 5.0);
//! - bits 2-4: the decoder's maximum packet size (0-3: the default, 4-7: 2, 8, 32, 128 bytes);
//! - bits 5-7: the chunk size for the streaming pass (1, 2, 3, 5, 7, 11, 64, 257 bytes).
//!
//! Checked for every input:
//! - decoding never panics; `Ok(None)` consumes nothing; an error consumes at most the frame
//!   of the packet that failed, and the decoder keeps it: a second call returns the same
//!   error and consumes nothing (both documented on `Decoder`);
//! - the stream fed in chunks decodes to exactly the same packets and the same end (error or
//!   leftover bytes) as the stream fed at once;
//! - every decoded packet re-encodes in the decoder's version (CONNECT in its own): encoding
//!   failure is a bug, since the codec must be able to write whatever it accepts; the bytes
//!   written equal `encoded_len`, and decode back to the same packet;
//! - `Encoder` with a limit of exactly the packet's size accepts it, one byte less refuses it
//!   and writes nothing;
//! - where another version can carry the packet (encoding succeeds), it decodes back to the
//!   same packet in that version too: the encoder must refuse rather than drop information.

#![no_main]

use std::num::NonZeroU32;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mqtt_proto::{
    DecodeError, Decoder, EncodeError, Encoder, MAX_PACKET_SIZE, Packet, ProtocolVersion,
};

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

/// The protocol's own limit: whatever the encoder writes, the re-decoding pass accepts.
const NO_LIMIT: NonZeroU32 = match NonZeroU32::new(MAX_PACKET_SIZE) {
    Some(max) => max,
    None => panic!("MAX_PACKET_SIZE is not zero"),
};

fuzz_target!(|data: &[u8]| run(data));

fn run(data: &[u8]) {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let version = VERSIONS[usize::from(selector & 0x03).min(2)];
    let max = match (selector >> 2) & 0x07 {
        4 => NonZeroU32::new(2),
        5 => NonZeroU32::new(8),
        6 => NonZeroU32::new(32),
        7 => NonZeroU32::new(128),
        _ => None,
    };
    let chunk = [1, 2, 3, 5, 7, 11, 64, 257][usize::from(selector >> 5)];
    let decoder = || {
        let d = Decoder::new(version);
        match max {
            Some(max) => d.with_max_packet_size(max),
            None => d,
        }
    };

    let (packets, end) = decode_all(decoder(), stream);
    for packet in &packets {
        round_trip(packet, version);
    }
    let (chunked_packets, chunked_end) = decode_chunked(decoder(), stream, chunk);
    assert_eq!(
        packets, chunked_packets,
        "chunked decoding differs (chunk {chunk})"
    );
    assert_eq!(
        end, chunked_end,
        "chunked decoding ends differently (chunk {chunk})"
    );
}

/// How a decoding pass ended: an error, or `Ok(None)` with this many bytes left over.
type End = Result<usize, DecodeError>;

/// Decode one packet and check the buffer contract of `Decoder::decode`.
fn decode_one(d: &mut Decoder, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
    let before = buf.clone();
    let result = d.decode(buf);
    match &result {
        Ok(Some(_)) => assert!(buf.len() < before.len(), "a packet consumed nothing"),
        Ok(None) => assert_eq!(*buf, before, "Ok(None) consumed bytes"),
        Err(e) => {
            // Header errors consume nothing; a body error consumes its frame only.
            assert!(
                before.ends_with(&buf[..]),
                "an error consumed more than its frame"
            );
            let after = buf.clone();
            assert_eq!(d.decode(buf).as_ref(), Err(e), "the error is not kept");
            assert_eq!(*buf, after, "a call after an error consumed bytes");
        }
    }
    result
}

fn decode_all(mut d: Decoder, stream: &[u8]) -> (Vec<Packet>, End) {
    let mut buf = BytesMut::from(stream);
    let mut packets = Vec::new();
    loop {
        match decode_one(&mut d, &mut buf) {
            Ok(Some(p)) => packets.push(p),
            Ok(None) => return (packets, Ok(buf.len())),
            Err(e) => return (packets, Err(e)),
        }
    }
}

fn decode_chunked(mut d: Decoder, stream: &[u8], chunk: usize) -> (Vec<Packet>, End) {
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decode_one(&mut d, &mut buf) {
                Ok(Some(p)) => packets.push(p),
                Ok(None) => break,
                Err(e) => return (packets, Err(e)),
            }
        }
    }
    (packets, Ok(buf.len()))
}

fn round_trip(packet: &Packet, version: ProtocolVersion) {
    let mut out = BytesMut::new();
    let written = match packet.encode(version, &mut out) {
        Ok(n) => n,
        Err(e) => panic!("decoded on {version:?} but does not re-encode: {e:?}\n{packet:#?}"),
    };
    check_encoded(packet, version, &out, written);

    // The Encoder's limit counts the whole packet.
    let limit = u32::try_from(written)
        .ok()
        .and_then(NonZeroU32::new)
        .expect("a packet is 2 to MAX_PACKET_SIZE bytes");
    let mut exact = BytesMut::new();
    let n = Encoder::new(version)
        .with_max_packet_size(limit)
        .encode(packet, &mut exact);
    assert_eq!(
        n,
        Ok(written),
        "Encoder refused a packet of exactly its limit"
    );
    assert_eq!(exact, out, "Encoder and Packet::encode disagree");
    if let Some(smaller) = NonZeroU32::new(limit.get() - 1) {
        let mut short = BytesMut::new();
        let r = Encoder::new(version)
            .with_max_packet_size(smaller)
            .encode(packet, &mut short);
        assert!(
            matches!(r, Err(EncodeError::PacketTooLarge { .. })),
            "Encoder accepted a packet over its limit: {r:?}"
        );
        assert!(short.is_empty(), "a refused packet wrote bytes");
    }

    // Any other version that accepts the packet must carry it without loss.
    for other in VERSIONS {
        if other == version {
            continue;
        }
        let mut out = BytesMut::new();
        match packet.encode(other, &mut out) {
            Ok(n) => check_encoded(packet, other, &out, n),
            Err(_) => assert!(out.is_empty(), "a refused packet wrote bytes"),
        }
    }
}

fn check_encoded(packet: &Packet, version: ProtocolVersion, out: &BytesMut, written: usize) {
    assert_eq!(written, out.len(), "encode returned the wrong length");
    assert_eq!(
        packet.encoded_len(version),
        written,
        "encoded_len disagrees with encode on {version:?}"
    );
    let mut again = out.clone();
    let mut d = Decoder::new(version).with_max_packet_size(NO_LIMIT);
    match d.decode(&mut again) {
        Ok(Some(back)) => {
            assert!(again.is_empty(), "re-decoding left {} bytes", again.len());
            assert_eq!(
                &back, packet,
                "round trip through {version:?} changed the packet"
            );
        }
        other => panic!(
            "re-encoded packet does not decode on {version:?}: {other:?}\n{packet:#?}\n{:02x?}",
            &out[..]
        ),
    }
}
