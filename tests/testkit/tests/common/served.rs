//! A well-behaved client, to show that the broker still serves others after some abuse.

use mqtt_proto::{Packet, PubAck, QoS, QosPid};
use mqtt_testkit::Broker;

use super::{RawClient, V5, pid, publish};

/// A client that keeps to the rules, subscribed to its own topic at QoS 1.
pub async fn good_client(broker: &Broker) -> RawClient {
    let mut good = RawClient::connect(broker.local_addr(), V5, "good").await;
    good.subscribe(1, "good", QoS::AtLeastOnce).await;
    good
}

/// A full QoS 1 round trip through the broker: publish, PUBACK, delivery, PUBACK back.
pub async fn still_served(good: &mut RawClient, n: u16) {
    good.send(publish("good", QosPid::AtLeastOnce(pid(n)), b"still here"))
        .await;
    assert_eq!(good.recv().await, Packet::PubAck(PubAck::new(pid(n))));
    let delivered = good.recv_publish().await;
    assert_eq!(&delivered.payload[..], b"still here");
    let QosPid::AtLeastOnce(id) = delivered.qos else {
        panic!("expected QoS 1, got {:?}", delivered.qos);
    };
    good.send(PubAck::new(id)).await;
    good.ping().await;
}
