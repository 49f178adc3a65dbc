//! Whole QoS 0 / 1 / 2 flows through the client state machine, in memory, beside rumqttc's
//! `MqttState` with its v4 codec doing the same work in the same run.
//!
//! Per message, outbound: the client accepts a publish, encodes the PUBLISH, and decodes and
//! handles its acknowledgements (PUBACK; PUBREC, encoding PUBREL, PUBCOMP). Inbound: the
//! client decodes a PUBLISH, hands it to the application and encodes its acknowledgements
//! (PUBACK; PUBREC, then decodes PUBREL and encodes PUBCOMP). Both speak MQTT 3.1.1 with a
//! 20-byte topic and a 64-byte payload.
//!
//! Run: `cargo bench -p mqtt-proto --bench session`, then
//! `python3 mqtt-proto/benches/summarize.py` for the table.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::hint::black_box;
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use criterion::{Criterion, Throughput};
use mqtt_proto::client::{ClientOptions, ClientState, Event, PublishRequest};
use mqtt_proto::{Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, TopicName};
use rumqttc::mqttbytes::v4 as rq;
use rumqttc::{MqttState, Request};

const TOPIC: &str = "sensors/kitchen/temp";
const MAX: usize = 16 * 1024 * 1024;

fn ack(buf: &mut BytesMut, first: u8, pid: u16) {
    buf.put_slice(&[first, 2]);
    buf.put_u16(pid);
}

/// A connected client (CONNECT written and discarded, CONNACK handled).
fn connected(now: Instant) -> ClientState {
    let mut opts = ClientOptions::new(ProtocolVersion::V3_1_1, "bench");
    opts.keep_alive = std::time::Duration::ZERO;
    let mut c = ClientState::new(opts);
    c.connect(now);
    let mut out = BytesMut::new();
    let _ = c.poll_transmit(now, &mut out);
    c.handle_read(now, &mut BytesMut::from(&[0x20, 0x02, 0x00, 0x00][..]));
    while c.poll_event().is_some() {}
    c
}

/// The packet id of the PUBLISH at the start of `out` (fixed header 2, topic 2 + 20).
fn publish_pid(out: &[u8]) -> u16 {
    u16::from_be_bytes([out[24], out[25]])
}

fn ours_outbound(
    c: &mut ClientState,
    now: Instant,
    qos: QoS,
    payload: &bytes::Bytes,
    out: &mut BytesMut,
    inb: &mut BytesMut,
) {
    let topic = TopicName::new(TOPIC).unwrap();
    c.publish(PublishRequest::new(topic, qos, payload.clone()))
        .unwrap();
    out.clear();
    let _ = c.poll_transmit(now, out);
    match qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => {
            ack(inb, 0x40, publish_pid(out));
            c.handle_read(now, inb);
        }
        QoS::ExactlyOnce => {
            let pid = publish_pid(out);
            ack(inb, 0x50, pid);
            c.handle_read(now, inb);
            out.clear();
            let _ = c.poll_transmit(now, out); // PUBREL
            ack(inb, 0x70, pid);
            c.handle_read(now, inb);
        }
    }
    while let Some(e) = c.poll_event() {
        black_box(e);
    }
}

fn rq_outbound(
    s: &mut MqttState,
    qos: QoS,
    payload: &bytes::Bytes,
    out: &mut BytesMut,
    inb: &mut BytesMut,
) {
    let q = match qos {
        QoS::AtMostOnce => rumqttc::mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::mqttbytes::QoS::ExactlyOnce,
    };
    let p = rq::Publish::from_bytes(TOPIC, q, payload.clone());
    let packet = s
        .handle_outgoing_packet(Request::Publish(p))
        .unwrap()
        .unwrap();
    out.clear();
    packet.write(out, MAX).unwrap();
    let pid = match &packet {
        rq::Packet::Publish(p) => p.pkid,
        _ => 0,
    };
    let handle = |s: &mut MqttState, inb: &mut BytesMut, out: &mut BytesMut| {
        let incoming = rq::Packet::read(inb, MAX).unwrap();
        if let Some(reply) = s.handle_incoming_packet(incoming).unwrap() {
            out.clear();
            reply.write(out, MAX).unwrap();
        }
    };
    match qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => {
            ack(inb, 0x40, pid);
            handle(s, inb, out);
        }
        QoS::ExactlyOnce => {
            ack(inb, 0x50, pid);
            handle(s, inb, out); // answers PUBREL
            ack(inb, 0x70, pid);
            handle(s, inb, out);
        }
    }
    for e in s.events.drain(..) {
        black_box(e);
    }
}

fn inbound_publish(qos: QoS) -> Vec<u8> {
    let pid = PacketId::new(1).unwrap();
    let p = Publish::new(
        TopicName::new(TOPIC).unwrap(),
        QosPid::from_qos(qos, pid),
        vec![0xA5u8; 64],
    );
    let mut b = BytesMut::new();
    Packet::from(p)
        .encode(ProtocolVersion::V3_1_1, &mut b)
        .unwrap();
    b.to_vec()
}

fn ours_inbound(
    c: &mut ClientState,
    now: Instant,
    qos: QoS,
    wire: &[u8],
    out: &mut BytesMut,
    inb: &mut BytesMut,
) {
    inb.extend_from_slice(wire);
    c.handle_read(now, inb);
    out.clear();
    let _ = c.poll_transmit(now, out);
    if qos == QoS::ExactlyOnce {
        ack(inb, 0x62, 1);
        c.handle_read(now, inb);
        out.clear();
        let _ = c.poll_transmit(now, out);
    }
    while let Some(e) = c.poll_event() {
        if let Event::Message(m) = e {
            black_box(m);
        }
    }
}

fn rq_inbound(s: &mut MqttState, qos: QoS, wire: &[u8], out: &mut BytesMut, inb: &mut BytesMut) {
    inb.extend_from_slice(wire);
    let incoming = rq::Packet::read(inb, MAX).unwrap();
    if let Some(reply) = s.handle_incoming_packet(incoming).unwrap() {
        out.clear();
        reply.write(out, MAX).unwrap();
    }
    if qos == QoS::ExactlyOnce {
        ack(inb, 0x62, 1);
        let incoming = rq::Packet::read(inb, MAX).unwrap();
        if let Some(reply) = s.handle_incoming_packet(incoming).unwrap() {
            out.clear();
            reply.write(out, MAX).unwrap();
        }
    }
    for e in s.events.drain(..) {
        black_box(e);
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let now = Instant::now();
    let payload = bytes::Bytes::from(vec![0xA5u8; 64]);
    for (qos, name) in [
        (QoS::AtMostOnce, "qos0"),
        (QoS::AtLeastOnce, "qos1"),
        (QoS::ExactlyOnce, "qos2"),
    ] {
        let mut out = BytesMut::with_capacity(4096);
        let mut inb = BytesMut::with_capacity(4096);

        let mut g = c.benchmark_group(format!("session_outbound/{name}"));
        g.throughput(Throughput::Elements(1));
        let mut client = connected(now);
        g.bench_function("mqtt-proto", |b| {
            b.iter(|| ours_outbound(&mut client, now, qos, &payload, &mut out, &mut inb))
        });
        let mut state = MqttState::new(100, false);
        g.bench_function("rumqttc", |b| {
            b.iter(|| rq_outbound(&mut state, qos, &payload, &mut out, &mut inb))
        });
        g.finish();

        let wire = inbound_publish(qos);
        let mut g = c.benchmark_group(format!("session_inbound/{name}"));
        g.throughput(Throughput::Elements(1));
        let mut client = connected(now);
        g.bench_function("mqtt-proto", |b| {
            b.iter(|| ours_inbound(&mut client, now, qos, &wire, &mut out, &mut inb))
        });
        let mut state = MqttState::new(100, false);
        g.bench_function("rumqttc", |b| {
            b.iter(|| rq_inbound(&mut state, qos, &wire, &mut out, &mut inb))
        });
        g.finish();
    }
    c.final_summary();
}
