//! Manual acknowledgements made before `disconnect()` reach the broker before the
//! DISCONNECT: the session then has nothing to redeliver.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use mqtt_client::{Client, Options, ProtocolVersion, QoS};
use mqtt_testkit::Broker;

#[tokio::test]
async fn acks_made_before_disconnect_are_sent_before_it() {
    let broker = Broker::start().await.unwrap();
    let url = format!("mqtt://{}", broker.local_addr());
    tokio::time::timeout(Duration::from_secs(10), async {
        for v in [ProtocolVersion::V5, ProtocolVersion::V3_1_1] {
            let worker = || {
                Options::from_url(&url)
                    .unwrap()
                    .with_protocol(v)
                    .with_client_id("worker")
                    .with_manual_acks(true)
                    .with_clean_start(false)
                    .with_session_expiry(60)
            };
            let (w, _all) = Client::connect(worker()).await.unwrap();
            let mut jobs = w.subscribe("jobs", QoS::AtLeastOnce).await.unwrap();
            let (boss, _b) = Client::connect(Options::from_url(&url).unwrap().with_protocol(v))
                .await
                .unwrap();
            for n in 0..3 {
                boss.publish("jobs", QoS::AtLeastOnce, false, format!("job {n}"))
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(jobs.recv().await.unwrap());
            }
            for m in got.iter_mut().rev() {
                m.ack();
            }
            // At once: the acknowledgements may still be on their way to the connection
            // task.
            w.disconnect(Duration::from_secs(1)).await.unwrap();

            let (w, mut all) = Client::connect(worker()).await.unwrap();
            boss.publish("jobs", QoS::AtLeastOnce, false, "marker")
                .await
                .unwrap()
                .await
                .unwrap();
            let mut first = all.recv().await.unwrap();
            assert_eq!(
                first.payload().as_ref(),
                b"marker",
                "{v:?}: an acknowledged job was delivered again"
            );
            first.ack();
            w.disconnect(Duration::from_secs(1)).await.unwrap();
            // Clean up the session for the next version.
            let (w, _all) = Client::connect(worker().with_clean_start(true).with_session_expiry(0))
                .await
                .unwrap();
            w.disconnect(Duration::from_secs(1)).await.unwrap();
            boss.disconnect(Duration::from_secs(1)).await.unwrap();
        }
    })
    .await
    .expect("in time");
    broker.shutdown().await;
}

/// disconnect() returns once the broker has closed its side, so everything sent before the
/// DISCONNECT has been processed: a reconnection right after, which takes the session over,
/// cannot overtake the old connection's last acknowledgements. Repeated, as the race it
/// guards against is one of scheduling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immediate_reconnection_does_not_overtake_the_last_acks() {
    let broker = Broker::start().await.unwrap();
    let url = format!("mqtt://{}", broker.local_addr());
    tokio::time::timeout(Duration::from_secs(10), async {
        for round in 0..20 {
            let id = format!("worker-{round}");
            let worker = || {
                Options::from_url(&url)
                    .unwrap()
                    .with_client_id(&id)
                    .with_manual_acks(true)
                    .with_clean_start(false)
                    .with_session_expiry(60)
            };
            let (w, _all) = Client::connect(worker()).await.unwrap();
            let mut jobs = w.subscribe("jobs/+", QoS::AtLeastOnce).await.unwrap();
            let (boss, _b) = Client::connect(Options::from_url(&url).unwrap())
                .await
                .unwrap();
            let topic = format!("jobs/{round}");
            for n in 1..=4 {
                boss.publish(&topic, QoS::AtLeastOnce, false, format!("job {n}"))
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
            let mut handled = Vec::new();
            for _ in 0..3 {
                handled.push(jobs.recv().await.unwrap());
            }
            for m in handled.iter_mut().rev() {
                m.ack();
            }
            drop(jobs.recv().await.unwrap()); // job 4: never acknowledged
            w.disconnect(Duration::from_secs(1)).await.unwrap();

            let (w, mut all) = Client::connect(worker()).await.unwrap();
            let mut again = all.recv().await.unwrap();
            assert_eq!(
                again.payload().as_ref(),
                b"job 4",
                "round {round}: an acknowledged job was delivered again"
            );
            assert!(again.dup());
            again.ack();
            w.disconnect(Duration::from_secs(1)).await.unwrap();
            boss.disconnect(Duration::from_secs(1)).await.unwrap();
        }
    })
    .await
    .expect("in time");
    broker.shutdown().await;
}
