//! A QoS 0 publish completes `Ok` only once its bytes were written: one whose bytes were
//! still in the write buffer when the connection ended fails with `NotSent`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::within_limit;
use mqtt_client::{
    Client, ClientError, ConnectionStatus, Options, ProtocolVersion, QoS, Reconnect, RequestError,
};
use mqtt_testkit::script::ScriptedBroker;
use tokio::sync::oneshot;

const SIZE: usize = 1 << 20;
const COUNT: usize = 48;

#[tokio::test]
async fn qos0_publishes_never_written_fail_instead_of_succeeding() {
    within_limit(async {
        // A "broker" that accepts the connection, then reads nothing until told to: the
        // client's writes block once the socket buffers are full (`mqtt_testkit::script`).
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let mut go_rx = Some(go_rx);
        let broker = ScriptedBroker::accept(1, move |_, mut peer| {
            let go_rx = go_rx.take().expect("one connection");
            async move {
                peer.connect().await;
                peer.send_raw(&[0x20, 0x02, 0x00, 0x00]).await;
                let _ = go_rx.await;
                // Everything the client's kernel accepted arrives, up to its close.
                peer.bytes_until_closed().await
            }
        });
        let addr = broker.addr();

        let mut reconnect = Reconnect::default();
        reconnect.enabled = false;
        let mut opts = Options::from_url(&format!("mqtt://{addr}"))
            .unwrap()
            .with_client_id("qos0")
            .with_protocol(ProtocolVersion::V3_1_1)
            .with_keep_alive(Duration::from_secs(1))
            .with_reconnect(reconnect);
        opts.mqtt.ping_timeout = Duration::from_secs(1);
        let (client, _all) = Client::connect(opts).await.unwrap();
        let mut status = client.status();

        let publisher = {
            let client = client.clone();
            tokio::spawn(async move {
                let mut handles = Vec::new();
                for _ in 0..COUNT {
                    match client
                        .publish("t", QoS::AtMostOnce, false, vec![0u8; SIZE])
                        .await
                    {
                        Ok(h) => handles.push(h),
                        Err(_) => break,
                    }
                }
                handles
            })
        };
        // No PINGRESP can come: the connection ends on the ping timeout with megabytes
        // still unwritten, and the client gives up.
        status
            .wait_for(|s| matches!(s, ConnectionStatus::Disconnected { .. }))
            .await
            .unwrap();
        go_tx.send(()).unwrap();
        let received = broker.finish().await[0];

        let mut ok = 0usize;
        let mut not_sent = 0usize;
        for h in publisher.await.unwrap() {
            match h.await {
                Ok(_) => ok += 1,
                Err(ClientError::Request(RequestError::NotSent)) => not_sent += 1,
                Err(_) => {}
            }
        }
        assert!(
            ok * SIZE <= received,
            "{ok} QoS 0 publishes of {SIZE} bytes reported written, but only {received} bytes \
             reached the broker"
        );
        assert!(not_sent > 0, "no publish was left unwritten ({ok} ok)");
    })
    .await;
}
