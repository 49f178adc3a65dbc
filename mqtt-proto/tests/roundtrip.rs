//! Property tests of the packet codec, for MQTT 3.1, 3.1.1 and 5.0: encoding then decoding
//! gives the packet back; `encoded_len` is exact; a stream cut anywhere decodes the same;
//! arbitrary or corrupted bytes never panic and whatever decodes re-encodes stably; the decoder
//! never returns a packet larger than its limit.
//!
//! Every property runs for each version (one module per version). Case counts are proptest's
//! default, or `PROPTEST_CASES`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod strategies;

use std::num::NonZeroU32;

use bytes::BytesMut;
use mqtt_proto::{DecodeError, Decoder, EncodeError, Encoder, Packet, ProtocolVersion};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use strategies::{
    VERSIONS, arbitrary_bytes, connect, fixed_header_len, mutated_packet, packet, put_varint,
};

type TestResult = Result<(), TestCaseError>;

/// Encode packets for `v`, one after the other.
fn encode_all(v: ProtocolVersion, packets: &[Packet]) -> Result<BytesMut, TestCaseError> {
    let mut wire = BytesMut::new();
    for p in packets {
        p.encode(v, &mut wire)
            .map_err(|e| TestCaseError::fail(format!("valid packet refused: {e:?}: {p:?}")))?;
    }
    Ok(wire)
}

/// Decode everything `buf` holds until the decoder asks for more bytes. `Ok(None)` must leave
/// the buffer untouched; any error fails the test (the input is valid).
fn drain(decoder: &mut Decoder, buf: &mut BytesMut, out: &mut Vec<Packet>) -> TestResult {
    loop {
        let before = buf.len();
        match decoder.decode(buf) {
            Ok(Some(p)) => out.push(p),
            Ok(None) => {
                prop_assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("valid bytes refused: {e:?}"))),
        }
    }
}

// ---- 1. decode(encode(p)) == p ---------------------------------------------------------------

fn check_roundtrip(v: ProtocolVersion, p: &Packet) -> TestResult {
    let mut wire = encode_all(v, std::slice::from_ref(p))?;
    let decoded = Decoder::new(v).decode(&mut wire);
    prop_assert_eq!(decoded, Ok(Some(p.clone())));
    prop_assert!(wire.is_empty(), "{} bytes left over", wire.len());
    Ok(())
}

// ---- 2. encoded_len == bytes written == encode's return value --------------------------------

fn check_encoded_len(v: ProtocolVersion, p: &Packet, prefix: &[u8]) -> TestResult {
    let len = p.encoded_len(v);
    // Encoding appends: whatever the buffer held stays in front.
    let mut buf = BytesMut::from(prefix);
    let returned = p.encode(v, &mut buf).expect("valid packet encodes");
    prop_assert_eq!(returned, len);
    prop_assert_eq!(buf.len() - prefix.len(), len);
    prop_assert_eq!(&buf[..prefix.len()], prefix);

    // The size-checking Encoder writes the same bytes, and accepts exactly `len` as a limit.
    let limit = NonZeroU32::new(u32::try_from(len).unwrap()).unwrap();
    let mut same = BytesMut::new();
    let encoder = Encoder::new(v).with_max_packet_size(limit);
    prop_assert_eq!(encoder.encode(p, &mut same), Ok(len));
    prop_assert_eq!(&same[..], &buf[prefix.len()..]);

    // One byte less is refused, and nothing is written (every packet is at least 2 bytes).
    let too_small = NonZeroU32::new(limit.get() - 1).unwrap();
    let mut untouched = BytesMut::from(prefix);
    prop_assert_eq!(
        Encoder::new(v)
            .with_max_packet_size(too_small)
            .encode(p, &mut untouched),
        Err(EncodeError::PacketTooLarge {
            size: len,
            max: too_small.get() as usize
        })
    );
    prop_assert_eq!(&untouched[..], prefix);
    Ok(())
}

// ---- 3. a stream cut anywhere decodes to the same packets ------------------------------------

fn check_stream(
    v: ProtocolVersion,
    packets: &[Packet],
    cuts: &[Index],
    byte_at_a_time: bool,
) -> TestResult {
    let wire = encode_all(v, packets)?;
    let mut points: Vec<usize> = if byte_at_a_time {
        (0..=wire.len()).collect()
    } else {
        cuts.iter().map(|i| i.index(wire.len() + 1)).collect()
    };
    points.push(wire.len());
    points.sort_unstable();
    points.dedup();

    let mut decoder = Decoder::new(v);
    let mut inbound = BytesMut::new();
    let mut decoded = Vec::with_capacity(packets.len());
    let mut start = 0;
    for end in points {
        inbound.extend_from_slice(&wire[start..end]);
        start = end;
        drain(&mut decoder, &mut inbound, &mut decoded)?;
    }
    prop_assert_eq!(&decoded[..], packets);
    prop_assert!(inbound.is_empty(), "{} bytes left over", inbound.len());
    Ok(())
}

// ---- 4. arbitrary bytes never panic; what decodes re-encodes stably --------------------------

/// Decode `input` until the decoder stops; each packet that comes out must re-encode to bytes
/// that decode to it again, no longer than the bytes it was decoded from.
fn check_decode_is_stable(v: ProtocolVersion, input: &[u8], max: Option<u32>) -> TestResult {
    let mut decoder = Decoder::new(v);
    if let Some(max) = max.and_then(NonZeroU32::new) {
        decoder = decoder.with_max_packet_size(max);
    }
    let limit = decoder.max_packet_size() as usize;
    let mut buf = BytesMut::from(input);
    loop {
        let before = buf.len();
        let p = match decoder.decode(&mut buf) {
            Ok(Some(p)) => p,
            Ok(None) => {
                prop_assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                return Ok(());
            }
            Err(DecodeError::PacketTooLarge { size, max }) => {
                prop_assert!(size > max as usize);
                prop_assert_eq!(max as usize, limit);
                return Ok(());
            }
            Err(_) => return Ok(()),
        };
        let consumed = before - buf.len();
        prop_assert!(consumed <= limit);
        prop_assert!(
            p.encoded_len(v) <= consumed,
            "re-encoding is longer ({}) than the {} bytes decoded: {:?}",
            p.encoded_len(v),
            consumed,
            p
        );

        let mut again = BytesMut::new();
        // Whatever the decoder accepts the encoder should accept too; were it ever to refuse
        // (an `EncodeError`), there would be nothing to compare.
        if p.encode(v, &mut again).is_err() {
            continue;
        }
        prop_assert_eq!(again.len(), p.encoded_len(v));
        let redecoded = Decoder::new(v).decode(&mut again);
        prop_assert_eq!(redecoded, Ok(Some(p)));
        prop_assert!(again.is_empty());
    }
}

// ---- 5. the decoder never returns a packet larger than its limit -----------------------------

fn check_size_limit(v: ProtocolVersion, packets: &[Packet], max: u32) -> TestResult {
    let limit = NonZeroU32::new(max).unwrap();
    let decoder = Decoder::new(v).with_max_packet_size(limit);
    let mut wire = encode_all(v, packets)?;
    let mut expected = packets.iter();
    let mut d = decoder.clone();
    loop {
        let before = wire.len();
        match d.decode(&mut wire) {
            Ok(Some(p)) => {
                prop_assert!(before - wire.len() <= max as usize);
                prop_assert!(p.encoded_len(v) <= max as usize);
                prop_assert_eq!(Some(&p), expected.next());
            }
            Ok(None) => {
                prop_assert!(wire.is_empty());
                prop_assert_eq!(expected.next(), None);
                return Ok(());
            }
            Err(err @ DecodeError::PacketTooLarge { size, max: m }) => {
                let p = expected.next().expect("an error comes from a packet");
                prop_assert_eq!(m, max);
                prop_assert_eq!(size, p.encoded_len(v));
                prop_assert!(size > max as usize);
                prop_assert_eq!(wire.len(), before, "the refused packet was consumed");
                // Refused from the fixed header alone, before the body is buffered.
                let mut header = BytesMut::from(&wire[..fixed_header_len(&wire)]);
                prop_assert_eq!(decoder.clone().decode(&mut header), Err(err));
                return Ok(());
            }
            Err(e) => {
                return Err(TestCaseError::fail(format!(
                    "valid bytes refused with {e:?}, not PacketTooLarge"
                )));
            }
        }
    }
}

// ---- one module of tests per version ---------------------------------------------------------

fn small_limit() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..=8, 2u32..=300]
}

macro_rules! version_tests {
    ($($module:ident => $version:expr;)*) => {$(
        mod $module {
            use super::*;

            const V: ProtocolVersion = $version;

            proptest! {
                #[test]
                fn decoding_an_encoded_packet_gives_it_back(p in packet(V)) {
                    check_roundtrip(V, &p)?;
                }

                #[test]
                fn encoded_len_is_the_number_of_bytes_encode_writes_and_returns(
                    p in packet(V),
                    prefix in proptest::collection::vec(any::<u8>(), 0..4),
                ) {
                    check_encoded_len(V, &p, &prefix)?;
                }

                #[test]
                fn a_stream_cut_at_arbitrary_points_decodes_to_the_same_packets(
                    packets in proptest::collection::vec(packet(V), 1..6),
                    cuts in proptest::collection::vec(any::<Index>(), 0..12),
                    byte_at_a_time in proptest::bool::weighted(0.1),
                ) {
                    check_stream(V, &packets, &cuts, byte_at_a_time)?;
                }

                #[test]
                fn arbitrary_bytes_never_panic_and_what_decodes_reencodes_to_itself(
                    input in arbitrary_bytes(),
                    max in proptest::option::weighted(0.3, small_limit()),
                ) {
                    check_decode_is_stable(V, &input, max)?;
                }

                #[test]
                fn corrupted_packets_never_panic_and_what_decodes_reencodes_to_itself(
                    input in mutated_packet(V),
                ) {
                    check_decode_is_stable(V, &input, None)?;
                }

                #[test]
                fn the_decoder_never_returns_a_packet_larger_than_its_limit(
                    packets in proptest::collection::vec(packet(V), 1..4),
                    max in small_limit(),
                ) {
                    check_size_limit(V, &packets, max)?;
                }
            }
        }
    )*};
}

version_tests! {
    v3_1 => ProtocolVersion::V3_1;
    v3_1_1 => ProtocolVersion::V3_1_1;
    v5 => ProtocolVersion::V5;
}

// ---- across versions -------------------------------------------------------------------------

proptest! {
    /// A CONNECT is decoded by the version it announces, whatever the decoder's version.
    #[test]
    fn a_connect_decodes_by_its_own_version_whatever_the_decoders(
        (own, p) in proptest::sample::select(VERSIONS.to_vec())
            .prop_flat_map(|v| (Just(v), connect(v))),
        decoder_version in proptest::sample::select(VERSIONS.to_vec()),
    ) {
        let mut wire = encode_all(own, std::slice::from_ref(&p))?;
        prop_assert_eq!(wire.len(), p.encoded_len(decoder_version));
        prop_assert_eq!(Decoder::new(decoder_version).decode(&mut wire), Ok(Some(p)));
    }
}

/// The framing helpers of the strategies agree with the codec.
#[test]
fn varint_helper_matches_the_codec_framing() {
    for len in [0usize, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152] {
        let mut wire = vec![0xC0];
        put_varint(&mut wire, len);
        assert_eq!(fixed_header_len(&wire), wire.len());
    }
}
