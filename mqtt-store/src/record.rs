//! How a publish and a subscription are written in a store: as the MQTT 5.0 packet that
//! carries them (a PUBLISH, a SUBSCRIBE of one filter), encoded and decoded by the crate's own
//! codec, so that a stored record is checked as strictly as a packet from the network. And a
//! CRC-32 over every stored row, so that a flipped byte in a record is found, not loaded.

// Only the file store uses these; the memory store keeps values.
#![cfg_attr(not(feature = "file"), allow(dead_code))]

use bytes::BytesMut;
use mqtt_proto::client::PublishRequest;
use mqtt_proto::{
    Decoder, MAX_PACKET_SIZE, Packet, PacketId, ProtocolVersion, Publish, QosPid, Subscribe,
    SubscribeFilter, SubscribeProperties,
};

/// A record that does not decode.
#[derive(Debug)]
pub(crate) struct BadRecord(pub(crate) String);

/// The packet identifier the stored packets carry (the real one is a column of its own).
const PLACEHOLDER: PacketId = PacketId::MIN;

fn decoder() -> Decoder {
    Decoder::new(ProtocolVersion::V5).with_max_packet_size(
        std::num::NonZeroU32::new(MAX_PACKET_SIZE).unwrap_or(std::num::NonZeroU32::MIN),
    )
}

fn decode_one(bytes: &[u8], what: &str) -> Result<Packet, BadRecord> {
    let mut buf = BytesMut::from(bytes);
    match decoder().decode(&mut buf) {
        Ok(Some(p)) if buf.is_empty() => Ok(p),
        Ok(Some(_)) => Err(BadRecord(format!("{what}: bytes after the packet"))),
        Ok(None) => Err(BadRecord(format!("{what}: truncated"))),
        Err(e) => Err(BadRecord(format!("{what}: {e}"))),
    }
}

/// A QoS 1 or 2 publish request as a 5.0 PUBLISH.
pub(crate) fn encode_publish(req: &PublishRequest) -> Result<Vec<u8>, BadRecord> {
    let mut p = Publish::new(
        req.topic.clone(),
        QosPid::from_qos(req.qos, PLACEHOLDER),
        req.payload.clone(),
    );
    p.retain = req.retain;
    p.properties.clone_from(&req.properties);
    let mut buf = BytesMut::new();
    Packet::from(p)
        .encode(ProtocolVersion::V5, &mut buf)
        .map_err(|e| BadRecord(format!("publish: {e}")))?;
    Ok(buf.to_vec())
}

pub(crate) fn decode_publish(bytes: &[u8]) -> Result<PublishRequest, BadRecord> {
    let Packet::Publish(p) = decode_one(bytes, "publish")? else {
        return Err(BadRecord("publish: another packet type".into()));
    };
    if p.dup || p.qos.packet_id() != Some(PLACEHOLDER) {
        return Err(BadRecord("publish: not as written".into()));
    }
    let mut req = PublishRequest::new(p.topic, p.qos.qos(), p.payload).retain(p.retain);
    req.properties = p.properties;
    Ok(req)
}

/// A granted subscription and the properties of its SUBSCRIBE, as a 5.0 SUBSCRIBE.
pub(crate) fn encode_subscription(
    sub: &SubscribeFilter,
    props: &SubscribeProperties,
) -> Result<Vec<u8>, BadRecord> {
    let mut s = Subscribe::new(PLACEHOLDER, vec![sub.clone()]);
    s.properties = props.clone();
    let mut buf = BytesMut::new();
    Packet::from(s)
        .encode(ProtocolVersion::V5, &mut buf)
        .map_err(|e| BadRecord(format!("subscription: {e}")))?;
    Ok(buf.to_vec())
}

pub(crate) fn decode_subscription(
    bytes: &[u8],
) -> Result<(SubscribeFilter, SubscribeProperties), BadRecord> {
    let Packet::Subscribe(s) = decode_one(bytes, "subscription")? else {
        return Err(BadRecord("subscription: another packet type".into()));
    };
    let [sub]: [SubscribeFilter; 1] = s
        .subscriptions
        .try_into()
        .map_err(|_| BadRecord("subscription: not one filter".into()))?;
    if s.packet_id != PLACEHOLDER {
        return Err(BadRecord("subscription: not as written".into()));
    }
    Ok((sub, s.properties))
}

/// CRC-32 (IEEE 802.3, as zlib's), over the parts of a row in order, each part preceded by
/// its length (so that moving bytes from one part to the next changes the sum).
pub(crate) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut c = !0u32;
    for part in parts {
        c = update(c, &(part.len() as u64).to_le_bytes());
        c = update(c, part);
    }
    !c
}

fn update(mut c: u32, bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    for &b in bytes {
        c = TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_ieee_one() {
        // The standard check value of CRC-32/ISO-HDLC (zlib's crc32).
        assert_eq!(!update(!0, b"123456789"), 0xCBF4_3926);
        assert_ne!(crc32(&[b"ab", b"c"]), crc32(&[b"a", b"bc"]));
    }
}
