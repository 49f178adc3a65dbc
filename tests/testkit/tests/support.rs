//! The shared test support itself: the scripted broker against the raw client, over real
//! loopback sockets; a closed port refuses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mqtt_proto::{ConnAck, ConnectReason, Packet, PubAck, QosPid};
use mqtt_testkit::external::ClosedPort;
use mqtt_testkit::raw::{RawClient, V5, V311, pid, publish, within};
use mqtt_testkit::script::ScriptedBroker;

fn connack() -> Packet {
    Packet::ConnAck(Box::new(ConnAck::new(false, ConnectReason::Success)))
}

#[tokio::test]
async fn a_script_plays_each_connection_and_returns_what_it_read() {
    let broker = ScriptedBroker::accept(2, |n, mut peer| async move {
        let c = peer.connect().await;
        assert_eq!(
            peer.version(),
            c.protocol,
            "packets of the CONNECT's version"
        );
        peer.send(connack()).await;
        let (p, before) = peer.until(|p| matches!(p, Packet::Publish(_))).await;
        let Packet::Publish(p) = p else {
            unreachable!()
        };
        peer.send(PubAck::new(p.qos.packet_id().unwrap())).await;
        (
            n,
            c.client_id.to_string(),
            before,
            peer.until_closed().await,
        )
    });
    for (v, id) in [(V311, "a"), (V5, "b")] {
        let mut c = RawClient::connect(broker.addr(), v, id).await;
        c.publish(publish("t", QosPid::AtLeastOnce(pid(7)), b"x"))
            .await;
        c.send(Packet::PingReq).await;
    }
    let got = within(broker.finish()).await;
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].0, got[0].1.as_str()), (0, "a"));
    assert_eq!((got[1].0, got[1].1.as_str()), (1, "b"));
    for (_, _, before, after) in &got {
        assert!(before.is_empty(), "{before:?}");
        assert_eq!(after, &[Packet::PingReq], "read until the client closed");
    }
}

#[test]
fn join_blocks_for_the_results_and_raises_a_scripts_panic() {
    let broker = ScriptedBroker::accept(1, |_, mut peer| async move {
        let c = peer.connect().await;
        assert_eq!(
            c.client_id.to_string(),
            "expected",
            "the script's own check"
        );
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = RawClient::open(broker.addr(), V311).await;
        c.send(mqtt_testkit::raw::connect_packet(V311, "other"))
            .await;
        // The script panicked: the connection closes without a CONNACK.
        assert!(c.closed().await.is_empty());
    });
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| broker.join()));
    let message = panic.unwrap_err();
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("the script's own check"), "{text:?}");
}

#[tokio::test]
async fn serve_plays_any_number_of_connections_until_dropped() {
    let broker = ScriptedBroker::serve(|_, mut peer| async move {
        peer.connect().await;
        // Another broker's bytes, as they are: a 3.1.1 refusal.
        peer.send_raw(&[0x20, 0x02, 0x00, 0x01]).await;
    });
    for _ in 0..3 {
        let (_, ack) =
            RawClient::connect_with(broker.addr(), mqtt_testkit::raw::connect_packet(V311, "x"))
                .await;
        assert_eq!(ack.reason, ConnectReason::UnsupportedProtocolVersion);
    }
    drop(broker);
}

#[tokio::test]
async fn a_closed_port_refuses_connections() {
    let port = ClosedPort::new();
    let err = tokio::net::TcpStream::connect(port.addr())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}
