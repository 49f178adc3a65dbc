//! Fault injection beyond single-shot client rules: rules that fire n times or every time,
//! rules for one connection only, delayed processing of received packets, and a
//! time-based close. Timed tests run on a paused tokio clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::events::{closed_reason, fault_fired};
use common::{RawClient, V5, V311, connect_packet, filter, pid, publish};
use mqtt_proto::{
    Connect, ConnectReason, Packet, QoS, QosPid, SubAck, SubAckReason, Subscribe, SubscribeFilter,
};
use mqtt_testkit::{Broker, CloseReason, Direction, Fault, PacketType};
use tokio::time::Instant;

#[tokio::test]
async fn an_every_time_rule_fires_on_every_packet() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    broker
        .faults()
        .for_client("c")
        .every_time()
        .withhold(PacketType::PubAck);
    let mut c = RawClient::connect(broker.local_addr(), V311, "c").await;
    for id in 1..=3 {
        c.send(publish("t", QosPid::AtLeastOnce(pid(id)), b"x"))
            .await;
        assert_eq!(
            fault_fired(&mut events).await,
            Fault::Withhold(PacketType::PubAck)
        );
    }
    // No PUBACK came: the PINGRESP is the next packet.
    c.ping().await;
    // Still armed after a reconnection; cleared by `clear`.
    drop(c);
    closed_reason(&mut events).await;
    let mut c = RawClient::connect(broker.local_addr(), V311, "c").await;
    c.send(publish("t", QosPid::AtLeastOnce(pid(4)), b"x"))
        .await;
    c.ping().await;
    broker.faults().clear();
    c.publish(publish("t", QosPid::AtLeastOnce(pid(5)), b"x"))
        .await;
    broker.shutdown().await;
}

#[tokio::test]
async fn a_rule_armed_n_times_fires_n_times_then_is_gone() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    broker
        .faults()
        .for_client("c")
        .times(2)
        .refuse_connect(ConnectReason::ServerBusy);
    for _ in 0..2 {
        let (mut c, ack) = RawClient::connect_with(addr, connect_packet(V5, "c")).await;
        assert_eq!(ack.reason, ConnectReason::ServerBusy);
        assert_eq!(c.closed().await, vec![]);
        assert_eq!(
            fault_fired(&mut events).await,
            Fault::RefuseConnect(ConnectReason::ServerBusy)
        );
    }
    let (_c, ack) = RawClient::connect_with(addr, connect_packet(V5, "c")).await;
    assert_eq!(ack.reason, ConnectReason::Success);
    broker.shutdown().await;
}

#[tokio::test]
async fn a_repeating_counted_rule_counts_afresh_after_each_firing() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    broker
        .faults()
        .for_client("c")
        .times(2)
        .close_after(Direction::In, PacketType::PingReq, 2);
    for _ in 0..2 {
        let mut c = RawClient::connect(addr, V311, "c").await;
        c.ping().await;
        c.send(Packet::PingReq).await;
        assert_eq!(c.closed().await, vec![]);
        assert_eq!(closed_reason(&mut events).await, CloseReason::Fault);
    }
    // Spent: a third connection pings freely.
    let mut c = RawClient::connect(addr, V311, "c").await;
    for _ in 0..3 {
        c.ping().await;
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn live_connection_rules_apply_to_that_connection_only() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    assert!(broker.faults().for_client("c").live_connection().is_none());

    let mut c = RawClient::connect(addr, V311, "c").await;
    let live = broker.faults().for_client("c").live_connection().unwrap();
    live.every_time().withhold(PacketType::PingResp);
    // No PINGRESP: the SUBACK of the SUBSCRIBE sent after the PINGREQ is the next packet.
    c.send(Packet::PingReq).await;
    assert!(matches!(
        c.subscribe(1, "t", QoS::AtMostOnce).await,
        SubAck { .. }
    ));
    c.send(Packet::PingReq).await;
    c.subscribe(2, "u", QoS::AtMostOnce).await;
    assert_eq!(
        fault_fired(&mut events).await,
        Fault::Withhold(PacketType::PingResp)
    );

    // The next connection of the same client is not affected, and neither is another
    // client.
    drop(c);
    closed_reason(&mut events).await;
    let mut c = RawClient::connect(addr, V311, "c").await;
    c.ping().await;
    let mut other = RawClient::connect(addr, V311, "other").await;
    other.ping().await;

    // A connection rule not fired goes with its connection.
    broker
        .faults()
        .for_client("c")
        .live_connection()
        .unwrap()
        .withhold(PacketType::PingResp);
    drop(c);
    closed_reason(&mut events).await;
    let mut c = RawClient::connect(addr, V311, "c").await;
    c.ping().await;
    broker.shutdown().await;
}

#[tokio::test]
async fn live_connection_commands_target_that_connection() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let c = RawClient::connect(addr, V5, "c").await;
    let live = broker.faults().for_client("c").live_connection().unwrap();
    drop(c);
    closed_reason(&mut events).await;
    let mut c = RawClient::connect(addr, V5, "c").await;
    // The connection the handle was for is gone: nothing is sent to the new one.
    assert!(!live.send_raw(vec![0xD0, 0x00]));
    c.ping().await;
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn delay_received_holds_processing_in_order_while_output_flows() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut c = RawClient::connect(addr, V5, "c").await;
    c.subscribe(1, "a", QoS::AtMostOnce).await;
    broker
        .faults()
        .for_client("c")
        .delay_received(PacketType::Subscribe, Duration::from_secs(5));

    let start = Instant::now();
    c.send(Subscribe::new(
        pid(2),
        vec![SubscribeFilter::new(filter("b"), QoS::AtMostOnce)],
    ))
    .await;
    c.send(Packet::PingReq).await;
    assert_eq!(
        fault_fired(&mut events).await,
        Fault::DelayReceived {
            packet: PacketType::Subscribe,
            by: Duration::from_secs(5)
        }
    );
    // Output is not held: a message for the client arrives at once.
    let mut p = RawClient::connect(addr, V5, "p").await;
    p.publish(publish("a", QosPid::AtMostOnce, b"now")).await;
    assert_eq!(c.recv_publish().await.payload, &b"now"[..]);
    assert_eq!(start.elapsed(), Duration::ZERO);
    // The SUBSCRIBE is processed after 5 s, then the PINGREQ behind it.
    assert_eq!(c.suback().await.reasons, vec![SubAckReason::GrantedQoS0]);
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert_eq!(c.recv().await, Packet::PingResp);
    // Once only.
    c.subscribe(3, "c", QoS::AtMostOnce).await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn keep_alive_is_not_enforced_while_a_packet_is_held() {
    let broker = Broker::start().await.unwrap();
    let mut events = broker.events();
    let mut connect = Connect::new(V5, "c");
    connect.keep_alive = 2; // closed after 3 s of silence
    let (mut c, _) = RawClient::connect_with(broker.local_addr(), connect).await;
    broker
        .faults()
        .for_client("c")
        .delay_received(PacketType::PingReq, Duration::from_secs(10));
    let start = Instant::now();
    c.send(Packet::PingReq).await;
    assert_eq!(c.recv().await, Packet::PingResp);
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    // Keep alive runs again from the release: 3 s later the connection is closed.
    assert_eq!(
        closed_reason(&mut events).await,
        CloseReason::KeepAliveTimeout
    );
    assert_eq!(start.elapsed(), Duration::from_secs(13));
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn delay_received_can_hold_a_connect() {
    let broker = Broker::start().await.unwrap();
    broker
        .faults()
        .for_client("slow")
        .delay_received(PacketType::Connect, Duration::from_secs(3));
    let start = Instant::now();
    let (_c, ack) = RawClient::connect_with(broker.local_addr(), connect_packet(V5, "slow")).await;
    assert_eq!(ack.reason, ConnectReason::Success);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn close_after_time_closes_the_live_connection_without_disconnect() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    let mut c = RawClient::connect(addr, V5, "c").await;
    let start = Instant::now();
    broker
        .faults()
        .for_client("c")
        .close_after_time(Duration::from_secs(10));
    assert_eq!(c.closed().await, vec![]);
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(
        fault_fired(&mut events).await,
        Fault::CloseAfterTime {
            after: Duration::from_secs(10)
        }
    );
    assert_eq!(closed_reason(&mut events).await, CloseReason::Fault);
    // Fired once: the next connection stays.
    let mut c = RawClient::connect(addr, V5, "c").await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    c.ping().await;
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn close_after_time_counts_from_each_connect() {
    let broker = Broker::start().await.unwrap();
    let addr = broker.local_addr();
    let mut events = broker.events();
    broker
        .faults()
        .for_client("c")
        .every_time()
        .close_after_time(Duration::from_secs(4));
    tokio::time::sleep(Duration::from_secs(30)).await;
    for _ in 0..3 {
        let mut c = RawClient::connect(addr, V311, "c").await;
        let start = Instant::now();
        c.ping().await;
        assert_eq!(c.closed().await, vec![]);
        assert_eq!(start.elapsed(), Duration::from_secs(4));
        assert_eq!(closed_reason(&mut events).await, CloseReason::Fault);
    }
    // Disarmed: a connection stays.
    broker.faults().clear();
    let mut c = RawClient::connect(addr, V311, "c").await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    c.ping().await;
    broker.shutdown().await;
}
