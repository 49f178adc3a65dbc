//! `Client::status` gives a watch whose current value counts as seen: `changed()` waits for
//! the next change, not for one that happened before the call.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use mqtt_client::{Client, ConnectionStatus, Options};
use mqtt_testkit::Broker;

#[tokio::test]
async fn status_changed_waits_for_the_next_change() {
    let broker = Broker::start().await.unwrap();
    let (c, _all) =
        Client::connect(Options::from_url(&format!("mqtt://{}", broker.local_addr())).unwrap())
            .await
            .unwrap();
    // Connecting -> Connected happened before this call: not a change for this receiver.
    let mut rx = c.status();
    assert!(rx.borrow().is_connected());
    assert!(!rx.has_changed().unwrap());

    c.disconnect(Duration::from_secs(1)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .expect("in time")
        .unwrap();
    assert!(matches!(
        *rx.borrow_and_update(),
        ConnectionStatus::Disconnected { reason: None, .. }
    ));
    broker.shutdown().await;
}
