//! PUBLISH encode / decode / round trip: mqtt-proto beside rumqttc's v4 codec, in the same
//! criterion groups, plus heap allocations per operation counted by a global allocator.
//!
//! Run: `cargo bench -p mqtt-proto --bench codec`, then
//! `python3 mqtt-proto/benches/summarize.py` for the BENCHMARKS.md table.
//!
//! Decoding reads from a buffer holding 1,024 packets, as a socket read delivers many at once;
//! refilling it is not timed (see `batched`). Allocation counts use the same steady state.

#![allow(
    unsafe_code,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{Criterion, Throughput};
use mqtt_proto::{Decoder, Encoder, Packet, PacketId, ProtocolVersion, Publish, QosPid, TopicName};
use rumqttc::mqttbytes::v4 as rq;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A 20-byte topic, as the benchmark asks.
const TOPIC: &str = "sensors/kitchen/temp";
const MAX: usize = 16 * 1024 * 1024;

struct Case {
    name: &'static str,
    ours: Packet,
    theirs: rq::Packet,
    wire: Vec<u8>,
}

fn cases() -> Vec<Case> {
    assert_eq!(TOPIC.len(), 20);
    let mut out = Vec::new();
    for (size, size_name) in [(64usize, "64B"), (1024, "1KiB")] {
        for qos in [0u8, 1] {
            let payload = vec![0xA5u8; size];
            let pid = PacketId::new(42).unwrap();
            let q = if qos == 0 {
                QosPid::AtMostOnce
            } else {
                QosPid::AtLeastOnce(pid)
            };
            let ours = Packet::Publish(Publish::new(
                TopicName::new(TOPIC).unwrap(),
                q,
                payload.clone(),
            ));
            let mut p = rq::Publish::new(
                TOPIC,
                if qos == 0 {
                    rumqttc::mqttbytes::QoS::AtMostOnce
                } else {
                    rumqttc::mqttbytes::QoS::AtLeastOnce
                },
                payload,
            );
            if qos == 1 {
                p.pkid = 42;
            }
            let theirs = rq::Packet::Publish(p);
            let mut wire = BytesMut::new();
            ours.encode(ProtocolVersion::V3_1_1, &mut wire).unwrap();
            let mut check = BytesMut::new();
            theirs.write(&mut check, MAX).unwrap();
            assert_eq!(wire, check, "both codecs write the same bytes");
            let name: &'static str = Box::leak(format!("qos{qos}_{size_name}").into_boxed_str());
            out.push(Case {
                name,
                ours,
                theirs,
                wire: wire.to_vec(),
            });
        }
    }
    out
}

fn allocations(mut f: impl FnMut()) -> f64 {
    const N: usize = 10_000;
    f(); // warm up: let buffers reach their steady state
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..N {
        f();
    }
    (ALLOCS.load(Ordering::Relaxed) - before) as f64 / N as f64
}

fn report_allocations(cases: &[Case]) {
    println!("allocations per operation (steady state, 10,000 operations):");
    println!("| case | ours decode | rumqttc decode | ours encode | rumqttc encode |");
    println!("| --- | --- | --- | --- | --- |");
    for c in cases {
        let mut decoder = Decoder::new(ProtocolVersion::V3_1_1);
        let mut rbuf = BytesMut::with_capacity(4096);
        let ours_dec = allocations(|| {
            rbuf.extend_from_slice(&c.wire);
            black_box(decoder.decode(&mut rbuf).unwrap().unwrap());
        });
        let mut rbuf = BytesMut::with_capacity(4096);
        let theirs_dec = allocations(|| {
            rbuf.extend_from_slice(&c.wire);
            black_box(rq::Packet::read(&mut rbuf, MAX).unwrap());
        });
        let enc = Encoder::new(ProtocolVersion::V3_1_1);
        let mut wbuf = BytesMut::with_capacity(4096);
        let ours_enc = allocations(|| {
            wbuf.clear();
            black_box(enc.encode(&c.ours, &mut wbuf).unwrap());
        });
        let mut wbuf = BytesMut::with_capacity(4096);
        let theirs_enc = allocations(|| {
            wbuf.clear();
            black_box(c.theirs.write(&mut wbuf, MAX).unwrap());
        });
        println!(
            "| {} | {ours_dec} | {theirs_dec} | {ours_enc} | {theirs_enc} |",
            c.name
        );
    }
}

fn bench(c: &mut Criterion, cases: &[Case]) {
    for case in cases {
        let mut g = c.benchmark_group(format!("publish_encode/{}", case.name));
        g.throughput(Throughput::Elements(1));
        let enc = Encoder::new(ProtocolVersion::V3_1_1);
        let mut buf = BytesMut::with_capacity(4096);
        g.bench_function("mqtt-proto", |b| {
            b.iter(|| {
                buf.clear();
                enc.encode(black_box(&case.ours), &mut buf).unwrap()
            })
        });
        g.bench_function("rumqttc", |b| {
            b.iter(|| {
                buf.clear();
                black_box(&case.theirs).write(&mut buf, MAX).unwrap()
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("publish_decode/{}", case.name));
        g.throughput(Throughput::Elements(1));
        let mut decoder = Decoder::new(ProtocolVersion::V3_1_1);
        let mut rbuf = BytesMut::with_capacity(BATCH * (case.wire.len() + 1));
        g.bench_function("mqtt-proto", |b| {
            b.iter_custom(|iters| {
                batched(iters, &mut rbuf, &case.wire, |buf| {
                    black_box(decoder.decode(buf).unwrap().unwrap());
                })
            })
        });
        g.bench_function("rumqttc", |b| {
            b.iter_custom(|iters| {
                batched(iters, &mut rbuf, &case.wire, |buf| {
                    black_box(rq::Packet::read(buf, MAX).unwrap());
                })
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("publish_roundtrip/{}", case.name));
        g.throughput(Throughput::Elements(1));
        g.bench_function("mqtt-proto", |b| {
            b.iter(|| {
                enc.encode(black_box(&case.ours), &mut rbuf).unwrap();
                decoder.decode(&mut rbuf).unwrap().unwrap()
            })
        });
        g.bench_function("rumqttc", |b| {
            b.iter(|| {
                black_box(&case.theirs).write(&mut rbuf, MAX).unwrap();
                rq::Packet::read(&mut rbuf, MAX).unwrap()
            })
        });
        g.finish();
    }
}

/// Packets decoded per refill of the read buffer.
const BATCH: usize = 1024;

/// Time `iters` decodes from a read buffer holding up to [`BATCH`] packets at a time, as a
/// socket read would deliver them. Refilling the buffer is not timed: that work belongs to
/// the transport, and is the same for both codecs.
fn batched(
    iters: u64,
    buf: &mut BytesMut,
    wire: &[u8],
    mut decode_one: impl FnMut(&mut BytesMut),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        let n = left.min(BATCH);
        buf.clear();
        for _ in 0..n {
            buf.extend_from_slice(wire);
        }
        let start = Instant::now();
        for _ in 0..n {
            decode_one(buf);
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

fn main() {
    let cases = cases();
    report_allocations(&cases);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &cases);
    c.final_summary();
}
