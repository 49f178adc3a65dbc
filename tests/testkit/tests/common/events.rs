//! Waits for broker events, failing the test instead of hanging.

use mqtt_testkit::{CloseReason, Event, Events, Fault};

use super::within;

/// The next fault that fires.
pub async fn fault_fired(events: &mut Events) -> Fault {
    match within(events.wait_for(|e| matches!(e, Event::FaultFired { .. }))).await {
        Some(Event::FaultFired { fault, .. }) => fault,
        other => panic!("expected FaultFired, got {other:?}"),
    }
}

/// Why the next connection of client `id` to close was closed.
pub async fn disconnected(events: &mut Events, id: &str) -> CloseReason {
    let id = Some(id.to_owned());
    match within(
        events.wait_for(|e| matches!(e, Event::Disconnected { client_id, .. } if *client_id == id)),
    )
    .await
    {
        Some(Event::Disconnected { reason, .. }) => reason,
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

/// Why the next connection to close was closed.
pub async fn closed_reason(events: &mut Events) -> CloseReason {
    match within(events.wait_for(|e| matches!(e, Event::Disconnected { .. }))).await {
        Some(Event::Disconnected { reason, .. }) => reason,
        other => panic!("expected Disconnected, got {other:?}"),
    }
}
