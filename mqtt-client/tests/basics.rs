//! The client against the reference broker over real sockets: connect, publish at every
//! QoS, subscribe streams, the catch-all stream, unsubscribe, disconnect.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use mqtt_client::{
    Client, ClientError, ConnectError, ConnectionStatus, Options, ProtocolVersion, QoS,
    RequestError,
};
use mqtt_testkit::{Broker, Event};

fn opts(broker: &Broker, id: &str, v: ProtocolVersion) -> Options {
    Options::from_url(&format!("mqtt://{}", broker.local_addr()))
        .unwrap()
        .with_client_id(id)
        .with_protocol(v)
}

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V5,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V3_1,
];

#[tokio::test]
async fn publish_and_receive_at_every_qos_and_version() {
    let broker = Broker::builder().start().await.unwrap();
    for v in VERSIONS {
        let (sub, _all) = Client::connect(opts(&broker, "sub", v)).await.unwrap();
        let (publ, _all2) = Client::connect(opts(&broker, "pub", v)).await.unwrap();
        assert_eq!(sub.protocol(), v);
        let mut s = sub.subscribe("t/#", QoS::ExactlyOnce).await.unwrap();
        assert_eq!(s.ack().results.len(), 1);
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let payload = format!("{v:?} {qos:?}");
            let ack = publ
                .publish("t/a", qos, false, payload.clone())
                .await
                .unwrap()
                .await
                .unwrap();
            assert_eq!(ack.packet_id.is_some(), qos != QoS::AtMostOnce);
            let m = s.recv().await.unwrap();
            assert_eq!(m.topic(), "t/a");
            assert_eq!(m.payload().as_ref(), payload.as_bytes());
            assert_eq!(m.qos(), qos);
        }
        sub.disconnect(Duration::from_secs(1)).await.unwrap();
        publ.disconnect(Duration::from_secs(1)).await.unwrap();
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn catch_all_gets_what_no_subscription_takes() {
    let broker = Broker::builder().start().await.unwrap();
    let (c, mut all) = Client::connect(opts(&broker, "c", ProtocolVersion::V5))
        .await
        .unwrap();
    let mut a = c.subscribe("a", QoS::AtLeastOnce).await.unwrap();
    drop(c.subscribe("b", QoS::AtLeastOnce).await.unwrap()); // stream dropped
    c.publish("a", QoS::AtLeastOnce, false, "1")
        .await
        .unwrap()
        .await
        .unwrap();
    c.publish("b", QoS::AtLeastOnce, false, "2")
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(a.recv().await.unwrap().payload().as_ref(), b"1");
    let m = all.recv().await.unwrap();
    assert_eq!((m.topic(), m.payload().as_ref()), ("b", &b"2"[..]));
    assert!(all.try_recv().is_none());
    c.disconnect(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn unsubscribe_ends_the_stream() {
    let broker = Broker::builder().start().await.unwrap();
    let (c, _all) = Client::connect(opts(&broker, "c", ProtocolVersion::V3_1_1))
        .await
        .unwrap();
    let mut s = c.subscribe("x/+", QoS::AtMostOnce).await.unwrap();
    c.unsubscribe("x/+").await.unwrap();
    assert!(s.recv().await.is_none());
    c.disconnect(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn requests_after_disconnect_fail_closed() {
    let broker = Broker::builder().start().await.unwrap();
    let mut events = broker.events();
    let (c, _all) = Client::connect(opts(&broker, "c", ProtocolVersion::V5))
        .await
        .unwrap();
    let c2 = c.clone();
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    events
        .wait_for(|e| matches!(e, Event::Disconnected { .. }))
        .await;
    assert!(matches!(
        *c.status().borrow(),
        ConnectionStatus::Disconnected { reason: None, .. }
    ));
    let r = c2.publish("t", QoS::AtLeastOnce, false, "x").await;
    assert_eq!(r.err(), Some(ClientError::Closed));
    let _ = RequestError::Closed;
}

#[tokio::test]
async fn unreachable_broker_is_a_typed_error() {
    let broker = Broker::builder().start().await.unwrap();
    let addr = broker.local_addr();
    broker.shutdown().await;
    let err = Client::connect(Options::from_url(&format!("mqtt://{addr}")).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectError::Unreachable {
                kind: std::io::ErrorKind::ConnectionRefused,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn packet_trace_sees_both_directions() {
    use std::sync::{Arc, Mutex};
    let broker = Broker::builder().start().await.unwrap();
    let seen: Arc<Mutex<Vec<(mqtt_client::Direction, mqtt_proto::PacketType)>>> = Arc::default();
    let s = seen.clone();
    let mut o = opts(&broker, "traced", ProtocolVersion::V3_1_1);
    o.packet_trace = Some(Arc::new(move |d, p: &mqtt_proto::Packet| {
        s.lock().unwrap().push((d, p.packet_type()));
    }));
    let (c, _all) = Client::connect(o).await.unwrap();
    c.publish("t", QoS::ExactlyOnce, false, "x")
        .await
        .unwrap()
        .await
        .unwrap();
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    use mqtt_client::Direction::{Received, Sent};
    use mqtt_proto::PacketType::*;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (Sent, Connect),
            (Received, ConnAck),
            (Sent, Publish),
            (Received, PubRec),
            (Sent, PubRel),
            (Received, PubComp),
            (Sent, Disconnect),
        ]
    );
}
