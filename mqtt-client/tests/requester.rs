//! Request/response (5.0): replies are matched to requests by Correlation Data.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{opts, within};
use mqtt_client::{Client, ProtocolVersion, QoS, respond};
use mqtt_testkit::Broker;

#[tokio::test]
async fn two_requesters_on_one_response_topic_each_get_their_own_reply() {
    let broker = Broker::start().await.unwrap();
    let (server, _s) = Client::connect(opts(&broker, "server", ProtocolVersion::V5))
        .await
        .unwrap();
    let mut requests = server.subscribe("rpc", QoS::AtLeastOnce).await.unwrap();
    let responder = server.clone();
    tokio::spawn(async move {
        while let Some(m) = requests.recv().await {
            // An echo.
            let _ = respond(&responder, &m, QoS::AtLeastOnce, m.payload().clone()).await;
        }
    });
    let (c, _all) = Client::connect(opts(&broker, "c", ProtocolVersion::V5))
        .await
        .unwrap();
    // Both see every reply on the topic: their Correlation Data must differ.
    let a = c.requester("replies").await.unwrap();
    let b = c.requester("replies").await.unwrap();
    let (ra, rb) = within("replies", async {
        tokio::join!(
            a.request("rpc", QoS::AtLeastOnce, "a"),
            b.request("rpc", QoS::AtLeastOnce, "b")
        )
    })
    .await;
    assert_eq!(ra.unwrap().payload().as_ref(), b"a");
    assert_eq!(rb.unwrap().payload().as_ref(), b"b");
    c.disconnect(Duration::from_secs(1)).await.unwrap();
    server.disconnect(Duration::from_secs(1)).await.unwrap();
    broker.shutdown().await;
}
