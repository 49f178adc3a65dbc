//! The end of a connection: the client's DISCONNECT, and what follows any close (the
//! session given back to the state or ended, the will published, delayed or dropped).

use std::time::Duration;

use mqtt_proto::{
    Disconnect, DisconnectReason, PacketId, Publish, PublishProperties, QoS, QosPid, Will,
};
use tokio::time::Instant;

use super::link::{Client, Close, Link, Reply};
use crate::event::{CloseReason, Event};
use crate::state::{Left, State};

/// A timer for the connection to start: [`State::on_timer`] for `client_id`'s session
/// left by connection `left_by`, at `at` (a delayed will, a session expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timer {
    pub(crate) client_id: String,
    pub(crate) left_by: u64,
    pub(crate) at: Instant,
}

/// The client's DISCONNECT (5.0: it may set the Session Expiry Interval, unless the
/// CONNECT's was 0 [MQTT-3.14.2-2]).
pub(crate) fn disconnect(link: &mut Link, d: &Disconnect) -> Reply {
    if let (Some(expiry), Some(client)) =
        (d.properties.session_expiry_interval, link.client.as_mut())
    {
        if client.session_expiry == 0 && expiry != 0 {
            return Reply::close(link.protocol_close(
                "DISCONNECT sets a session expiry after 0 in CONNECT",
                "MQTT-3.14.2-2",
                DisconnectReason::ProtocolError,
            ));
        }
        client.session_expiry = expiry;
    }
    Reply::close(Close::new(
        if d.reason == DisconnectReason::DisconnectWithWillMessage {
            CloseReason::ClientDisconnectWithWill
        } else {
            CloseReason::ClientDisconnect
        },
    ))
}

/// The connection ended for `reason` (its goodbye written): give the session back (or end
/// it), publish the will (or delay it, or drop it), report. Returns the timers to start.
pub(crate) fn end(state: &mut State, link: &mut Link, reason: &CloseReason) -> Vec<Timer> {
    let client = link.client.take();
    let mut timers = Vec::new();
    if let Some(client) = &client {
        let now = Instant::now();
        let left = state.leave_session(&client.id, link.id, client.session_expiry, now);
        if let Left::Kept {
            expires_at: Some(at),
        } = left
        {
            timers.push(Timer {
                client_id: client.id.clone(),
                left_by: link.id,
                at,
            });
        }
        let kept = matches!(left, Left::Kept { .. });
        // Taken over by a connection that resumed the session: a 5.0 will with a delay is
        // not sent [MQTT-3.1.3-9].
        let resumed = *reason == CloseReason::TakenOver
            && client.version.is_v5()
            && client
                .will
                .as_ref()
                .and_then(|w| w.properties.will_delay_interval)
                .is_some_and(|d| d > 0)
            && state
                .sessions
                .get(&client.id)
                .is_some_and(|s| s.taken_over_from == Some(link.id));
        if reason.publishes_will()
            && !resumed
            && let Some(will) = &client.will
        {
            timers.extend(publish_will(state, link.id, client, will, kept, now));
        }
    }
    tracing::debug!(
        conn = link.id,
        client_id = client.as_ref().map(|c| c.id.as_str()),
        ?reason,
        "connection closed"
    );
    state.emit(Event::Disconnected {
        client_id: client.map(|c| c.id),
        reason: reason.clone(),
    });
    timers
}

/// The PUBLISH a will becomes (5.0 §3.1.3.2): its properties travel with it, user
/// properties in their order [MQTT-3.1.3-10]; the Message Expiry Interval runs from when
/// it is published. The Will Delay Interval is the broker's alone.
fn will_publish(will: &Will) -> Publish {
    // The QoS only matters for routing: no packet id travels with a will.
    let qos = match will.qos {
        QoS::AtMostOnce => QosPid::AtMostOnce,
        QoS::AtLeastOnce => QosPid::AtLeastOnce(PacketId::MIN),
        QoS::ExactlyOnce => QosPid::ExactlyOnce(PacketId::MIN),
    };
    let mut publish = Publish::new(will.topic.clone(), qos, will.payload.clone());
    publish.retain = will.retain;
    let wp = &will.properties;
    let mut properties = PublishProperties::default();
    properties.payload_format_indicator = wp.payload_format_indicator;
    properties.message_expiry_interval = wp.message_expiry_interval;
    properties.content_type.clone_from(&wp.content_type);
    properties.response_topic.clone_from(&wp.response_topic);
    properties.correlation_data.clone_from(&wp.correlation_data);
    properties.user_properties.clone_from(&wp.user_properties);
    publish.with_properties(properties)
}

/// Publish `client`'s will now, or (5.0 Will Delay Interval, the session `kept`) when the
/// delay ends or the session does, if sooner; dropped if its topic is denied. Returns the
/// timer to start for a delayed one.
fn publish_will(
    state: &mut State,
    conn_id: u64,
    client: &Client,
    will: &Will,
    kept: bool,
    now: Instant,
) -> Option<Timer> {
    let publish = will_publish(will);
    let denied = state
        .config
        .publish_denied(&client.id, client.username.as_deref(), will.topic.as_str())
        .map(str::to_owned);
    if let Some(pattern) = denied {
        tracing::info!(
            client_id = client.id,
            topic = will.topic.as_str(),
            pattern,
            "will denied"
        );
        state.emit(Event::PublishDenied {
            client_id: client.id.clone(),
            publish,
        });
        return None;
    }
    let delay = will
        .properties
        .will_delay_interval
        .filter(|d| *d > 0 && client.version.is_v5() && kept);
    if let Some((delay, session)) = delay.zip(state.sessions.get_mut(&client.id)) {
        // 5.0 Will Delay Interval: published when the delay ends, or when the session
        // ends if that is sooner; dropped if the client is back first [MQTT-3.1.3-9].
        let at = now + Duration::from_secs(u64::from(delay));
        tracing::debug!(
            client_id = client.id,
            topic = will.topic.as_str(),
            delay,
            "will delayed"
        );
        session.delayed_will = Some((at, publish));
        let sooner = session.expires_at.is_none_or(|end| at < end);
        return sooner.then(|| Timer {
            client_id: client.id.clone(),
            left_by: conn_id,
            at,
        });
    }
    tracing::debug!(
        client_id = client.id,
        topic = will.topic.as_str(),
        "publishing will"
    );
    state.publish(&client.id, &publish, true);
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use mqtt_proto::{Connect, ProtocolVersion, TopicName};

    use super::super::test_support::Harness;
    use super::*;

    fn with_will(version: ProtocolVersion, expiry: u32, delay: u32) -> Connect {
        let mut c = Connect::new(version, "c");
        c.properties.session_expiry_interval = Some(expiry);
        let mut will = Will::new(TopicName::new("w").unwrap(), &b"gone"[..]);
        will.properties.will_delay_interval = Some(delay);
        c.will = Some(will);
        c
    }

    fn wills(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) -> usize {
        std::iter::from_fn(|| events.try_recv().ok())
            .filter(|e| matches!(e, Event::Published { will: true, .. }))
            .count()
    }

    #[test]
    fn a_will_is_published_after_an_abnormal_close_only() {
        for (reason, published) in [
            (CloseReason::ConnectionLost, 1),
            (CloseReason::ClientDisconnect, 0),
            (CloseReason::ClientDisconnectWithWill, 1),
            (CloseReason::Shutdown, 0),
        ] {
            let mut h = Harness::default();
            let mut events = h.state.subscribe_events();
            let (mut link, _rx) = h.link();
            h.handle(&mut link, with_will(ProtocolVersion::V5, 0, 0).into());
            assert!(h.end(&mut link, reason.clone()).is_empty());
            assert_eq!(wills(&mut events), published, "{reason:?}");
            assert!(h.state.sessions.is_empty(), "expiry 0: the session ends");
        }
    }

    #[test]
    fn a_delayed_will_waits_for_the_sooner_of_its_delay_and_the_session_end() {
        let mut h = Harness::default();
        let mut events = h.state.subscribe_events();
        let (mut link, _rx) = h.link();
        h.handle(&mut link, with_will(ProtocolVersion::V5, 10, 5).into());
        let timers = h.end(&mut link, CloseReason::ConnectionLost);
        assert_eq!(
            timers.len(),
            2,
            "the session expiry and the will: {timers:?}"
        );
        assert!(timers[1].at < timers[0].at);
        assert_eq!(wills(&mut events), 0);
        assert!(h.state.sessions["c"].delayed_will.is_some());
        // A delay beyond the session's end: only the session's timer.
        let mut h = Harness::default();
        let (mut link, _rx) = h.link();
        h.handle(&mut link, with_will(ProtocolVersion::V5, 5, 10).into());
        assert_eq!(h.end(&mut link, CloseReason::ConnectionLost).len(), 1);
    }

    #[test]
    fn disconnect_cannot_set_an_expiry_after_zero() {
        let mut h = Harness::default();
        let (mut link, _rx) = h.link();
        h.handle(&mut link, Connect::new(ProtocolVersion::V5, "c").into());
        let mut d = Disconnect::new(DisconnectReason::NormalDisconnection);
        d.properties.session_expiry_interval = Some(30);
        let close = h.handle(&mut link, d.into()).close.expect("closed");
        assert_eq!(close.disconnect, Some(DisconnectReason::ProtocolError));
    }
}
