//! Encode a few packets of each protocol version, print their bytes, and decode them again
//! from a stream cut into small pieces, as a socket would deliver it.
//!
//! `cargo run -p mqtt-proto --example codec_roundtrip` (named apart from the `examples`
//! package's `quickstart`: cargo puts every example binary of the workspace in one directory).

#![allow(clippy::print_stdout)]

use bytes::BytesMut;
use mqtt_proto::{
    Connect, Decoder, Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, Subscribe,
    SubscribeFilter, TopicFilter, TopicName,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for version in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        let packets: Vec<Packet> = vec![
            Connect::new(version, "codec-roundtrip").into(),
            Subscribe::new(
                PacketId::MIN,
                vec![SubscribeFilter::new(
                    TopicFilter::new("sensors/+/temp")?,
                    QoS::AtLeastOnce,
                )],
            )
            .into(),
            Publish::new(
                TopicName::new("sensors/kitchen/temp")?,
                QosPid::AtLeastOnce(PacketId::MAX),
                "21.5",
            )
            .into(),
            Packet::PingReq,
        ];
        let mut wire = BytesMut::new();
        for p in &packets {
            p.encode(version, &mut wire)?;
        }
        println!("{version}: {} packets, {} bytes", packets.len(), wire.len());
        println!("  {}", hex(&wire));

        // Feed the bytes back three at a time.
        let mut decoder = Decoder::new(version);
        let mut inbound = BytesMut::new();
        let mut decoded = Vec::new();
        for chunk in wire.chunks(3) {
            inbound.extend_from_slice(chunk);
            while let Some(p) = decoder.decode(&mut inbound)? {
                decoded.push(p);
            }
        }
        assert_eq!(decoded, packets);
        for p in &decoded {
            println!("  decoded {:?}", p.packet_type());
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
